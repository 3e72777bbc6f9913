//! Istio: `VirtualService` `spec.http[].corsPolicy`. istiod translates a
//! corsPolicy into a CorsPolicy of Envoy's built-in filter on every route of
//! that HTTP rule (`TranslateCORSPolicy`, pilot/pkg/networking/core/route/route.go:
//! origins as `exact`/`prefix`/`safe_regex` matchers, the deprecated
//! `allowOrigin` as exact ones, lists joined with `,`, `maxAge` in seconds,
//! `unmatchedPreflights: IGNORE` as `forward_not_matching_preflights: false`),
//! so the source model is Envoy's. `hosts` become host rules; `match[].uri`
//! `exact` and `prefix` (a string prefix: istiod writes Envoy's `prefix` for
//! a VirtualService) become path rules; rules are tried in order, the first
//! that matches wins.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::automata::BrowserOrigins;
use super::convert;
use super::fields::Object;
use super::model::EnvoyCors;
use super::origins::{MatchKind, StringMatch};
use super::paths::{host_rank, never_matched, other_conditions, regex_path, PathMatch};
use super::{objects, policy_hint, Cors, Doc, Issues, Scope};
use crate::args::SourceFormat;
use crate::document::within;

/// A `VirtualService`.
type VirtualService = Object<Spec>;

/// Its `spec`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Spec {
    hosts: Vec<String>,
    http: Option<Vec<HttpRoute>>,
}

/// An `HTTPRoute` rule of a VirtualService.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct HttpRoute {
    name: Option<String>,
    #[serde(rename = "match")]
    matches: Option<Vec<HttpMatchRequest>>,
    cors_policy: Option<CorsPolicy>,
    delegate: Option<Value>,
}

/// An `HTTPMatchRequest`: its `uri`, and whatever else it matches on.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct HttpMatchRequest {
    uri: Option<IstioStringMatch>,
    ignore_uri_case: bool,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// A `StringMatch`: a oneof of `exact`, `prefix` and `regex` (any other
/// field is refused at its path). The CRD also accepts `{}`, which istiod
/// translates to nothing: a `uri` that matches every path
/// (`TranslateRouteMatch` keeps its default `prefix: /`), an origin left out.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct IstioStringMatch {
    exact: Option<String>,
    prefix: Option<String>,
    regex: Option<String>,
}

impl IstioStringMatch {
    /// How it compares, and with what; `None` for `{}`.
    fn get(&self) -> Option<(MatchKind, &str)> {
        let fields = [
            (MatchKind::Exact, &self.exact),
            (MatchKind::Prefix, &self.prefix),
            (MatchKind::Regex, &self.regex),
        ];
        fields.into_iter().find_map(|(kind, v)| Some((kind, v.as_deref()?)))
    }
}

/// A `CorsPolicy`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CorsPolicy {
    allow_origins: Option<Vec<IstioStringMatch>>,
    /// Deprecated: exact origins.
    allow_origin: Vec<String>,
    allow_methods: Vec<String>,
    allow_headers: Vec<String>,
    expose_headers: Vec<String>,
    max_age: Option<String>,
    allow_credentials: Option<bool>,
    unmatched_preflights: Option<String>,
}

/// Imports every VirtualService.
pub fn import(docs: &[Doc], browser: &BrowserOrigins, issues: &mut Issues) -> Vec<Scope> {
    let services: Vec<(&str, VirtualService)> = objects(docs, SourceFormat::Istio, issues);
    let mut out = Vec::new();
    for (host, d) in hosts(&services, issues) {
        let Some((part, vs)) = services.get(d) else { continue };
        for (i, http) in vs.spec.http.iter().flatten().enumerate() {
            let at = within(part, &format!("spec.http[{i}]"));
            if http.delegate.is_some() {
                issues.fatal(&at, "delegates to other VirtualServices, which are not in the files");
                continue;
            }
            let cors = http
                .cors_policy
                .as_ref()
                .map(|c| issues.converting(|issues| cors(c, &format!("{at}.corsPolicy"), browser, issues)))
                .unwrap_or_default();
            let hint = policy_hint(&vs.metadata.name, http.name.as_deref(), "http", i);
            // No `match`, or an empty list, matches every request (Istio's
            // VirtualService reference).
            let any = [HttpMatchRequest::default()];
            let matches = http.matches.as_deref().filter(|m| !m.is_empty()).unwrap_or(&any);
            for (m, request_match) in matches.iter().enumerate() {
                let mat = format!("{at}.match[{m}]");
                let (path, widened) = issues.raising(|issues| uri(request_match, &mat, issues));
                if never_matched(&path, &mat, issues) {
                    continue;
                }
                let case_sensitive = !request_match.ignore_uri_case;
                let scopes = Scope::each_glob(&host, &path, case_sensitive, &cors, &hint, &mat);
                out.extend(scopes.into_iter().map(|scope| Scope { widened, ..scope }));
            }
        }
    }
    out
}

