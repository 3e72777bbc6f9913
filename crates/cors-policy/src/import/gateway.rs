//! The Gateway API: HTTPRoute rules with a `CORS` filter (GEP-1767,
//! `HTTPCORSFilter`, Standard in v1.5). `hostnames` become host rules
//! (`*.example.com` covers one or more labels, never the apex); path matches
//! become path rules (`PathPrefix` is element-wise: `/api` matches `/api`,
//! `/api/` and `/api/x`, never `/apiary`; a trailing `/` is ignored;
//! `Exact` is exact). Rules are ordered as the specification ranks matches
//! across all routes: the most specific hostname, then an exact path, the
//! longest prefix, then (for ties) the route's namespace/name and the rule's
//! place. Method, header and query matches have no rule (`--lossy` ignores
//! them).

use serde_json::Value;

use super::fields::{items, string_list, strings};
use super::model::{GatewayCors, SourceCors};
use super::paths::{host_glob, regex_head, rule_paths, PathMatch};
use super::{convert, Imported, Issues, Sample, Scope};
use crate::document::within;

/// Imports every HTTPRoute.
pub fn import(docs: &[(String, Value)], issues: &mut Issues) -> Imported {
    struct Candidate {
        key: (u8, usize, u8, usize, String, usize, usize),
        scope: Scope,
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    for (prefix, doc) in docs {
        let at = |p: &str| within(prefix, p);
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("httproute");
        let namespace = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let mut hostnames: Vec<String> = strings(doc.pointer("/spec/hostnames"))
            .map(str::to_ascii_lowercase)
            .collect();
        if hostnames.is_empty() {
            hostnames.push("*".to_owned());
        }
        for (r, rule) in items(doc.pointer("/spec/rules")).enumerate() {
            let rat = at(&format!("spec.rules[{r}]"));
            let mut source = None;
            let mut cors_at = format!("{rat}.filters");
            for (f, filter) in items(rule.get("filters")).enumerate() {
                if filter.get("type").and_then(Value::as_str) == Some("CORS") {
                    source = filter.get("cors").map(cors_filter);
                    cors_at = format!("{rat}.filters[{f}].cors");
                    if source.is_none() {
                        issues.fatal(
                            &format!("{rat}.filters[{f}]"),
                            "a CORS filter without `cors`".to_owned(),
                        );
                    }
                }
            }
            for (b, backend) in items(rule.get("backendRefs")).enumerate() {
                let per_backend =
                    items(backend.get("filters")).any(|f| f.get("type").and_then(Value::as_str) == Some("CORS"));
                if per_backend {
                    issues.fatal(
                        &format!("{rat}.backendRefs[{b}].filters"),
                        "a CORS filter on one backend applies to the requests load-balanced to it, which no rule can select"
                            .to_owned(),
                    );
                }
            }
            let spec = source.as_ref().and_then(|s| convert::gateway(s, &cors_at, issues));
            let rule_name = rule
                .get("name")
                .and_then(Value::as_str)
                .map_or_else(|| format!("rule{r}"), str::to_owned);
            let matches: Vec<Value> = rule
                .get("matches")
                .and_then(Value::as_array)
                .cloned()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| vec![Value::Null]);
            for (m, request_match) in matches.iter().enumerate() {
                let mat = format!("{rat}.matches[{m}]");
                let path = path_match(request_match, &mat, issues);
                let (kind, length) = match &path {
                    PathMatch::Exact(p) => (0u8, usize::MAX - p.len()),
                    PathMatch::SegmentPrefix(p) => (1, usize::MAX - p.len()),
                    _ => (2, 0),
                };
                let globs = rule_paths(path.globs(true));
                for host in &hostnames {
                    let host_rank = if host == "*" {
                        (2, 0)
                    } else if host.starts_with('*') {
                        (1, usize::MAX - host.len())
                    } else {
                        (0, usize::MAX - host.len())
                    };
                    for glob in &globs {
                        candidates.push(Candidate {
                            key: (
                                host_rank.0,
                                host_rank.1,
                                kind,
                                length,
                                format!("{namespace}/{name}"),
                                r,
                                m,
                            ),
                            scope: Scope {
                                route_name: None,
                                host: host_glob(host),
                                path: glob.clone(),
                                policy: spec.clone(),
                                policy_hint: format!("{name}-{rule_name}"),
                                source: source.clone().map(SourceCors::Gateway),
                                sample: Sample::new(host, path.sample()),
                                at: mat.clone(),
                            },
                        });
                    }
                }
            }
        }
    }
    candidates.sort_by(|a, b| a.key.cmp(&b.key));
    Imported {
        scopes: candidates.into_iter().map(|c| c.scope).collect(),
    }
}

/// An HTTPRouteMatch's path (PathPrefix `/` when absent).
fn path_match(m: &Value, at: &str, issues: &mut Issues) -> PathMatch {
    let extras: Vec<&str> = ["headers", "queryParams", "method"]
        .into_iter()
        .filter(|k| {
            m.get(*k)
                .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
        })
        .collect();
    if !extras.is_empty() {
        issues.lossy(
            at,
            format!(
                "also matches on {}, which route rules cannot (and a preflight is an OPTIONS request a method match \
                 may not select); --lossy ignores them",
                extras.join(", ")
            ),
        );
    }
    let kind = m.pointer("/path/type").and_then(Value::as_str).unwrap_or("PathPrefix");
    let value = m.pointer("/path/value").and_then(Value::as_str).unwrap_or("/");
    match kind {
        "Exact" => PathMatch::Exact(value.to_owned()),
        "PathPrefix" => PathMatch::SegmentPrefix(value.trim_end_matches('/').to_owned()),
        _ => {
            let head = regex_head(value);
            issues.lossy(
                &format!("{at}.path"),
                format!("a {kind} path ({value:?}) has no exact glob; --lossy matches paths starting with {head:?}"),
            );
            PathMatch::StringPrefix(head)
        }
    }
}

/// An `HTTPCORSFilter`, origins lowercased and without their default port.
fn cors_filter(c: &Value) -> GatewayCors {
    let list = |k: &str| string_list(c.get(k));
    let origins = strings(c.get("allowOrigins"))
        .map(|o| {
            let o = o.to_ascii_lowercase();
            let default = if o.starts_with("https://") { ":443" } else { ":80" };
            o.strip_suffix(default).map_or(o.clone(), str::to_owned)
        })
        .collect();
    GatewayCors {
        allow_origins: origins,
        allow_credentials: c.get("allowCredentials").and_then(Value::as_bool).unwrap_or(false),
        allow_methods: list("allowMethods"),
        allow_headers: list("allowHeaders"),
        expose_headers: list("exposeHeaders"),
        max_age: c.get("maxAge").and_then(Value::as_i64).unwrap_or(5),
    }
}
