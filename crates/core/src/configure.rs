//! The configure step both shells share: the policy compiled, its counters
//! defined, and the log lines an operator reads, worded once. Each shell
//! keeps only its host calls: reading the policy, defining a counter,
//! the clock, and logging. The dynamic module's per-route configuration is
//! compiled and refused here too ([`load_per_route`]).

use std::fmt;

use crate::language::{Config, PerRouteConfig};
use crate::request::COUNTER_NAMES;
use crate::selection::UNKNOWN_POLICY_COUNTER;
use crate::stream::{PolicyCounters, Runtime};

/// The family the dynamic module's per-route policies count in:
/// `cors.per_route.<counter>`, labelled with the policy's name.
pub const PER_ROUTE_COUNTERS: &str = "cors.per_route";
/// The label of [`PER_ROUTE_COUNTERS`].
pub const PER_ROUTE_LABEL: &str = "policy";

/// Configurations with more policies than this define each policy's
/// counters at its first decision ([`load_deferring_counters`]): defining
/// a counter costs Envoy several microseconds (most of a configure step
/// with 10,000 policies), and Envoy keeps every counter it defined.
pub const DEFINED_AT_LOAD_UP_TO: usize = 1_000;

/// Compiles `policy` and defines every policy's counters with `define`. On
/// refusal, the lines to log at error level, in order: one per problem,
/// then a summary (the previous configuration stays in force).
pub fn load<E: fmt::Display>(
    policy: &[u8],
    define: impl FnMut(&str) -> Result<u32, E>,
) -> Result<Runtime, Vec<String>> {
    load_with(policy, define, usize::MAX)
}

/// [`load`], but a configuration of more than [`DEFINED_AT_LOAD_UP_TO`]
/// policies defines each policy's counters at its first decision, through
/// the stream's host (the proxy-wasm plugin: any callback may define a
/// metric). Smaller ones are loaded exactly as [`load`] does.
pub fn load_deferring_counters<E: fmt::Display>(
    policy: &[u8],
    define: impl FnMut(&str) -> Result<u32, E>,
) -> Result<Runtime, Vec<String>> {
    load_with(policy, define, DEFINED_AT_LOAD_UP_TO)
}

fn load_with<E: fmt::Display>(
    policy: &[u8],
    mut define: impl FnMut(&str) -> Result<u32, E>,
    defined_at_load_up_to: usize,
) -> Result<Runtime, Vec<String>> {
    let config = match Config::parse(policy) {
        Ok(config) => config,
        Err(problems) => {
            let mut lines: Vec<String> = problems
                .iter()
                .map(|problem| format!("cors: policy refused: {problem}"))
                .collect();
            lines.push(format!(
                "cors: policy refused with {} problem(s); keeping the previous configuration",
                problems.len()
            ));
            return Err(lines);
        }
    };
    let names_policies = config.metadata_namespace.is_some();
    let mut runtime = if config.policies.len() > defined_at_load_up_to {
        Runtime::with_counters_on_first_use(config)
    } else {
        let counters: Result<Vec<_>, _> = config
            .policies
            .iter()
            .map(|p| PolicyCounters::define(&p.name, &mut define))
            .collect();
        match counters {
            Ok(counters) => Runtime::new(config, counters),
            Err(problem) => return Err(vec![counter_refusal(problem)]),
        }
    };
    if names_policies {
        runtime.unknown.counter = Some(define(UNKNOWN_POLICY_COUNTER).map_err(|p| vec![counter_refusal(p)])?);
    }
    Ok(runtime)
}

fn counter_refusal(problem: impl fmt::Display) -> String {
    format!("cors: policy refused: cannot define counters: {problem}")
}

/// Defines what the dynamic module's per-route configurations count in:
/// `cors.unknown_policy` (if not yet defined) and the labelled family
/// [`PER_ROUTE_COUNTERS`], with `define(name, label)`. (Per-route
/// configurations are compiled before the filter's configuration exists,
/// and Envoy defines counters only on the latter: hence one family for all
/// of them, labelled.)
pub fn define_per_route_counters<E: fmt::Display>(
    runtime: &mut Runtime,
    mut define: impl FnMut(&str, Option<&str>) -> Result<u32, E>,
) -> Result<(), Vec<String>> {
    if runtime.unknown.counter.is_none() {
        runtime.unknown.counter = Some(define(UNKNOWN_POLICY_COUNTER, None).map_err(|p| vec![counter_refusal(p)])?);
    }
    let counters = PolicyCounters::define_from(
        COUNTER_NAMES.map(|name| format!("{PER_ROUTE_COUNTERS}.{name}")),
        |name| define(name, Some(PER_ROUTE_LABEL)),
    )
    .map_err(|p| vec![counter_refusal(p)])?;
    runtime.per_route_counters = Some(counters);
    Ok(())
}

