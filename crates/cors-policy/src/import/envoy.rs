//! Envoy: every `CorsPolicy` of the built-in filter
//! (`envoy.extensions.filters.http.cors.v3.CorsPolicy` in
//! `typed_per_filter_config`) on a route configuration, its virtual hosts and
//! their routes, resolved as the filter resolves it: the most specific level
//! first, field by field (`filter_enabled` and `shadow_enabled` from the most
//! specific policy only). Bootstrap, LDS and RDS files are read, and route
//! dumps as `istioctl proxy-config routes` and `egctl config envoy-proxy
//! route` print them (protobuf JSON: camelCase keys, read as snake_case,
//! messages in camelCase again).
//!
//! Envoy looks a route's per-filter config up by the name the CORS filter
//! has in `http_filters`, then by its canonical name `envoy.filters.http.cors`
//! (`ActiveStreamFilterBase::mostSpecificPerFilterConfig`,
//! source/common/http/filter_manager.cc, envoyproxy/envoy 00e00299cf25): a
//! CorsPolicy under any other key is never applied, and is not imported.
//!
//! Virtual hosts are tried as Envoy selects them (exact domains, then the
//! longest suffix wildcards, the longest prefix wildcards, then `*`); routes
//! in order. A named route becomes a `route_name` rule, which is exact
//! whatever its match; an unnamed one a `path` rule where one agrees exactly
//! (see `paths`). Routes with `direct_response` or `redirect`, which the
//! built-in filter skips, get `"policy": null`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use heck::ToSnakeCase;
use itertools::Itertools;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::automata::BrowserOrigins;
use super::convert;
use super::fields::typed;
use super::model::{Enabled, EnvoyCors};
use super::origins::{MatchKind, StringMatch};
use super::paths::{host_rank, never_matched, other_conditions, regex_path, PathMatch};
use super::{policy_hint, Cors, Doc, Issues, Scope};
use crate::document::{join, walk_objects, within};

const CORS_POLICY: &str = "envoy.extensions.filters.http.cors.v3.CorsPolicy";
const FILTER_CONFIG: &str = "envoy.config.route.v3.FilterConfig";
const CORS_FILTER_TYPE: &str = "envoy.extensions.filters.http.cors.v3.Cors";
/// The CORS filter's canonical name.
const CORS_FILTER_NAME: &str = "envoy.filters.http.cors";

/// A `RouteConfiguration`: what the CORS filter's resolution reads of it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RouteConfiguration {
    virtual_hosts: Vec<VirtualHost>,
    typed_per_filter_config: Map<String, Value>,
    ignore_port_in_host_matching: bool,
}

/// A `VirtualHost`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VirtualHost {
    name: Option<String>,
    domains: Vec<String>,
    routes: Vec<Route>,
    typed_per_filter_config: Map<String, Value>,
    /// Deprecated; counts only where no level has a typed config.
    cors: Option<CorsPolicy>,
}

/// A `Route`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Route {
    name: Option<String>,
    #[serde(rename = "match")]
    matcher: Option<RouteMatch>,
    route: Option<RouteAction>,
    direct_response: Option<DirectResponse>,
    redirect: Option<Value>,
    typed_per_filter_config: Map<String, Value>,
}

/// A `RouteAction`: its deprecated `cors`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RouteAction {
    cors: Option<CorsPolicy>,
}

/// A `DirectResponseAction`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DirectResponse {
    status: Option<u32>,
}

/// A `RouteMatch`: the path specifiers, and whatever else it matches on.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RouteMatch {
    prefix: Option<String>,
    path: Option<String>,
    path_separated_prefix: Option<String>,
    safe_regex: Option<Regex>,
    case_sensitive: Option<BoolValue>,
    headers: Vec<HeaderMatcher>,
    connect_matcher: Option<Value>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// A `HeaderMatcher`, for the values that make a request select its route.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HeaderMatcher {
    name: String,
    string_match: Option<StringMatcher>,
    exact_match: Option<String>,
    present_match: Option<bool>,
    invert_match: bool,
}

