//! Envoy: every `CorsPolicy` of the built-in filter
//! (`envoy.extensions.filters.http.cors.v3.CorsPolicy` in
//! `typed_per_filter_config`) on a route configuration, its virtual hosts and
//! their routes, resolved as the filter resolves it: the most specific level
//! first, field by field (`filter_enabled` and `shadow_enabled` from the most
//! specific policy only).
//!
//! Virtual hosts are tried as Envoy selects them (exact domains, then the
//! longest suffix wildcards, the longest prefix wildcards, then `*`); routes
//! in order. A named route becomes a `route_name` rule, which is exact
//! whatever its match; an unnamed one a `path` rule where one agrees exactly
//! (see `paths`). Routes with `direct_response` or `redirect`, which the
//! built-in filter skips, get `"policy": null`.

use serde_json::Value;

use super::automata::BrowserOrigins;
use super::fields::items;
use super::model::{Enabled, EnvoyCors, SourceCors};
use super::origins::{MatchKind, StringMatch};
use super::paths::{host_glob, regex_head, rule_paths, sample_host, PathMatch};
use super::{convert, Imported, Issues, Sample, Scope};
use crate::document::{join, walk_objects, within};

const CORS_POLICY: &str = "envoy.extensions.filters.http.cors.v3.CorsPolicy";
const FILTER_CONFIG: &str = "envoy.config.route.v3.FilterConfig";
const CORS_FILTER_TYPE: &str = "envoy.extensions.filters.http.cors.v3.Cors";
const CORS_FILTER_NAME: &str = "envoy.filters.http.cors";
/// The CorsPolicy fields Envoy 1.40 knows.
const FIELDS: [&str; 11] = [
    "@type",
    "allow_origin_string_match",
    "allow_methods",
    "allow_headers",
    "expose_headers",
    "max_age",
    "allow_credentials",
    "filter_enabled",
    "shadow_enabled",
    "allow_private_network_access",
    "forward_not_matching_preflights",
];

/// Reports whether a document is an Envoy configuration.
pub fn detect(doc: &Value) -> bool {
    let Some(map) = doc.as_object() else { return false };
    [
        "static_resources",
        "dynamic_resources",
        "resources",
        "virtual_hosts",
        "route_config",
    ]
    .iter()
    .any(|k| map.contains_key(*k))
}

/// A route configuration found in a file.
struct RouteConfig<'a> {
    path: String,
    value: &'a Value,
    /// The connection manager's filters, when the route configuration is inline.
    http_filters: Option<&'a Value>,
    /// `strip_any_host_port` or `ignore_port_in_host_matching`.
    ports_ignored: bool,
}

/// Imports the route configuration of `docs` (the one named `only`, when
/// there are several).
pub fn import(docs: &[(String, Value)], only: Option<&str>, browser: &BrowserOrigins, issues: &mut Issues) -> Imported {
    let mut found = Vec::new();
    for (prefix, doc) in docs {
        route_configs(doc, prefix, &mut found);
    }
    if let Some(name) = only {
        found.retain(|rc| rc.value.get("name").and_then(Value::as_str) == Some(name));
    }
    let mut imported = Imported::default();
    match found.as_slice() {
        [] => issues.fatal(
            "",
            match only {
                Some(name) => format!("no route configuration named {name:?}"),
                None => "no route configuration (virtual_hosts) found".to_owned(),
            },
        ),
        [rc] => route_config(rc, browser, issues, &mut imported),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|rc| {
                    format!(
                        "{} ({})",
                        rc.value.get("name").and_then(Value::as_str).unwrap_or("unnamed"),
                        rc.path
                    )
                })
                .collect();
            issues.fatal(
                "",
                format!(
                    "{} route configurations (one per listener), and one policy serves one listener: \
                     import one with --route-config NAME: {}",
                    many.len(),
                    names.join(", ")
                ),
            );
        }
    }
    imported
}

