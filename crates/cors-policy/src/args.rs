//! The command line of `cors-policy`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use super::reasons::Format as ReasonsFormat;
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
    /// List the reasons the filter writes to the access log for a request it
    /// does not allow as asked: each code, what it means, what the browsers'
    /// consoles print, and the fix.
    Reasons {
        /// How to print them.
        #[arg(long, value_enum, default_value_t = ReasonsFormat::Text)]
        format: ReasonsFormat,
    },
    /// Convert the CORS policies of Envoy's built-in filter, Istio
    /// VirtualServices, Gateway API HTTPRoutes, ingress-nginx Ingresses or
    /// Envoy Gateway SecurityPolicies into one routed policy (stdout), listing
    /// on stderr every change a browser would notice, outcome changes first.
    /// Exits 1 when something has no exact equivalent (see --lossy).
    Import(ImportArgs),
    /// Names the documented difference (docs/differences.md) behind each
    /// differing field of pairs of answers (JSON on stdin): the importer's
    /// classifiers, for the end-to-end differential tests.
    #[command(hide = true)]
    Differences,
}

/// Where the policies to import come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum SourceFormat {
    /// Envoy's `envoy.filters.http.cors` (`CorsPolicy` in `typed_per_filter_config`).
    Envoy,
    /// Istio `VirtualService` `spec.http[].corsPolicy`.
    Istio,
    /// Gateway API `HTTPRoute` rules with a `CORS` filter.
    GatewayApi,
    /// Kubernetes `Ingress`es with ingress-nginx's `cors` annotations.
    IngressNginx,
    /// Envoy Gateway `SecurityPolicy` `spec.cors`, with the HTTPRoutes it targets.
    EnvoyGateway,
}

impl SourceFormat {
    /// The `--format` values.
    pub const NAMES: &'static str = "envoy|istio|gateway-api|ingress-nginx|envoy-gateway";

    /// The source's name in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Envoy => "an Envoy configuration",
            Self::Istio => "Istio VirtualServices",
            Self::GatewayApi => "Gateway API HTTPRoutes",
            Self::IngressNginx => "Ingresses",
            Self::EnvoyGateway => "Envoy Gateway SecurityPolicies",
        }
    }
}

/// What to import.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files to read: YAML (several documents allowed) or JSON.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The source, when the files hold more than one kind.
    #[arg(long, value_enum)]
    pub format: Option<SourceFormat>,
    /// Write the nearest rule or origin where there is no exact one, with a warning.
    #[arg(long)]
    pub lossy: bool,
    /// Envoy: the route configuration to import, when there are several.
    #[arg(long, value_name = "NAME")]
    pub route_config: Option<String>,
    /// Also write every request of the comparison, with both answers, as JSON.
    #[arg(long, value_name = "FILE")]
    pub matrix: Option<PathBuf>,
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