/// A `CorsPolicy` (the typed per-filter config, or the deprecated `cors`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CorsPolicy {
    #[serde(rename = "@type")]
    kind: Option<String>,
    allow_origin_string_match: Vec<StringMatcher>,
    allow_methods: String,
    allow_headers: String,
    expose_headers: String,
    max_age: String,
    allow_credentials: Option<BoolValue>,
    allow_private_network_access: Option<BoolValue>,
    forward_not_matching_preflights: Option<BoolValue>,
    filter_enabled: Option<RuntimeFractionalPercent>,
    shadow_enabled: Option<RuntimeFractionalPercent>,
}

/// A `StringMatcher`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct StringMatcher {
    exact: Option<String>,
    prefix: Option<String>,
    suffix: Option<String>,
    contains: Option<String>,
    safe_regex: Option<Regex>,
    ignore_case: bool,
}

/// A `RegexMatcher`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct Regex {
    regex: String,
}

/// A `RuntimeFractionalPercent`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct RuntimeFractionalPercent {
    default_value: Option<FractionalPercent>,
    runtime_key: Option<String>,
}

/// A `FractionalPercent`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct FractionalPercent {
    numerator: u64,
    denominator: Option<String>,
}

/// A bool, plain or as a `BoolValue` wrapper (`{value: true}`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
enum BoolValue {
    Plain(bool),
    Wrapped { value: bool },
}

impl BoolValue {
    fn get(self) -> bool {
        match self {
            Self::Plain(b) | Self::Wrapped { value: b } => b,
        }
    }
}

/// An `http_filters` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HttpFilter {
    name: String,
    typed_config: Option<Map<String, Value>>,
}

/// A route configuration found in a file.
struct Found {
    part: String,
    path: String,
    /// `name`, what `--route-config` selects.
    name: Option<String>,
    value: Value,
    /// The nearest connection manager above it (its `http_filters` and
    /// `strip_any_host_port`) and its path, when the route configuration is inline.
    manager: Option<(String, Value)>,
    /// Read from a protobuf JSON dump (camelCase keys).
    camel: bool,
}

/// Imports the route configuration of `docs` (the one named `only`, when
/// there are several).
pub fn import(docs: &[Doc], only: Option<&str>, browser: &BrowserOrigins, issues: &mut Issues) -> Vec<Scope> {
    let (mut found, mut names) = (Vec::new(), BTreeSet::new());
    for doc in docs {
        let camel = has_key(
            &doc.value,
            &["virtualHosts", "typedPerFilterConfig", "staticResources", "routeConfig"],
        );
        let value = camel.then(|| snake_keys(&doc.value, &mut names, false));
        route_configs(value.as_ref().unwrap_or(&doc.value), &doc.part, camel, &mut found);
    }
    found.retain(|rc| only.is_none_or(|name| rc.name.as_deref() == Some(name)));
    if let [rc] = found.as_slice() {
        issues.camel = rc.camel.then_some(names);
        return route_config(rc, browser, issues);
    }
    let names: Vec<String> = found
        .iter()
        .map(|rc| {
            format!(
                "{} ({})",
                rc.name.as_deref().unwrap_or("unnamed"),
                within(&rc.part, &rc.path)
            )
        })
        .collect();
    let reason = match (only, names.len()) {
        (Some(name), 0) => format!("no route configuration named {name:?}"),
        (None, 0) => "no route configuration (virtual_hosts) found".to_owned(),
        (_, n) => format!(
            "{n} route configurations (one per listener), and one policy serves one listener: import one with \
             --route-config NAME: {}",
            names.join(", ")
        ),
    };
    issues.fatal("", reason);
    Vec::new()
}

/// Finds the route configurations (objects with `virtual_hosts`) under `doc`,
/// each with the nearest connection manager (an object with `http_filters`)
/// above it, passed down with the length of its path (which starts the paths below).
fn route_configs(doc: &Value, part: &str, camel: bool, out: &mut Vec<Found>) {
    walk_objects(doc, "", None, &mut |object, path, manager: Option<(&Value, usize)>| {
        if !object.get("virtual_hosts").is_some_and(Value::is_array) {
            let here = object.get("http_filters").map(|_| (object, path.len()));
            return Some(here.or(manager));
        }
        out.push(Found {
            part: part.to_owned(),
            // A document that is itself the route configuration (an RDS
            // file) is `$`, so that paths below join with `.`.
            path: Some(path).filter(|p| !p.is_empty()).unwrap_or("$").to_owned(),
            name: object.get("name").and_then(Value::as_str).map(str::to_owned),
            value: object.clone(),
            manager: manager.map(|(m, len)| (path.get(..len).unwrap_or_default().to_owned(), m.clone())),
            camel,
        });
        None
    });
}

