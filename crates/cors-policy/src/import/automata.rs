//! Regular languages of origins, compared exactly with DFAs.
//!
//! An origin matcher of the source (Envoy's `exact`/`prefix`/`suffix`/
//! `safe_regex`, Istio's `exact`/`prefix`/`regex`) and the origin entries
//! proposed for it are each a regular language. Whether they agree on every
//! origin a browser can send is decided by a breadth-first walk over the
//! product of their DFAs and the DFA of "origins this filter can match"
//! ([`BROWSER_ORIGIN`] minus [`NEVER_SENT`]); the walk also yields the
//! shortest origin on which they disagree, which is what the refusal shows.

use std::collections::{HashSet, VecDeque};

use itertools::Itertools;
use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::util::primitives::StateID;
use regex_automata::util::{start, syntax};
use regex_automata::{Anchored, MatchKind};

/// What `Origin::parse` accepts, as a regular expression (plus `null`, the
/// opaque origin browsers send from sandboxed pages): a lowercase scheme,
/// `://`, DNS labels of `[a-z0-9_-]` with an optional trailing dot or an
/// `[IPv6]` literal, and a canonical port from 0 to 65535.
pub const BROWSER_ORIGIN: &str = concat!(
    r"null|[a-z][a-z0-9+.\-]*://",
    r"(?:[a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*\.?|\[[0-9a-f:.]*:[0-9a-f:.]*\])",
    r"(?::(?:0|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
);

/// Origins of that shape no browser sends: an explicit default port, a
/// numeric last label with a trailing dot (an IPv4 address, sent without
/// it), the one-character IPv6 literal `[:]`.
pub const NEVER_SENT: &str = concat!(
    r"(?:https|wss)://[^/]*:443|(?:http|ws)://[^/]*:80|ftp://[^/]*:21",
    r"|[a-z][a-z0-9+.\-]*://(?:[^:/]*\.)?[0-9]+\.(?::[0-9]+)?",
    r"|[a-z][a-z0-9+.\-]*://\[:\](?::[0-9]+)?",
);

/// Walks stop after this many product states: the answer is then "too
/// complex to decide", never a guess.
const MAX_STATES: usize = 400_000;

/// Most strings [`BrowserOrigins::enumerate`] looks at or keeps waiting:
/// a finite language of origins is short, so this bounds the work, not the answer.
const MAX_ENUMERATED: usize = 20_000;

/// The bytes of the origins shown first: what most origins are made of.
const COMMON_BYTES: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789.:/";

/// A regular language of byte strings, matched as a whole.
#[derive(Debug, Clone)]
pub struct Language {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
}

impl Language {
    /// Compiles an RE2-style regular expression that must match the whole
    /// text (as Envoy's `safe_regex` does), ASCII only.
    pub fn new(pattern: &str, ignore_case: bool) -> Result<Self, String> {
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Anchored)
                    .match_kind(MatchKind::All),
            )
            .syntax(
                syntax::Config::new()
                    .unicode(false)
                    .utf8(false)
                    .case_insensitive(ignore_case),
            )
            .build(&format!(r"(?:{pattern})\z"))
            .map_err(|e| causes(&e))?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .map_err(|e| e.to_string())?;
        Ok(Self { dfa, start })
    }

    /// Reports whether the whole of `text` is in the language.
    pub fn matches(&self, text: &[u8]) -> bool {
        // A dead state ends the walk: nothing after it can match.
        let end = text.iter().try_fold(self.start, |state, &b| {
            let next = self.dfa.next_state(state, b);
            (!self.dfa.is_dead_state(next)).then_some(next)
        });
        end.is_some_and(|state| self.accepts(state))
    }

    fn accepts(&self, state: StateID) -> bool {
        self.dfa.is_match_state(self.dfa.next_eoi_state(state))
    }
}

/// Where two languages disagree within the origins a browser sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disagreement {
    /// A shortest origin the left language has and the right one lacks.
    pub only_left: Option<String>,
    /// A shortest origin the right language has and the left one lacks.
    pub only_right: Option<String>,
}

