//! The dynamic module's per-route configuration: the `filter_config` of a
//! `DynamicModuleFilterPerRoute` on a route, a virtual host or a route
//! configuration, which Envoy hands over when it builds the route table
//! (before the filter's own configuration exists, and again on every RDS
//! update). Either a whole policy in the single-policy form, with an
//! optional `name` for its counters and log lines, validated like any
//! policy; or `{"policy": "<name>"}` naming a policy of the filter's
//! configuration (resolved per request, as the filter's configuration is
//! not known here), or `{"policy": null}` turning CORS off.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::compile::{self, is_policy_name};
use super::error::{ConfigError, Problem};
use super::read;
use super::spec::{unique_keys, PolicyRefSpec, PolicySpec};
use crate::policy::Policy;

/// The name of a per-route policy written without one.
pub const PER_ROUTE_POLICY_NAME: &str = "route";

/// A compiled per-route configuration.
#[derive(Debug)]
pub enum PerRouteConfig {
    /// A policy of its own (boxed: the other forms are a name or nothing).
    Policy(Box<Policy>),
    /// The name of a policy of the filter's configuration.
    Named(String),
    /// CORS off on the route.
    Off,
}

/// The members of a JSON object, each kept as raw JSON; a key given twice
/// is refused.
struct Members<'a>(BTreeMap<String, &'a RawValue>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        unique_keys(d).map(Self)
    }
}

impl PerRouteConfig {
    /// Reads, validates and compiles a per-route configuration, or lists
    /// every problem found.
    pub fn parse(text: &[u8]) -> Result<Self, Vec<ConfigError>> {
        if text.iter().all(u8::is_ascii_whitespace) {
            return Err(vec![ConfigError::new("", None, Problem::Empty)]);
        }
        let Members(mut members) = read::object(text, "").map_err(|e| vec![e])?;
        if members.contains_key("policy") {
            let spec: PolicyRefSpec = read::object(text, "").map_err(|e| vec![e])?;
            return match spec.policy {
                None => Ok(Self::Off),
                // A name no policy can have would never be found.
                Some(name) if !is_policy_name(&name) => {
                    Err(vec![ConfigError::at_str("policy", &name, Problem::PolicyName)])
                }
                Some(name) => Ok(Self::Named(name)),
            };
        }
        let mut errors = Vec::new();
        let name = match members.remove("name") {
            None => PER_ROUTE_POLICY_NAME.to_owned(),
            Some(raw) => match serde_json::from_str::<String>(raw.get()) {
                Ok(name) if is_policy_name(&name) => name,
                Ok(name) => {
                    errors.push(ConfigError::at_str("name", &name, Problem::PolicyName));
                    name
                }
                Err(e) => {
                    errors.push(ConfigError::new(
                        "name",
                        Some(raw.get().to_owned()),
                        Problem::Schema(e.to_string()),
                    ));
                    PER_ROUTE_POLICY_NAME.to_owned()
                }
            },
        };
        // The policy's own members, read as the single-policy form (refusals
        // keep their paths: the members are at the root either way).
        let rest = serde_json::to_string(&members)
            .map_err(|e| vec![ConfigError::new("", None, Problem::InvalidJson(e.to_string()))])?;
        match read::object::<PolicySpec>(rest.as_bytes(), "")
            .map_err(|e| vec![e])
            .and_then(|spec| compile::policy(&name, &spec, ""))
        {
            Ok(policy) if errors.is_empty() => Ok(Self::Policy(Box::new(policy))),
            Ok(_) => Err(errors),
            Err(mut found) => {
                errors.append(&mut found);
                Err(errors)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusals(text: &str) -> Vec<String> {
        PerRouteConfig::parse(text.as_bytes())
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_whole_policy_is_compiled_under_its_name_or_route() {
        let named = PerRouteConfig::parse(br#"{"name": "tenant7", "allow_origins": ["https://t7.example"]}"#).unwrap();
        assert!(matches!(&named, PerRouteConfig::Policy(p) if p.name == "tenant7"));
        let unnamed = PerRouteConfig::parse(br#"{"allow_origins": ["https://t7.example"]}"#).unwrap();
        assert!(matches!(&unnamed, PerRouteConfig::Policy(p) if p.name == PER_ROUTE_POLICY_NAME));
    }

    #[test]
    fn a_reference_names_a_policy_or_turns_cors_off() {
        assert!(
            matches!(PerRouteConfig::parse(br#"{"policy": "strict"}"#), Ok(PerRouteConfig::Named(n)) if n == "strict")
        );
        assert!(matches!(
            PerRouteConfig::parse(br#"{"policy": null}"#),
            Ok(PerRouteConfig::Off)
        ));
    }

    #[test]
    fn a_refused_per_route_policy_names_every_problem_with_its_path() {
        assert_eq!(
            refusals(r#"{"name": "bad name", "allow_origins": ["https://*.com"], "max_age": -1}"#),
            [
                r#"name: "bad name": policy names must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'"#,
                r#"allow_origins[0]: "https://*.com": a wildcard needs at least two literal DNS labels to its right (e.g. `*.example.com`)"#,
                "max_age: -1: max_age must be between 0 and 86400 seconds",
            ]
        );
        assert_eq!(refusals(r#"{"policy": "strict", "name": "x"}"#).len(), 1);
        assert_eq!(
            refusals(r#"{"policy": "no such"}"#),
            [r#"policy: "no such": policy names must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'"#]
        );
        assert_eq!(
            refusals(r#"{"allow_origins": ["https://a.example"], "allow_origins": []}"#),
            ["allow_origins: duplicate key: JSON readers disagree on which value wins, so each key may appear only once"]
        );
        assert_eq!(
            refusals(" "),
            ["$: no policy configured: the plugin configuration is empty"]
        );
        assert_eq!(refusals("[1]"), ["$: invalid type: sequence, expected an object"]);
    }
}
