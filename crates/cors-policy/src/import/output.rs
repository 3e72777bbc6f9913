//! The routed policy: one policy per distinct spec, one rule per scope, as
//! values of the core's own types, and the core's own check of the result.

use std::collections::BTreeMap;

use envoy_cors_core::language::{Config, ConfigError, MatchSpec, PolicySpec, RouteSpec, RoutedSpec};

use super::Scope;

/// The routed policy built from the scopes.
#[derive(Debug)]
pub struct Output {
    /// The policy.
    pub spec: RoutedSpec,
    /// The policy name of each scope.
    pub names: Vec<Option<String>>,
}

/// A policy name usable in metric names: `[A-Za-z0-9_-]{1,64}`, at most 56
/// characters here so that `assemble` can add a `-N` to tell two apart.
fn policy_name(hint: &str) -> String {
    let mut name: String = hint
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-', "-")
        .chars()
        .take(56)
        .collect();
    if name.is_empty() {
        name.push_str("policy");
    }
    name
}

/// The name of `spec` among `policies`, added under a name from `hint` if new.
fn name_for(spec: &PolicySpec, hint: &str, policies: &mut BTreeMap<String, PolicySpec>) -> String {
    if let Some((name, _)) = policies.iter().find(|(_, p)| *p == spec) {
        return name.clone();
    }
    let base = policy_name(hint);
    let mut name = base.clone();
    let mut n = 2;
    while policies.contains_key(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    policies.insert(name.clone(), spec.clone());
    name
}

/// The routed policy: a last rule that matches everything becomes the
/// default; rules after it are never tried, and trailing `null` rules
/// before an absent default change nothing.
pub fn assemble(scopes: &[Scope]) -> Output {
    let mut policies = BTreeMap::new();
    let mut names = Vec::with_capacity(scopes.len());
    let mut routes: Vec<RouteSpec> = Vec::new();
    for scope in scopes {
        let name = scope
            .cors
            .policy
            .as_ref()
            .map(|spec| name_for(spec, &scope.policy_hint, &mut policies));
        names.push(name.clone());
        let rule = RouteSpec {
            matcher: MatchSpec {
                route_name: scope.route_name.clone(),
                host: scope.host.clone(),
                path: scope.path.clone(),
            },
            policy: name,
        };
        if !routes.contains(&rule) {
            routes.push(rule);
        }
    }
    let everything = |r: &RouteSpec| r.matcher == MatchSpec::default();
    if let Some(all) = routes.iter().position(everything) {
        routes.truncate(all + 1);
    }
    let default = routes.pop_if(|r| everything(r)).and_then(|r| r.policy);
    if default.is_none() {
        while routes.last().is_some_and(|r| r.policy.is_none()) {
            routes.pop();
        }
    }
    Output {
        spec: RoutedSpec {
            policies,
            routes,
            default,
            metadata_namespace: None,
        },
        names,
    }
}

/// The policy as JSON text, compiled by the core as the filter compiles it.
pub fn check(spec: &RoutedSpec) -> Result<(String, Config), Vec<ConfigError>> {
    let text = serde_json::to_string_pretty(spec).map_err(|e| {
        vec![ConfigError::new(
            "",
            None,
            envoy_cors_core::language::Problem::InvalidJson(e.to_string()),
        )]
    })?;
    let config = Config::parse(text.as_bytes())?;
    Ok((text, config))
}
