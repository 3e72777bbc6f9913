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
    /// Each scope's rule, in order (`spec` leaves out repeats, and rules no
    /// request reaches or that change nothing).
    pub scope_rules: Vec<RouteSpec>,
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
    let mut scope_rules = Vec::with_capacity(scopes.len());
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
        scope_rules.push(rule.clone());
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
        scope_rules,
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

/// The policy with one rule per scope, in order, compiled: the rule a
/// request meets first is that of the first scope it lands in.
pub fn by_scope(output: &Output) -> Result<Config, Vec<ConfigError>> {
    let spec = RoutedSpec {
        routes: output.scope_rules.clone(),
        default: None,
        ..output.spec.clone()
    };
    check(&spec).map(|(_, config)| config)
}
