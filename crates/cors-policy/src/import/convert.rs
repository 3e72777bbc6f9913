//! A source's CORS settings as this filter's policy: a `PolicySpec`, the
//! core's own type, checked by the core's own rules (`Config::parse`). No
//! rule of the policy language is written here: a value the core refuses is
//! dropped, as [`disposition`] says for its `Problem`, with a note where no
//! browser ever sends or reads it (so dropping it changes nothing) and an
//! error (`--lossy` drops it) where a browser would notice.

use envoy_cors_core::language::{Config, PolicySpec, Problem};
use envoy_cors_core::policy::Mode;
use itertools::Itertools;

use super::automata::BrowserOrigins;
use super::fields::split;
use super::model::{Enabled, EnvoyCors, SourceCors};
use super::origins::{self, StringMatch};
use super::{Cors, Issues, Severity};

/// The core's cap on `max_age` (Firefox's; Chromium caps at 7200): a longer
/// value means the same to every browser.
pub const BROWSER_MAX_AGE: i64 = 86_400;

/// How a source names its fields, so that a message points at the field as
/// the operator wrote it.
pub struct Names {
    /// The source, as a message names it.
    pub source: &'static str,
    /// The origins.
    pub origins: &'static str,
    /// The allowed methods.
    pub methods: &'static str,
    /// The allowed request headers.
    pub headers: &'static str,
    /// The exposed response headers.
    pub expose: &'static str,
    /// The preflight cache lifetime.
    pub max_age: &'static str,
}

/// Envoy's `CorsPolicy` (proto field names).
pub const ENVOY: Names = Names {
    source: "Envoy",
    origins: "allow_origin_string_match",
    methods: "allow_methods",
    headers: "allow_headers",
    expose: "expose_headers",
    max_age: "max_age",
};

/// The camelCase names of Istio's `corsPolicy`, the Gateway API's
/// `HTTPCORSFilter` and Envoy Gateway's `spec.cors`.
pub const fn camel(source: &'static str) -> Names {
    Names {
        source,
        origins: "allowOrigins",
        methods: "allowMethods",
        headers: "allowHeaders",
        expose: "exposeHeaders",
        max_age: "maxAge",
    }
}

/// What `*` means in the source when credentials are allowed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Star {
    /// Every origin is echoed with credentials (Envoy, the Gateway API): a
    /// hole this filter refuses; `--lossy` keeps `*` without credentials.
    #[default]
    Echoed,
    /// `Access-Control-Allow-Origin: *` is sent next to `-Credentials: true`
    /// (ingress-nginx), which no browser accepts for a credentialed request:
    /// `*` without credentials is what browsers saw.
    Literal,
}

/// A source's CORS settings, in the shape of this filter's policy, before
/// any rule is applied.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// The origins, as the source matches them.
    pub origins: Vec<StringMatch>,
    /// What `*` means with credentials.
    pub star: Star,
    /// The methods (`*` for any).
    pub methods: Vec<String>,
    /// The request headers (`*` for any).
    pub headers: Vec<String>,
    /// A `*` header is echoed back, `authorization` included (Envoy; the
    /// Gateway API with credentials), where this filter's `*` never covers
    /// `authorization` (Fetch: it is not a wildcard request-header name).
    pub headers_star_echoed: bool,
    /// The exposed response headers.
    pub expose: Vec<String>,
    /// `max_age` as the source sends it.
    pub max_age: Option<String>,
    /// Credentials.
    pub credentials: bool,
    /// Private Network Access preflights are answered.
    pub private_network: bool,
    /// The status of an allowed preflight, when not this filter's `204`.
    pub preflight_status: Option<i64>,
    /// Only evaluated, never enforced (Envoy's `shadow_enabled`).
    pub report: bool,
}

/// An Envoy CorsPolicy (also what Istio and Envoy Gateway configure) found
/// at `at`, with its policy (none when the filter is off).
pub fn envoy(cors: EnvoyCors, at: &str, names: &Names, browser: &BrowserOrigins, issues: &mut Issues) -> Cors {
    let cors = cors.compiled();
    let draft = (cors.enabled != Enabled::Off).then(|| Draft {
        origins: cors.origins.clone(),
        star: Star::Echoed,
        methods: split(&cors.allow_methods),
        headers: split(&cors.allow_headers),
        headers_star_echoed: true,
        expose: split(&cors.expose_headers),
        max_age: Some(cors.max_age.clone()).filter(|m| !m.trim().is_empty()),
        credentials: cors.allow_credentials,
        private_network: cors.allow_private_network,
        // Envoy answers allowed preflights with 200.
        preflight_status: Some(200),
        report: cors.enabled == Enabled::Shadow,
    });
    Cors {
        policy: draft.and_then(|d| policy(&d, at, names, browser, issues)),
        source: Some(SourceCors::Envoy(cors)),
        lossy: false,
    }
}

