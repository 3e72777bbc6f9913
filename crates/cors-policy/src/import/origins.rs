//! Origin matchers of the sources (Envoy's `StringMatcher`, Istio's
//! `StringMatch`, the Gateway API's `CORSOrigin`) converted to this filter's
//! `allow_origins` entries, only where the two agree on every origin a
//! browser can send (decided by [`super::automata`]). Each refusal says why,
//! with an origin on which they disagree.

use envoy_cors_core::origin::Origin;
use envoy_cors_core::origin_matcher::OriginEntry;
use itertools::{Either, Itertools};
use regex_syntax::escape;
use regex_syntax::hir::{Class, ClassBytes, ClassBytesRange, Hir, HirKind};

use super::automata::{BrowserOrigins, Language};

/// Most entries a regular expression is expanded into before giving up.
const MAX_TEMPLATES: usize = 64;

/// How a source compares an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// The whole origin, exactly.
    Exact,
    /// The origin starts with the value.
    Prefix,
    /// The origin ends with the value.
    Suffix,
    /// The value appears anywhere in the origin.
    Contains,
    /// An RE2 regular expression over the whole origin.
    Regex,
}

/// One origin matcher of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringMatch {
    /// How it compares.
    pub kind: MatchKind,
    /// What it compares with.
    pub value: String,
    /// ASCII case is ignored (Envoy's `ignore_case`).
    pub ignore_case: bool,
    /// How the operator wrote it, when that is not the matcher itself
    /// (a wildcard origin the source turns into a regex).
    pub label: Option<String>,
}

impl StringMatch {
    /// A matcher as written.
    pub fn new(kind: MatchKind, value: &str, ignore_case: bool) -> Self {
        Self {
            kind,
            value: value.to_owned(),
            ignore_case,
            label: None,
        }
    }

    /// An exact matcher.
    pub fn exact(value: &str) -> Self {
        Self::new(MatchKind::Exact, value, false)
    }

    /// A regular expression the source makes of what the operator wrote.
    pub fn written_as(regex: &str, ignore_case: bool, written: String) -> Self {
        Self {
            label: Some(written),
            ..Self::new(MatchKind::Regex, regex, ignore_case)
        }
    }

    /// The matcher as a regular expression over the whole origin.
    pub fn regex(&self) -> String {
        let any = "(?s-u:.)*";
        match self.kind {
            MatchKind::Exact => escape(&self.value),
            MatchKind::Prefix => format!("{}{any}", escape(&self.value)),
            MatchKind::Suffix => format!("{any}{}", escape(&self.value)),
            MatchKind::Contains => format!("{any}{}{any}", escape(&self.value)),
            MatchKind::Regex => self.value.clone(),
        }
    }

    /// The matcher's language.
    pub fn language(&self) -> Result<Language, String> {
        Language::new(&self.regex(), self.ignore_case)
    }

    /// The matcher as the source writes it, e.g. `suffix: "example.com"`.
    pub fn describe(&self) -> String {
        if let Some(label) = &self.label {
            return label.clone();
        }
        let case = if self.ignore_case { " (ignore_case)" } else { "" };
        format!(
            "{}: {}{case}",
            self.kind.key(),
            serde_json::Value::from(self.value.as_str())
        )
    }
}

impl MatchKind {
    /// The field of a `StringMatcher` it is.
    pub fn key(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Prefix => "prefix",
            Self::Suffix => "suffix",
            Self::Contains => "contains",
            Self::Regex => "regex",
        }
    }
}

/// A matcher converted exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Converted {
    /// The matcher allows every origin: it matches the text `*`, which Envoy
    /// also tries, or every origin a browser sends (`[^*]*`); `entries` holds `*`.
    pub any: bool,
    /// The equivalent entries (none: it matches no origin a browser sends).
    pub entries: Vec<String>,
    /// What an operator should know (a lowercased value, an entry that never matched).
    pub notes: Vec<String>,
}