/// Finds the route configurations (objects with `virtual_hosts`) under `doc`,
/// each with the filters and `strip_any_host_port` of the nearest connection
/// manager above it.
fn route_configs<'a>(doc: &'a Value, prefix: &str, out: &mut Vec<RouteConfig<'a>>) {
    walk_objects(doc, "", (None, false), &mut |object, path, (filters, ports)| {
        if object.get("virtual_hosts").is_some_and(Value::is_array) {
            out.push(RouteConfig {
                // Paths below are joined with `.`: a document that is itself
                // the route configuration (an RDS file) is `$`.
                path: within(prefix, if path.is_empty() { "$" } else { path }),
                value: object,
                http_filters: filters,
                ports_ignored: ports
                    || object.get("ignore_port_in_host_matching").and_then(Value::as_bool) == Some(true),
            });
            return None;
        }
        Some(match object.get("http_filters") {
            Some(f) => (
                Some(f),
                object.get("strip_any_host_port").and_then(Value::as_bool) == Some(true),
            ),
            None => (filters, ports),
        })
    });
}

/// One level's CorsPolicy, fields as given.
#[derive(Debug, Clone, Default)]
struct Level {
    origins: Vec<StringMatch>,
    allow_methods: String,
    allow_headers: String,
    expose_headers: String,
    max_age: String,
    allow_credentials: Option<bool>,
    allow_private_network: Option<bool>,
    forward: Option<bool>,
    enabled: Option<Percent>,
    shadow: Option<Percent>,
    /// `FilterConfig { disabled: true }`: the filter is off on this route.
    disabled: bool,
    path: String,
}

/// A `RuntimeFractionalPercent`'s default, in millionths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Percent(u64);

const ALL: u64 = 1_000_000;

