//! Allowed-origin entries from the policy, compiled once into an
//! [`OriginMatcher`] that answers "is this request's origin allowed?" in
//! constant time: a hash set for exact origins, and patterns indexed by their
//! literal host suffix, looked up once per distinct suffix length.
//!
//! Patterns are matched by hand over an already-parsed [`Origin`] rather than
//! with a general glob: a glob's `*` would swallow `/`, `:` and empty labels
//! and let `https://evil.com/.example.com` through. Route globs, where that is
//! the wanted behaviour, use the `glob` crate (see `routes`).

use std::fmt;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::origin::{self, Origin, OriginError};

/// Why an allowed-origin pattern is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternError {
    /// The pattern, with its wildcards set aside, is not a serialized origin.
    Origin(OriginError),
    /// `*` in the scheme.
    WildcardScheme,
    /// `*` not followed by a `.`, as in `https://*example.com`.
    PartialLabel,
    /// More than one `*` in the host, or one outside its leftmost label.
    NotLeftmost,
    /// Fewer than two literal labels to the right of the wildcard.
    TooBroad,
    /// A wildcard over an IP address.
    IpAddress,
    /// A wildcard whose literal suffix is a public suffix (`*.github.io`,
    /// `*.co.uk`): anyone can register a site under it.
    PublicSuffix,
    /// A port wildcard that is not the whole port, as in `:80*`.
    PartialPort,
}

impl PatternError {
    /// A sentence that explains the problem to an operator.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Origin(e) => e.reason(),
            Self::WildcardScheme => "the scheme cannot be a wildcard",
            Self::PartialLabel => "a wildcard must cover whole DNS labels (write `*.` or `prefix-*.`)",
            Self::NotLeftmost => "only the leftmost DNS label may hold a wildcard, and only one",
            Self::TooBroad => "a wildcard needs at least two literal DNS labels to its right (e.g. `*.example.com`)",
            Self::IpAddress => "a wildcard cannot match parts of an IP address",
            Self::PublicSuffix => {
                "the wildcard ranges over a public suffix (Public Suffix List): anyone can register a site \
                 there, so it would allow sites you do not control; list your own hosts"
            }
            Self::PartialPort => "a port wildcard must be the whole port (`:*`)",
        }
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// One entry of `allow_origins`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginEntry {
    /// `"*"`: every origin.
    Any,
    /// An exact serialized origin.
    Exact(String),
    /// A pattern with `*` in the host's leftmost label or as the port.
    Pattern(OriginPattern),
}

/// How a pattern constrains the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortPattern {
    /// No explicit port: the scheme's default.
    Default,
    /// Exactly this port.
    Exact(u16),
    /// `:*`: any port, or none.
    Any,
}

/// How a pattern constrains the host.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// A literal host (only the port is a wildcard).
    Literal(String),
    /// `prefix*` + `suffix`: with an empty prefix the wildcard covers one or
    /// more whole labels; otherwise it completes the leftmost label.
    Wildcard { prefix: String, suffix: String },
}

/// A compiled wildcard origin, e.g. `https://*.example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    host: HostPattern,
    port: PortPattern,
}

impl OriginEntry {
    /// Parses one `allow_origins` entry.
    pub fn parse(entry: &str) -> Result<Self, PatternError> {
        if entry == "*" {
            return Ok(Self::Any);
        }
        if !entry.contains('*') {
            return match Origin::parse(entry.as_bytes()) {
                Ok(_) => Ok(Self::Exact(entry.to_owned())),
                Err(e) => Err(PatternError::Origin(e)),
            };
        }
        OriginPattern::parse(entry).map(Self::Pattern)
    }

    /// Reports whether this entry allows an `http://` origin on a host other
    /// than loopback: anyone on the network path between the browser and that
    /// host can rewrite its pages.
    pub fn is_insecure(&self) -> bool {
        match self {
            Self::Any => false,
            Self::Exact(serialized) => Origin::parse(serialized.as_bytes())
                .is_ok_and(|o| o.scheme() == "http" && !origin::is_loopback(o.host())),
            Self::Pattern(pattern) => pattern.scheme == "http" && !origin::is_loopback(pattern.literal_host()),
        }
    }
}