/// One level's CorsPolicy, as given.
#[derive(Debug, Clone, Default)]
struct Level {
    cors: CorsPolicy,
    /// `FilterConfig { disabled: true }`: the filter is off on this route.
    disabled: bool,
    path: String,
}

impl Level {
    fn new(cors: CorsPolicy, path: String) -> Self {
        Self {
            cors,
            disabled: false,
            path,
        }
    }
}

fn route_config(rc: &Found, browser: &BrowserOrigins, issues: &mut Issues) -> Vec<Scope> {
    let at = within(&rc.part, &rc.path);
    let Some(keys) = filter_names(rc, &at, issues) else {
        return Vec::new();
    };
    let Some(config) = typed::<RouteConfiguration>(&rc.value, &rc.part, &rc.path, issues) else {
        return Vec::new();
    };
    let manager = |key: &str| rc.manager.as_ref().and_then(|(_, m)| m.get(key));
    let ports_ignored = manager("strip_any_host_port").and_then(Value::as_bool) == Some(true);
    if config.virtual_hosts.len() > 1 && !ports_ignored && !config.ignore_port_in_host_matching {
        issues.note(
            &at,
            "Envoy selects a virtual host by the whole :authority, port included (neither strip_any_host_port \
             nor ignore_port_in_host_matching is set); host rules ignore the port, so a request to a host with \
             an explicit port may now get another virtual host's policy",
        );
    }
    let part = rc.part.as_str();
    let global = level(&config.typed_per_filter_config, &keys, part, &rc.path, issues);
    let routes = config.virtual_hosts.iter().flat_map(|v| &v.routes);
    let names = routes.filter_map(|r| r.name.as_deref()).counts();
    let mut scopes = Vec::new();
    // What several routes share (a virtual host's policy) is converted once.
    let mut converted: HashMap<(bool, Vec<String>), Cors> = HashMap::new();
    for domain in domains(&config.virtual_hosts, &at, issues) {
        let (v, vhost) = (domain.index, domain.vhost);
        let vpath = format!("{}.virtual_hosts[{v}]", rc.path);
        let vhost_name = vhost.name.as_deref().unwrap_or("vhost");
        let vlevel = level(&vhost.typed_per_filter_config, &keys, part, &vpath, issues);
        for (r, route) in vhost.routes.iter().enumerate() {
            let rpath = format!("{vpath}.routes[{r}]");
            let route_level = level(&route.typed_per_filter_config, &keys, part, &rpath, issues);
            let mut levels: Vec<Level> = [route_level, vlevel.clone(), global.clone()]
                .into_iter()
                .flatten()
                .collect();
            if levels.is_empty() {
                // The deprecated `cors` fields count only when no typed config does.
                let route_cors = route.route.as_ref().and_then(|a| a.cors.as_ref());
                let legacy = [
                    (route_cors, format!("{rpath}.route.cors")),
                    (vhost.cors.as_ref(), format!("{vpath}.cors")),
                ];
                levels = legacy
                    .into_iter()
                    .filter_map(|(cors, path)| Some(Level::new(cors?.clone(), within(part, &path))))
                    .collect();
            }
            let place = Place {
                domain: &domain,
                unique: route.name.as_deref().and_then(|n| names.get(n)) == Some(&1),
                hint: policy_hint(vhost_name, route.name.as_deref(), "route", r),
                at: within(part, &rpath),
            };
            let skipped = route.direct_response.is_some() || route.redirect.is_some();
            let key = (skipped, levels.iter().map(|l| l.path.clone()).collect());
            let cors = converted
                .entry(key)
                .or_insert_with(|| issues.converting(|issues| resolved(skipped, &levels, browser, issues)))
                .clone();
            scopes.extend(route_scopes(route, &place, &cors, issues));
        }
    }
    scopes
}

