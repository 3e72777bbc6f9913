//! A source's CORS settings as this filter's policy (`PolicySpec` JSON),
//! field by field, with what could not be kept exactly.

use envoy_cors_core::language::Problem;
use envoy_cors_core::origin_matcher::OriginEntry;
use envoy_cors_core::tokens;
use serde_json::{json, Map, Value};

use super::automata::BrowserOrigins;
use super::fields::comma_list;
use super::model::{Enabled, EnvoyCors, GatewayCors};
use super::origins::{self, StringMatch};
use super::Issues;

/// Firefox's cap on `Access-Control-Max-Age` (Chromium caps at 7200): a
/// longer value means the same to every browser.
const BROWSER_MAX_AGE: i64 = 86_400;

/// How a source that reads as an Envoy CorsPolicy names its fields, so that a
/// message points at the field as the operator wrote it.
pub struct Names {
    /// The source, as a message names it.
    pub source: &'static str,
    /// The list of origin matchers.
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

/// Istio's VirtualService `corsPolicy`.
pub const ISTIO: Names = Names {
    source: "Istio",
    origins: "allowOrigins",
    methods: "allowMethods",
    headers: "allowHeaders",
    expose: "exposeHeaders",
    max_age: "maxAge",
};

/// The policy for an Envoy (or Istio) CorsPolicy; `None` when the source
/// leaves requests untouched (CORS off, or no origin allowed). `names` are
/// the source's field names, for the paths of its messages.
pub fn envoy(
    cors: &EnvoyCors,
    at: &str,
    names: &Names,
    browser: &BrowserOrigins,
    issues: &mut Issues,
) -> Option<Value> {
    if cors.enabled == Enabled::Off {
        return None;
    }
    let mut origins = Vec::new();
    let mut any = false;
    for (i, matcher) in cors.origins.iter().enumerate() {
        let path = format!("{at}.{}[{i}]", names.origins);
        match origins::convert(matcher, browser) {
            Ok(converted) => {
                any |= converted.any;
                origins.extend(converted.entries);
                for note in converted.notes {
                    issues.note(&path, note);
                }
            }
            Err(refused) => {
                let nearest = if refused.nearest.is_empty() {
                    "nothing (the matcher is dropped)".to_owned()
                } else {
                    format!("{:?}", refused.nearest)
                };
                issues.lossy(&path, format!("{}; --lossy writes {nearest}", refused.reason));
                origins.extend(refused.nearest);
            }
        }
    }
    let mut policy = Map::new();
    let credentials = cors.allow_credentials;
    if !finish_origins(
        &mut origins,
        any,
        credentials,
        names.source,
        &format!("{at}.{}", names.origins),
        issues,
        &mut policy,
    ) {
        issues.note(
            at,
            "allows no origin a browser sends: the routes it covers are imported with CORS off \
             (\"policy\": null), which leaves their requests untouched as Envoy did"
                .to_owned(),
        );
        return None;
    }
    let methods = split(&cors.allow_methods);
    policy.insert(
        "allow_methods".into(),
        json!(methods_list(&methods, &format!("{at}.{}", names.methods), issues)),
    );
    let headers = request_headers(&split(&cors.allow_headers), &format!("{at}.{}", names.headers), issues);
    if !headers.is_empty() {
        policy.insert("allow_headers".into(), json!(headers));
    }
    let expose = response_headers(
        &split(&cors.expose_headers),
        credentials,
        &format!("{at}.{}", names.expose),
        issues,
    );
    if !expose.is_empty() {
        policy.insert("expose_headers".into(), json!(expose));
    }
    if let Some(max_age) = max_age(&cors.max_age, &format!("{at}.{}", names.max_age), issues) {
        policy.insert("max_age".into(), json!(max_age));
    }
    if policy.get("allow_credentials").is_none() && credentials {
        policy.insert("allow_credentials".into(), json!(true));
    }
    if cors.allow_private_network {
        policy.insert("allow_private_network".into(), json!(true));
    }
    // Envoy answers allowed preflights with 200.
    policy.insert("preflight_status".into(), json!(200));
    if cors.enabled == Enabled::Shadow {
        policy.insert("mode".into(), json!("report"));
    }
    Some(Value::Object(policy))
}

/// The policy for a Gateway API `CORS` filter.
pub fn gateway(cors: &GatewayCors, at: &str, issues: &mut Issues) -> Option<Value> {
    let mut origins = Vec::new();
    let mut any = false;
    for (i, origin) in cors.allow_origins.iter().enumerate() {
        let path = format!("{at}.allowOrigins[{i}]");
        if origin == "*" {
            any = true;
            continue;
        }
        if origin
            .split_once("://")
            .is_some_and(|(_, host)| host == "*" || host.starts_with("*:"))
        {
            issues.lossy(
                &path,
                format!("{origin:?} allows every host of the scheme, which this filter refuses as too broad; --lossy drops it"),
            );
            continue;
        }
        match OriginEntry::parse(origin) {
            Ok(_) => origins.push(origin.clone()),
            Err(e) => issues.lossy(&path, format!("{origin:?}: {}; --lossy drops it", e.reason())),
        }
    }
    let mut policy = Map::new();
    let credentials = cors.allow_credentials;
    if !finish_origins(
        &mut origins,
        any,
        credentials,
        "the Gateway API",
        &format!("{at}.allowOrigins"),
        issues,
        &mut policy,
    ) {
        issues.lossy(
            at,
            "no origin left to allow; --lossy turns CORS off on these routes".to_owned(),
        );
        return None;
    }
    let methods = methods_list(&cors.allow_methods, &format!("{at}.allowMethods"), issues);
    policy.insert("allow_methods".into(), json!(methods));
    let headers = request_headers(&cors.allow_headers, &format!("{at}.allowHeaders"), issues);
    if !headers.is_empty() {
        policy.insert("allow_headers".into(), json!(headers));
    }
    let expose = response_headers(
        &cors.expose_headers,
        credentials,
        &format!("{at}.exposeHeaders"),
        issues,
    );
    if !expose.is_empty() {
        policy.insert("expose_headers".into(), json!(expose));
    }
    policy.insert("max_age".into(), json!(cors.max_age.clamp(0, BROWSER_MAX_AGE)));
    if cors.max_age > BROWSER_MAX_AGE {
        issues.note(
            &format!("{at}.maxAge"),
            format!("{} is capped at {BROWSER_MAX_AGE}, as every browser does", cors.max_age),
        );
    }
    if policy.get("allow_credentials").is_none() && credentials {
        policy.insert("allow_credentials".into(), json!(true));
    }
    policy.insert("preflight_status".into(), json!(200));
    Some(Value::Object(policy))
}

/// Writes `allow_origins` (and drops credentials where `--lossy` must);
/// false when no origin is left. `source` names who echoes every origin
/// with credentials today, for the message.
fn finish_origins(
    origins: &mut Vec<String>,
    any: bool,
    credentials: bool,
    source: &str,
    at: &str,
    issues: &mut Issues,
    policy: &mut Map<String, Value>,
) -> bool {
    if any {
        if credentials {
            issues.lossy(
                at,
                format!(
                    "every origin with allow_credentials ({source} then echoes every origin with credentials): {}; \
                     --lossy keeps \"*\" without credentials",
                    Problem::AnyOriginWithCredentials
                ),
            );
            policy.insert("allow_credentials".into(), json!(false));
        }
        policy.insert("allow_origins".into(), json!(["*"]));
        return true;
    }
    let mut kept = Vec::new();
    for origin in origins.drain(..) {
        if kept.contains(&origin) {
            continue;
        }
        let insecure = OriginEntry::parse(&origin).is_ok_and(|e| e.is_insecure());
        if credentials && insecure {
            issues.lossy(
                at,
                format!(
                    "{origin:?}: {}; --lossy drops it",
                    Problem::InsecureOriginWithCredentials
                ),
            );
            continue;
        }
        kept.push(origin);
    }
    if kept.is_empty() {
        return false;
    }
    policy.insert("allow_origins".into(), json!(kept));
    true
}

/// A comma-separated header value as its items.
fn split(list: &str) -> Vec<String> {
    comma_list(list).map(str::to_owned).collect()
}

/// `allow_methods`: `*`, or the methods a browser can ask for.
fn methods_list(methods: &[String], at: &str, issues: &mut Issues) -> Vec<String> {
    if methods.iter().any(|m| m == "*") {
        return vec!["*".to_owned()];
    }
    let mut out: Vec<String> = Vec::new();
    for method in methods {
        let why = if !tokens::is_token(method.as_bytes()) {
            Some("is not an HTTP token, so no browser asks for it".to_owned())
        } else if tokens::FORBIDDEN_METHODS.iter().any(|f| f.eq_ignore_ascii_case(method)) {
            Some("is a forbidden method: browsers never send it".to_owned())
        } else {
            tokens::NORMALIZED_METHODS
                .iter()
                .find(|m| m.eq_ignore_ascii_case(method) && *m != method)
                .map(|canonical| {
                    format!("never matched: browsers send {canonical}, and the source compared case-sensitively")
                })
        };
        match why {
            Some(why) => issues.note(at, format!("{method:?} {why}; dropped")),
            None if !out.contains(method) => out.push(method.clone()),
            None => {}
        }
    }
    out
}

/// `allow_headers`: names a page's request can carry.
fn request_headers(names: &[String], at: &str, issues: &mut Issues) -> Vec<String> {
    if names.iter().any(|h| h == "*") {
        return vec!["*".to_owned()];
    }
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let lower = name.to_ascii_lowercase();
        if !tokens::is_token(name.as_bytes()) || tokens::is_forbidden_request_header(&lower) || lower == "cookie" {
            issues.note(
                at,
                format!("{name:?} is a name no page can set, so no preflight asks for it; dropped"),
            );
        } else if tokens::is_cors_response_header(&lower) {
            issues.lossy(
                at,
                format!("{name:?}: {}; --lossy drops it", Problem::ResponseHeaderAsRequestHeader),
            );
        } else if !out.contains(&lower) {
            out.push(lower);
        }
    }
    out
}