/// A matcher with no exact equivalent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Why, with an origin on which the nearest entries disagree.
    pub reason: String,
    /// The nearest entries that pass `check` (used with `--lossy`), maybe none.
    pub nearest: Vec<String>,
}

/// Converts one matcher.
pub fn convert(matcher: &StringMatch, browser: &BrowserOrigins) -> Result<Converted, Refused> {
    let refuse = |reason: String| Refused {
        reason,
        nearest: Vec::new(),
    };
    let what = matcher.describe();
    let language = matcher.language().map_err(|e| refuse(unreadable(matcher, &e)))?;
    if language.matches(b"*") {
        // A `*` written as such needs no note; a pattern that happens to
        // match the text `*` does, since Envoy tries that text too.
        let note =
            format!("{what} matches the text \"*\", which Envoy's CORS filter also tries: it allows every origin");
        return Ok(Converted {
            any: true,
            entries: vec!["*".to_owned()],
            notes: matcher.label.is_none().then_some(note).into_iter().collect(),
        });
    }
    let (mut entries, unusable) = entries(matcher);
    drop_covered(&mut entries);
    let ours = union(&entries).map_err(|e| refuse(format!("internal error comparing origins: {e}")))?;
    let disagreement = browser
        .compare(&language, &ours)
        .map_err(|e| refuse(format!("{what}: {e}")))?;
    if disagreement.is_none() {
        return Ok(Converted {
            any: entries.iter().any(|e| e == "*"),
            notes: exact_notes(matcher, &entries, &unusable),
            entries,
        });
    }
    let listed = browser.enumerate(&language, MAX_LISTED);
    if let Some(all) = listed.filter(|all| all.iter().all(|o| OriginEntry::parse(o).is_ok())) {
        return Ok(Converted {
            any: false,
            notes: vec![format!(
                "{what} matches exactly these origins a browser can send: {all:?}"
            )],
            entries: all,
        });
    }
    if let Some(refused) = every_origin_but_null(matcher, &language, browser) {
        return Err(refused);
    }
    Err(Refused {
        reason: refusal(matcher, &language, &entries, &unusable, &disagreement, browser),
        nearest: entries,
    })
}

/// The entries a matcher's candidates give, and the candidates no entry can
/// hold, with why.
fn entries(matcher: &StringMatch) -> (Vec<String>, Vec<(String, String)>) {
    let lowered = candidates(matcher).into_iter().map(|c| match matcher.ignore_case {
        true => c.to_ascii_lowercase(),
        false => c,
    });
    let (entries, unusable): (Vec<String>, _) = lowered.partition_map(|c| match OriginEntry::parse(&c) {
        Ok(_) => Either::Left(c),
        Err(e) => Either::Right((c, e.reason().to_owned())),
    });
    (entries.into_iter().unique().collect(), unusable)
}

/// What an exact conversion is worth knowing: a value as written that no
/// browser sends (a regex's empty alternatives are not worth a note).
fn exact_notes(matcher: &StringMatch, entries: &[String], unusable: &[(String, String)]) -> Vec<String> {
    let what = matcher.describe();
    let mut notes: Vec<String> = unusable
        .iter()
        .filter(|_| matcher.kind != MatchKind::Regex)
        .map(|(candidate, reason)| {
            format!("{what}: {candidate:?} is never sent by a browser ({reason}); nothing to keep")
        })
        .collect();
    if entries.is_empty() {
        notes.push(format!(
            "{what} matches no origin a browser sends: it never allowed anything"
        ));
    }
    notes
}

/// Most origins a matcher with a finite language is written out as.
const MAX_LISTED: usize = 16;

/// Why a matcher cannot be read: RE2's syntax (which regex-syntax follows)
/// refuses its regular expression, so Envoy refuses the configuration too, or
/// only this tool's automata cannot hold it (the one reason for a literal).
fn unreadable(matcher: &StringMatch, error: &str) -> String {
    match regex_syntax::Parser::new().parse(&matcher.value) {
        Err(e) if matcher.kind == MatchKind::Regex => format!(
            "{}: not a regular expression RE2 accepts, so Envoy refuses this configuration too: {}",
            matcher.describe(),
            e.to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ")
        ),
        _ => format!("{}: this tool cannot compare it: {error}", matcher.describe()),
    }
}

