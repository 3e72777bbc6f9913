//! Route rules: which policy a request gets, from Envoy's route name, the
//! `:authority` host and the path. Rules are tried in order; the first whose
//! every given key matches wins; otherwise the default applies.
//!
//! That meaning is [`Routes::first_match_by_scan`]: every rule in order. A
//! request does not pay for it: the rules are filed at configure time in a
//! [`RouteIndex`] (`index`), which hands a request only the rules that could
//! match it, so its cost does not grow with the number of rules for the keys
//! the index knows (exact route names and paths, literal and `*.suffix`
//! hosts, paths with a literal head). A property test holds the two to the
//! same answers.

mod glob;
mod index;
mod tree;

use arrayvec::ArrayVec;

pub use self::glob::Glob;
use self::index::{Facts, RouteIndex};

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

impl Rule {
    /// Reports whether every key of the rule matches.
    fn matches(&self, facts: &Facts<'_>) -> bool {
        if let Some(want) = &self.route_name {
            if facts.route_name != Some(want.as_bytes()) {
                return false;
            }
        }
        if let Some(glob) = &self.host {
            if !facts.host.is_some_and(|h| glob.matches(h, false)) {
                return false;
            }
        }
        if let Some(glob) = &self.path {
            if !facts.path.is_some_and(|p| glob.matches(p, true)) {
                return false;
            }
        }
        true
    }
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

impl<'a> RouteInput<'a> {
    /// The facts rules match on: the host without its port and the path
    /// without its query, each only if valid UTF-8 (otherwise no glob over
    /// it matches), and each decoded only if some rule looks at it.
    fn facts(&self, reads: Reads) -> Facts<'a> {
        Facts {
            route_name: self.route_name,
            host: if reads.host {
                std::str::from_utf8(strip_port(self.authority)).ok()
            } else {
                None
            },
            path: if reads.path {
                std::str::from_utf8(strip_query(self.path)).ok()
            } else {
                None
            },
        }
    }
}

/// Which request facts any rule looks at.
#[derive(Debug, Clone, Copy, Default)]
struct Reads {
    route_name: bool,
    host: bool,
    path: bool,
}

impl Reads {
    fn of(rules: &[Rule]) -> Self {
        rules.iter().fold(Self::default(), |reads, rule| Self {
            route_name: reads.route_name || rule.route_name.is_some(),
            host: reads.host || rule.host.is_some(),
            path: reads.path || rule.path.is_some(),
        })
    }
}

/// The rules and default of a configuration, with their index.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    rules: Vec<Rule>,
    default: Option<usize>,
    index: RouteIndex,
    reads: Reads,
}

impl Routes {
    /// Compiles rules, in order, and the default into an index.
    pub fn new(rules: Vec<Rule>, default: Option<usize>) -> Self {
        Self {
            index: RouteIndex::new(&rules),
            reads: Reads::of(&rules),
            rules,
            default,
        }
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The policy for requests no rule matches; `None` leaves them untouched.
    pub fn default_policy(&self) -> Option<usize> {
        self.default
    }

    /// Reports whether any rule needs Envoy's route name (a host call).
    pub fn uses_route_name(&self) -> bool {
        self.reads.route_name
    }

    /// The policy index for this request, or `None` to leave it untouched.
    pub fn select(&self, input: &RouteInput<'_>) -> Option<usize> {
        match self.first_match(input) {
            Some(rule) => self.rules.get(rule).and_then(|r| r.policy),
            None => self.default,
        }
    }

    /// The number of the first rule whose every key matches, found through
    /// the index: the same answer as [`Routes::first_match_by_scan`].
    pub fn first_match(&self, input: &RouteInput<'_>) -> Option<usize> {
        if self.rules.is_empty() {
            return None;
        }
        let facts = input.facts(self.reads);
        let lower = match facts.host {
            Some(host) if self.index.looks_up_hosts() => Some(Lowercase::new(host.as_bytes())),
            _ => None,
        };
        let mut best: Option<u32> = None;
        self.index
            .candidates(&facts, lower.as_ref().map(Lowercase::get), |bucket| {
                for &number in bucket {
                    if best.is_some_and(|b| number >= b) {
                        break;
                    }
                    if self.rules.get(number as usize).is_some_and(|r| r.matches(&facts)) {
                        best = Some(number);
                        break;
                    }
                }
            });
        best.map(|b| b as usize)
    }

    /// The number of the first rule whose every key matches, trying every
    /// rule in order: what the routed form means, and what the index must
    /// answer (the property test compares them).
    pub fn first_match_by_scan(&self, input: &RouteInput<'_>) -> Option<usize> {
        let facts = input.facts(self.reads);
        self.rules.iter().position(|rule| rule.matches(&facts))
    }
}

/// Hosts up to this many bytes are lowercased on the stack.
const INLINE_HOST: usize = 128;

/// A host, ASCII-lowercased for the index's lookups: borrowed when it has
/// no uppercase letter (browsers send lowercase hosts), else copied, on the
/// stack up to [`INLINE_HOST`] bytes.
enum Lowercase<'a> {
    Borrowed(&'a [u8]),
    Inline(ArrayVec<u8, INLINE_HOST>),
    Heap(Vec<u8>),
}

impl<'a> Lowercase<'a> {
    fn new(host: &'a [u8]) -> Self {
        if !host.iter().any(u8::is_ascii_uppercase) {
            return Self::Borrowed(host);
        }
        match ArrayVec::try_from(host) {
            Ok(mut inline) => {
                inline.make_ascii_lowercase();
                Self::Inline(inline)
            }
            Err(_) => Self::Heap(host.to_ascii_lowercase()),
        }
    }

    fn get(&self) -> &[u8] {
        match self {
            Self::Borrowed(host) => host,
            Self::Inline(host) => host,
            Self::Heap(host) => host,
        }
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
        let routes = Routes::new(
            vec![
                rule(None, None, Some("/public/**"), Some(1)),
                rule(None, None, Some("/api/*/items"), Some(2)),
            ],
            Some(0),
        );
        assert_eq!(select(&routes, None, "a", "/public/x"), Some(1));
        assert_eq!(select(&routes, None, "a", "/public/x/y?z=1"), Some(1));
        assert_eq!(select(&routes, None, "a", "/api/v1/items"), Some(2));
        assert_eq!(select(&routes, None, "a", "/api/v1/v2/items"), Some(0));
        assert_eq!(select(&routes, None, "a", "/publicity"), Some(0));
    }

    #[test]
    fn every_key_of_a_rule_must_match_and_first_rule_wins() {
        let routes = Routes::new(
            vec![
                rule(Some("legacy"), Some("api.example.com"), None, None),
                rule(None, Some("*.example.com"), None, Some(1)),
            ],
            Some(0),
        );
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
    fn ipv6_authority_keeps_its_brackets() {
        assert_eq!(strip_port(b"[::1]:8080"), b"[::1]");
        assert_eq!(strip_port(b"example.com"), b"example.com");
    }
}