/// The keys Envoy looks the CORS filter's per-route config up by; `None`
/// when the connection manager has no CORS filter.
fn filter_names(rc: &Found, at: &str, issues: &mut Issues) -> Option<Vec<String>> {
    let Some((path, filters)) = rc.manager.as_ref().and_then(|(p, m)| Some((p, m.get("http_filters")?))) else {
        return Some(vec![CORS_FILTER_NAME.to_owned()]);
    };
    let filters: Vec<HttpFilter> = typed(filters, &rc.part, &join(path, "http_filters"), issues)?;
    let mut keys: Vec<String> = filters
        .into_iter()
        .filter(|f| {
            let kind = f.typed_config.as_ref().and_then(|c| c.get("@type")?.as_str());
            f.name == CORS_FILTER_NAME || kind.is_some_and(|t| t.ends_with(CORS_FILTER_TYPE))
        })
        .map(|f| f.name)
        .collect();
    if keys.is_empty() {
        issues.fatal(
            at,
            format!(
                "the connection manager has no {CORS_FILTER_NAME} filter, so these CorsPolicies do nothing today; \
                 importing them would turn CORS on"
            ),
        );
        return None;
    }
    if !keys.iter().any(|k| k == CORS_FILTER_NAME) {
        keys.push(CORS_FILTER_NAME.to_owned());
    }
    Some(keys)
}

/// A domain of a virtual host, as a host rule holds it.
struct Domain<'a> {
    /// The domain without its port (host rules ignore it).
    host: String,
    /// The domain named one port, which the host rule widens to every port (`--lossy`).
    every_port: bool,
    /// Its rank in Envoy's search order.
    rank: (u8, usize),
    /// The virtual host's index.
    index: usize,
    vhost: &'a VirtualHost,
}

/// The domains in Envoy's search order; `at` is where `vhosts` are. A
/// domain given twice (ASCII case ignored) is refused, as Envoy refuses the
/// route configuration (`RouteMatcher`, source/common/router/config_impl.cc:
/// "Only unique values for domains are permitted", "Only a single wildcard
/// domain is permitted").
fn domains<'a>(vhosts: &'a [VirtualHost], at: &str, issues: &mut Issues) -> Vec<Domain<'a>> {
    let mut out = Vec::new();
    let mut seen = BTreeMap::new();
    for (v, vhost) in vhosts.iter().enumerate() {
        for (d, domain) in vhost.domains.iter().enumerate() {
            let path = format!("{at}.virtual_hosts[{v}].domains[{d}]");
            if let Some(first) = seen.insert(domain.to_ascii_lowercase(), path.clone()) {
                issues.fatal(
                    &path,
                    format!(
                        "{domain:?} is also the domain at {first}: Envoy refuses a route configuration that names a \
                         domain twice, so there is no behaviour to import; keep one"
                    ),
                );
            }
            let bare = domain.strip_suffix(":*").unwrap_or(domain);
            // A port is digits after the last `:` (never a wildcard's `*`, nor an IPv6 literal's `]`).
            let port = bare
                .rsplit_once(':')
                .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()));
            if port.is_some() {
                issues.lossy(
                    &path,
                    format!("{domain:?} selects one port, and host rules ignore the port; --lossy matches every port"),
                );
            }
            out.push(Domain {
                host: port.map_or(bare, |(h, _)| h).to_owned(),
                every_port: port.is_some(),
                rank: host_rank(bare),
                index: v,
                vhost,
            });
        }
    }
    out.sort_by_key(|d| (d.rank, d.index));
    out
}

/// A route's place in the output.
struct Place<'a> {
    domain: &'a Domain<'a>,
    /// The route's name is unique in the route configuration.
    unique: bool,
    hint: String,
    at: String,
}

