//! What a browser does with a response, per the WHATWG Fetch standard
//! (https://fetch.spec.whatwg.org/): the CORS check, the checks of a
//! CORS-preflight fetch, the CORS-exposed header names and the preflight cache
//! lifetime. Written from the standard's wording, independently of the filter,
//! so the case table's browser expectations are computed from the response the
//! filter actually produced. `tests/e2e/fetch_browser.py` is the same model in
//! Python, for responses that came through Envoy.

/// A response header list: names in any case, values as bytes.
pub type Headers = [(String, Vec<u8>)];

/// Fetch "CORS-safelisted response-header name".
const SAFELISTED_RESPONSE_HEADERS: [&str; 7] = [
    "cache-control",
    "content-language",
    "content-length",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
];

/// Fetch "forbidden response-header name": never exposed to a page.
const FORBIDDEN_RESPONSE_HEADERS: [&str; 2] = ["set-cookie", "set-cookie2"];

/// Fetch "CORS-safelisted method".
const SAFELISTED_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];

/// Fetch "CORS non-wildcard request-header name".
const NON_WILDCARD_REQUEST_HEADER: &str = "authorization";

/// Fetch "get" a header: every value combined with ", ", or `None`.
pub fn get(headers: &Headers, name: &str) -> Option<Vec<u8>> {
    let mut values = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    let (_, first) = values.next()?;
    let mut combined = first.clone();
    for (_, value) in values {
        combined.extend_from_slice(b", ");
        combined.extend_from_slice(value);
    }
    Some(combined)
}

fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Fetch "extract header list values" for a `#token` list header:
/// `Ok(None)` when absent, `Err` when a value does not parse.
pub fn extract_list(headers: &Headers, name: &str) -> Result<Option<Vec<String>>, String> {
    let mut found = None;
    for (n, value) in headers {
        if !n.eq_ignore_ascii_case(name) {
            continue;
        }
        let list: &mut Vec<String> = found.get_or_insert_with(Vec::new);
        for item in value.split(|&b| b == b',') {
            let item = item.trim_ascii();
            if item.is_empty() {
                continue; // `#rule` lists allow empty elements
            }
            if !is_token(item) {
                return Err(format!("{name}: {:?} is not a token", String::from_utf8_lossy(item)));
            }
            list.push(String::from_utf8_lossy(item).into_owned());
        }
    }
    Ok(found)
}

/// Fetch "CORS check": may the page see this response at all?
pub fn cors_check(headers: &Headers, origin: &[u8], credentials: bool) -> Result<(), String> {
    // Step 1-2: `Access-Control-Allow-Origin`, combined; absent is a failure.
    let Some(allow) = get(headers, "access-control-allow-origin") else {
        return Err("no Access-Control-Allow-Origin".into());
    };
    // Step 3: `*` is enough when credentials mode is not "include".
    if !credentials && allow == b"*" {
        return Ok(());
    }
    // Step 4: otherwise it must be the request's serialized origin, byte for byte.
    if allow != origin {
        return Err(format!(
            "Access-Control-Allow-Origin {:?} is not the request's origin",
            String::from_utf8_lossy(&allow)
        ));
    }
    // Step 5-7: credentials need `Access-Control-Allow-Credentials: true`.
    if !credentials || get(headers, "access-control-allow-credentials").as_deref() == Some(b"true") {
        Ok(())
    } else {
        Err("credentials requested but no Access-Control-Allow-Credentials: true".into())
    }
}

/// The request a page wants to make, which a preflight asks about.
#[derive(Debug, Clone)]
pub struct Intent {
    /// The method, as the browser sends it in `Access-Control-Request-Method`.
    pub method: String,
    /// CORS-unsafe request-header names (what `Access-Control-Request-Headers` lists).
    pub unsafe_headers: Vec<String>,
    /// Credentials mode "include".
    pub credentials: bool,
    /// Private Network Access asked for (`Access-Control-Request-Private-Network: true`).
    pub private_network: bool,
}

/// Fetch "CORS-preflight fetch", step 7: does this preflight response let the
/// browser send the actual request?
pub fn preflight_check(status: u32, headers: &Headers, origin: &[u8], intent: &Intent) -> Result<(), String> {
    // Step 7: a CORS check success and an ok status (200-299).
    cors_check(headers, origin, intent.credentials)?;
    if !(200..=299).contains(&status) {
        return Err(format!("preflight status {status} is not ok"));
    }
    // Steps 7.1-7.2: parse the method and header lists; a parse failure is a network error.
    let methods = extract_list(headers, "access-control-allow-methods")?.unwrap_or_default();
    let names = extract_list(headers, "access-control-allow-headers")?.unwrap_or_default();
    // Step 7.5: the method must be listed (bytes), safelisted, or covered by `*`
    // when credentials mode is not "include".
    let listed = methods.contains(&intent.method);
    let safelisted = SAFELISTED_METHODS.contains(&intent.method.as_str());
    let star = !intent.credentials && methods.iter().any(|m| m == "*");
    if !(listed || safelisted || star) {
        return Err(format!("method {} not allowed by {methods:?}", intent.method));
    }
    let named = |h: &str| names.iter().any(|n| n.eq_ignore_ascii_case(h));
    // Step 7.6: `Authorization` is never covered by `*`.
    if intent
        .unsafe_headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case(NON_WILDCARD_REQUEST_HEADER))
        && !named(NON_WILDCARD_REQUEST_HEADER)
    {
        return Err("authorization not listed by name".into());
    }
    // Step 7.7: every CORS-unsafe request-header name must be listed, or
    // covered by `*` when credentials mode is not "include".
    let header_star = !intent.credentials && names.iter().any(|n| n == "*");
    if let Some(missing) = intent.unsafe_headers.iter().find(|h| !(named(h) || header_star)) {
        return Err(format!("header {missing} not allowed by {names:?}"));
    }
    // Private Network Access: the preflight must opt in explicitly.
    if intent.private_network && get(headers, "access-control-allow-private-network").as_deref() != Some(b"true") {
        return Err("private network access asked for but not granted".into());
    }
    Ok(())
}

/// Fetch "CORS-preflight cache" step: the `Access-Control-Max-Age` value in
/// seconds, or `None` when absent or unparsable (the browser then uses its default).
pub fn max_age(headers: &Headers) -> Option<u64> {
    let value = get(headers, "access-control-max-age")?;
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(&value).ok()?.parse().ok()
}

/// Fetch "CORS-exposed header-name list" plus the safelisted names: can the
/// page read this response header (with a CORS check that passed)?
pub fn readable(headers: &Headers, name: &str, credentials: bool) -> bool {
    let present = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !present || FORBIDDEN_RESPONSE_HEADERS.iter().any(|f| f.eq_ignore_ascii_case(name)) {
        return false;
    }
    if SAFELISTED_RESPONSE_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(name)) {
        return true;
    }
    let exposed = extract_list(headers, "access-control-expose-headers")
        .ok()
        .flatten()
        .unwrap_or_default();
    exposed.iter().any(|e| e.eq_ignore_ascii_case(name)) || (!credentials && exposed.iter().any(|e| e == "*"))
}
