//! Serialized origins, parsed exactly as browsers send them in the `Origin`
//! request header.
//!
//! A browser serializes an origin as `scheme "://" host [ ":" port ]`
//! (WHATWG HTML, "serialization of an origin"; RFC 6454 §6.2): scheme and
//! host are lowercase ASCII (hosts are punycoded), the port is omitted when it
//! is the scheme's default, and nothing follows. We do not use a general URL
//! parser on purpose: it would normalise what a browser never sends (uppercase,
//! default ports, trailing slashes) and so make look-alikes match. Anything that
//! is not byte-for-byte a browser's serialization is refused here, once, and the
//! matchers downstream only ever compare canonical values.
//!
//! A host may end with a dot (`https://example.com.`): browsers keep the dot
//! of a fully qualified name, and send it. It is an origin of its own, not an
//! alias of `https://example.com`, and is matched as written.

use std::fmt;

/// Longest `Origin` value we look at: a scheme, `://`, a 253-byte DNS name and
/// a port fit well inside it. Longer values are refused before any parsing.
pub const MAX_ORIGIN_LEN: usize = 512;

/// A parsed, canonical serialized origin borrowed from the request (or config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    serialized: &'a str,
    scheme: &'a str,
    host: &'a str,
    port: Option<u16>,
}

/// Why a value is not a serialized origin as a browser sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginError {
    /// The value is empty.
    Empty,
    /// The value is longer than [`MAX_ORIGIN_LEN`].
    TooLong,
    /// The opaque origin `null`, sent by sandboxed pages and `file:` URLs.
    Null,
    /// The value holds more than one origin (a comma or a space).
    List,
    /// Bytes that are not printable ASCII.
    NotAscii,
    /// Uppercase letters: browsers always send scheme and host lowercase.
    NotLowercase,
    /// No `scheme://` prefix, or a malformed scheme.
    BadScheme,
    /// `user:pass@` before the host.
    UserInfo,
    /// A trailing `/` after the authority.
    TrailingSlash,
    /// A path after the authority.
    Path,
    /// A `?query` after the authority.
    Query,
    /// A `#fragment` after the authority.
    Fragment,
    /// An empty DNS label (`a..b`, a leading dot, `..` at the end) or no host at all.
    EmptyLabel,
    /// A trailing dot after a numeric last label: the URL parser reads such a
    /// host as an IPv4 address, and serializes it without the dot.
    NumericTrailingDot,
    /// A character that cannot appear in a serialized host.
    BadHostChar,
    /// A malformed `[IPv6]` literal.
    BadIpv6,
    /// A port that is not a canonical decimal number from 0 to 65535.
    BadPort,
    /// An explicit port equal to the scheme's default, which browsers omit.
    DefaultPort,
}

impl OriginError {
    /// A sentence that explains the problem to an operator.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Empty => "an origin cannot be empty",
            Self::TooLong => "longer than any origin a browser sends",
            Self::Null => "the opaque origin \"null\" is sent by any sandboxed page or file: URL and cannot be trusted",
            Self::List => "a single origin is expected, not a list",
            Self::NotAscii => "browsers send origins as printable ASCII (hosts punycoded)",
            Self::NotLowercase => "browsers send scheme and host in lowercase, so this would never match",
            Self::BadScheme => "expected scheme://host[:port]",
            Self::UserInfo => "an origin has no user information",
            Self::TrailingSlash => "an origin has no trailing slash",
            Self::Path => "an origin has no path",
            Self::Query => "an origin has no query",
            Self::Fragment => "an origin has no fragment",
            Self::EmptyLabel => "the host has an empty DNS label",
            Self::NumericTrailingDot => {
                "a host whose last label is a number is an IPv4 address, which browsers send without the trailing dot"
            }
            Self::BadHostChar => "the host has a character that browsers never send",
            Self::BadIpv6 => "malformed [IPv6] host",
            Self::BadPort => "the port must be a decimal number from 0 to 65535 without leading zeros",
            Self::DefaultPort => "browsers omit the scheme's default port, so this would never match",
        }
    }
}