fn route_config(rc: &RouteConfig<'_>, browser: &BrowserOrigins, issues: &mut Issues, out: &mut Imported) {
    if let Some(filters) = rc.http_filters {
        let has_cors = items(Some(filters)).any(|f| {
            f.get("name").and_then(Value::as_str) == Some(CORS_FILTER_NAME)
                || f.pointer("/typed_config/@type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.ends_with(CORS_FILTER_TYPE))
        });
        if !has_cors {
            issues.fatal(
                &rc.path,
                format!(
                    "the connection manager has no {CORS_FILTER_NAME} filter, so these CorsPolicies do nothing today; \
                     importing them would turn CORS on"
                ),
            );
            return;
        }
    }
    let at = rc.path.clone();
    let global = level(rc.value, &at, issues);
    let vhosts: Vec<&Value> = items(rc.value.get("virtual_hosts")).collect();
    if vhosts.len() > 1 && !rc.ports_ignored {
        issues.note(
            &at,
            "Envoy selects a virtual host by the whole :authority, port included (neither strip_any_host_port \
             nor ignore_port_in_host_matching is set); host rules ignore the port, so a request to a host with \
             an explicit port may now get another virtual host's policy"
                .to_owned(),
        );
    }
    // (priority, domain, vhost index): Envoy's search order.
    let mut domains = Vec::new();
    for (v, vhost) in vhosts.iter().enumerate() {
        for (d, domain) in items(vhost.get("domains")).enumerate() {
            let Some(domain) = domain.as_str() else { continue };
            let bare = domain.strip_suffix(":*").unwrap_or(domain);
            let rank = if bare == "*" {
                (3, 0)
            } else if bare.starts_with('*') {
                (1, usize::MAX - bare.len())
            } else if bare.ends_with('*') {
                (2, usize::MAX - bare.len())
            } else {
                (0, 0)
            };
            if !bare.ends_with('*')
                && bare
                    .rsplit_once(':')
                    .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
                && !bare.ends_with(']')
            {
                issues.lossy(
                    &format!("{at}.virtual_hosts[{v}].domains[{d}]"),
                    format!("{domain:?} selects one port, and host rules ignore the port; --lossy matches every port"),
                );
            }
            domains.push((
                rank,
                bare.rsplit_once(':')
                    .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
                    .map_or(bare, |(h, _)| h)
                    .to_owned(),
                v,
            ));
        }
    }
    domains.sort_by_key(|(rank, _, v)| (*rank, *v));
    let names = route_names(&vhosts);
    for (_, domain, v) in &domains {
        let Some(vhost) = vhosts.get(*v) else { continue };
        let vat = format!("{at}.virtual_hosts[{v}]");
        let vlevel = level(vhost, &vat, issues);
        let vname = vhost.get("name").and_then(Value::as_str).unwrap_or("vhost");
        let host = host_glob(domain);
        let authority = sample_host(domain);
        for (r, route) in items(vhost.get("routes")).enumerate() {
            let rat = format!("{vat}.routes[{r}]");
            let mut levels: Vec<Level> = Vec::new();
            levels.extend(level(route, &rat, issues));
            levels.extend(vlevel.clone());
            levels.extend(global.clone());
            if levels.is_empty() {
                // The deprecated `cors` fields count only when no typed config does.
                levels.extend(legacy(
                    route.pointer("/route/cors"),
                    &format!("{rat}.route.cors"),
                    issues,
                ));
                levels.extend(legacy(vhost.get("cors"), &format!("{vat}.cors"), issues));
            }
            let skipped = route.get("direct_response").is_some() || route.get("redirect").is_some();
            let disabled = levels.first().is_some_and(|l| l.disabled);
            let source = if skipped || disabled || levels.is_empty() {
                None
            } else {
                Some(resolve(&levels, &rat, issues))
            };
            let rname = route.get("name").and_then(Value::as_str).filter(|n| !n.is_empty());
            let policy_name = format!("{vname}-{}", rname.map_or_else(|| format!("route{r}"), str::to_owned));
            let spec = source.as_ref().and_then(|s| {
                convert::envoy(
                    s,
                    levels.first().map_or(&rat, |l| &l.path),
                    &convert::ENVOY,
                    browser,
                    issues,
                )
            });
            let direct = route
                .pointer("/direct_response/status")
                .and_then(Value::as_u64)
                .and_then(|s| u32::try_from(s).ok());
            let direct = direct.or_else(|| route.get("redirect").map(|_| 301));
            let matchers = route_match(route.get("match"), &rat, rname.is_some(), issues);
            let Some(matchers) = matchers else { continue };
            let unique_name = rname.is_some_and(|n| names.iter().filter(|m| *m == n).count() == 1);
            for m in matchers {
                let scope = Scope {
                    route_name: rname.map(str::to_owned),
                    host: if rname.is_some() && unique_name {
                        None
                    } else {
                        host.clone()
                    },
                    path: if rname.is_some() { None } else { m.glob },
                    policy: spec.clone(),
                    policy_hint: policy_name.clone(),
                    source: source.clone().map(SourceCors::Envoy),
                    sample: Sample {
                        authority: authority.clone(),
                        path: m.sample.clone(),
                        route_name: rname.map(str::to_owned),
                        direct_status: direct,
                        headers: header_sample(route.pointer("/match/headers")),
                    },
                    at: rat.clone(),
                };
                out.scopes.push(scope);
            }
        }
    }
}

/// Header values that satisfy a route's simple header matchers (present, exact).
fn header_sample(matchers: Option<&Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in items(matchers) {
        let Some(name) = m.get("name").and_then(Value::as_str) else {
            continue;
        };
        if m.get("invert_match").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let value = m
            .pointer("/string_match/exact")
            .or_else(|| m.get("exact_match"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| m.get("present_match").map(|_| "1".to_owned()));
        if let Some(value) = value {
            out.push((name.to_ascii_lowercase(), value));
        }
    }
    out
}

/// Every route name of the configuration, for uniqueness.
fn route_names(vhosts: &[&Value]) -> Vec<String> {
    vhosts
        .iter()
        .flat_map(|v| items(v.get("routes")))
        .filter_map(|r| r.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// One rule's path glob and a path it selects.
struct PathRule {
    glob: Option<String>,
    sample: String,
}

/// A route's match as path rules; `None` to leave the route out.
fn route_match(m: Option<&Value>, at: &str, named: bool, issues: &mut Issues) -> Option<Vec<PathRule>> {
    let mat = format!("{at}.match");
    let Some(m) = m.and_then(Value::as_object) else {
        issues.fatal(&mat, "a route without a match".to_owned());
        return None;
    };
    let case_sensitive = bool_value(m.get("case_sensitive")).unwrap_or(true);
    let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    let path = if let Some(p) = text("prefix") {
        PathMatch::StringPrefix(p)
    } else if let Some(p) = text("path") {
        PathMatch::Exact(p)
    } else if let Some(p) = text("path_separated_prefix") {
        PathMatch::SegmentPrefix(p)
    } else if let Some(regex) = m.get("safe_regex").and_then(|r| r.get("regex")).and_then(Value::as_str) {
        let head = regex_head(regex);
        if !named {
            issues.lossy(
                &format!("{mat}.safe_regex"),
                format!("a regex path ({regex:?}) has no exact glob; --lossy matches paths starting with {head:?}"),
            );
        }
        PathMatch::StringPrefix(head)
    } else if m.contains_key("connect_matcher") {
        issues.note(
            &mat,
            "a CONNECT route: browsers never send CORS requests over CONNECT; left out".to_owned(),
        );
        return None;
    } else {
        if !named {
            issues.lossy(
                &mat,
                "a path match this tool cannot convert (path_match_policy?); --lossy matches every path".to_owned(),
            );
        }
        PathMatch::Any
    };
    let extras: Vec<&str> = m
        .keys()
        .map(String::as_str)
        .filter(|k| {
            !matches!(
                *k,
                "prefix" | "path" | "path_separated_prefix" | "safe_regex" | "case_sensitive"
            )
        })
        .collect();
    if !extras.is_empty() && !named {
        issues.lossy(
            &mat,
            format!(
                "also matches on {}, which route rules cannot; name the route to import it exactly \
                 (a route_name rule), or --lossy ignores them",
                extras.join(", ")
            ),
        );
    }
    // A named route becomes a route_name rule, whatever its path.
    let globs = if named {
        vec![None]
    } else {
        rule_paths(path.globs(case_sensitive))
    };
    let sample = path.sample();
    Some(
        globs
            .into_iter()
            .map(|glob| PathRule {
                glob,
                sample: sample.clone(),
            })
            .collect(),
    )
}

/// The CorsPolicy in an object's `typed_per_filter_config`, if any.
fn level(owner: &Value, at: &str, issues: &mut Issues) -> Option<Level> {
    let configs = owner.get("typed_per_filter_config")?.as_object()?;
    for (name, config) in configs {
        let cat = format!("{at}.typed_per_filter_config.{name}");
        let kind = config.get("@type").and_then(Value::as_str).unwrap_or_default();
        if kind.ends_with(CORS_POLICY) {
            return Some(cors_policy(config, &cat, issues));
        }
        if kind.ends_with(FILTER_CONFIG) {
            let inner = config.get("config");
            let is_cors = name == CORS_FILTER_NAME
                || inner
                    .and_then(|c| c.get("@type"))
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.ends_with(CORS_POLICY));
            if !is_cors {
                continue;
            }
            if config.get("disabled").and_then(Value::as_bool) == Some(true) {
                return Some(Level {
                    disabled: true,
                    path: cat,
                    ..Level::default()
                });
            }
            if let Some(inner) = inner {
                return Some(cors_policy(inner, &format!("{cat}.config"), issues));
            }
        }
    }
    None
}

/// The deprecated `cors` field of a virtual host or route action.
fn legacy(value: Option<&Value>, at: &str, issues: &mut Issues) -> Option<Level> {
    value.map(|value| cors_policy(value, at, issues))
}

/// A bool field, given plain or as a `BoolValue` wrapper (`{value: true}`).
fn bool_value(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Object(o) => o.get("value").and_then(Value::as_bool),
        _ => None,
    }
}

/// A `RuntimeFractionalPercent` as its default share (a runtime key is noted).
fn percent(v: Option<&Value>, at: &str, issues: &mut Issues) -> Option<Percent> {
    let v = v?;
    if v.get("runtime_key").is_some() {
        issues.note(
            at,
            "has a runtime_key: Envoy's runtime can change the share of requests at any time; imported with the \
             default_value"
                .to_owned(),
        );
    }
    let Some(d) = v.get("default_value") else {
        return Some(Percent(0));
    };
    let numerator = d.get("numerator").and_then(Value::as_u64).unwrap_or(0);
    let scale = match d.get("denominator").and_then(Value::as_str).unwrap_or("HUNDRED") {
        "TEN_THOUSAND" => 100,
        "MILLION" => 1,
        _ => 10_000,
    };
    Some(Percent((numerator.saturating_mul(scale)).min(ALL)))
}

/// Reads one CorsPolicy object.
fn cors_policy(v: &Value, at: &str, issues: &mut Issues) -> Level {
    let mut out = Level {
        path: at.to_owned(),
        ..Level::default()
    };
    let Some(map) = v.as_object() else {
        issues.fatal(at, "a CorsPolicy must be an object".to_owned());
        return out;
    };
    for key in map.keys() {
        if !FIELDS.contains(&key.as_str()) {
            issues.fatal(
                &join(at, key),
                format!(
                    "unknown CorsPolicy field {key:?} (Envoy 1.40 has {})",
                    FIELDS.join(", ")
                ),
            );
        }
    }
    let text = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    out.allow_methods = text("allow_methods");
    out.allow_headers = text("allow_headers");
    out.expose_headers = text("expose_headers");
    out.max_age = text("max_age");
    out.allow_credentials = bool_value(map.get("allow_credentials"));
    out.allow_private_network = bool_value(map.get("allow_private_network_access"));
    out.forward = bool_value(map.get("forward_not_matching_preflights"));
    out.enabled = percent(map.get("filter_enabled"), &join(at, "filter_enabled"), issues);
    out.shadow = percent(map.get("shadow_enabled"), &join(at, "shadow_enabled"), issues);
    for (i, m) in items(map.get("allow_origin_string_match")).enumerate() {
        let mat = format!("{at}.allow_origin_string_match[{i}]");
        let ignore_case = m.get("ignore_case").and_then(Value::as_bool).unwrap_or(false);
        let found = [
            ("exact", MatchKind::Exact),
            ("prefix", MatchKind::Prefix),
            ("suffix", MatchKind::Suffix),
            ("contains", MatchKind::Contains),
        ]
        .iter()
        .find_map(|(k, kind)| m.get(*k).and_then(Value::as_str).map(|v| (*kind, v.to_owned())))
        .or_else(|| {
            m.pointer("/safe_regex/regex")
                .and_then(Value::as_str)
                .map(|r| (MatchKind::Regex, r.to_owned()))
        });
        match found {
            Some((kind, value)) => out.origins.push(StringMatch {
                kind,
                value,
                // RE2's own flags apply to a regex; Envoy ignores ignore_case there.
                ignore_case: ignore_case && kind != MatchKind::Regex,
            }),
            None => issues.fatal(&mat, "a StringMatcher this tool cannot read (custom?)".to_owned()),
        }
    }
    out
}

/// The policy Envoy applies with these levels, most specific first.
fn resolve(levels: &[Level], at: &str, issues: &mut Issues) -> EnvoyCors {
    let first_text = |f: fn(&Level) -> &String| {
        levels
            .iter()
            .map(f)
            .find(|s| !s.is_empty())
            .cloned()
            .unwrap_or_default()
    };
    let first_bool = |f: fn(&Level) -> Option<bool>| levels.iter().find_map(f);
    let head = levels.first();
    let enabled = head.and_then(|l| l.enabled).unwrap_or(Percent(ALL));
    let shadow = head.and_then(|l| l.shadow).unwrap_or(Percent(0));
    let state = |p: Percent, what: &str, issues: &mut Issues| match p.0 {
        0 => false,
        ALL => true,
        share => {
            issues.lossy(
                &head.map_or(at.to_owned(), |l| join(&l.path, what)),
                format!(
                    "{what} covers {:.4} % of requests; a policy here applies to all of them or none; --lossy takes {}",
                    share as f64 / 10_000.0,
                    if share * 2 >= ALL { "all" } else { "none" }
                ),
            );
            share * 2 >= ALL
        }
    };
    let on = state(enabled, "filter_enabled", issues);
    let enabled = if on {
        Enabled::On
    } else if state(shadow, "shadow_enabled", issues) {
        Enabled::Shadow
    } else {
        Enabled::Off
    };
    let mut cors = EnvoyCors {
        origins: levels
            .iter()
            .map(|l| &l.origins)
            .find(|o| !o.is_empty())
            .cloned()
            .unwrap_or_default(),
        languages: Vec::new(),
        allow_methods: first_text(|l| &l.allow_methods),
        allow_headers: first_text(|l| &l.allow_headers),
        expose_headers: first_text(|l| &l.expose_headers),
        max_age: first_text(|l| &l.max_age),
        allow_credentials: first_bool(|l| l.allow_credentials).unwrap_or(false),
        allow_private_network: first_bool(|l| l.allow_private_network).unwrap_or(false),
        forward_not_matching_preflights: first_bool(|l| l.forward).unwrap_or(true),
        enabled,
    };
    cors.compile();
    cors
}
