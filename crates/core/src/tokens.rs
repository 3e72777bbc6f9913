//! HTTP tokens as CORS uses them: method names (compared case-sensitively,
//! Fetch "CORS-preflight fetch" step 7) and header names (compared
//! case-insensitively), with the lists a policy allows.

/// Reports whether `b` is an RFC 9110 `tchar`.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Reports whether the bytes form a non-empty RFC 9110 token.
pub fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_tchar(b))
}

/// Methods browsers never let a page send (Fetch "forbidden method").
pub const FORBIDDEN_METHODS: [&str; 3] = ["CONNECT", "TRACE", "TRACK"];

/// Methods browsers uppercase before sending (Fetch "normalize a method").
pub const NORMALIZED_METHODS: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];

/// Methods a browser sends cross-origin without asking (Fetch "CORS-safelisted method").
pub const SAFELISTED_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];

/// The header that `*` in `Access-Control-Allow-Headers` never covers
/// (Fetch "CORS non-wildcard request-header name").
pub const NON_WILDCARD_HEADER: &str = "authorization";

/// Request headers a page can never set (Fetch "forbidden request-header"),
/// besides every name that starts with `proxy-` or `sec-`. (`X-HTTP-Method`
/// and its kin are forbidden only with a forbidden method as their value.)
pub const FORBIDDEN_REQUEST_HEADERS: [&str; 21] = [
    "accept-charset",
    "accept-encoding",
    "access-control-request-headers",
    "access-control-request-method",
    "connection",
    "content-length",
    "cookie",
    "cookie2",
    "date",
    "dnt",
    "expect",
    "host",
    "keep-alive",
    "origin",
    "referer",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
];

/// Prefixes of the forbidden request-header names.
pub const FORBIDDEN_REQUEST_HEADER_PREFIXES: [&str; 2] = ["proxy-", "sec-"];

/// Response headers a page can never read, whatever
/// `Access-Control-Expose-Headers` says (Fetch "forbidden response-header name").
pub const FORBIDDEN_RESPONSE_HEADERS: [&str; 2] = ["set-cookie", "set-cookie2"];

/// The CORS response headers (Fetch "HTTP responses"; Private Network Access),
/// which only a server sends.
pub const CORS_RESPONSE_HEADERS: [&str; 7] = [
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-allow-private-network",
    "access-control-expose-headers",
    "access-control-max-age",
];

/// Reports whether a page can never set this request header (Fetch
/// "forbidden request-header", for any value).
pub fn is_forbidden_request_header(name: &str) -> bool {
    FORBIDDEN_REQUEST_HEADERS.iter().any(|f| f.eq_ignore_ascii_case(name))
        || FORBIDDEN_REQUEST_HEADER_PREFIXES
            .iter()
            .any(|p| starts_with_ignore_case(name, p))
}

/// Reports whether this is a CORS response header (`Access-Control-Allow-*`,
/// `-Expose-Headers`, `-Max-Age`), which only a server sends.
pub fn is_cors_response_header(name: &str) -> bool {
    CORS_RESPONSE_HEADERS.iter().any(|c| c.eq_ignore_ascii_case(name))
}

/// Reports whether a page can never read this response header.
pub fn is_forbidden_response_header(name: &str) -> bool {
    FORBIDDEN_RESPONSE_HEADERS.iter().any(|f| f.eq_ignore_ascii_case(name))
}

fn starts_with_ignore_case(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// A list of allowed tokens with its pre-rendered response header value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenList {
    /// `*` was listed.
    pub any: bool,
    /// The explicit tokens (header names lowercased), in configuration order.
    pub tokens: Vec<String>,
    /// The value to send, e.g. `GET, POST` (empty when nothing is listed).
    pub rendered: String,
}

impl TokenList {
    /// Builds a list from validated entries; header names are lowercased.
    pub fn new(entries: &[String], lowercase: bool) -> Self {
        let mut list = Self::default();
        for entry in entries {
            if entry == "*" {
                list.any = true;
                continue;
            }
            let token = if lowercase {
                entry.to_ascii_lowercase()
            } else {
                entry.clone()
            };
            if !list.tokens.contains(&token) {
                list.tokens.push(token);
            }
        }
        let mut parts: Vec<&str> = Vec::with_capacity(list.tokens.len() + 1);
        if list.any {
            parts.push("*");
        }
        parts.extend(list.tokens.iter().map(String::as_str));
        list.rendered = parts.join(", ");
        list
    }

    /// Reports whether this method (case-sensitive) is listed.
    pub fn has_method(&self, method: &[u8]) -> bool {
        self.tokens.iter().any(|t| t.as_bytes() == method)
    }

    /// Reports whether this header name (case-insensitive) is listed.
    pub fn has_header(&self, name: &[u8]) -> bool {
        self.tokens.iter().any(|t| t.as_bytes().eq_ignore_ascii_case(name))
    }
}

/// Splits a comma-separated header list (RFC 9110 §5.6.1), trimming optional
/// whitespace and skipping empty elements.
pub fn split_list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|item| !item.is_empty())
}

/// Trims spaces and tabs from both ends.
pub fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_rfc_9110() {
        assert!(is_token(b"X-Api-Key"));
        assert!(is_token(b"PATCH"));
        assert!(!is_token(b""));
        assert!(!is_token(b"x api"));
        assert!(!is_token(b"x:y"));
        assert!(!is_token(b"caf\xc3\xa9"));
    }

    #[test]
    fn forbidden_and_cors_header_names_are_recognised_in_any_case() {
        for name in [
            "Cookie",
            "host",
            "Sec-Fetch-Mode",
            "proxy-authorization",
            "Access-Control-Request-Method",
        ] {
            assert!(is_forbidden_request_header(name), "{name}");
        }
        for name in ["authorization", "content-type", "x-sec-token", "secret", "proxy"] {
            assert!(!is_forbidden_request_header(name), "{name}");
        }
        assert!(is_cors_response_header("Access-Control-Allow-Origin"));
        assert!(is_cors_response_header("access-control-max-age"));
        assert!(!is_cors_response_header("access-control-request-headers"));
        assert!(!is_cors_response_header("access-control-allow"));
        assert!(is_forbidden_response_header("Set-Cookie2"));
        assert!(!is_forbidden_response_header("cookie"));
    }

    #[test]
    fn header_lists_are_split_on_commas_with_whitespace_trimmed() {
        let items: Vec<&[u8]> = split_list(b" content-type ,x-a,, \tx-b\t,").collect();
        assert_eq!(items, vec![&b"content-type"[..], b"x-a", b"x-b"]);
    }

    #[test]
    fn token_list_renders_and_matches() {
        let methods = TokenList::new(&["GET".into(), "PUT".into(), "GET".into()], false);
        assert_eq!(methods.rendered, "GET, PUT");
        assert!(methods.has_method(b"PUT"));
        assert!(!methods.has_method(b"put"));
        let headers = TokenList::new(&["*".into(), "X-Api-Key".into()], true);
        assert!(headers.any);
        assert_eq!(headers.rendered, "*, x-api-key");
        assert!(headers.has_header(b"X-API-KEY"));
    }
}
