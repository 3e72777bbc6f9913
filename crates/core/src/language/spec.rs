//! The policy as an operator writes it: the JSON shapes, strict (unknown
//! fields are errors, so a misspelling is never silently ignored). One source
//! of truth: the filter reads them with `serde_json` (see `read`), and
//! `cors-policy schema` generates the JSON Schema from the same derives, and
//! `cors-policy import` writes its output with them, leaving out what is the
//! default (the schema's defaults stay those of reading: `!skip_serializing_if`).
//! Semantic checks and compilation live in `compile`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::policy::Mode;

/// One CORS policy, as written in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(transform = super::schema::credentials)
)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Exact origins, `"*"`, or patterns such as `https://*.example.com`.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub allow_origins: Vec<String>,
    /// Methods a preflight may ask for; `["GET", "HEAD", "POST"]` when absent;
    /// `"*"` for any (with `allow_credentials`, the requested method is echoed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(!skip_serializing_if, extend("default" = ["GET", "HEAD", "POST"])))]
    pub allow_methods: Option<Vec<String>>,
    /// Request headers a preflight may ask for; `"*"` for any but `Authorization`
    /// (the requested names are echoed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "schema",
        schemars(!skip_serializing_if, transform = super::schema::request_header_names)
    )]
    pub allow_headers: Vec<String>,
    /// Response headers the page may read; `"*"` for all, without `allow_credentials` only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "schema",
        schemars(!skip_serializing_if, transform = super::schema::response_header_names)
    )]
    pub expose_headers: Vec<String>,
    /// Seconds a browser may cache a preflight (0..=86400); no header when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(!skip_serializing_if, range(min = 0, max = 86400)))]
    pub max_age: Option<i64>,
    /// Allow cookies and HTTP authentication on cross-origin requests.
    #[serde(default, skip_serializing_if = "is_default")]
    #[cfg_attr(feature = "schema", schemars(!skip_serializing_if))]
    pub allow_credentials: bool,
    /// Accept `http://` origins other than loopback with `allow_credentials`.
    /// Anyone on the network path can then inject script into those pages and
    /// read the credentialed responses: for an intranet without TLS only.
    #[serde(default, skip_serializing_if = "is_default")]
    #[cfg_attr(feature = "schema", schemars(!skip_serializing_if))]
    pub dangerously_allow_http_origins_with_credentials: bool,
    /// Answer Private Network Access preflights.
    #[serde(default, skip_serializing_if = "is_default")]
    #[cfg_attr(feature = "schema", schemars(!skip_serializing_if))]
    pub allow_private_network: bool,
    /// Status of an allowed preflight: 200 or 204 (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(!skip_serializing_if, extend("enum" = [200, 204, null], "default" = 204)))]
    pub preflight_status: Option<i64>,
    /// `enforce` (default) or `report`.
    #[serde(default, deserialize_with = "mode", skip_serializing_if = "is_default")]
    #[cfg_attr(feature = "schema", schemars(!skip_serializing_if, extend("default" = "enforce")))]
    pub mode: Mode,
    /// Answer cross-origin requests from disallowed origins with a local 403.
    #[serde(default, skip_serializing_if = "is_default")]
    #[cfg_attr(feature = "schema", schemars(!skip_serializing_if))]
    pub reject_disallowed: bool,
}

/// The keys a route rule can match on; every key given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// Envoy's route name, exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(!skip_serializing_if))]
    pub route_name: Option<String>,
    /// Glob over the `:authority` host, port stripped, case-insensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(!skip_serializing_if))]
    pub host: Option<String>,
    /// Glob over the path without the query: `*` within a segment, `**` across.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(!skip_serializing_if, extend("pattern" = "^/")))]
    pub path: Option<String>,
}

/// A route rule: requests that match use the named policy, or none (`null`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// What the request must match.
    #[serde(rename = "match", deserialize_with = "object")]
    pub matcher: MatchSpec,
    /// The policy's name, or `null` to leave matching requests untouched.
    #[serde(deserialize_with = "nullable")]
    #[cfg_attr(feature = "schema", schemars(with = "serde_json::Value", extend("type" = ["string", "null"])))]
    pub policy: Option<String>,
}

