//! `cors-policy`: check, explain and import CORS policies offline, with the
//! filter's own validation and decision code (the core crate), list the
//! reasons the filter gives for a refusal, and print the policy's JSON
//! Schema. One module per subcommand.
//!
//! Exit statuses follow the usual convention: 0 when every policy is valid
//! (or the request was explained), 1 when a policy has a problem, 2 on a usage
//! or I/O error. Results go to stdout, errors to stderr.

mod args;
mod check;
mod document;
mod explain;
mod import;
mod locate;
mod reasons;
mod schema;
mod style;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

/// Every policy checked is valid.
pub const OK: u8 = 0;
/// A policy has a problem.
pub const PROBLEMS: u8 = 1;
/// The command line is wrong, or a file cannot be read.
pub const USAGE: u8 = 2;

/// Prints an error on stderr and returns the usage/I/O exit status.
pub fn fail(message: &str) -> ExitCode {
    eprintln!("cors-policy: {message}");
    ExitCode::from(USAGE)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let style = style::Style::for_stdout(cli.color);
    match cli.command {
        Command::Check { files } => check::run(&files, style),
        Command::Explain(request) => explain::run(&request, style),
        Command::Schema => schema::run(),
        Command::Reasons { format } => reasons::run(format),
        Command::Import(args) => import::run(&args),
        Command::Differences => import::differences(),
    }
}
