//! The plugin configuration: parsed, validated and compiled once, at
//! configure time. A configuration is either a single policy applied to every
//! request, or the routed form (`policies`, `routes`, `default`).

mod compile;
mod error;
mod shape;
mod spec;
#[cfg(test)]
mod tests;

pub use error::{ConfigError, Problem};
pub use spec::{MatchSpec, Mode, PolicySpec, RouteSpec, RoutedSpec};

use crate::json::{self, ErrorKind, Value};
use crate::policy::Policy;
use crate::routes::Routes;

/// The name of the policy in the single-policy form.
pub const SINGLE_POLICY_NAME: &str = "default";

/// A validated, compiled configuration, shared by every HTTP context.
#[derive(Debug)]
pub struct Config {
    /// Compiled policies; route rules refer to them by index.
    pub policies: Vec<Policy>,
    /// Route rules and default.
    pub routes: Routes,
}

impl Config {
    /// Parses and compiles a configuration, or lists every problem found.
    pub fn parse(text: &[u8]) -> Result<Self, Vec<ConfigError>> {
        if text.iter().all(u8::is_ascii_whitespace) {
            return Err(vec![ConfigError::new("", None, Problem::Empty)]);
        }
        let value = json::parse(text).map_err(|e| {
            vec![match e.kind {
                ErrorKind::DuplicateKey(_) => ConfigError::new(e.path, None, Problem::DuplicateKey),
                _ => ConfigError::new("", None, Problem::InvalidJson(e.to_string())),
            }]
        })?;
        match &value {
            Value::Object(_) if value.get("policies").is_some() => compile::routed(&value),
            Value::Object(_) => {
                let spec = shape::policy(&value, "").map_err(|e| vec![*e])?;
                let policy = compile::policy(SINGLE_POLICY_NAME, &spec, "")?;
                Ok(Self {
                    policies: vec![policy],
                    routes: Routes {
                        rules: Vec::new(),
                        default: Some(0),
                    },
                })
            }
            _ => Err(vec![ConfigError::new(
                "",
                None,
                Problem::Schema("expected a JSON object: a policy, or {\"policies\", \"routes\", \"default\"}".into()),
            )]),
        }
    }

    /// The policy with this index.
    pub fn policy(&self, index: usize) -> Option<&Policy> {
        self.policies.get(index)
    }
}
