//! Istio: `VirtualService` `spec.http[].corsPolicy`. istiod translates a
//! corsPolicy into a CorsPolicy of Envoy's built-in filter on every route of
//! that HTTP rule (origins as `exact`/`prefix`/`safe_regex` matchers, lists
//! joined with `,`, `maxAge` in seconds, `unmatchedPreflights: IGNORE` as
//! `forward_not_matching_preflights: false`), so the source model is
//! Envoy's. `hosts` become host rules; `match[].uri` `exact` and `prefix`
//! (a string prefix: istiod writes Envoy's `prefix` for a VirtualService)
//! become path rules; rules are tried in order, the first that matches wins.

use serde_json::Value;

use super::automata::BrowserOrigins;
use super::fields::{items, string_list};
use super::model::{Enabled, EnvoyCors, SourceCors};
use super::origins::{MatchKind, StringMatch};
use super::paths::{host_glob, regex_head, rule_paths, PathMatch};
use super::{convert, Imported, Issues, Sample, Scope};
use crate::document::within;

/// Keys of an HTTPMatchRequest that are not conditions on the request.
const NOT_CONDITIONS: [&str; 4] = ["uri", "ignoreUriCase", "name", "statPrefix"];

/// Imports every VirtualService.
pub fn import(docs: &[(String, Value)], browser: &BrowserOrigins, issues: &mut Issues) -> Imported {
    // (host rank, host, document index)
    let mut hosts: Vec<((u8, usize), String, usize)> = Vec::new();
    for (d, (prefix, doc)) in docs.iter().enumerate() {
        let at = |p: &str| within(prefix, p);
        if doc.pointer("/spec/http").and_then(Value::as_array).is_none() {
            continue;
        }
        for (h, host) in items(doc.pointer("/spec/hosts")).enumerate() {
            let Some(host) = host.as_str() else { continue };
            if host != "*" && !host.contains('.') {
                issues.lossy(
                    &at(&format!("spec.hosts[{h}]")),
                    format!(
                        "{host:?} is a short name, which Istio expands with the namespace and the mesh's domain \
                         (several names); --lossy matches {host:?} as written"
                    ),
                );
            }
            let rank = if host == "*" {
                (2, 0)
            } else if host.starts_with('*') {
                (1, usize::MAX - host.len())
            } else {
                (0, 0)
            };
            if hosts.iter().any(|(_, other, od)| other == host && *od != d) {
                issues.fatal(
                    &at(&format!("spec.hosts[{h}]")),
                    format!("{host:?} is also a host of another VirtualService: the order Istio merges them in is not in the files"),
                );
            }
            hosts.push((rank, host.to_owned(), d));
        }
    }
    hosts.sort_by_key(|(rank, _, d)| (*rank, *d));
    let mut out = Imported::default();
    for (_, host, d) in &hosts {
        let Some((prefix, doc)) = docs.get(*d) else { continue };
        let at = |p: &str| within(prefix, p);
        let vs = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("virtualservice");
        for (i, http) in items(doc.pointer("/spec/http")).enumerate() {
            let hat = at(&format!("spec.http[{i}]"));
            if http.get("delegate").is_some() {
                issues.fatal(
                    &hat,
                    "delegates to other VirtualServices, which are not in the files".to_owned(),
                );
                continue;
            }
            let source = http
                .get("corsPolicy")
                .map(|c| cors_policy(c, &format!("{hat}.corsPolicy"), issues));
            let spec = source
                .as_ref()
                .and_then(|s| convert::envoy(s, &format!("{hat}.corsPolicy"), &convert::ISTIO, browser, issues));
            let name = http
                .get("name")
                .and_then(Value::as_str)
                .map_or_else(|| format!("http{i}"), str::to_owned);
            // No `match`, or an empty list, matches every request (Istio's
            // VirtualService reference).
            let matches: Vec<Value> = http
                .get("match")
                .and_then(Value::as_array)
                .filter(|m| !m.is_empty())
                .cloned()
                .unwrap_or_else(|| vec![Value::Null]);
            for (m, request_match) in matches.iter().enumerate() {
                let mat = format!("{hat}.match[{m}]");
                let (path, case_sensitive) = uri(request_match, &mat, issues);
                for glob in rule_paths(path.globs(case_sensitive)) {
                    out.scopes.push(Scope {
                        route_name: None,
                        host: host_glob(host),
                        path: glob,
                        policy: spec.clone(),
                        policy_hint: format!("{vs}-{name}"),
                        source: source.clone().map(SourceCors::Envoy),
                        sample: Sample::new(host, path.sample()),
                        at: mat.clone(),
                    });
                }
            }
        }
    }
    out
}

