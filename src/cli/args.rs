//! The command line of `cors-policy`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::style::ColorChoice;

/// Check and explain CORS policies for the envoy-cors filter, offline.
#[derive(Debug, Parser)]
#[command(name = "cors-policy", version, about, long_about = None)]
pub struct Cli {
    /// When to colour the output (`auto`: only on a terminal, and never with NO_COLOR set).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate policies: a JSON (or YAML) policy, an Envoy config or LDS file with
    /// `envoy.filters.http.wasm` filters, an Istio WasmPlugin or an Envoy Gateway
    /// EnvoyExtensionPolicy. Exits 1 when any policy has a problem.
    Check {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show what the filter does with one request: the rule and policy that
    /// apply, the decision and its reason, and the exact response headers.
    Explain(ExplainArgs),
    /// Print the JSON Schema of the policy (both the single and the routed form).
    Schema,
}

/// The request to explain.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The policy, or a file that holds one (as for `check`).
    pub file: PathBuf,
    /// The page's origin, as the browser sends it in `Origin`.
    #[arg(long)]
    pub origin: String,
    /// The method the page uses.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// A request header the page sets (repeatable); a preflight lists these in
    /// `Access-Control-Request-Headers`.
    #[arg(long = "header", value_name = "NAME")]
    pub headers: Vec<String>,
    /// The request path (query allowed), for `path` rules.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// The `:authority` the request is sent to, for `host` rules and same-origin detection.
    #[arg(long)]
    pub host: Option<String>,
    /// Envoy's route name for the request, for `route_name` rules.
    #[arg(long)]
    pub route_name: Option<String>,
    /// Explain the browser's preflight (`OPTIONS` asking for `--method` and `--header`s)
    /// instead of the actual request.
    #[arg(long)]
    pub preflight: bool,
    /// Ask for Private Network Access in the preflight
    /// (`Access-Control-Request-Private-Network: true`).
    #[arg(long, requires = "preflight")]
    pub private_network: bool,
    /// A header the upstream sends back, `name: value` (repeatable).
    #[arg(long, value_name = "NAME: VALUE")]
    pub upstream_header: Vec<String>,
    /// Which policy of the file to use, numbered from 1 in the order `check` lists them.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub source: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}
