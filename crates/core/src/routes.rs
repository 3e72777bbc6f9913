//! Route rules: which policy a request gets, from Envoy's route name, the
//! `:authority` host and the path. Rules are tried in order; the first whose
//! every given key matches wins; otherwise the default applies.

use glob::{MatchOptions, Pattern};

/// The characters that make a glob more than a literal.
const GLOB_META: [char; 4] = ['*', '?', '[', ']'];

/// A compiled glob; literal globs compare directly.
#[derive(Debug, Clone)]
pub enum Glob {
    /// No glob metacharacters: an exact comparison.
    Literal(String),
    /// A compiled `glob` pattern, and the literal text before its first
    /// metacharacter, which every match starts with.
    Pattern {
        /// The literal head, e.g. `/api/` for `/api/*/items`.
        head: String,
        /// The whole pattern.
        pattern: Pattern,
    },
}

impl Glob {
    /// Compiles a glob; returns the `glob` crate's message on error.
    pub fn new(text: &str) -> Result<Self, String> {
        match text.find(GLOB_META) {
            Some(at) => Ok(Self::Pattern {
                head: text.get(..at).unwrap_or_default().to_owned(),
                pattern: Pattern::new(text).map_err(|e| e.to_string())?,
            }),
            None => Ok(Self::Literal(text.to_owned())),
        }
    }

    fn matches(&self, text: &str, case_sensitive: bool) -> bool {
        match self {
            Self::Literal(literal) if case_sensitive => literal == text,
            Self::Literal(literal) => literal.eq_ignore_ascii_case(text),
            // The head rules most rules out in a few byte comparisons (50
            // path rules cost 50 pattern walks per request without it).
            Self::Pattern { head, .. } if !starts_with(text, head, case_sensitive) => false,
            Self::Pattern { pattern, .. } => pattern.matches_with(
                text,
                MatchOptions {
                    case_sensitive,
                    // `*` stays inside one path segment; `**` crosses segments.
                    require_literal_separator: true,
                    require_literal_leading_dot: false,
                },
            ),
        }
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Envoy's route name, exact.
    pub route_name: Option<String>,
    /// Glob over the host.
    pub host: Option<Glob>,
    /// Glob over the path.
    pub path: Option<Glob>,
    /// Index of the policy, or `None` for "CORS off".
    pub policy: Option<usize>,
}

/// What a rule can look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteInput<'a> {
    /// Envoy's route name, when a rule needs it and Envoy has one.
    pub route_name: Option<&'a [u8]>,
    /// `:authority`.
    pub authority: &'a [u8],
    /// `:path`, query included.
    pub path: &'a [u8],
}

/// The rules and default of a configuration.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    /// Rules in order.
    pub rules: Vec<Rule>,
    /// The policy for requests no rule matches.
    pub default: Option<usize>,
}

impl Routes {
    /// Reports whether any rule needs Envoy's route name (a host call).
    pub fn uses_route_name(&self) -> bool {
        self.rules.iter().any(|r| r.route_name.is_some())
    }

    /// The policy index for this request, or `None` to leave it untouched.
    pub fn select(&self, input: &RouteInput<'_>) -> Option<usize> {
        // The host and path are decoded once, and only if a rule looks at them.
        let mut host: Option<Option<&str>> = None;
        let mut path: Option<Option<&str>> = None;
        for rule in &self.rules {
            if let Some(want) = &rule.route_name {
                if input.route_name != Some(want.as_bytes()) {
                    continue;
                }
            }
            if let Some(glob) = &rule.host {
                let host = *host.get_or_insert_with(|| std::str::from_utf8(strip_port(input.authority)).ok());
                if !host.is_some_and(|h| glob.matches(h, false)) {
                    continue;
                }
            }
            if let Some(glob) = &rule.path {
                let path = *path.get_or_insert_with(|| std::str::from_utf8(strip_query(input.path)).ok());
                if !path.is_some_and(|p| glob.matches(p, true)) {
                    continue;
                }
            }
            return rule.policy;
        }
        self.default
    }
}

/// Reports whether `text` starts with `head`, ASCII case folded unless `case_sensitive`.
fn starts_with(text: &str, head: &str, case_sensitive: bool) -> bool {
    match text.as_bytes().get(..head.len()) {
        Some(start) if case_sensitive => start == head.as_bytes(),
        Some(start) => start.eq_ignore_ascii_case(head.as_bytes()),
        None => false,
    }
}