impl Disagreement {
    /// True when the languages agree on every origin a browser sends.
    pub fn is_none(&self) -> bool {
        self.only_left.is_none() && self.only_right.is_none()
    }
}

/// The languages every comparison is restricted to.
#[derive(Debug, Clone)]
pub struct BrowserOrigins {
    within: Language,
    without: Language,
    /// Every `scheme://` and anything after it: every origin but `null`.
    any_scheme: Language,
}

impl BrowserOrigins {
    /// Compiles [`BROWSER_ORIGIN`], [`NEVER_SENT`] and any scheme's origins.
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            within: Language::new(BROWSER_ORIGIN, false)?,
            without: Language::new(NEVER_SENT, false)?,
            any_scheme: Language::new(r"[a-z][a-z0-9+.\-]*://(?s-u:.)*", false)?,
        })
    }

    /// Every origin with a scheme: every origin a browser sends but `null`.
    pub fn any_scheme(&self) -> &Language {
        &self.any_scheme
    }

    /// Reports whether a browser can send this origin (and this filter can match it).
    pub fn contains(&self, text: &[u8]) -> bool {
        self.within.matches(text) && !self.without.matches(text)
    }

    /// Compares `left` and `right` on browser origins: first over the common
    /// bytes, so the examples look like real origins, then over every byte.
    pub fn compare(&self, left: &Language, right: &Language) -> Result<Disagreement, String> {
        let common = self.walk(left, right, COMMON_BYTES)?;
        if common.only_left.is_some() && common.only_right.is_some() {
            return Ok(common);
        }
        let all = self.walk(left, right, &(0x21u8..=0x7e).collect::<Vec<u8>>())?;
        Ok(Disagreement {
            only_left: common.only_left.or(all.only_left),
            only_right: common.only_right.or(all.only_right),
        })
    }

    /// Every origin a browser can send in `language`, when there are at most
    /// `limit` of them (`prefix: http://localhost:3000` is 11 origins: ports
    /// 3000 and 30000 to 30009); `None` for more.
    pub fn enumerate(&self, language: &Language, limit: usize) -> Option<Vec<String>> {
        let mut found = Vec::new();
        let mut queue = VecDeque::from([(language.start, self.within.start, self.without.start, Vec::new())]);
        let mut expanded = 0usize;
        while let Some((l, w, n, text)) = queue.pop_front() {
            if language.accepts(l) && self.within.accepts(w) && !self.without.accepts(n) {
                found.push(String::from_utf8_lossy(&text).into_owned());
            }
            expanded += 1;
            if found.len() > limit || expanded > MAX_ENUMERATED || queue.len() > MAX_ENUMERATED {
                return None;
            }
            for b in 0x21u8..=0x7e {
                let (nl, nw) = (language.dfa.next_state(l, b), self.within.dfa.next_state(w, b));
                if !language.dfa.is_dead_state(nl) && !self.within.dfa.is_dead_state(nw) {
                    let longer = [text.as_slice(), &[b]].concat();
                    queue.push_back((nl, nw, self.without.dfa.next_state(n, b), longer));
                }
            }
        }
        Some(found)
    }

    /// Breadth-first over the product automaton, bytes from `alphabet`, each
    /// state queued with the bytes that first led to it (the example).
    fn walk(&self, left: &Language, right: &Language, alphabet: &[u8]) -> Result<Disagreement, String> {
        let machines = [left, right, &self.within, &self.without];
        let start = machines.map(|m| m.start);
        let mut seen = HashSet::from([start]);
        let mut queue = VecDeque::from([(start, Vec::new())]);
        let mut found = Disagreement::default();
        while let Some((key, text)) = queue.pop_front() {
            let [l, r, w, n] = key;
            if self.within.accepts(w) && !self.without.accepts(n) {
                let (in_left, in_right) = (left.accepts(l), right.accepts(r));
                let spelled = || String::from_utf8_lossy(&text).into_owned();
                // Each side keeps the first (shortest) example found.
                found.only_left = found.only_left.take().or_else(|| (in_left && !in_right).then(spelled));
                found.only_right = found.only_right.take().or_else(|| (in_right && !in_left).then(spelled));
                if found.only_left.is_some() && found.only_right.is_some() {
                    break;
                }
            }
            for &b in alphabet {
                let mut next = key;
                for (slot, machine) in next.iter_mut().zip(machines) {
                    *slot = machine.dfa.next_state(*slot, b);
                }
                let [nl, nr, nw, _] = next;
                let both_dead = left.dfa.is_dead_state(nl) && right.dfa.is_dead_state(nr);
                if self.within.dfa.is_dead_state(nw) || both_dead || seen.contains(&next) {
                    continue;
                }
                if seen.len() >= MAX_STATES {
                    return Err(format!(
                        "too complex to compare (more than {MAX_STATES} automaton states)"
                    ));
                }
                seen.insert(next);
                queue.push_back((next, [text.as_slice(), &[b]].concat()));
            }
        }
        Ok(found)
    }
}