impl OriginPattern {
    fn parse(entry: &str) -> Result<Self, PatternError> {
        if entry.split("://").next().is_some_and(|s| s.contains('*')) {
            return Err(PatternError::WildcardScheme);
        }
        let (scheme, rest) = origin::split_scheme(entry).map_err(PatternError::Origin)?;
        let (host, port) = origin::split_host_port(rest).map_err(PatternError::Origin)?;
        if let Some(at) = host.find(['/', '?', '#', '@']) {
            // Let the origin parser name the problem (path, query, userinfo...).
            let probe = format!("{scheme}://x.invalid{}", host.get(at..).unwrap_or_default());
            return Err(PatternError::Origin(
                Origin::parse(probe.as_bytes())
                    .err()
                    .unwrap_or(OriginError::BadHostChar),
            ));
        }
        let port = match port {
            None => PortPattern::Default,
            Some("*") => PortPattern::Any,
            Some(text) if text.contains('*') => return Err(PatternError::PartialPort),
            Some(text) => PortPattern::Exact(origin::parse_port(text, scheme).map_err(PatternError::Origin)?),
        };
        let host = match host.find('*') {
            None => {
                origin::check_host(host).map_err(PatternError::Origin)?;
                HostPattern::Literal(host.to_owned())
            }
            Some(star) => {
                let (prefix, wild) = host.split_at(star);
                let suffix = wild.get(1..).unwrap_or_default();
                if suffix.contains('*') {
                    return Err(PatternError::NotLeftmost);
                }
                if suffix.is_empty() {
                    return Err(PatternError::TooBroad);
                }
                if prefix.contains('.') {
                    return Err(PatternError::NotLeftmost);
                }
                if !suffix.starts_with('.') {
                    return Err(PatternError::PartialLabel);
                }
                // Validate the host as if the wildcard were one plain label.
                origin::check_host(&format!("{prefix}x{suffix}")).map_err(PatternError::Origin)?;
                // The suffix's labels, without the dot that ends the wildcard
                // label or the trailing dot of a fully qualified name.
                let literal = suffix.trim_start_matches('.');
                let literal = literal.strip_suffix('.').unwrap_or(literal);
                if literal.split('.').count() < 2 {
                    return Err(PatternError::TooBroad);
                }
                if literal
                    .rsplit('.')
                    .next()
                    .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
                {
                    return Err(PatternError::IpAddress);
                }
                if is_public_suffix(literal) {
                    return Err(PatternError::PublicSuffix);
                }
                HostPattern::Wildcard {
                    prefix: prefix.to_owned(),
                    suffix: suffix.to_owned(),
                }
            }
        };
        Ok(Self {
            scheme: scheme.to_owned(),
            host,
            port,
        })
    }

    /// The host with the wildcard label set aside: the literal host, or the
    /// suffix's labels (`*.example.com` → `example.com`).
    fn literal_host(&self) -> &str {
        match &self.host {
            HostPattern::Literal(host) => host,
            HostPattern::Wildcard { suffix, .. } => suffix.get(1..).unwrap_or_default(),
        }
    }

    /// Reports whether a parsed origin matches this pattern.
    pub fn matches(&self, origin: &Origin<'_>) -> bool {
        if origin.scheme() != self.scheme {
            return false;
        }
        let port_ok = match self.port {
            PortPattern::Default => origin.port().is_none(),
            PortPattern::Exact(p) => origin.port() == Some(p),
            PortPattern::Any => true,
        };
        port_ok
            && match &self.host {
                HostPattern::Literal(host) => origin.host() == host,
                HostPattern::Wildcard { prefix, suffix } => {
                    // `suffix` starts with the `.` that ends the wildcard label.
                    let Some(head) = origin.host().strip_suffix(suffix.as_str()) else {
                        return false;
                    };
                    if prefix.is_empty() {
                        !head.is_empty()
                    } else {
                        head.len() > prefix.len() && head.starts_with(prefix.as_str()) && !head.contains('.')
                    }
                }
            }
    }

    /// The index key: the literal host, or the literal suffix after the
    /// wildcard (with its leading dot, e.g. `.example.com`).
    fn key(&self) -> &str {
        match &self.host {
            HostPattern::Literal(host) => host,
            HostPattern::Wildcard { suffix, .. } => suffix,
        }
    }

    /// How many labels the wildcard suffix has (`None` for a literal host).
    fn suffix_labels(&self) -> Option<usize> {
        match &self.host {
            HostPattern::Literal(_) => None,
            HostPattern::Wildcard { suffix, .. } => Some(suffix.matches('.').count()),
        }
    }
}