/// Every host with the index of its VirtualService, in the order Envoy
/// tries them (exact names, the longest wildcards, then `*`).
fn hosts(services: &[(&str, VirtualService)], issues: &mut Issues) -> Vec<(String, usize)> {
    let mut hosts: Vec<(String, usize)> = Vec::new();
    for (d, (part, vs)) in services.iter().enumerate() {
        if vs.spec.http.is_none() {
            continue;
        }
        for (h, host) in vs.spec.hosts.iter().enumerate() {
            let at = within(part, &format!("spec.hosts[{h}]"));
            if host != "*" && !host.contains('.') {
                issues.lossy(
                    &at,
                    format!(
                        "{host:?} is a short name, which Istio expands with the namespace and the mesh's domain \
                         (several names); --lossy matches {host:?} as written"
                    ),
                );
            }
            if hosts.iter().any(|(other, od)| other == host && *od != d) {
                issues.fatal(
                    &at,
                    format!("{host:?} is also a host of another VirtualService: the order Istio merges them in is not in the files"),
                );
            }
            hosts.push((host.clone(), d));
        }
    }
    hosts.sort_by_key(|(host, d)| (host_rank(host), *d));
    hosts
}

/// An HTTPMatchRequest's `uri` as a path match.
fn uri(m: &HttpMatchRequest, at: &str, issues: &mut Issues) -> PathMatch {
    // `name` and `statPrefix` are not conditions on the request.
    let extras: Vec<&str> = m
        .other
        .keys()
        .map(String::as_str)
        .filter(|k| !matches!(*k, "name" | "statPrefix"))
        .collect();
    other_conditions(&extras, "; --lossy ignores them", at, issues);
    match m.uri.as_ref().and_then(IstioStringMatch::get) {
        None => PathMatch::Any,
        Some((MatchKind::Exact, p)) => PathMatch::Exact(p.to_owned()),
        Some((MatchKind::Prefix, p)) => PathMatch::StringPrefix(p.to_owned()),
        Some((_, r)) => regex_path("regex uri", r, &format!("{at}.uri"), issues),
    }
}

/// A corsPolicy: the CorsPolicy istiod writes for it, and its policy.
fn cors(c: &CorsPolicy, at: &str, browser: &BrowserOrigins, issues: &mut Issues) -> Cors {
    let origins = match &c.allow_origins {
        // The deprecated `allowOrigin`: exact origins.
        None => c.allow_origin.iter().map(|o| StringMatch::exact(o)).collect(),
        Some(matchers) => matchers
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let found = m.get().map(|(kind, value)| StringMatch::new(kind, value, false));
                if found.is_none() {
                    let reason = "sets none of exact, prefix and regex: istiod leaves it out";
                    issues.note(&format!("{at}.allowOrigins[{i}]"), reason);
                }
                found
            })
            .collect(),
    };
    let max_age = max_age(c.max_age.as_deref()).unwrap_or_else(|d| {
        let reason = format!("{d:?} is not a duration (e.g. \"24h\", \"90s\")");
        issues.fatal(&format!("{at}.maxAge"), reason);
        String::new()
    });
    let model = EnvoyCors {
        origins,
        allow_methods: c.allow_methods.join(","),
        allow_headers: c.allow_headers.join(","),
        expose_headers: c.expose_headers.join(","),
        max_age,
        allow_credentials: c.allow_credentials.unwrap_or(false),
        forward_not_matching_preflights: c.unmatched_preflights.as_deref() != Some("IGNORE"),
        ..EnvoyCors::default()
    };
    // The deprecated `allowOrigin` when `allowOrigins` is absent.
    let origins = c.allow_origins.as_ref().map_or("allowOrigin", |_| "allowOrigins");
    let names = convert::Names {
        origins,
        ..convert::camel("Istio")
    };
    convert::envoy(model, at, &names, browser, issues)
}

/// A `maxAge` Duration (Istio's, Envoy Gateway's) as Envoy's `max_age`:
/// whole seconds, empty when absent; the text when it is not a duration.
pub fn max_age(text: Option<&str>) -> Result<String, &str> {
    text.map_or(Ok(String::new()), |d| {
        duration_seconds(d).map(|s| s.to_string()).ok_or(d)
    })
}

/// A protobuf Duration as Istio and Envoy Gateway write it (`24h`, `1h30m`,
/// `90s`, `1.5s`, `500ms`), whole seconds (truncated, as both do).
pub fn duration_seconds(text: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut rest = text.trim();
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = rest.get(..unit_len)?;
        rest = rest.get(unit_len..)?;
        total += value
            * match unit {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 0.001,
                _ => return None,
            };
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::duration_seconds;

    #[test]
    fn durations_read_as_istio_writes_them() {
        assert_eq!(duration_seconds("24h"), Some(86_400));
        assert_eq!(duration_seconds("1h30m"), Some(5_400));
        assert_eq!(duration_seconds("90s"), Some(90));
        assert_eq!(duration_seconds("1.5s"), Some(1));
        assert_eq!(duration_seconds("500ms"), Some(0));
        assert_eq!(duration_seconds("soon"), None);
    }
}