/// The route's CORS as the built-in filter resolves it from `levels`, most
/// specific first, field by field (none on a route that answers itself,
/// `skipped`, which the filter skips), converted.
fn resolved(skipped: bool, levels: &[Level], browser: &BrowserOrigins, issues: &mut Issues) -> Cors {
    let Some(head) = levels.first().filter(|l| !skipped && !l.disabled) else {
        return Cors::default();
    };
    let text = |f: fn(&CorsPolicy) -> &String| levels.iter().map(|l| f(&l.cors)).find(|s| !s.is_empty()).cloned();
    let flag = |f: fn(&CorsPolicy) -> Option<BoolValue>| levels.iter().find_map(|l| f(&l.cors)).map(BoolValue::get);
    // `filter_enabled` and `shadow_enabled` from the most specific level only.
    let on = percent(head.cors.filter_enabled.as_ref(), &head.path, "filter_enabled", issues);
    let shadow = percent(head.cors.shadow_enabled.as_ref(), &head.path, "shadow_enabled", issues);
    let enabled = if applies(on.unwrap_or(ALL), &head.path, "filter_enabled", issues) {
        Enabled::On
    } else if applies(shadow.unwrap_or(0), &head.path, "shadow_enabled", issues) {
        Enabled::Shadow
    } else {
        Enabled::Off
    };
    let origins = levels.iter().find(|l| !l.cors.allow_origin_string_match.is_empty());
    let cors = EnvoyCors {
        origins: origins.map(|l| matchers(&l.cors, &l.path, issues)).unwrap_or_default(),
        allow_methods: text(|c| &c.allow_methods).unwrap_or_default(),
        allow_headers: text(|c| &c.allow_headers).unwrap_or_default(),
        expose_headers: text(|c| &c.expose_headers).unwrap_or_default(),
        max_age: text(|c| &c.max_age).unwrap_or_default(),
        allow_credentials: flag(|c| c.allow_credentials).unwrap_or(false),
        allow_private_network: flag(|c| c.allow_private_network_access).unwrap_or(false),
        forward_not_matching_preflights: flag(|c| c.forward_not_matching_preflights).unwrap_or(true),
        enabled,
        ..EnvoyCors::default()
    };
    convert::envoy(cors, &head.path, &convert::ENVOY, browser, issues)
}

/// The scopes of one route: one per path rule of its match, or one
/// `route_name` rule for a named route, which is exact whatever its match
/// (so what rules cannot say of the match does not matter there).
fn route_scopes(route: &Route, place: &Place<'_>, cors: &Cors, issues: &mut Issues) -> Vec<Scope> {
    let mat = format!("{}.match", place.at);
    let Some(m) = &route.matcher else {
        issues.fatal(&mat, "a route without a match");
        return Vec::new();
    };
    let name = route.name.clone().filter(|n| !n.is_empty());
    let mut unsaid = Issues::default();
    let said: &mut Issues = if name.is_some() { &mut unsaid } else { &mut *issues };
    let (Some(path), widened) = said.raising(|said| path_match(m, &mat, said)) else {
        issues.note(
            &mat,
            "a CONNECT route: browsers never send CORS requests over CONNECT; left out",
        );
        return Vec::new();
    };
    if never_matched(&path, &mat, issues) {
        return Vec::new();
    }
    let case_sensitive = m.case_sensitive.is_none_or(BoolValue::get);
    let rules = if name.is_some() { PathMatch::Any } else { path.clone() };
    let mut scopes = Scope::each_glob(&place.domain.host, &rules, case_sensitive, cors, &place.hint, &place.at);
    for scope in &mut scopes {
        // A unique name selects the route on every host.
        scope.host = scope.host.take().filter(|_| name.is_none() || !place.unique);
        scope.route_name.clone_from(&name);
        // A route_name rule is exact: what --lossy ignores of the match
        // widens only a path rule, and a port a host rule.
        scope.widened = (widened && name.is_none()) || (place.domain.every_port && scope.host.is_some());
        scope.sample.path = path.sample();
        scope.sample.direct_status = route
            .direct_response
            .as_ref()
            .and_then(|d| d.status)
            .or(route.redirect.as_ref().map(|_| 301));
        scope.sample.headers = header_sample(&m.headers);
    }
    scopes
}