/// Reports whether a domain is a public suffix: a rule of the Public Suffix
/// List, ICANN or private section (`co.uk`, `github.io`), or a name under one
/// of its wildcard rules (`foo.ck` under `*.ck`, but not the exception
/// `www.ck`). A name the list does not know is not: a wildcard over
/// `corp.internal` is the operator's own business.
fn is_public_suffix(domain: &str) -> bool {
    structured_public_domains::lookup(domain).is_some_and(|info| info.is_known() && info.registrable_domain().is_none())
}

/// The last `labels` labels of a host with the dot before them
/// (`a.b.example.com`, 2 → `.example.com`); `None` if the host is not longer.
fn dotted_suffix(host: &str, labels: usize) -> Option<&str> {
    let (dot, _) = host.rmatch_indices('.').nth(labels.checked_sub(1)?)?;
    host.get(dot..)
}

/// The compiled `allow_origins` of one policy.
#[derive(Debug, Default)]
pub struct OriginMatcher {
    any: bool,
    /// Exact origins. The sets hold only configured values, so there is no
    /// flooding to defend against: a fast hasher (FxHash) needs no random
    /// seed and spares the plugin SipHash.
    exact: FxHashSet<String>,
    /// Patterns by [`OriginPattern::key`].
    patterns: FxHashMap<String, Vec<OriginPattern>>,
    /// The distinct label counts of the wildcard suffixes: a request's host
    /// is looked up once per count, whatever the number of patterns.
    suffix_labels: Vec<usize>,
}

impl OriginMatcher {
    /// Builds a matcher from parsed entries.
    pub fn new(entries: impl IntoIterator<Item = OriginEntry>) -> Self {
        let mut matcher = Self::default();
        for entry in entries {
            match entry {
                OriginEntry::Any => matcher.any = true,
                OriginEntry::Exact(origin) => {
                    matcher.exact.insert(origin);
                }
                OriginEntry::Pattern(pattern) => {
                    if let Some(n) = pattern.suffix_labels() {
                        if !matcher.suffix_labels.contains(&n) {
                            matcher.suffix_labels.push(n);
                        }
                    }
                    matcher
                        .patterns
                        .entry(pattern.key().to_owned())
                        .or_default()
                        .push(pattern);
                }
            }
        }
        matcher
    }

    /// True when every origin is allowed (`"*"`).
    pub fn allows_any(&self) -> bool {
        self.any
    }