/// A matcher that allows every origin but `null` (Istio's rendering of the
/// Gateway API's `*`, `^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s?#]+$`): its nearest
/// entry is `*`, which allows `null` too.
fn every_origin_but_null(matcher: &StringMatch, language: &Language, browser: &BrowserOrigins) -> Option<Refused> {
    let d = browser.compare(language, browser.any_scheme()).ok()?;
    (d.only_right.is_none() && !language.matches(b"null")).then(|| Refused {
        reason: format!(
            "{} allows every origin a browser sends except null, and \"*\" also allows null (sandboxed pages, \
             file: URLs)",
            matcher.describe()
        ),
        nearest: vec!["*".to_owned()],
    })
}

/// Why a matcher has no exact equivalent, naming a look-alike where it is a hole.
fn refusal(
    matcher: &StringMatch,
    language: &Language,
    entries: &[String],
    unusable: &[(String, String)],
    d: &super::automata::Disagreement,
    browser: &BrowserOrigins,
) -> String {
    let what = matcher.describe();
    let value = matcher.value.to_ascii_lowercase();
    let matched = |o: &String| browser.contains(o.as_bytes()) && language.matches(o.as_bytes());
    let look_alike = match matcher.kind {
        MatchKind::Suffix => Some(format!("https://evil{}", value.trim_start_matches('.'))),
        MatchKind::Prefix | MatchKind::Contains => Some(format!("{value}.evil.example")),
        _ => None,
    };
    if let Some(evil) = look_alike.filter(matched) {
        // A hole when anyone can register the look-alike: another
        // registrable domain (`evilexample.com` for `example.com`), not
        // another host of the same site (`evildev.withpixie.dev`).
        let site = |host: &str| structured_public_domains::registrable_domain(host.trim_start_matches('.'));
        let host = evil.split_once("://").map_or(evil.as_str(), |(_, h)| h);
        return match (matcher.kind, site(host)) {
            (MatchKind::Suffix, Some(same)) if site(&value) == Some(same.clone()) => format!(
                "{what} has no exact equivalent: a suffix match on the whole origin also allows {evil}, another \
                 host of {same} that is not under {value}, on any scheme and port; list the origins you mean"
            ),
            (kind, _) => format!(
                "{what} is a hole: a {} match on the whole origin also allows {evil}, a site anyone can \
                 register; list the origins you mean (e.g. https://example.com and https://*.example.com)",
                if kind == MatchKind::Suffix { "suffix" } else { "prefix" }
            ),
        };
    }
    let mut parts = Vec::new();
    if let Some((candidate, reason)) = unusable.first() {
        parts.push(format!("the nearest entry {candidate:?} is refused ({reason})"));
    }
    let shown = if entries.is_empty() {
        "no entry".to_owned()
    } else {
        format!("{entries:?}")
    };
    if let Some(origin) = &d.only_left {
        let refused = if entries.is_empty() {
            "no entry can allow".to_owned()
        } else {
            format!("{shown} would refuse")
        };
        parts.push(format!("it allows {origin}, which {refused}"));
    }
    if let Some(origin) = &d.only_right {
        parts.push(format!("{shown} would also allow {origin}, which it refuses"));
    }
    format!("{what} has no exact equivalent: {}", parts.join("; "))
}

/// Removes exact origins that a pattern of the list already covers.
fn drop_covered(entries: &mut Vec<String>) {
    let patterns: Vec<OriginEntry> = entries
        .iter()
        .filter(|e| e.contains('*'))
        .filter_map(|e| OriginEntry::parse(e).ok())
        .collect();
    let matcher = envoy_cors_core::origin_matcher::OriginMatcher::new(patterns);
    entries.retain(|e| e.contains('*') || !Origin::parse(e.as_bytes()).is_ok_and(|o| matcher.allows(&o)));
}