/// Header values that satisfy a route's simple header matchers (present, exact).
fn header_sample(matchers: &[HeaderMatcher]) -> Vec<(String, String)> {
    matchers
        .iter()
        .filter(|m| !m.invert_match)
        .filter_map(|m| {
            let exact = m
                .string_match
                .as_ref()
                .and_then(|s| s.exact.clone())
                .or_else(|| m.exact_match.clone());
            let value = exact.or_else(|| m.present_match.map(|_| "1".to_owned()))?;
            Some((m.name.to_ascii_lowercase(), value))
        })
        .collect()
}

/// A route's match as a path match; `None` for a CONNECT route.
fn path_match(m: &RouteMatch, at: &str, issues: &mut Issues) -> Option<PathMatch> {
    let path = match (&m.prefix, &m.path, &m.path_separated_prefix, &m.safe_regex) {
        (Some(p), ..) => PathMatch::StringPrefix(p.clone()),
        (_, Some(p), ..) => PathMatch::Exact(p.clone()),
        (_, _, Some(p), _) => PathMatch::SegmentPrefix(p.clone()),
        (.., Some(regex)) => regex_path("regex path", &regex.regex, &format!("{at}.safe_regex"), issues),
        _ if m.connect_matcher.is_some() => return None,
        _ => {
            issues.lossy(
                at,
                "a path match this tool cannot convert (path_match_policy?); --lossy matches every path",
            );
            PathMatch::Any
        }
    };
    let headers = (!m.headers.is_empty()).then_some("headers");
    let extras: Vec<&str> = headers.into_iter().chain(m.other.keys().map(String::as_str)).collect();
    let rest = "; name the route to import it exactly (a route_name rule), or --lossy ignores them";
    other_conditions(&extras, rest, at, issues);
    Some(path)
}

/// The CorsPolicy Envoy applies from an object's `typed_per_filter_config`
/// (in `part`, at `path`): the one under the first of `keys` (the CORS
/// filter's names, in the order Envoy looks them up). A CorsPolicy under
/// another key is never applied: said, and left out.
fn level(configs: &Map<String, Value>, keys: &[String], part: &str, path: &str, issues: &mut Issues) -> Option<Level> {
    let at = |key: &str| format!("{path}.typed_per_filter_config.{key}");
    let is_filter_config = |config: &Value| type_url(config).ends_with(FILTER_CONFIG);
    for (key, config) in configs.iter().filter(|(key, _)| !keys.contains(key)) {
        // A CorsPolicy, or a `FilterConfig` that wraps one (`config`).
        let inner = config.get("config").filter(|_| is_filter_config(config));
        if type_url(inner.unwrap_or(config)).ends_with(CORS_POLICY) {
            issues.note(
                &within(part, &at(key)),
                format!(
                    "a CorsPolicy Envoy never applies: it looks a route's CORS config up by the filter's name \
                     (then its canonical name): {}; left out",
                    keys.join(", then ")
                ),
            );
        }
    }
    let (key, config) = keys.iter().find_map(|k| configs.get_key_value(k))?;
    let (config, at) = match is_filter_config(config) {
        // `FilterConfig { disabled: true }` turns the filter off here.
        true if config.get("disabled").and_then(Value::as_bool) == Some(true) => {
            return Some(Level {
                disabled: true,
                path: within(part, &at(key)),
                ..Level::default()
            })
        }
        true => (config.get("config")?, join(&at(key), "config")),
        false => (config, at(key)),
    };
    Some(Level::new(typed(config, part, &at, issues)?, within(part, &at)))
}

/// A typed config's `@type`.
fn type_url(config: &Value) -> &str {
    config.get("@type").and_then(Value::as_str).unwrap_or_default()
}

/// A `RuntimeFractionalPercent` (`what`, at `path`) as its default share in
/// millionths (a runtime key is noted).
fn percent(v: Option<&RuntimeFractionalPercent>, path: &str, what: &str, issues: &mut Issues) -> Option<u64> {
    let v = v?;
    if v.runtime_key.is_some() {
        issues.note(
            &join(path, what),
            "has a runtime_key: Envoy's runtime can change the share of requests at any time; imported with the \
             default_value",
        );
    }
    let Some(d) = &v.default_value else { return Some(0) };
    let scale = match d.denominator.as_deref().unwrap_or("HUNDRED") {
        "TEN_THOUSAND" => 100,
        "MILLION" => 1,
        _ => 10_000,
    };
    Some(d.numerator.saturating_mul(scale).min(ALL))
}