    /// Reports whether this parsed origin is allowed.
    pub fn allows(&self, origin: &Origin<'_>) -> bool {
        if self.any || self.exact.contains(origin.as_str()) {
            return true;
        }
        if self.patterns.is_empty() {
            return false;
        }
        let host = origin.host();
        let matches = |key: &str| {
            self.patterns
                .get(key)
                .is_some_and(|ps| ps.iter().any(|p| p.matches(origin)))
        };
        matches(host)
            || self
                .suffix_labels
                .iter()
                .any(|&n| dotted_suffix(host, n).is_some_and(&matches))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(entries: &[&str]) -> OriginMatcher {
        OriginMatcher::new(entries.iter().map(|e| OriginEntry::parse(e).unwrap()))
    }

    fn allows(m: &OriginMatcher, origin: &str) -> bool {
        Origin::parse(origin.as_bytes()).is_ok_and(|o| m.allows(&o))
    }

    #[test]
    fn subdomain_wildcard_covers_one_or_more_labels_but_not_the_apex() {
        let m = matcher(&["https://*.example.org"]);
        assert!(allows(&m, "https://a.example.org"));
        assert!(allows(&m, "https://a.b.example.org"));
        assert!(!allows(&m, "https://example.org"));
        assert!(!allows(&m, "https://aexample.org"));
        assert!(!allows(&m, "https://a.example.org.evil.com"));
        assert!(!allows(&m, "http://a.example.org"));
        assert!(!allows(&m, "https://a.example.org:8443"));
        assert!(!allows(&m, "https://a..example.org"));
    }

    #[test]
    fn prefix_wildcard_stays_inside_the_leftmost_label() {
        let m = matcher(&["https://pr-*.preview.example.com"]);
        assert!(allows(&m, "https://pr-42.preview.example.com"));
        assert!(!allows(&m, "https://pr-.preview.example.com"));
        assert!(!allows(&m, "https://x.pr-42.preview.example.com"));
        assert!(!allows(&m, "https://pr-1.x.preview.example.com"));
        assert!(!allows(&m, "https://qr-1.preview.example.com"));
    }

    #[test]
    fn port_wildcard_matches_any_port_or_none() {
        let m = matcher(&["http://localhost:*"]);
        assert!(allows(&m, "http://localhost"));
        assert!(allows(&m, "http://localhost:3000"));
        assert!(!allows(&m, "https://localhost:3000"));
        assert!(!allows(&m, "http://localhost.evil.com:3000"));
    }

    #[test]
    fn exact_origins_match_byte_for_byte() {
        let m = matcher(&["https://app.example.com", "http://localhost:8080"]);
        assert!(allows(&m, "https://app.example.com"));
        assert!(allows(&m, "http://localhost:8080"));
        assert!(!allows(&m, "https://app.example.com.evil.com"));
        assert!(!allows(&m, "https://evilapp.example.com"));
        assert!(!allows(&m, "https://app.example.co"));
        assert!(!allows(&m, "https://App.example.com"));
        assert!(!allows(&m, "https://app.example.com/"));
        assert!(!allows(&m, "https://app.example.com:443"));
        assert!(!allows(&m, "null"));
    }

    #[test]
    fn wildcards_under_a_registrable_domain_or_an_unlisted_name_are_accepted() {
        for entry in [
            "https://*.example.co.uk",
            "https://*.you.github.io",
            "https://*.corp.internal",
            "https://*.example.com.",
            "https://*.www.ck",
        ] {
            assert!(OriginEntry::parse(entry).is_ok(), "{entry}");
        }
    }

    #[test]
    fn a_trailing_dot_origin_is_its_own_origin() {
        let dotted = matcher(&["https://example.com.", "https://*.example.org."]);
        assert!(allows(&dotted, "https://example.com."));
        assert!(!allows(&dotted, "https://example.com"));
        assert!(allows(&dotted, "https://a.example.org."));
        assert!(!allows(&dotted, "https://a.example.org"));
        let plain = matcher(&["https://example.com", "https://*.example.org"]);
        assert!(!allows(&plain, "https://example.com."));
        assert!(!allows(&plain, "https://a.example.org."));
    }

    #[test]
    fn http_beyond_loopback_is_insecure() {
        for (entry, insecure) in [
            ("http://intranet.example.com", true),
            ("http://*.corp.example.com", true),
            ("http://10.0.0.5:8080", true),
            ("http://localhost:*", false),
            ("http://*.app.localhost", false),
            ("http://127.0.0.1:8080", false),
            ("http://[::1]:3000", false),
            ("https://app.example.com", false),
            ("*", false),
        ] {
            assert_eq!(OriginEntry::parse(entry).unwrap().is_insecure(), insecure, "{entry}");
        }
    }

    #[test]
    fn any_allows_everything() {
        let m = matcher(&["*"]);
        assert!(m.allows_any());
        assert!(allows(&m, "https://whatever.test"));
    }

    #[test]
    fn refuses_dangerous_or_meaningless_patterns() {
        let cases = [
            ("https://*example.com", PatternError::PartialLabel),
            ("https://*.com", PatternError::TooBroad),
            ("https://example.*", PatternError::TooBroad),
            ("*://example.com", PatternError::WildcardScheme),
            ("http*://example.com", PatternError::WildcardScheme),
            ("https://a.*.example.com", PatternError::NotLeftmost),
            ("https://*.*.example.com", PatternError::NotLeftmost),
            ("https://*.0.0.1", PatternError::IpAddress),
            ("https://*.github.io", PatternError::PublicSuffix),
            ("https://pr-*.github.io", PatternError::PublicSuffix),
            ("https://*.co.uk", PatternError::PublicSuffix),
            ("https://*.co.uk.", PatternError::PublicSuffix),
            ("https://*.herokuapp.com:*", PatternError::PublicSuffix),
            ("https://*.com.", PatternError::TooBroad),
            ("https://*.foo.ck", PatternError::PublicSuffix),
            ("https://*.example.com:80*", PatternError::PartialPort),
            (
                "https://*.example.com/",
                PatternError::Origin(OriginError::TrailingSlash),
            ),
            ("https://*.Example.com", PatternError::Origin(OriginError::NotLowercase)),
            (
                "https://*.example.com:443",
                PatternError::Origin(OriginError::DefaultPort),
            ),
            (
                "https://app.example.com/",
                PatternError::Origin(OriginError::TrailingSlash),
            ),
            ("null", PatternError::Origin(OriginError::Null)),
        ];
        for (entry, expected) in cases {
            assert_eq!(OriginEntry::parse(entry), Err(expected), "{entry}");
        }
    }
}
