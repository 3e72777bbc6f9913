//! The policy as an operator writes it: the JSON shapes, strict (unknown
//! fields are errors, so a misspelling is never silently ignored). The filter
//! reads them with `shape` (no `serde_json` in the `.wasm`); the `serde` and
//! `schemars` derives here are what `cors-policy schema` generates the JSON
//! Schema from, and a test keeps the two readings in step. Semantic checks and
//! compilation live in `compile`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// What the filter does with its decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(all(feature = "cli", not(target_arch = "wasm32")), derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Answer preflights, add and strip headers, refuse when told to.
    #[default]
    Enforce,
    /// Decide, count and log, but change nothing and forward everything.
    Report,
}

/// One CORS policy, as written in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(all(feature = "cli", not(target_arch = "wasm32")), derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Exact origins, `"*"`, or patterns such as `https://*.example.com`.
    #[cfg_attr(all(feature = "cli", not(target_arch = "wasm32")), schemars(length(min = 1)))]
    pub allow_origins: Vec<String>,
    /// Methods a preflight may ask for; `["GET", "HEAD", "POST"]` when absent.
    #[serde(default)]
    #[cfg_attr(all(feature = "cli", not(target_arch = "wasm32")), schemars(extend("default" = ["GET", "HEAD", "POST"])))]
    pub allow_methods: Option<Vec<String>>,
    /// Request headers a preflight may ask for; `"*"` for any but `Authorization`.
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// Response headers the page may read.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Seconds a browser may cache a preflight (0..=86400); no header when absent.
    #[serde(default)]
    #[cfg_attr(
        all(feature = "cli", not(target_arch = "wasm32")),
        schemars(range(min = 0, max = 86400))
    )]
    pub max_age: Option<i64>,
    /// Allow cookies and HTTP authentication on cross-origin requests.
    #[serde(default)]
    pub allow_credentials: bool,
    /// Answer Private Network Access preflights.
    #[serde(default)]
    pub allow_private_network: bool,
    /// Status of an allowed preflight: 200 or 204 (default).
    #[serde(default)]
    #[cfg_attr(all(feature = "cli", not(target_arch = "wasm32")), schemars(extend("enum" = [200, 204, null], "default" = 204)))]
    pub preflight_status: Option<i64>,
    /// `enforce` (default) or `report`.
    #[serde(default)]
    #[cfg_attr(all(feature = "cli", not(target_arch = "wasm32")), schemars(extend("default" = "enforce")))]
    pub mode: Mode,
    /// Answer cross-origin requests from disallowed origins with a local 403.
    #[serde(default)]
    pub reject_disallowed: bool,
}

/// The keys a route rule can match on; every key given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(all(feature = "cli", not(target_arch = "wasm32")), derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// Envoy's route name, exact.
    #[serde(default)]
    pub route_name: Option<String>,
    /// Glob over the `:authority` host, port stripped, case-insensitive.
    #[serde(default)]
    pub host: Option<String>,
    /// Glob over the path without the query: `*` within a segment, `**` across.
    #[serde(default)]
    #[cfg_attr(all(feature = "cli", not(target_arch = "wasm32")), schemars(extend("pattern" = "^/")))]
    pub path: Option<String>,
}

/// A route rule: requests that match use the named policy, or none (`null`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(all(feature = "cli", not(target_arch = "wasm32")), derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// What the request must match.
    #[serde(rename = "match")]
    pub matcher: MatchSpec,
    /// The policy's name, or `null` to leave matching requests untouched.
    #[serde(deserialize_with = "nullable")]
    #[cfg_attr(all(feature = "cli", not(target_arch = "wasm32")), schemars(with = "serde_json::Value", extend("type" = ["string", "null"])))]
    pub policy: Option<String>,
}

/// The routed form: named policies, ordered rules and a default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(all(feature = "cli", not(target_arch = "wasm32")), derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RoutedSpec {
    /// Policies by name.
    #[cfg_attr(
        all(feature = "cli", not(target_arch = "wasm32")),
        schemars(extend("minProperties" = 1, "propertyNames" = {"pattern": "^[A-Za-z0-9_-]{1,64}$"}))
    )]
    pub policies: BTreeMap<String, PolicySpec>,
    /// Rules tried in order; the first match wins.
    #[serde(default)]
    #[cfg_attr(all(feature = "cli", not(target_arch = "wasm32")), schemars(extend("default" = [])))]
    pub routes: Vec<RouteSpec>,
    /// The policy for requests no rule matches; absent means untouched.
    #[serde(default)]
    pub default: Option<String>,
}

/// Deserializes a key that must be present but may be `null`.
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}