/// An error with its causes: regex-automata's own message is only "error
/// building NFA"; its source says what in the expression it could not build.
pub fn causes(error: &dyn std::error::Error) -> String {
    std::iter::successors(Some(error), |e| e.source()).join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(p: &str) -> Language {
        Language::new(p, false).unwrap()
    }

    #[test]
    fn browser_origins_are_what_the_origin_parser_accepts() {
        let b = BrowserOrigins::new().unwrap();
        for ok in [
            "https://a.example.com",
            "http://localhost:3000",
            "null",
            "https://example.com.",
            "http://[::1]:8080",
            "http://localhost:0",
        ] {
            assert!(b.contains(ok.as_bytes()), "{ok}");
            assert!(
                envoy_cors_core::origin::Origin::parse(ok.as_bytes()).is_ok() || ok == "null",
                "{ok}"
            );
        }
        for bad in [
            "https://a.example.com:443",
            "http://a:80",
            "https://A.example.com",
            "https://a.example.com/",
            "http://127.0.0.1.",
            "https://a..b",
            "http://a:65536",
            "http://a:080",
        ] {
            assert!(!b.contains(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn one_label_is_narrower_than_a_subdomain_wildcard() {
        let b = BrowserOrigins::new().unwrap();
        let source = lang(r"^https://[a-z0-9-]+\.example\.com$");
        let ours = lang(r"https://.+\.example\.com");
        let d = b.compare(&source, &ours).unwrap();
        assert_eq!(d.only_left, None);
        assert_eq!(d.only_right.as_deref(), Some("https://a.a.example.com"));
    }

    #[test]
    fn any_label_characters_and_any_depth_agree_with_a_subdomain_wildcard() {
        let b = BrowserOrigins::new().unwrap();
        let source = lang(r"^https://([a-z0-9_-]+\.)+example\.com$");
        let ours = lang(r"https://.+\.example\.com");
        assert!(b.compare(&source, &ours).unwrap().is_none());
    }

    #[test]
    fn a_suffix_matcher_shows_its_look_alike() {
        let b = BrowserOrigins::new().unwrap();
        let source = lang(r"(?s-u:.)*example\.com");
        let ours = lang(r"https://example\.com|https://.+\.example\.com");
        let d = b.compare(&source, &ours).unwrap();
        assert_eq!(d.only_left.as_deref(), Some("a://example.com"));
    }

    #[test]
    fn a_prefix_that_only_ports_can_extend_is_a_short_list() {
        let b = BrowserOrigins::new().unwrap();
        let prefix = lang(r"http://localhost:3000(?s-u:.)*");
        let found = b.enumerate(&prefix, 16).unwrap();
        assert_eq!(found.len(), 11, "{found:?}");
        assert!(found.contains(&"http://localhost:30009".to_owned()));
        assert_eq!(b.enumerate(&lang(r"https://(?s-u:.)*\.example\.com"), 16), None);
    }

    #[test]
    fn an_optional_port_group_is_the_any_port_pattern() {
        let b = BrowserOrigins::new().unwrap();
        let source = lang(r"^http://localhost(:[0-9]+)?$");
        let ours = lang(r"http://localhost(?::[0-9]+)?");
        assert!(b.compare(&source, &ours).unwrap().is_none());
    }
}