/// Compiles one per-route configuration of the dynamic module. On refusal,
/// the lines to log at error level: one per problem, then a summary (Envoy
/// then refuses the whole route configuration and keeps the one it has).
pub fn load_per_route(text: &[u8]) -> Result<PerRouteConfig, Vec<String>> {
    PerRouteConfig::parse(text).map_err(|problems| {
        let mut lines: Vec<String> = problems
            .iter()
            .map(|problem| format!("cors: per-route policy refused: {problem}"))
            .collect();
        lines.push(format!(
            "cors: per-route policy refused with {} problem(s); Envoy refuses the route configuration and keeps the \
             one it has",
            problems.len()
        ));
        lines
    })
}

/// The line logged at info level when a policy is loaded: how long the
/// configure step took, and what it loaded (formatted only when logged).
#[derive(Debug, Clone, Copy)]
pub struct Loaded<'a> {
    /// The runtime loaded.
    pub runtime: &'a Runtime,
    /// The configure step's duration, in whole microseconds (no float
    /// formatting in the plugin).
    pub took_us: u128,
}

impl fmt::Display for Loaded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.runtime.config;
        write!(
            f,
            "cors: policy loaded in {} us: {} polic{}, {} route rule(s), default {}{}{}",
            self.took_us,
            config.policies.len(),
            if config.policies.len() == 1 { "y" } else { "ies" },
            config.routes.rules().len(),
            config
                .routes
                .default_policy()
                .and_then(|i| config.policy(i))
                .map_or("none (untouched)", |p| p.name.as_str()),
            match &config.metadata_namespace {
                Some(namespace) => format!(", policy names from route metadata {namespace:?}"),
                None => String::new(),
            },
            if self.runtime.counters_defined() {
                ""
            } else {
                ", counters defined at each policy's first decision"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loaded_policy_is_summarised_in_one_line() {
        let runtime = load(br#"{"allow_origins": ["*"]}"#, |_| Ok::<_, String>(7)).unwrap();
        let line = Loaded {
            runtime: &runtime,
            took_us: 42,
        }
        .to_string();
        assert_eq!(
            line,
            "cors: policy loaded in 42 us: 1 policy, 0 route rule(s), default default"
        );
    }

    #[test]
    fn a_configuration_of_many_policies_defines_their_counters_at_first_use_in_the_plugin() {
        let many: Vec<String> = (0..=DEFINED_AT_LOAD_UP_TO)
            .map(|i| format!(r#""t{i}": {{"allow_origins": ["https://t{i}.example"]}}"#))
            .collect();
        let text = format!(r#"{{"policies": {{{}}}, "default": "t0"}}"#, many.join(","));
        let mut defined = 0;
        let runtime = load_deferring_counters(text.as_bytes(), |_| {
            defined += 1;
            Ok::<_, String>(defined)
        })
        .unwrap();
        assert_eq!(defined, 0);
        assert!(Loaded {
            runtime: &runtime,
            took_us: 1
        }
        .to_string()
        .ends_with(", counters defined at each policy's first decision"));
        let runtime = load(text.as_bytes(), |_| Ok::<_, String>(0)).unwrap();
        assert!(runtime.counters_defined());
        // One fewer policy: defined at load, as before.
        let text = format!(r#"{{"policies": {{{}}}, "default": "t1"}}"#, many[1..].join(","));
        assert!(load_deferring_counters(text.as_bytes(), |_| Ok::<_, String>(0))
            .unwrap()
            .counters_defined());
    }

    #[test]
    fn a_refused_policy_gives_one_line_per_problem_then_a_count() {
        let lines = load(br#"{"allow_origins": ["null"], "max_age": -1}"#, |_| Ok::<_, String>(0)).unwrap_err();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines.iter().all(|l| l.starts_with("cors: policy refused")), "{lines:?}");
        assert_eq!(
            lines.last().map(String::as_str),
            Some("cors: policy refused with 2 problem(s); keeping the previous configuration")
        );
    }

    #[test]
    fn a_counter_the_host_cannot_define_refuses_the_policy() {
        let lines = load(br#"{"allow_origins": ["*"]}"#, |name| Err(format!("{name}: frozen"))).unwrap_err();
        assert_eq!(
            lines,
            ["cors: policy refused: cannot define counters: cors.default.preflight_allowed: frozen"]
        );
    }
}