/// The policy for a source's CORS settings found at `at`; `None` when it
/// leaves requests untouched (no origin a browser sends is allowed).
pub fn policy(
    draft: &Draft,
    at: &str,
    names: &Names,
    browser: &BrowserOrigins,
    issues: &mut Issues,
) -> Option<PolicySpec> {
    let field = |name: &str| format!("{at}.{name}");
    let at_origins = field(names.origins);
    let ((mut allow_origins, any), lossy) =
        issues.raising(|issues| origins(&draft.origins, &at_origins, browser, issues));
    let mut credentials = draft.credentials;
    if any {
        star(draft, names, &at_origins, issues);
        credentials = false;
        allow_origins = vec!["*".to_owned()];
    }
    let star_in = |list: &[String]| list.iter().any(|m| m == "*");
    let headers = match (star_in(&draft.headers), draft.headers_star_echoed) {
        (true, true) => vec!["*".to_owned(), "authorization".to_owned()],
        (true, false) => vec!["*".to_owned()],
        (false, _) => draft.headers.iter().map(|h| h.to_ascii_lowercase()).unique().collect(),
    };
    let mut spec = PolicySpec {
        allow_origins,
        allow_methods: Some(if star_in(&draft.methods) {
            vec!["*".to_owned()]
        } else {
            draft.methods.iter().cloned().unique().collect()
        }),
        allow_headers: headers,
        expose_headers: draft.expose.iter().map(|h| h.to_ascii_lowercase()).unique().collect(),
        max_age: draft
            .max_age
            .as_deref()
            .and_then(|m| max_age(m, &field(names.max_age), issues)),
        allow_credentials: credentials,
        dangerously_allow_http_origins_with_credentials: false,
        allow_private_network: draft.private_network,
        preflight_status: draft.preflight_status,
        mode: if draft.report { Mode::Report } else { Mode::Enforce },
        reject_disallowed: false,
    };
    let (passed, dropped) =
        issues.raising(|issues| !spec.allow_origins.is_empty() && check(&mut spec, at, names, issues));
    if passed {
        return Some(spec);
    }
    // What the source allowed may all be gone with what --lossy dropped.
    let off = "the routes it covers are imported with CORS off (\"policy\": null)";
    let source = names.source;
    let reason = match lossy || dropped {
        true => format!(
            "no origin is left once --lossy drops what the warnings say: {off}, which refuses what {source} allowed"
        ),
        false => {
            format!("allows no origin a browser sends: {off}, which leaves their requests untouched as {source} did")
        }
    };
    issues.note(at, reason);
    None
}

/// The entries for the source's origin matchers, and whether one allows
/// every origin.
fn origins(matchers: &[StringMatch], at: &str, browser: &BrowserOrigins, issues: &mut Issues) -> (Vec<String>, bool) {
    let mut entries = Vec::new();
    let mut any = false;
    for (i, matcher) in matchers.iter().enumerate() {
        let path = format!("{at}[{i}]");
        let found = match origins::convert(matcher, browser) {
            Ok(converted) => {
                any |= converted.any;
                converted.notes.into_iter().for_each(|note| issues.note(&path, note));
                converted.entries
            }
            Err(refused) => {
                let nearest = match refused.nearest.as_slice() {
                    [] => "nothing (the matcher is dropped)".to_owned(),
                    nearest => format!("{nearest:?}"),
                };
                issues.lossy(&path, format!("{}; --lossy writes {nearest}", refused.reason));
                any |= refused.nearest.iter().any(|e| e == "*");
                refused.nearest
            }
        };
        entries.extend(found);
    }
    (entries.into_iter().unique().collect(), any)
}

