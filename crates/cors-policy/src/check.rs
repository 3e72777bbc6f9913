//! `cors-policy check`: every problem of every policy, one line each, as
//! `FILE: [WHERE: ]JSON-PATH: VALUE: REASON` — the same lines the filter logs
//! when Envoy refuses the configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use envoy_cors_core::language::Config;

use super::locate::{self, Found, LocateError};
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
    match Config::parse(found.text.as_bytes()) {
        Ok(config) => {
            println!("{prefix}: {} ({})", style.good("ok"), summary(&config));
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