impl fmt::Display for OriginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// The default port of a special scheme (WHATWG URL), if it has one.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        "ftp" => Some(21),
        _ => None,
    }
}

impl<'a> Origin<'a> {
    /// Parses a header value; only a browser's exact serialization succeeds.
    pub fn parse(value: &'a [u8]) -> Result<Self, OriginError> {
        match Self::parse_common(value) {
            Some(origin) => Ok(origin),
            None => Self::parse_exactly(value),
        }
    }

    /// The common case in one pass: `scheme://host[:port]` with a DNS or
    /// IPv4 host. `None` means "not certainly valid": [`Self::parse_exactly`]
    /// then decides and names the problem. Accepts nothing it would refuse.
    fn parse_common(value: &'a [u8]) -> Option<Self> {
        if value.len() > MAX_ORIGIN_LEN {
            return None;
        }
        let scheme_end = value.iter().position(|&b| !is_scheme_byte(b))?;
        if !value.first()?.is_ascii_lowercase() || value.get(scheme_end..scheme_end + 3)? != b"://" {
            return None;
        }
        let host_start = scheme_end + 3;
        let mut label_len = 0usize;
        let mut host_end = value.len();
        for (i, &b) in value.iter().enumerate().skip(host_start) {
            match b {
                b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => label_len += 1,
                b'.' if label_len > 0 => label_len = 0,
                b':' => {
                    host_end = i;
                    break;
                }
                _ => return None,
            }
        }
        if label_len == 0 {
            return None;
        }
        let serialized = std::str::from_utf8(value).ok()?;
        let scheme = serialized.get(..scheme_end)?;
        let host = serialized.get(host_start..host_end)?;
        let port = match serialized.get(host_end..)?.strip_prefix(':') {
            None => None,
            Some(text) => Some(parse_port(text, scheme).ok()?),
        };
        Some(Self {
            serialized,
            scheme,
            host,
            port,
        })
    }

    /// The full parser: every check, in an order that names the problem.
    fn parse_exactly(value: &'a [u8]) -> Result<Self, OriginError> {
        if value.is_empty() {
            return Err(OriginError::Empty);
        }
        if value.len() > MAX_ORIGIN_LEN {
            return Err(OriginError::TooLong);
        }
        if value == b"null" {
            return Err(OriginError::Null);
        }
        if value.iter().any(|&b| b == b',' || b == b' ') {
            return Err(OriginError::List);
        }
        if !value.iter().all(|b| b.is_ascii_graphic()) {
            return Err(OriginError::NotAscii);
        }
        let serialized = std::str::from_utf8(value).map_err(|_| OriginError::NotAscii)?;
        let (scheme, rest) = split_scheme(serialized)?;
        let (authority, tail) = match rest.find(['/', '?', '#']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        match tail.as_bytes().first() {
            None => {}
            Some(b'/') if tail.len() == 1 => return Err(OriginError::TrailingSlash),
            Some(b'/') => return Err(OriginError::Path),
            Some(b'?') => return Err(OriginError::Query),
            Some(_) => return Err(OriginError::Fragment),
        }
        if authority.contains('@') {
            return Err(OriginError::UserInfo);
        }
        let (host, port) = split_host_port(authority)?;
        check_host(host)?;
        let port = match port {
            None => None,
            Some(text) => Some(parse_port(text, scheme)?),
        };
        Ok(Self {
            serialized,
            scheme,
            host,
            port,
        })
    }

    /// The origin exactly as sent, e.g. `https://app.example.com:8443`.
    pub fn as_str(&self) -> &'a str {
        self.serialized
    }

    /// The scheme, e.g. `https`.
    pub fn scheme(&self) -> &'a str {
        self.scheme
    }

    /// The host, e.g. `app.example.com` or `[::1]`.
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// The explicit port, absent when the scheme's default applies.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port a connection to this origin uses, if the scheme has a default.
    pub fn effective_port(&self) -> Option<u16> {
        self.port.or_else(|| default_port(self.scheme))
    }
}