/// The host of an authority: `[::1]:8080` → `[::1]`, `a.com:80` → `a.com`.
fn strip_port(authority: &[u8]) -> &[u8] {
    if authority.first() == Some(&b'[') {
        return match authority.iter().position(|&b| b == b']') {
            Some(end) => authority.get(..=end).unwrap_or(authority),
            None => authority,
        };
    }
    match authority.iter().rposition(|&b| b == b':') {
        Some(colon) => authority.get(..colon).unwrap_or(authority),
        None => authority,
    }
}

/// The path without its query or fragment.
fn strip_query(path: &[u8]) -> &[u8] {
    match path.iter().position(|&b| b == b'?' || b == b'#') {
        Some(end) => path.get(..end).unwrap_or(path),
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(route_name: Option<&str>, host: Option<&str>, path: Option<&str>, policy: Option<usize>) -> Rule {
        Rule {
            route_name: route_name.map(str::to_owned),
            host: host.map(|h| Glob::new(h).unwrap()),
            path: path.map(|p| Glob::new(p).unwrap()),
            policy,
        }
    }

    fn select(routes: &Routes, name: Option<&str>, authority: &str, path: &str) -> Option<usize> {
        routes.select(&RouteInput {
            route_name: name.map(str::as_bytes),
            authority: authority.as_bytes(),
            path: path.as_bytes(),
        })
    }

    #[test]
    fn path_star_stays_in_one_segment_and_double_star_crosses() {
        let routes = Routes {
            rules: vec![
                rule(None, None, Some("/public/**"), Some(1)),
                rule(None, None, Some("/api/*/items"), Some(2)),
            ],
            default: Some(0),
        };
        assert_eq!(select(&routes, None, "a", "/public/x"), Some(1));
        assert_eq!(select(&routes, None, "a", "/public/x/y?z=1"), Some(1));
        assert_eq!(select(&routes, None, "a", "/api/v1/items"), Some(2));
        assert_eq!(select(&routes, None, "a", "/api/v1/v2/items"), Some(0));
        assert_eq!(select(&routes, None, "a", "/publicity"), Some(0));
    }

    #[test]
    fn every_key_of_a_rule_must_match_and_first_rule_wins() {
        let routes = Routes {
            rules: vec![
                rule(Some("legacy"), Some("api.example.com"), None, None),
                rule(None, Some("*.example.com"), None, Some(1)),
            ],
            default: Some(0),
        };
        assert_eq!(select(&routes, Some("legacy"), "API.example.com:8443", "/"), None);
        assert_eq!(select(&routes, Some("other"), "api.example.com", "/"), Some(1));
        assert_eq!(select(&routes, Some("legacy"), "other.test", "/"), Some(0));
        assert!(routes.uses_route_name());
    }

    #[test]
    fn no_default_means_untouched() {
        let routes = Routes::default();
        assert_eq!(select(&routes, None, "a", "/"), None);
    }

    #[test]
    fn a_pattern_is_tried_only_on_text_that_starts_with_its_literal_head() {
        let glob = Glob::new("/api/*/items").unwrap();
        assert!(matches!(&glob, Glob::Pattern { head, .. } if head == "/api/"));
        assert!(glob.matches("/api/v1/items", true));
        assert!(!glob.matches("/API/v1/items", true));
        assert!(!glob.matches("/ap", true));
        let host = Glob::new("*.example.com").unwrap();
        assert!(matches!(&host, Glob::Pattern { head, .. } if head.is_empty()));
        let host = Glob::new("api-[0-9].example.com").unwrap();
        assert!(host.matches("API-1.example.com", false));
        assert!(!host.matches("api-x.example.com", false));
    }

    proptest::proptest! {
        /// The head check never changes an answer: it only skips patterns
        /// that could not match.
        #[test]
        fn the_head_check_agrees_with_the_pattern_alone(
            glob in "/[a-c/]{0,4}(\\*|\\*\\*|\\?)[a-c/]{0,4}",
            text in "/[a-cA-C/]{0,10}",
        ) {
            let Ok(Glob::Pattern { pattern, .. }) = Glob::new(&glob) else { return Ok(()) };
            let compiled = Glob::new(&glob).unwrap();
            for case_sensitive in [true, false] {
                let options = MatchOptions { case_sensitive, require_literal_separator: true, require_literal_leading_dot: false };
                proptest::prop_assert_eq!(compiled.matches(&text, case_sensitive), pattern.matches_with(&text, options));
            }
        }
    }

    #[test]
    fn ipv6_authority_keeps_its_brackets() {
        assert_eq!(strip_port(b"[::1]:8080"), b"[::1]");
        assert_eq!(strip_port(b"example.com"), b"example.com");
    }
}