/// The routed form: named policies, ordered rules and a default.
// `P` and `R` are the types of a policy and of a rule (not doc comments: they
// would end up in the JSON Schema). The filter first reads both as raw JSON,
// then each one on its own (see `compile::routed`), so that a shape error in
// one policy or rule does not hide the problems of the others.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(rename = "RoutedSpec"))]
#[serde(deny_unknown_fields, bound(deserialize = "P: Deserialize<'de>, R: Deserialize<'de>"))]
pub struct RoutedSpec<P = PolicySpec, R = RouteSpec> {
    /// Policies by name.
    #[serde(deserialize_with = "unique_keys")]
    #[cfg_attr(
        feature = "schema",
        schemars(extend("minProperties" = 1, "propertyNames" = {"pattern": "^[A-Za-z0-9_-]{1,64}$"}))
    )]
    pub policies: BTreeMap<String, P>,
    /// Rules tried in order; the first match wins.
    // A plain `#[serde(default)]` would ask `R: Default`.
    #[serde(default = "Vec::<R>::new")]
    #[cfg_attr(feature = "schema", schemars(extend("default" = [])))]
    pub routes: Vec<R>,
    /// The policy for requests no rule matches; absent means untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(!skip_serializing_if))]
    pub default: Option<String>,
    /// Opt-in: before trying `routes`, read the policy's name from
    /// `filter_metadata.<namespace>.policy` of the request's route (then, in
    /// the proxy-wasm plugin, of its virtual host): a string names a policy,
    /// `null` turns CORS off, absent falls through to `routes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(!skip_serializing_if))]
    pub metadata_namespace: Option<String>,
}

/// The dynamic module's per-route configuration that names a policy of the
/// filter's configuration, or turns CORS off with `null`. (The other form,
/// a whole policy with an optional `name`, is read as a [`PolicySpec`].)
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PolicyRefSpec {
    /// The name of a policy under the filter configuration's `policies`, or
    /// `null` to leave the route untouched.
    #[serde(deserialize_with = "nullable")]
    #[cfg_attr(feature = "schema", schemars(with = "serde_json::Value", extend("type" = ["string", "null"])))]
    pub policy: Option<String>,
}

/// Reports whether a value is its type's default, which `import` leaves out.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Deserializes a map, refusing a key given twice: `serde` keeps the last
/// value of a repeated map key, and JSON readers disagree on which one wins.
pub(super) fn unique_keys<'de, D, V>(d: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Unique<V>(std::marker::PhantomData<V>);

    impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Unique<V> {
        type Value = BTreeMap<String, V>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                if found.contains_key(&key) {
                    return Err(serde::de::Error::custom(format_args!("{DUPLICATE_KEY}`{key}`")));
                }
                let value = map.next_value()?;
                found.insert(key, value);
            }
            Ok(found)
        }
    }

    d.deserialize_map(Unique(std::marker::PhantomData))
}

/// Deserializes a struct from a JSON object only: `serde` also reads a struct
/// from an array, its fields by position, which would let `"match": []`
/// through as a rule that matches everything.
pub(super) fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Object<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Object<T> {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }

    d.deserialize_map(Object(std::marker::PhantomData))
}

/// Deserializes a [`Mode`] from its name only: `serde_json` also reads a unit
/// variant from `{"report": null}`, and reports a `null` as a syntax error.
fn mode<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
    let name = String::deserialize(d)?;
    Mode::deserialize(serde::de::value::StringDeserializer::new(name))
}

/// How [`unique_keys`] starts its message; `read` turns it into a
/// [`super::Problem::DuplicateKey`], as it does `serde`'s "duplicate field".
pub(super) const DUPLICATE_KEY: &str = "duplicate key ";

/// Deserializes a key that must be present but may be `null`.
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}
