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
    /// The scope each rule of `spec` was written for, in order.
    pub rule_scopes: Vec<usize>,
    /// The scope the default policy was written for (`None`: no default).
    pub default_scope: Option<usize>,
}

/// The name of `spec` among `policies`, added under a name from `hint` if
/// new: usable in metric names (`[A-Za-z0-9_-]{1,64}`), at most 56
/// characters, then `-2`, `-3`... to tell it from a name already taken.
fn name_for(spec: &PolicySpec, hint: &str, policies: &mut BTreeMap<String, PolicySpec>) -> String {
    if let Some((name, _)) = policies.iter().find(|(_, p)| *p == spec) {
        return name.clone();
    }
    let base: String = hint
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-', "-")
        .chars()
        .take(56)
        .collect();
    let base = if base.is_empty() { "policy".to_owned() } else { base };
    let numbered = (2..).map(|n| format!("{base}-{n}"));
    let name = std::iter::once(base.clone())
        .chain(numbered)
        .find(|name| !policies.contains_key(name))
        .unwrap_or(base);
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
    let mut rule_scopes = Vec::new();
    for (i, scope) in scopes.iter().enumerate() {
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
            rule_scopes.push(i);
        }
    }
    let everything = |r: &RouteSpec| r.matcher == MatchSpec::default();
    if let Some(all) = routes.iter().position(everything) {
        routes.truncate(all + 1);
        rule_scopes.truncate(all + 1);
    }
    let default_rule = routes.pop_if(|r| everything(r));
    let default_scope = default_rule.as_ref().and_then(|_| rule_scopes.pop());
    let default = default_rule.and_then(|r| r.policy);
    let default_scope = default_scope.filter(|_| default.is_some());
    if default.is_none() {
        while routes.pop_if(|r| r.policy.is_none()).is_some() {
            rule_scopes.pop();
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
        rule_scopes,
        default_scope,
    }
}

/// The policy as JSON text, compiled by the core as the filter compiles it.
pub fn check(spec: &RoutedSpec) -> Result<(String, Config), Vec<ConfigError>> {
    // Serializing names, lists and maps of strings cannot fail; if it did,
    // the empty text would fail the check (`Problem::Empty`).
    let text = serde_json::to_string_pretty(spec).unwrap_or_default();
    let config = Config::parse(text.as_bytes())?;
    Ok((text, config))
}