/// An HTTPMatchRequest's `uri` as a path match, and whether case matters.
fn uri(m: &Value, at: &str, issues: &mut Issues) -> (PathMatch, bool) {
    let case_sensitive = m.get("ignoreUriCase").and_then(Value::as_bool) != Some(true);
    let extras: Vec<&str> = m
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .map(String::as_str)
        .filter(|k| !NOT_CONDITIONS.contains(k))
        .collect();
    if !extras.is_empty() {
        issues.lossy(
            at,
            format!(
                "also matches on {}, which route rules cannot; --lossy ignores them",
                extras.join(", ")
            ),
        );
    }
    let Some(u) = m.get("uri") else {
        return (PathMatch::Any, case_sensitive);
    };
    if let Some(p) = u.get("exact").and_then(Value::as_str) {
        return (PathMatch::Exact(p.to_owned()), case_sensitive);
    }
    if let Some(p) = u.get("prefix").and_then(Value::as_str) {
        return (PathMatch::StringPrefix(p.to_owned()), case_sensitive);
    }
    let regex = u.get("regex").and_then(Value::as_str).unwrap_or_default();
    let head = regex_head(regex);
    issues.lossy(
        &format!("{at}.uri"),
        format!("a regex uri ({regex:?}) has no exact glob; --lossy matches paths starting with {head:?}"),
    );
    (PathMatch::StringPrefix(head), case_sensitive)
}

/// A corsPolicy as the CorsPolicy istiod writes for it.
fn cors_policy(c: &Value, at: &str, issues: &mut Issues) -> EnvoyCors {
    let list = |k: &str| string_list(c.get(k));
    let mut origins = Vec::new();
    if let Some(matchers) = c.get("allowOrigins").and_then(Value::as_array) {
        for (i, m) in matchers.iter().enumerate() {
            let found = [
                ("exact", MatchKind::Exact),
                ("prefix", MatchKind::Prefix),
                ("regex", MatchKind::Regex),
            ]
            .iter()
            .find_map(|(k, kind)| m.get(*k).and_then(Value::as_str).map(|v| (*kind, v.to_owned())));
            match found {
                Some((kind, value)) => origins.push(StringMatch {
                    kind,
                    value,
                    ignore_case: false,
                }),
                None => issues.fatal(
                    &format!("{at}.allowOrigins[{i}]"),
                    "expected exact, prefix or regex".to_owned(),
                ),
            }
        }
    } else {
        origins = convert::exact_matchers(&list("allowOrigin"));
    }
    let max_age = match c.get("maxAge").and_then(Value::as_str) {
        None => String::new(),
        Some(d) => match duration_seconds(d) {
            Some(s) => s.to_string(),
            None => {
                issues.fatal(
                    &format!("{at}.maxAge"),
                    format!("{d:?} is not a duration (e.g. \"24h\", \"90s\")"),
                );
                String::new()
            }
        },
    };
    let mut cors = EnvoyCors {
        origins,
        languages: Vec::new(),
        allow_methods: list("allowMethods").join(","),
        allow_headers: list("allowHeaders").join(","),
        expose_headers: list("exposeHeaders").join(","),
        max_age,
        allow_credentials: c.get("allowCredentials").and_then(Value::as_bool).unwrap_or(false),
        allow_private_network: false,
        forward_not_matching_preflights: c.get("unmatchedPreflights").and_then(Value::as_str) != Some("IGNORE"),
        enabled: Enabled::On,
    };
    cors.compile();
    cors
}

/// A protobuf Duration as Istio writes it (`24h`, `1h30m`, `90s`, `1.5s`), whole seconds.
fn duration_seconds(text: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut number = String::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        number.clear();
        number.push_str(rest.get(..digits)?);
        rest = rest.get(digits..)?;
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = rest.get(..unit_len)?;
        rest = rest.get(unit_len..)?;
        let value: f64 = number.parse().ok()?;
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
        assert_eq!(duration_seconds("soon"), None);
    }
}
