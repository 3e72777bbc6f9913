//! The plugin configuration: parsed, validated and compiled once, at
//! configure time. A configuration is either a single policy applied to every
//! request, or the routed form (`policies`, `routes`, `default`).

mod compile;
mod error;
mod read;
#[cfg(all(feature = "cli", not(target_arch = "wasm32")))]
mod schema;
mod spec;

pub use error::{ConfigError, Problem};
pub use spec::{MatchSpec, Mode, PolicySpec, RouteSpec, RoutedSpec};

use serde_json::value::RawValue;

use crate::policy::Policy;
use crate::routes::Routes;
use read::Form;

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
        match read::form(text).map_err(|e| vec![e])? {
            Form::Routed => {
                let spec: RoutedSpec<&RawValue, &RawValue> = read::object(text, "").map_err(|e| vec![e])?;
                compile::routed(&spec)
            }
            Form::Single => {
                let spec: PolicySpec = read::object(text, "").map_err(|e| vec![e])?;
                let policy = compile::policy(SINGLE_POLICY_NAME, &spec, "")?;
                Ok(Self {
                    policies: vec![policy],
                    routes: Routes {
                        rules: Vec::new(),
                        default: Some(0),
                    },
                })
            }
        }
    }

    /// The policy with this index.
    pub fn policy(&self, index: usize) -> Option<&Policy> {
        self.policies.get(index)
    }
}
