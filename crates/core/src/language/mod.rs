//! The policy language: the JSON an operator writes (`spec`), read with
//! `serde_json` (`read`), validated and compiled (`compile`) once per
//! configure into a [`Config`], every refusal naming its JSON path (`error`).
//! A configuration is either a single policy applied to every request, or the
//! routed form (`policies`, `routes`, `default`). With the `schema` feature,
//! `schema` adds to the JSON Schema what the derives cannot say.

mod compile;
mod error;
mod read;
#[cfg(feature = "schema")]
mod schema;
mod spec;

pub use error::{ConfigError, Problem};
pub use spec::{MatchSpec, PolicySpec, RouteSpec, RoutedSpec};

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
                    routes: Routes::new(Vec::new(), Some(0)),
                })
            }
        }
    }

    /// The policy with this index.
    pub fn policy(&self, index: usize) -> Option<&Policy> {
        self.policies.get(index)
    }
}
