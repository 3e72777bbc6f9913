//! The Gateway API: HTTPRoute rules with a `CORS` filter (GEP-1767,
//! `HTTPCORSFilter`, Standard in v1.5). `hostnames` become host rules
//! (`*.example.com` covers one or more labels, never the apex); path matches
//! become path rules (`PathPrefix` is element-wise: `/api` matches `/api`,
//! `/api/` and `/api/x`, never `/apiary`; a trailing `/` is ignored;
//! `Exact` is exact). Rules are ordered as the specification ranks matches
//! across all routes: the most specific hostname, then an exact path, the
//! longest prefix, then (for ties) the oldest route by `creationTimestamp`
//! (none is the oldest, as Go's zero time), its namespace/name and the
//! rule's place, as Envoy Gateway sorts them (`Resources.Sort`,
//! internal/gatewayapi/resource/resource.go). Method, header and query
//! matches have no rule (`--lossy` ignores them). Envoy Gateway's
//! SecurityPolicies target the same routes ([`scopes`] with another source
//! of CORS per rule).

use serde::Deserialize;
use serde_json::Value;

use super::automata::BrowserOrigins;
use super::convert::{self, Draft};
use super::fields::Object;
use super::model::{GatewayCors, SourceCors};
use super::paths::{host_rank, other_conditions, regex_path, PathMatch};
use super::{objects, policy_hint, Cors, Doc, Issues, Scope};
use crate::args::SourceFormat;
use crate::document::within;

/// An `HTTPRoute`: its hostnames, parents and rules.
pub type HttpRoute = Object<RouteSpec>;

/// An HTTPRoute's `spec`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RouteSpec {
    /// `hostnames`.
    pub hostnames: Vec<String>,
    /// `parentRefs`: the Gateways (and listeners) it attaches to.
    pub parent_refs: Vec<ParentRef>,
    /// `rules`.
    pub rules: Vec<Rule>,
}

/// A `ParentReference`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ParentRef {
    /// The Gateway's name.
    pub name: String,
    /// The listener, if one.
    pub section_name: Option<String>,
}

/// An `HTTPRouteRule`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Rule {
    /// `name` (what a SecurityPolicy's `sectionName` names).
    pub name: Option<String>,
    matches: Vec<RouteMatch>,
    filters: Vec<Filter>,
    backend_refs: Vec<BackendRef>,
}

/// An `HTTPRouteMatch`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RouteMatch {
    path: Option<PathSpec>,
    headers: Vec<Value>,
    query_params: Vec<Value>,
    method: Option<String>,
}

/// An `HTTPPathMatch`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PathSpec {
    #[serde(rename = "type")]
    kind: Option<String>,
    value: Option<String>,
}

/// An `HTTPRouteFilter`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Filter {
    #[serde(rename = "type")]
    kind: String,
    cors: Option<GatewayCors>,
}

/// An `HTTPBackendRef`: its filters.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BackendRef {
    filters: Vec<Filter>,
}

/// A route found in the files, with the part of a file it is in.
pub type Found<'a> = (&'a str, HttpRoute);

/// Imports every HTTPRoute.
pub fn import(docs: &[Doc], browser: &BrowserOrigins, issues: &mut Issues) -> Vec<Scope> {
    let routes = objects(docs, SourceFormat::GatewayApi, issues);
    scopes(&routes, issues, |found, r, issues| {
        filter_cors(found, r, browser, issues).unwrap_or_default()
    })
}

