//! The route index: every rule filed once, at configure time, under its
//! most selective key, so that a request meets only the rules that could
//! match it, whatever their number. A request's answer is still the
//! lowest-numbered rule that fully matches (`Rule::matches`): the index only
//! decides which rules are tried.
//!
//! | a rule's most selective key | filed under | a request looks up |
//! |---|---|---|
//! | `route_name` | the name | its route name: one hash lookup |
//! | a literal `host` | the host | its host, lowercased: one lookup |
//! | a literal `path` | the path | its path without the query: one lookup |
//! | a `host` glob whose literal tail holds a `.` (`*.example.com`, `api-*.example.com`) | the labels after that `.` (`example.com`) | one lookup per label of its host, from the right |
//! | a `path` glob with a literal head longer than `/` (`/tenant42/**`, `/api/v1/*`, `/api*`) | the head's whole segments, then its partial last one | one lookup per segment of its path, and one per distinct partial length at each |
//!
//! Rules with none of these keys are tried one by one, on every request:
//! a rule with an empty `match`; with only a `host` glob whose literal tail
//! holds no `.` (`*`, `api-*`, `*.example.*`); with only a `path` glob whose
//! literal head is `/` (`/*`, `/**`, `/*.js`); or with both.

use rustc_hash::FxHashMap;

use super::glob::Glob;
use super::tree::PieceTree;
use super::Rule;

/// Where a rule is filed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key<'r> {
    RouteName(&'r str),
    Host(&'r str),
    Path(&'r str),
    /// Host labels, left to right (`example.com`).
    HostSuffix(&'r str),
    /// Whole path segments, then the partial one (`/v1/api` of `/v1/api*`).
    PathHead(&'r str),
    Unindexed,
}

/// The rules by key (see the module's table).
#[derive(Debug, Clone, Default)]
pub(super) struct RouteIndex {
    route_names: FxHashMap<Box<[u8]>, Vec<u32>>,
    hosts: FxHashMap<Box<[u8]>, Vec<u32>>,
    paths: FxHashMap<Box<[u8]>, Vec<u32>>,
    host_suffixes: PieceTree,
    path_heads: PieceTree,
    unindexed: Vec<u32>,
}

/// The request facts the index looks up, decoded once.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Facts<'a> {
    /// Envoy's route name.
    pub route_name: Option<&'a [u8]>,
    /// The host, port stripped (not yet lowercased), if UTF-8.
    pub host: Option<&'a str>,
    /// The path, query stripped, if UTF-8.
    pub path: Option<&'a str>,
}

impl RouteIndex {
    /// Files every rule under its key.
    pub(super) fn new(rules: &[Rule]) -> Self {
        let mut index = Self::default();
        for (number, rule) in rules.iter().enumerate() {
            let number = u32::try_from(number).unwrap_or(u32::MAX);
            match key(rule) {
                Key::RouteName(name) => index
                    .route_names
                    .entry(name.as_bytes().into())
                    .or_default()
                    .push(number),
                Key::Host(host) => index
                    .hosts
                    .entry(host.to_ascii_lowercase().into_bytes().into())
                    .or_default()
                    .push(number),
                Key::Path(path) => index.paths.entry(path.as_bytes().into()).or_default().push(number),
                Key::HostSuffix(suffix) => {
                    let suffix = suffix.to_ascii_lowercase();
                    index.host_suffixes.insert(labels(&suffix), None, number);
                }
                Key::PathHead(head) => {
                    let (whole, partial) = segments(head);
                    index.path_heads.insert(whole, Some(partial), number);
                }
                Key::Unindexed => index.unindexed.push(number),
            }
        }
        index
    }

    /// Reports whether any rule is filed under a host key (the request's
    /// host is then lowercased for the lookups).
    pub(super) fn looks_up_hosts(&self) -> bool {
        !self.hosts.is_empty() || !self.host_suffixes.is_empty()
    }

    /// Calls `found` with every list of rule numbers (each ascending) that
    /// could match a request with these facts; `lower_host` is
    /// `facts.host`, ASCII-lowercased.
    pub(super) fn candidates(&self, facts: &Facts<'_>, lower_host: Option<&[u8]>, mut found: impl FnMut(&[u32])) {
        found(&self.unindexed);
        if let Some(rules) = facts.route_name.and_then(|name| self.route_names.get(name)) {
            found(rules);
        }
        if let Some(host) = lower_host {
            if let Some(rules) = self.hosts.get(host) {
                found(rules);
            }
            if !self.host_suffixes.is_empty() {
                self.host_suffixes
                    .walk(host.rsplit(|&b| b == b'.').map(|label| (label, true)), &mut found);
            }
        }
        if let Some(path) = facts.path {
            if let Some(rules) = self.paths.get(path.as_bytes()) {
                found(rules);
            }
            if let Some(rest) = path.as_bytes().strip_prefix(b"/") {
                if !self.path_heads.is_empty() {
                    let mut pieces = rest.split(|&b| b == b'/').peekable();
                    let walk = std::iter::from_fn(|| {
                        let piece = pieces.next()?;
                        Some((piece, pieces.peek().is_some()))
                    });
                    self.path_heads.walk(walk, &mut found);
                }
            }
        }
    }
}

/// A rule's most selective key: an exact one if it has one (route name,
/// then host, then path), else the longer of its host suffix and path head
/// in pieces (a tie goes to the host).
fn key(rule: &Rule) -> Key<'_> {
    if let Some(name) = &rule.route_name {
        return Key::RouteName(name);
    }
    if let Some(Glob::Literal(host)) = &rule.host {
        return Key::Host(host);
    }
    if let Some(Glob::Literal(path)) = &rule.path {
        return Key::Path(path);
    }
    let suffix = match &rule.host {
        Some(Glob::Pattern { tail, .. }) => tail.split_once('.').map(|(_, suffix)| suffix).filter(|s| !s.is_empty()),
        _ => None,
    };
    let head = match &rule.path {
        Some(Glob::Pattern { head, .. }) => head.strip_prefix('/').filter(|h| !h.is_empty()),
        _ => None,
    };
    match (suffix, head) {
        (Some(suffix), Some(head)) if head.split('/').count() > suffix.split('.').count() => Key::PathHead(head),
        (Some(suffix), _) => Key::HostSuffix(suffix),
        (None, Some(head)) => Key::PathHead(head),
        (None, None) => Key::Unindexed,
    }
}

/// The labels of a host suffix, from the right.
fn labels(suffix: &str) -> impl Iterator<Item = &[u8]> {
    suffix.as_bytes().rsplit(|&b| b == b'.')
}

/// A path head (without its leading `/`) as whole segments and the partial
/// last one: `v1/api` is `[v1]` and `api`; `v1/` is `[v1]` and nothing.
fn segments(head: &str) -> (impl Iterator<Item = &[u8]>, &[u8]) {
    let head = head.as_bytes();
    let (whole, partial) = match head.iter().rposition(|&b| b == b'/') {
        Some(slash) => (
            head.get(..slash).unwrap_or_default(),
            head.get(slash + 1..).unwrap_or_default(),
        ),
        None => (&[][..], head),
    };
    let pieces = (!whole.is_empty() || head.first() == Some(&b'/'))
        .then(|| whole.split(|&b| b == b'/'))
        .into_iter()
        .flatten();
    (pieces, partial)
}