/// `expose_headers`: names a page may read.
fn response_headers(names: &[String], credentials: bool, at: &str, issues: &mut Issues) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let lower = name.to_ascii_lowercase();
        if name == "*" && credentials {
            issues.note(
                at,
                "\"*\" with credentials: browsers read it as a header named \"*\", which exposes nothing; dropped"
                    .to_owned(),
            );
        } else if name != "*" && (!tokens::is_token(name.as_bytes()) || tokens::is_forbidden_response_header(&lower)) {
            issues.note(at, format!("{name:?} is never exposed to a page; dropped"));
        } else if !out.contains(&lower) {
            out.push(lower);
        }
    }
    out
}

/// `max_age` from the source's text: browsers ignore what is not a number
/// and cap what is too long.
fn max_age(text: &str, at: &str, issues: &mut Issues) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        issues.note(
            at,
            format!("{text:?} is not a number of seconds: browsers ignore it; dropped"),
        );
        return None;
    }
    let seconds = text.parse::<i64>().unwrap_or(i64::MAX);
    if seconds > BROWSER_MAX_AGE {
        issues.note(
            at,
            format!("{text} is capped at {BROWSER_MAX_AGE}, as every browser does"),
        );
    }
    Some(seconds.min(BROWSER_MAX_AGE))
}

/// Makes a StringMatch list out of exact origins (Istio's deprecated `allowOrigin`).
pub fn exact_matchers(origins: &[String]) -> Vec<StringMatch> {
    origins.iter().map(|o| StringMatch::exact(o)).collect()
}