/// The rule's own `CORS` filter, if it has one.
pub fn filter_cors((part, route): &Found, r: usize, browser: &BrowserOrigins, issues: &mut Issues) -> Option<Cors> {
    let rule = route.spec.rules.get(r)?;
    let at = within(part, &format!("spec.rules[{r}]"));
    for (b, backend) in rule.backend_refs.iter().enumerate() {
        if backend.filters.iter().any(|f| f.kind == "CORS") {
            issues.fatal(
                &format!("{at}.backendRefs[{b}].filters"),
                "a CORS filter on one backend applies to the requests load-balanced to it, which no rule can select",
            );
        }
    }
    let (f, filter) = rule.filters.iter().enumerate().rfind(|(_, f)| f.kind == "CORS")?;
    let Some(cors) = &filter.cors else {
        issues.fatal(&format!("{at}.filters[{f}]"), "a CORS filter without `cors`");
        return None;
    };
    let model = cors.clone().compiled();
    let draft = Draft {
        origins: model.origins.clone(),
        methods: model.allow_methods.clone(),
        headers: model.allow_headers.clone(),
        headers_star_echoed: model.credentials(),
        expose: model.expose_headers.clone(),
        max_age: Some(model.max_age().to_string()),
        credentials: model.credentials(),
        // The specification's example answers allowed preflights with 200.
        preflight_status: Some(200),
        ..Draft::default()
    };
    let names = convert::camel("the Gateway API");
    Some(issues.converting(|issues| Cors {
        policy: convert::policy(&draft, &format!("{at}.filters[{f}].cors"), &names, browser, issues),
        source: Some(SourceCors::Gateway(model)),
        lossy: false,
    }))
}

/// The scopes of every rule of every route, ranked as the specification
/// ranks matches; `cors` says what each rule (route, rule index) does.
pub fn scopes(
    routes: &[Found],
    issues: &mut Issues,
    mut cors: impl FnMut(&Found, usize, &mut Issues) -> Cors,
) -> Vec<Scope> {
    type Key = ((u8, usize), u8, usize, Option<String>, String, usize, usize);
    let mut ranked: Vec<(Key, Scope)> = Vec::new();
    for found in routes {
        let (part, route) = found;
        let mut hostnames: Vec<String> = route.spec.hostnames.iter().map(|h| h.to_ascii_lowercase()).collect();
        if hostnames.is_empty() {
            hostnames.push("*".to_owned());
        }
        for (r, rule) in route.spec.rules.iter().enumerate() {
            let rule_cors = cors(found, r, issues);
            let hint = policy_hint(&route.metadata.name, rule.name.as_deref(), "rule", r);
            let any = [RouteMatch::default()];
            let matches = Some(&rule.matches[..]).filter(|m| !m.is_empty()).unwrap_or(&any);
            for (m, request_match) in matches.iter().enumerate() {
                let at = within(part, &format!("spec.rules[{r}].matches[{m}]"));
                let (path, widened) = issues.raising(|issues| path_match(request_match, &at, issues));
                let (kind, length) = match &path {
                    PathMatch::Exact(p) => (0u8, usize::MAX - p.len()),
                    PathMatch::SegmentPrefix(p) => (1, usize::MAX - p.len()),
                    _ => (2, 0),
                };
                for host in &hostnames {
                    let age = route.metadata.creation_timestamp.clone();
                    let key = (host_rank(host), kind, length, age, route.metadata.key(), r, m);
                    let each = Scope::each_glob(host, &path, true, &rule_cors, &hint, &at);
                    ranked.extend(each.into_iter().map(|scope| (key.clone(), Scope { widened, ..scope })));
                }
            }
        }
    }
    ranked.sort_by(|a, b| a.0.cmp(&b.0));
    ranked.into_iter().map(|(_, scope)| scope).collect()
}

/// An HTTPRouteMatch's path (PathPrefix `/` when absent).
fn path_match(m: &RouteMatch, at: &str, issues: &mut Issues) -> PathMatch {
    let extras: Vec<&str> = [
        ("headers", !m.headers.is_empty()),
        ("queryParams", !m.query_params.is_empty()),
        ("method", m.method.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, present)| present.then_some(k))
    .collect();
    let rest = " (and a preflight is an OPTIONS request a method match may not select); --lossy ignores them";
    other_conditions(&extras, rest, at, issues);
    let path = m.path.as_ref();
    let kind = path.and_then(|p| p.kind.as_deref()).unwrap_or("PathPrefix");
    let value = path.and_then(|p| p.value.as_deref()).unwrap_or("/");
    match kind {
        "Exact" => PathMatch::Exact(value.to_owned()),
        "PathPrefix" => PathMatch::SegmentPrefix(value.trim_end_matches('/').to_owned()),
        _ => regex_path(&format!("{kind} path"), value, &format!("{at}.path"), issues),
    }
}
