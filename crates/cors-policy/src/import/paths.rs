//! Hosts and paths of the sources as this filter's route globs (`host`: a
//! case-insensitive glob over the host, port stripped; `path`: `*` inside a
//! segment, `**` across), only where the globs agree exactly:
//!
//! - a string prefix (Envoy `prefix`, Istio `prefix`): `/api` matches `/api`,
//!   `/apiary` and `/api/x`, so it is `/api*` and `/api*/**`;
//! - a segment prefix (Envoy `path_separated_prefix`, Gateway API
//!   `PathPrefix`, whose trailing `/` is ignored): `/api` and `/api/**`;
//! - an exact path: itself.
//!
//! Glob metacharacters in a literal are escaped (`[*]`), and a
//! case-insensitive match spells each letter as a class (`[aA]`).

use itertools::Itertools;

use super::Issues;

/// How a source compares the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// Every path.
    Any,
    /// The path without the query is exactly this.
    Exact(String),
    /// The path starts with this string (Envoy and Istio `prefix`).
    StringPrefix(String),
    /// The path is this, or this followed by `/` (Envoy `path_separated_prefix`,
    /// Gateway API `PathPrefix` without its trailing `/`).
    SegmentPrefix(String),
}

impl PathMatch {
    /// The globs whose union matches exactly the same paths (none: every path).
    pub fn globs(&self, case_sensitive: bool) -> Vec<String> {
        let lit = |s: &str| literal(s, case_sensitive);
        match self {
            Self::Any => Vec::new(),
            Self::StringPrefix(p) | Self::SegmentPrefix(p) if p.is_empty() || p == "/" => Vec::new(),
            Self::Exact(p) => vec![lit(p)],
            Self::StringPrefix(p) => vec![format!("{}*", lit(p)), format!("{}*/**", lit(p))],
            Self::SegmentPrefix(p) => vec![lit(p), format!("{}/**", lit(p))],
        }
    }

    /// The path the match compares with, when it does not start with `/`:
    /// no request a browser sends has such a path (RFC 9112 origin-form,
    /// RFC 9113 `:path`), so the source's route never matches (and a path
    /// rule must start with `/`).
    pub fn unrooted(&self) -> Option<&str> {
        match self {
            Self::Any => None,
            Self::StringPrefix(p) | Self::SegmentPrefix(p) if p.is_empty() => None,
            Self::Exact(p) | Self::StringPrefix(p) | Self::SegmentPrefix(p) => {
                Some(p.as_str()).filter(|p| !p.starts_with('/'))
            }
        }
    }

    /// A path this match selects, to send in the request matrix.
    pub fn sample(&self) -> String {
        match self {
            Self::Any => "/".to_owned(),
            Self::Exact(p) => p.clone(),
            Self::StringPrefix(p) | Self::SegmentPrefix(p) => format!("{}/sample", p.strip_suffix('/').unwrap_or(p)),
        }
    }
}

/// The path of each rule that selects what `globs` selects: one rule without
/// a path when `globs` is empty (every path).
pub fn rule_paths(globs: Vec<String>) -> Vec<Option<String>> {
    if globs.is_empty() {
        vec![None]
    } else {
        globs.into_iter().map(Some).collect()
    }
}

/// The literal start of a regular expression over the path (after `^`, up
/// to the first character that is not a letter, digit, `/`, `-` or `_`):
/// what `--lossy` matches as a prefix; empty (every path) unless it starts
/// with `/`, as every path does (`a|/b` matches `/b`).
pub fn regex_head(regex: &str) -> String {
    let head: String = regex
        .trim_start_matches('^')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_'))
        .collect();
    if head.starts_with('/') {
        head
    } else {
        String::new()
    }
}

/// Notes, and reports, a route whose path match no request meets
/// ([`PathMatch::unrooted`]): the caller leaves it out.
pub fn never_matched(path: &PathMatch, at: &str, issues: &mut Issues) -> bool {
    let unrooted = path.unrooted();
    if let Some(p) = unrooted {
        issues.note(
            at,
            format!("{p:?} does not start with '/', as every request's path does: the route never matches; left out"),
        );
    }
    unrooted.is_some()
}

/// A regular expression over the path as its literal start, a string
/// prefix: no glob matches what it matches, so `--lossy` takes the prefix.
pub fn regex_path(what: &str, regex: &str, at: &str, issues: &mut Issues) -> PathMatch {
    let head = regex_head(regex);
    let nearest = match head.as_str() {
        "" => "every path".to_owned(),
        head => format!("paths starting with {head:?}"),
    };
    issues.lossy(
        at,
        format!("a {what} ({regex:?}) has no exact glob; --lossy matches {nearest}"),
    );
    PathMatch::StringPrefix(head)
}

/// Says that a route also matches on `extras`, which route rules cannot
/// (`--lossy` ignores them); `rest` ends the message.
pub fn other_conditions(extras: &[&str], rest: &str, at: &str, issues: &mut Issues) {
    if !extras.is_empty() {
        let names = extras.iter().map(|e| issues.field_name(e)).join(", ");
        issues.lossy(at, format!("also matches on {names}, which route rules cannot{rest}"));
    }
}

/// Where a host name or wildcard comes in the order Envoy tries virtual
/// hosts (and Istio, the Gateway API and nginx their hosts): exact names,
/// then the longest suffix wildcards (`*.example.com`), the longest prefix
/// wildcards (`example.*`), then `*`.
pub fn host_rank(host: &str) -> (u8, usize) {
    match host {
        "*" => (3, 0),
        h if h.starts_with('*') => (1, usize::MAX - h.len()),
        h if h.ends_with('*') => (2, usize::MAX - h.len()),
        _ => (0, 0),
    }
}