/// The language of a list of entries, as this filter matches them.
pub fn union(entries: &[String]) -> Result<Language, String> {
    // No entry: the empty text, which is no origin.
    Language::new(&entries.iter().map(|e| entry_regex(e)).join("|"), false)
}

/// One entry as a regular expression, read within browser origins: `*`,
/// an exact origin, or a pattern (`*.` one or more labels, `prefix-*` the
/// rest of the leftmost label, `:*` any port or none).
pub fn entry_regex(entry: &str) -> String {
    if entry == "*" {
        return "(?s-u:.)*".to_owned();
    }
    if !entry.contains('*') {
        return escape(entry);
    }
    let (scheme, rest) = entry.split_once("://").unwrap_or(("", entry));
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => (host, Some(port)),
        _ => (rest, None),
    };
    let host = match host.split_once('*') {
        None => escape(host),
        Some(("", suffix)) => format!(".+{}", escape(suffix)),
        Some((prefix, suffix)) => format!("{}[^.]+{}", escape(prefix), escape(suffix)),
    };
    let port = match port {
        None => String::new(),
        Some("*") => "(?::[0-9]+)?".to_owned(),
        Some(p) => format!(":{}", escape(p)),
    };
    format!("{}://{host}{port}", escape(scheme))
}

/// The entries a matcher suggests, read from its structure.
fn candidates(matcher: &StringMatch) -> Vec<String> {
    match matcher.kind {
        MatchKind::Exact => vec![matcher.value.clone()],
        MatchKind::Prefix => vec![format!("{}*", matcher.value)],
        MatchKind::Suffix => vec![format!("*{}", matcher.value)],
        MatchKind::Contains => Vec::new(),
        MatchKind::Regex => {
            let hir = regex_syntax::ParserBuilder::new()
                .unicode(false)
                .utf8(false)
                .case_insensitive(matcher.ignore_case)
                .build()
                .parse(&matcher.value);
            let Ok(hir) = hir else { return Vec::new() };
            templates(&hir)
                .unwrap_or_default()
                .iter()
                .map(|t| with_scheme(render(t)))
                .collect()
        }
    }
}

/// A piece of a template: literal text, or a part any text may fill.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Hole,
}

/// The regular expression as a small set of templates: alternatives and
/// optional parts are expanded, anything else that is not literal is a hole.
fn templates(hir: &Hir) -> Option<Vec<Vec<Piece>>> {
    let out = match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => vec![Vec::new()],
        HirKind::Literal(lit) => vec![vec![Piece::Lit(String::from_utf8_lossy(&lit.0).into_owned())]],
        HirKind::Class(class) => vec![vec![single(class).map_or(Piece::Hole, Piece::Lit)]],
        HirKind::Capture(capture) => templates(&capture.sub)?,
        HirKind::Repetition(rep) => {
            let sub = templates(&rep.sub)?;
            // An empty template where the part may be absent.
            let mut out: Vec<Vec<Piece>> = (rep.min == 0).then(Vec::new).into_iter().collect();
            if rep.max == Some(1) || (rep.min <= 1 && rep.max == Some(rep.min)) {
                out.extend(sub);
            } else {
                // A repeated label ending in a dot is a run of whole labels: `*.`.
                let ends_with_dot = |t: &Vec<Piece>| matches!(t.last(), Some(Piece::Lit(s)) if s.ends_with('.'));
                let dot = sub.iter().all(ends_with_dot).then(|| Piece::Lit(".".to_owned()));
                out.push([Some(Piece::Hole), dot].into_iter().flatten().collect());
            }
            out
        }
        // Every way to pick one template per part, in order; one more than
        // the limit is enough for the check below to give up.
        HirKind::Concat(subs) => {
            let parts: Vec<Vec<Vec<Piece>>> = subs.iter().map(templates).collect::<Option<_>>()?;
            let product = parts.into_iter().multi_cartesian_product().map(|t| t.concat());
            product.take(MAX_TEMPLATES + 1).collect()
        }
        HirKind::Alternation(subs) => subs.iter().map(templates).collect::<Option<Vec<_>>>()?.concat(),
    };
    (out.len() <= MAX_TEMPLATES).then_some(out)
}