/// Says what becomes of credentials with every origin allowed.
fn star(draft: &Draft, names: &Names, at: &str, issues: &mut Issues) {
    match (draft.credentials, draft.star) {
        (false, _) => {}
        (true, Star::Echoed) => issues.lossy(
            at,
            format!(
                "every origin with credentials ({} then echoes every origin with credentials): {}; --lossy keeps \
                 \"*\" without credentials",
                names.source,
                Problem::AnyOriginWithCredentials
            ),
        ),
        (true, Star::Literal) => issues.note(
            at,
            format!(
                "every origin with credentials: {} sends `Access-Control-Allow-Origin: *` with \
                 `Access-Control-Allow-Credentials: true`, which every browser refuses for a credentialed request, \
                 so credentialed requests never worked; imported as \"*\" without credentials, which is what browsers \
                 saw",
                names.source
            ),
        ),
    }
}

/// `max_age` from the source's text: browsers ignore what is not a number of
/// seconds (`Access-Control-Max-Age` is delta-seconds).
fn max_age(text: &str, at: &str, issues: &mut Issues) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        issues.note(
            at,
            format!("{text:?} is not a number of seconds: browsers ignore it; dropped"),
        );
        return None;
    }
    Some(text.parse::<i64>().unwrap_or(i64::MAX))
}

/// What the importer does with a value the core refuses: drop it, with a
/// note when no browser ever sends or reads it, as a lossy change when a
/// browser would notice. `None`: the importer never writes such a value.
fn disposition(problem: &Problem) -> Option<Severity> {
    match problem {
        Problem::NotAToken
        | Problem::ForbiddenMethod
        | Problem::MethodCase(_)
        | Problem::ForbiddenRequestHeader
        | Problem::CookieRequestHeader
        | Problem::ForbiddenResponseHeader
        | Problem::ExposeAllWithCredentials
        | Problem::MaxAge => Some(Severity::Note),
        Problem::ResponseHeaderAsRequestHeader | Problem::InsecureOriginWithCredentials | Problem::Origin(_) => {
            Some(Severity::Lossy)
        }
        _ => None,
    }
}

/// Applies the core's rules to `spec`, dropping (or capping) what they
/// refuse; false when something is refused that the importer cannot fix.
fn check(spec: &mut PolicySpec, at: &str, names: &Names, issues: &mut Issues) -> bool {
    for _ in 0..3 {
        let Ok(text) = serde_json::to_string(spec) else {
            return false;
        };
        let Err(errors) = Config::parse(text.as_bytes()) else {
            return true;
        };
        for e in errors {
            // A list's item is refused at `key[index]`, with its value as JSON.
            let key = e.path.split('[').next().unwrap_or_default();
            let item = e.path.contains('[');
            let path = format!("{at}.{}", source_name(key, names));
            let value = e.value.clone().unwrap_or_default();
            match (disposition(&e.problem), item) {
                (Some(_), false) if key == "max_age" => {
                    issues.note(
                        &path,
                        format!("{value} is capped at {BROWSER_MAX_AGE}, as every browser caps it"),
                    );
                    spec.max_age = spec.max_age.map(|m| m.clamp(0, BROWSER_MAX_AGE));
                }
                (Some(Severity::Note), true) => issues.note(&path, format!("{value}: {}; dropped", e.problem)),
                (Some(_), true) => issues.lossy(&path, format!("{value}: {}; --lossy drops it", e.problem)),
                _ => {
                    issues.fatal(
                        &path,
                        format!("internal error: the core refuses {value}: {}", e.problem),
                    );
                    return false;
                }
            }
            if item {
                // Each list holds an item once: the one refused goes.
                list(spec, key).retain(|i| serde_json::to_string(i).ok().as_ref() != Some(&value));
            }
        }
        if spec.allow_origins.is_empty() {
            return false;
        }
    }
    false
}

/// The policy's list under `key`.
fn list<'a>(spec: &'a mut PolicySpec, key: &str) -> &'a mut Vec<String> {
    match key {
        "allow_origins" => &mut spec.allow_origins,
        "allow_methods" => spec.allow_methods.get_or_insert_with(Vec::new),
        "allow_headers" => &mut spec.allow_headers,
        _ => &mut spec.expose_headers,
    }
}

/// The source's name for one of the policy's fields.
fn source_name<'a>(key: &'a str, names: &'a Names) -> &'a str {
    match key {
        "allow_origins" => names.origins,
        "allow_methods" => names.methods,
        "allow_headers" => names.headers,
        "expose_headers" => names.expose,
        "max_age" => names.max_age,
        other => other,
    }
}