/// Reports whether `b` may appear in a lowercase scheme (RFC 3986 §3.1).
fn is_scheme_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
}

/// Splits `scheme://rest`, checking the scheme's characters (RFC 3986 §3.1).
pub(crate) fn split_scheme(value: &str) -> Result<(&str, &str), OriginError> {
    let (scheme, rest) = value.split_once("://").ok_or(OriginError::BadScheme)?;
    let mut bytes = scheme.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_lowercase() => {}
        Some(b) if b.is_ascii_uppercase() => return Err(OriginError::NotLowercase),
        _ => return Err(OriginError::BadScheme),
    }
    for b in bytes {
        if b.is_ascii_uppercase() {
            return Err(OriginError::NotLowercase);
        }
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')) {
            return Err(OriginError::BadScheme);
        }
    }
    Ok((scheme, rest))
}

/// Splits `host[:port]`, keeping `[IPv6]` literals whole.
pub(crate) fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), OriginError> {
    if authority.starts_with('[') {
        let end = authority.find(']').ok_or(OriginError::BadIpv6)?;
        let (host, rest) = authority.split_at(end + 1);
        return match rest.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if rest.is_empty() => Ok((host, None)),
            None => Err(OriginError::BadIpv6),
        };
    }
    Ok(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// Checks a serialized host: lowercase DNS labels, IPv4, or `[IPv6]`.
pub(crate) fn check_host(host: &str) -> Result<(), OriginError> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(OriginError::BadIpv6)?;
        let ok = inner.len() >= 2
            && inner.contains(':')
            && inner
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'a'..=b'f' | b':' | b'.'));
        return if ok { Ok(()) } else { Err(OriginError::BadIpv6) };
    }
    // A fully qualified name keeps its trailing dot; the labels are checked without it.
    let (labels, fqdn) = match host.strip_suffix('.') {
        Some(labels) => (labels, true),
        None => (host, false),
    };
    if labels.is_empty() {
        return Err(OriginError::EmptyLabel);
    }
    if fqdn
        && labels
            .rsplit('.')
            .next()
            .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(OriginError::NumericTrailingDot);
    }
    for label in labels.split('.') {
        if label.is_empty() {
            return Err(OriginError::EmptyLabel);
        }
        for b in label.bytes() {
            if b.is_ascii_uppercase() {
                return Err(OriginError::NotLowercase);
            }
            if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
                return Err(OriginError::BadHostChar);
            }
        }
    }
    Ok(())
}

/// Reports whether a serialized host is loopback, as Secure Contexts'
/// "potentially trustworthy origin" defines it: `localhost` and the names
/// under it (with or without a trailing dot), `127.0.0.0/8`, `[::1]`.
pub fn is_loopback(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host);
    let ipv4_127 = {
        let parts: Vec<&str> = name.split('.').collect();
        parts.len() == 4
            && parts.first() == Some(&"127")
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    name == "localhost" || name.ends_with(".localhost") || host == "[::1]" || ipv4_127
}