/// A host a request to `domain` (a host name or wildcard) could carry, for
/// the request matrix.
pub fn sample_host(domain: &str) -> String {
    if domain == "*" {
        "unlisted-host.invalid".to_owned()
    } else {
        domain.replacen('*', "sample", 1)
    }
}

/// A path a glob of this module matches: a class (`[aA]`, `[*]`) as its
/// first character, `**` as `sample`, `*` as nothing.
pub fn glob_sample(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len());
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.next_if_eq(&'*').is_some() => out.push_str("sample"),
            '*' => {}
            '[' => {
                out.extend(chars.next());
                chars.by_ref().find(|c| *c == ']');
            }
            c => out.push(c),
        }
    }
    out
}

/// A literal as a glob: metacharacters escaped, letters as `[xX]` unless case-sensitive.
pub fn literal(text: &str, case_sensitive: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '*' | '?' | '[' | ']' => out.extend(['[', c, ']']),
            c if !case_sensitive && c.is_ascii_alphabetic() => {
                out.extend(['[', c.to_ascii_lowercase(), c.to_ascii_uppercase(), ']']);
            }
            c => out.push(c),
        }
    }
    out
}

/// A host name or wildcard as a host glob, or `None` for every host.
/// `*.example.com` and `example.*` are globs already; `[::1]` is escaped.
pub fn host_glob(domain: &str) -> Option<String> {
    let domain = domain.strip_suffix(":*").unwrap_or(domain);
    if domain == "*" {
        return None;
    }
    let mut parts = domain
        .splitn(2, '*')
        .map(|part| literal(&part.to_ascii_lowercase(), true));
    Some(parts.join("*"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_cors_core::language::Config;
    use envoy_cors_core::routes::RouteInput;

    /// Whether the source's match selects `path` (the query already
    /// removed): the reference the globs are checked against.
    fn source_matches(m: &PathMatch, path: &str, case_sensitive: bool) -> bool {
        let eq = |a: &str, b: &str| {
            if case_sensitive {
                a == b
            } else {
                a.eq_ignore_ascii_case(b)
            }
        };
        let starts = |p: &str| path.len() >= p.len() && path.get(..p.len()).is_some_and(|h| eq(h, p));
        match m {
            PathMatch::Any => true,
            PathMatch::Exact(p) => eq(path, p),
            PathMatch::StringPrefix(p) => starts(p),
            PathMatch::SegmentPrefix(p) if p.is_empty() || p == "/" => true,
            PathMatch::SegmentPrefix(p) => starts(p) && matches!(path.as_bytes().get(p.len()), None | Some(b'/')),
        }
    }

    /// Whether the globs (as route rules of the filter) select `path`.
    fn globs_match(globs: &[String], path: &str) -> bool {
        if globs.is_empty() {
            return true;
        }
        let routes: Vec<_> = globs
            .iter()
            .map(|g| serde_json::json!({"match": {"path": g}, "policy": "p"}))
            .collect();
        let text = serde_json::json!({"policies": {"p": {"allow_origins": ["*"]}}, "routes": routes}).to_string();
        let config = Config::parse(text.as_bytes()).unwrap();
        let input = RouteInput {
            route_name: None,
            authority: b"a",
            path: path.as_bytes(),
        };
        config.routes.select(&input).is_some()
    }

    #[test]
    fn a_string_prefix_takes_two_globs_and_matches_the_apiary() {
        let m = PathMatch::StringPrefix("/api".into());
        assert_eq!(m.globs(true), ["/api*", "/api*/**"]);
        for (path, want) in [
            ("/api", true),
            ("/apiary", true),
            ("/api/x", true),
            ("/api/", true),
            ("/ap", false),
            ("/API", false),
        ] {
            assert_eq!(globs_match(&m.globs(true), path), want, "{path}");
        }
    }

    #[test]
    fn a_regex_path_keeps_its_literal_start_and_every_path_is_one_rule_without_a_path() {
        assert_eq!(regex_head("^/api/v[0-9]+/.*"), "/api/v");
        assert_eq!(regex_head("api.*"), "");
        for (glob, path) in [
            ("/api*", "/api"),
            ("/api*/**", "/api/sample"),
            ("/[aA]pi[*]", "/api*"),
            ("/[]]", "/]"),
        ] {
            assert_eq!(glob_sample(glob), path);
        }
        assert_eq!(regex_head("a|/b"), "");
        assert_eq!(rule_paths(PathMatch::Any.globs(true)), [None]);
        assert_eq!(sample_host("*.example.com"), "sample.example.com");
        assert_eq!(sample_host("*"), "unlisted-host.invalid");
    }

    #[test]
    fn a_segment_prefix_is_the_path_and_everything_below_it() {
        let m = PathMatch::SegmentPrefix("/api".into());
        assert_eq!(m.globs(true), ["/api", "/api/**"]);
        assert!(!globs_match(&m.globs(true), "/apiary"));
        assert!(globs_match(&m.globs(true), "/api/"));
    }

    proptest::proptest! {
        /// The globs select exactly the paths the source's match selects.
        #[test]
        fn globs_agree_with_the_source_semantics(
            value in "/[ab*?\\[/]{0,4}",
            path in "/[abAB*\\[/]{0,6}",
            case_sensitive: bool,
        ) {
            for m in [PathMatch::Exact(value.clone()), PathMatch::StringPrefix(value.clone()), PathMatch::SegmentPrefix(value.trim_end_matches('/').to_owned())] {
                if matches!(&m, PathMatch::SegmentPrefix(p) if p.is_empty()) { continue }
                let globs = m.globs(case_sensitive);
                proptest::prop_assert_eq!(globs_match(&globs, &path), source_matches(&m, &path, case_sensitive), "{:?} {} {:?}", m, path, globs);
            }
        }
    }
}