/// A share of all requests, in millionths.
const ALL: u64 = 1_000_000;

/// Whether a policy that `what` (at `path`) applies to `share` of requests
/// applies: here it applies to all requests or none, so a share between is
/// an error, and `--lossy` takes the nearer.
fn applies(share: u64, path: &str, what: &str, issues: &mut Issues) -> bool {
    if share == 0 || share == ALL {
        return share == ALL;
    }
    let all = share * 2 >= ALL;
    issues.lossy(
        &join(path, what),
        format!(
            "{what} covers {:.4} % of requests; a policy here applies to all of them or none; --lossy takes {}",
            share as f64 / 10_000.0,
            if all { "all" } else { "none" }
        ),
    );
    all
}

/// A level's origin matchers.
fn matchers(cors: &CorsPolicy, at: &str, issues: &mut Issues) -> Vec<StringMatch> {
    let mut out = Vec::new();
    for (i, m) in cors.allow_origin_string_match.iter().enumerate() {
        let found = [
            (MatchKind::Exact, &m.exact),
            (MatchKind::Prefix, &m.prefix),
            (MatchKind::Suffix, &m.suffix),
            (MatchKind::Contains, &m.contains),
        ]
        .into_iter()
        .find_map(|(kind, v)| v.as_ref().map(|v| (kind, v.as_str())))
        .or_else(|| m.safe_regex.as_ref().map(|r| (MatchKind::Regex, r.regex.as_str())));
        match found {
            // RE2's own flags apply to a regex; Envoy ignores ignore_case there.
            Some((kind, value)) => out.push(StringMatch::new(kind, value, m.ignore_case && kind != MatchKind::Regex)),
            None => issues.fatal(
                &format!("{at}.allow_origin_string_match[{i}]"),
                "a StringMatcher this tool cannot read (custom?)",
            ),
        }
    }
    out
}

/// Reports whether any object under `doc` has one of `keys`.
pub fn has_key(doc: &Value, keys: &[&str]) -> bool {
    let mut found = false;
    walk_objects(doc, "", (), &mut |object, _, ()| {
        found |= keys.iter().any(|k| object.get(*k).is_some());
        (!found).then_some(())
    });
    found
}

/// A protobuf JSON document with its field names in snake_case (`virtualHosts`
/// is `virtual_hosts`). Keys that are not fields are left alone: those with
/// other characters (`@type`, a Struct's keys), and the keys of a map of
/// names (`of_names`: `typedPerFilterConfig`'s are filters' names, which
/// are added to `names`).
fn snake_keys(value: &Value, names: &mut BTreeSet<String>, of_names: bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let field = !of_names && k.bytes().all(|b| b.is_ascii_alphanumeric());
                    let key = if field { k.to_snake_case() } else { k.clone() };
                    names.extend(of_names.then(|| k.clone()));
                    (key, snake_keys(v, names, k == "typedPerFilterConfig"))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| snake_keys(v, names, false)).collect()),
        other => other.clone(),
    }
}