/// The letter a class matches in either case, lowercased (a letter of a
/// case-insensitive regex). A class of one character is a literal already:
/// regex-syntax's `Hir::class` makes it one.
fn single(class: &Class) -> Option<String> {
    let class = match class {
        Class::Bytes(c) => c.clone(),
        Class::Unicode(c) => c.to_byte_class()?,
    };
    let first = class.ranges().first()?.start();
    let mut letter = ClassBytes::new([ClassBytesRange::new(first, first)]);
    letter.case_fold_simple();
    (letter == class).then(|| char::from(first.to_ascii_lowercase()).to_string())
}

/// An entry a browser can match: a regex that leaves the scheme open
/// (`.*\.envoyproxy\.io`) is nearest to `https://*.envoyproxy.io`.
fn with_scheme(entry: String) -> String {
    if entry.contains("://") || entry == "*" || entry == "null" {
        entry
    } else if let Some(rest) = entry.strip_prefix('*').filter(|r| r.starts_with('.')) {
        format!("https://*{rest}")
    } else if entry.starts_with('.') {
        format!("https://*{entry}")
    } else {
        format!("https://{entry}")
    }
}

/// A template as an entry: holes become `*`.
fn render(template: &[Piece]) -> String {
    template.iter().fold(String::new(), |out, piece| match piece {
        Piece::Lit(s) => out + s,
        Piece::Hole if out.ends_with('*') => out,
        Piece::Hole => out + "*",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_cors_core::origin_matcher::OriginMatcher;

    fn regex(value: &str) -> StringMatch {
        StringMatch::new(MatchKind::Regex, value, false)
    }

    fn convert_ok(m: &StringMatch) -> Vec<String> {
        let b = BrowserOrigins::new().unwrap();
        convert(m, &b)
            .unwrap_or_else(|e| panic!("{}: {}", m.describe(), e.reason))
            .entries
    }

    fn refused(m: &StringMatch) -> Refused {
        let b = BrowserOrigins::new().unwrap();
        convert(m, &b).expect_err(&m.describe())
    }

    #[test]
    fn exact_regexes_and_optional_parts_convert_exactly() {
        assert_eq!(
            convert_ok(&regex(r"^https://(www\.)?example\.com$")),
            ["https://example.com", "https://www.example.com"]
        );
        assert_eq!(
            convert_ok(&regex(r"^http://localhost(:[0-9]+)?$")),
            ["http://localhost:*"]
        );
        assert_eq!(
            convert_ok(&regex(r"https?://app\.example\.com")),
            ["http://app.example.com", "https://app.example.com"]
        );
        assert_eq!(
            convert_ok(&regex(r"^https://([a-z0-9_-]+\.)+example\.org$")),
            ["https://*.example.org"]
        );
        assert_eq!(
            convert_ok(&regex(r"^https://.+\.example\.org$")),
            ["https://*.example.org"]
        );
        assert_eq!(
            convert_ok(&regex(r"https://(.+\.)?example\.org")),
            ["https://example.org", "https://*.example.org"]
        );
    }

    #[test]
    fn a_one_label_regex_is_narrower_than_a_wildcard_and_is_refused_with_an_example() {
        let r = refused(&regex(r"^https://[a-z0-9-]+\.example\.com$"));
        assert_eq!(r.nearest, ["https://*.example.com"]);
        assert!(
            r.reason.contains("would also allow https://a.a.example.com"),
            "{}",
            r.reason
        );
        let rfc = refused(&regex(r"^https://([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+example\.org$"));
        assert!(rfc.reason.contains("would also allow"), "{}", rfc.reason);
    }

    #[test]
    fn an_unescaped_dot_is_refused_with_its_look_alike() {
        let r = refused(&regex(r"^https://app.example.com$"));
        assert!(r.reason.contains("it allows https://app"), "{}", r.reason);
    }

    #[test]
    fn a_suffix_matcher_is_named_as_the_hole_it_is() {
        let m = StringMatch::new(MatchKind::Suffix, "example.com", false);
        let r = refused(&m);
        assert!(
            r.reason.contains("is a hole") && r.reason.contains("https://evilexample.com"),
            "{}",
            r.reason
        );
        let p = StringMatch::new(MatchKind::Prefix, "https://app.example.com", false);
        assert!(refused(&p).reason.contains("https://app.example.com.evil.example"));
    }

    #[test]
    fn matching_the_text_star_means_every_origin() {
        let b = BrowserOrigins::new().unwrap();
        for m in [
            regex(".*"),
            StringMatch::exact("*"),
            StringMatch::new(MatchKind::Prefix, "*", false),
        ] {
            assert!(convert(&m, &b).unwrap().any, "{}", m.describe());
        }
    }

    #[test]
    fn every_origin_a_browser_sends_is_every_origin_without_the_text_star() {
        let b = BrowserOrigins::new().unwrap();
        for m in [regex("[^*]*"), regex("[a-z].*")] {
            let c = convert(&m, &b).unwrap();
            assert!(c.any && c.entries == ["*"], "{}: {c:?}", m.describe());
        }
    }

    #[test]
    fn a_literal_too_large_to_compare_is_not_called_a_regex_envoy_refuses() {
        // Only the automata's limits refuse a literal, whatever its text reads as as a regex.
        let m = StringMatch::new(MatchKind::Prefix, "https://(app", false);
        assert_eq!(
            unreadable(&m, "exceeds size limit"),
            r#"prefix: "https://(app": this tool cannot compare it: exceeds size limit"#
        );
        assert!(unreadable(&regex("https://(app"), "").contains("not a regular expression RE2 accepts"));
        assert_eq!(
            unreadable(&regex(r"https://\pL"), "Unicode not allowed here"),
            r#"regex: "https://\\pL": this tool cannot compare it: Unicode not allowed here"#
        );
    }

    #[test]
    fn ignore_case_lowercases_and_non_canonical_exact_values_never_matched() {
        let b = BrowserOrigins::new().unwrap();
        let m = StringMatch::new(MatchKind::Exact, "https://App.Example.com", true);
        assert_eq!(convert(&m, &b).unwrap().entries, ["https://app.example.com"]);
        let slash = convert(&StringMatch::exact("https://app.example.com/"), &b).unwrap();
        assert!(slash.entries.is_empty() && !slash.notes.is_empty());
        assert!(convert(&StringMatch::exact("null"), &b).is_err());
    }

    #[test]
    fn a_wildcard_over_a_public_suffix_is_refused() {
        let r = refused(&regex(r"^https://.+\.github\.io$"));
        assert!(r.reason.contains("public suffix"), "{}", r.reason);
    }

    proptest::proptest! {
        /// The regex of an entry agrees with the filter's own matcher.
        #[test]
        fn entry_regexes_agree_with_the_origin_matcher(
            host in "(a|b|pr-1|x_y|a\\.b)\\.(example\\.com|example\\.org)\\.?",
            scheme in "https?",
            port in proptest::option::of(proptest::sample::select(vec![0u16, 1, 8080, 443, 65535])),
        ) {
            let origin = match port { Some(p) => format!("{scheme}://{host}:{p}"), None => format!("{scheme}://{host}") };
            let b = BrowserOrigins::new().unwrap();
            for entry in ["https://*.example.com", "https://pr-*.example.com", "http://a.example.org:*", "https://a.b.example.org", "https://*.example.com.", "http://*.example.org:8080"] {
                let parsed = OriginMatcher::new([OriginEntry::parse(entry).unwrap()]);
                let ours = Origin::parse(origin.as_bytes()).is_ok_and(|o| parsed.allows(&o));
                let lang = Language::new(&entry_regex(entry), false).unwrap();
                let by_regex = b.contains(origin.as_bytes()) && lang.matches(origin.as_bytes());
                proptest::prop_assert_eq!(ours, by_regex, "{} {}", entry, origin);
            }
        }
    }
}