/// Parses a canonical decimal port that is not the scheme's default.
pub(crate) fn parse_port(text: &str, scheme: &str) -> Result<u16, OriginError> {
    let canonical = !text.is_empty()
        && text.len() <= 5
        && text.bytes().all(|b| b.is_ascii_digit())
        && !(text.len() > 1 && text.starts_with('0'));
    if !canonical {
        return Err(OriginError::BadPort);
    }
    let port: u16 = text.parse().map_err(|_| OriginError::BadPort)?;
    if default_port(scheme) == Some(port) {
        return Err(OriginError::DefaultPort);
    }
    Ok(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Origin<'_>, OriginError> {
        Origin::parse(s.as_bytes())
    }

    #[test]
    fn accepts_what_browsers_send() {
        for ok in [
            "https://app.example.com",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "https://xn--bcher-kva.example",
            "chrome-extension://abcdefghijklmnop",
            "https://a_b.example.com",
            "http://localhost:0",
            "https://example.com.",
            "http://localhost.:8080",
        ] {
            let origin = parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(origin.as_str(), ok);
        }
    }

    #[test]
    fn splits_scheme_host_and_port() {
        let origin = parse("https://app.example.com:8443").unwrap();
        assert_eq!(origin.scheme(), "https");
        assert_eq!(origin.host(), "app.example.com");
        assert_eq!(origin.port(), Some(8443));
        assert_eq!(parse("https://a.example").unwrap().effective_port(), Some(443));
    }

    #[test]
    fn refuses_what_browsers_never_send() {
        let cases = [
            ("", OriginError::Empty),
            ("null", OriginError::Null),
            ("https://a.example.com/", OriginError::TrailingSlash),
            ("https://a.example.com/x", OriginError::Path),
            ("https://a.example.com?x", OriginError::Query),
            ("https://a.example.com#x", OriginError::Fragment),
            ("https://u:p@a.example.com", OriginError::UserInfo),
            ("https://a.example.com:443", OriginError::DefaultPort),
            ("http://a.example.com:80", OriginError::DefaultPort),
            ("https://a.example.com:0443", OriginError::BadPort),
            ("https://a.example.com:", OriginError::BadPort),
            ("https://a.example.com:65536", OriginError::BadPort),
            ("https://A.example.com", OriginError::NotLowercase),
            ("HTTPS://a.example.com", OriginError::NotLowercase),
            ("https://a..example.com", OriginError::EmptyLabel),
            ("https://.example.com", OriginError::EmptyLabel),
            ("https://example.com..", OriginError::EmptyLabel),
            ("https://.", OriginError::EmptyLabel),
            ("http://127.0.0.1.", OriginError::NumericTrailingDot),
            ("https://", OriginError::EmptyLabel),
            ("https://a.example.com, https://b.example.com", OriginError::List),
            ("https://a.example.com https://b", OriginError::List),
            ("a.example.com", OriginError::BadScheme),
            ("https://*.example.com", OriginError::BadHostChar),
            ("http://[::1", OriginError::BadIpv6),
            ("http://[::g]", OriginError::BadIpv6),
            ("https://a.example.com\t", OriginError::NotAscii),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input), Err(expected), "{input:?}");
        }
        assert_eq!(Origin::parse(b"https://\xff.example"), Err(OriginError::NotAscii));
        let long = format!("https://{}.example", "a".repeat(MAX_ORIGIN_LEN));
        assert_eq!(parse(&long), Err(OriginError::TooLong));
    }

    #[test]
    fn a_trailing_dot_is_kept_as_part_of_the_host() {
        let origin = parse("https://example.com.:8443").unwrap();
        assert_eq!(origin.host(), "example.com.");
        assert_eq!(origin.port(), Some(8443));
        assert_ne!(
            parse("https://example.com.").unwrap(),
            parse("https://example.com").unwrap()
        );
    }

    #[test]
    fn loopback_is_localhost_127_and_ipv6_one() {
        for host in [
            "localhost",
            "localhost.",
            "app.localhost",
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "example.com",
            "localhost.example.com",
            "10.0.0.1",
            "127.0.0.1.nip.io",
            "[::2]",
            "127.1",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// The one-pass parser accepts nothing the full parser refuses, and
        /// gives the same result for what it accepts.
        #[test]
        fn the_common_case_parser_agrees_with_the_full_one(
            scheme in "(https?|wss?|ftp|x-y|HTTP|h:t)",
            rest in "[a-z0-9A-Z_.:/@?#,* \\[\\]-]{0,24}",
        ) {
            let value = format!("{scheme}://{rest}");
            if let Some(fast) = Origin::parse_common(value.as_bytes()) {
                proptest::prop_assert_eq!(Ok(fast), Origin::parse_exactly(value.as_bytes()));
            }
        }
    }

    #[test]
    fn the_common_case_parser_takes_the_common_cases() {
        for ok in [
            "https://app.example.com",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "https://a_b.example.com",
        ] {
            assert!(Origin::parse_common(ok.as_bytes()).is_some(), "{ok}");
        }
    }
}
