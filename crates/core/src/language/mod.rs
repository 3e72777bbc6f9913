//! The policy language: the JSON an operator writes (`spec`), read with
//! `serde_json` (`read`), validated and compiled (`compile`) once per
//! configure into a [`Config`], every refusal naming its JSON path (`error`).
//! A configuration is either a single policy applied to every request, or the
//! routed form (`policies`, `routes`, `default`). The dynamic module's
//! per-route configuration (`per_route`) is a policy of its own or the name
//! of one. With the `schema` feature,
//! `schema` adds to the JSON Schema what the derives cannot say.

mod compile;
mod error;
mod per_route;
mod read;
#[cfg(feature = "schema")]
mod schema;
mod spec;

pub use error::{ConfigError, Problem};
pub use per_route::{PerRouteConfig, PER_ROUTE_POLICY_NAME};
pub use spec::{MatchSpec, PolicyRefSpec, PolicySpec, RouteSpec, RoutedSpec};

use rustc_hash::FxHashMap;
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
    /// Where route metadata names a request's policy, if the operator opted
    /// in (`metadata_namespace`).
    pub metadata_namespace: Option<String>,
    /// Policy indexes by name, for names found at request time (route
    /// metadata, the module's per-route configuration): one hash lookup.
    names: FxHashMap<Box<[u8]>, usize>,
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
                Ok(Self::new(vec![policy], Routes::new(Vec::new(), Some(0)), None))
            }
        }
    }

    /// A configuration of compiled policies and routes.
    pub fn new(policies: Vec<Policy>, routes: Routes, metadata_namespace: Option<String>) -> Self {
        let names = policies
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.as_bytes().into(), i))
            .collect();
        Self {
            policies,
            routes,
            metadata_namespace,
            names,
        }
    }

    /// The policy with this index.
    pub fn policy(&self, index: usize) -> Option<&Policy> {
        self.policies.get(index)
    }

    /// The index of the policy with this name.
    pub fn policy_named(&self, name: &[u8]) -> Option<usize> {
        self.names.get(name).copied()
    }
}