/// A path written with snake_case fields, in camelCase again for a message
/// about a protobuf JSON dump, its keys that are names (`names`, which
/// `snake_keys` left alone) as written. Written here rather than with heck
/// (which `snake_keys` uses): a path mixes field names with indices (`[0]`),
/// `$` and names, which a case-conversion crate would rewrite too.
pub fn camel_path(path: &str, names: &BTreeSet<String>) -> String {
    // The part of the file (`document 2: `) stays as it is.
    let (mut out, path) = path
        .rsplit_once(": ")
        .map_or((String::new(), path), |(part, path)| (format!("{part}: "), path));
    // So does the first name that is a whole segment there (the longest of
    // those that start at one place), between the paths before and after it.
    let segment = |(at, name): &(usize, &String)| {
        let (before, after) = (
            path.get(..*at).unwrap_or_default(),
            path.get(at + name.len()..).unwrap_or_default(),
        );
        (before.is_empty() || before.ends_with('.')) && (after.is_empty() || after.starts_with(['.', '[']))
    };
    let found = names
        .iter()
        .flat_map(|n| path.match_indices(n.as_str()).map(move |(at, _)| (at, n)));
    if let Some((at, name)) = found.filter(segment).min_by_key(|(at, n)| (*at, Reverse(n.len()))) {
        let (before, after) = (
            path.get(..at).unwrap_or_default(),
            path.get(at + name.len()..).unwrap_or_default(),
        );
        return format!("{out}{}{name}{}", camel_path(before, names), camel_path(after, names));
    }
    // A `_` before a lowercase letter uppercases it; before anything else it
    // stays; a run of them counts as one, and a trailing one goes.
    let mut pieces = path.split('_');
    out.extend(pieces.next());
    for piece in pieces.filter(|p| !p.is_empty()) {
        let mut chars = piece.chars();
        match chars.next() {
            Some(c) if c.is_ascii_lowercase() => out.extend([c.to_ascii_uppercase()].into_iter().chain(chars)),
            _ => out.extend(["_", piece]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_json_keys_read_as_snake_case_and_paths_go_back_to_camel_case() {
        let doc = serde_json::json!({"virtualHosts": [{"typedPerFilterConfig": {"envoy.filters.http.cors": {"allowCredentials": true}}}]});
        let snaked = snake_keys(&doc, &mut BTreeSet::new(), false);
        assert_eq!(
            snaked,
            serde_json::json!({"virtual_hosts": [{"typed_per_filter_config": {"envoy.filters.http.cors": {"allow_credentials": true}}}]})
        );
        assert_eq!(
            camel_path(
                "$.virtual_hosts[0].typed_per_filter_config.envoy.filters.http.cors.allow_credentials",
                &BTreeSet::new()
            ),
            "$.virtualHosts[0].typedPerFilterConfig.envoy.filters.http.cors.allowCredentials"
        );
    }

    #[test]
    fn a_key_that_is_a_name_is_written_back_as_the_dump_has_it() {
        let doc = serde_json::json!({"typedPerFilterConfig": {"envoy.filters.http.my_cors": {"maxAge": "60"},
            "my_filter.v2": {}, "envoy.filters.http.my_cors_v2": {}}});
        let mut names = BTreeSet::new();
        snake_keys(&doc, &mut names, false);
        let at = "document 2: $.typed_per_filter_config.envoy.filters.http.my_cors.max_age";
        assert_eq!(
            camel_path(at, &names),
            "document 2: $.typedPerFilterConfig.envoy.filters.http.my_cors.maxAge"
        );
        let at = "$.typed_per_filter_config.envoy.filters.http.my_cors_v2.max_age";
        assert_eq!(
            camel_path(at, &names),
            "$.typedPerFilterConfig.envoy.filters.http.my_cors_v2.maxAge"
        );
    }

    #[test]
    fn only_filter_names_are_kept_as_written_and_only_as_whole_segments() {
        // A Struct's snake_case keys are read as written but are no names;
        // a filter's name stays as written even when it looks like a field.
        let doc = serde_json::json!({"metadata": {"filterMetadata": {"x": {"max_age": 1, "allow_origin": "x"}}},
            "typedPerFilterConfig": {"corsFilter": {"maxAge": "60"}, "my_cors": {}}});
        let mut names = BTreeSet::new();
        let snaked = snake_keys(&doc, &mut names, false);
        assert_eq!(names, BTreeSet::from(["corsFilter".to_owned(), "my_cors".to_owned()]));
        assert!(snaked["typed_per_filter_config"]["corsFilter"].is_object(), "{snaked}");
        let at = "$.typed_per_filter_config.my_cors.allow_origin_string_match[0]";
        assert_eq!(
            camel_path(at, &names),
            "$.typedPerFilterConfig.my_cors.allowOriginStringMatch[0]"
        );
        // A name inside a longer segment is no name there.
        let at = "$.typed_per_filter_config.my_cors_x.max_age";
        assert_eq!(camel_path(at, &names), "$.typedPerFilterConfig.myCorsX.maxAge");
    }
}
