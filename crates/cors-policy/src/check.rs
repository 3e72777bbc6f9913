//! `cors-policy check`: every problem of every policy, one line each, as
//! `FILE: [WHERE: ]JSON-PATH: VALUE: REASON` — the same lines the filter logs
//! when Envoy refuses the configuration, and, for the dynamic module's
//! per-route configs, when Envoy refuses the route configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use envoy_cors_core::language::{Config, PerRouteConfig};

use super::locate::{self, Found, Kind, LocateError};
use super::style::Style;
use super::{OK, PROBLEMS, USAGE};

/// Checks every file; the exit status is the worst outcome.
pub fn run(files: &[PathBuf], style: Style) -> ExitCode {
    let mut status = OK;
    for file in files {
        let name = file.display().to_string();
        let outcome = match locate::policies_in(file) {
            Ok(found) => found.iter().map(|f| check_one(&name, f, style)).max().unwrap_or(OK),
            Err(LocateError::Io(message)) => {
                eprintln!("cors-policy: {message}");
                USAGE
            }
            Err(LocateError::Content(message)) => {
                println!("{}: {}: {message}", style.strong(&name), style.bad("error"));
                PROBLEMS
            }
        };
        status = status.max(outcome);
    }
    ExitCode::from(status)
}

/// Checks one policy and prints its verdict.
fn check_one(file: &str, found: &Found, style: Style) -> u8 {
    let prefix = if found.location.is_empty() {
        style.strong(file)
    } else {
        format!("{}: {}", style.strong(file), style.dim(&found.location))
    };
    let parsed = match found.kind {
        Kind::Filter => Config::parse(found.text.as_bytes()).map(|config| summary(&config)),
        Kind::PerRoute => PerRouteConfig::parse(found.text.as_bytes()).map(|per_route| per_route_summary(&per_route)),
    };
    match parsed {
        Ok(summary) => {
            println!("{prefix}: {} ({summary})", style.good("ok"));
            OK
        }
        Err(errors) => {
            for error in &errors {
                let detail = match &error.value {
                    Some(value) => format!("{value}: {}", error.problem),
                    None => error.problem.to_string(),
                };
                println!("{prefix}: {}: {detail}", style.bad(&error.path));
            }
            PROBLEMS
        }
    }
}

/// One line about a valid configuration: its policies, rules and default.
fn summary(config: &Config) -> String {
    let names: Vec<&str> = config.policies.iter().map(|p| p.name.as_str()).collect();
    let default = config
        .routes
        .default_policy()
        .and_then(|i| config.policy(i))
        .map_or("none (untouched)", |p| p.name.as_str());
    format!(
        "policies: {}; {} route rule{}; default: {default}",
        names.join(", "),
        config.routes.rules().len(),
        if config.routes.rules().len() == 1 { "" } else { "s" },
    )
}

/// One line about a valid per-route config.
fn per_route_summary(per_route: &PerRouteConfig) -> String {
    match per_route {
        PerRouteConfig::Policy(policy) => format!("per-route policy {}", policy.name),
        PerRouteConfig::Named(name) => format!("per-route: the filter's policy {name}, if it defines one"),
        PerRouteConfig::Off => "per-route: CORS off".to_owned(),
    }
}
