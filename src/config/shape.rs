//! From a JSON value to the spec types, with the same strictness and the same
//! messages as the `serde` derives on `spec` (which the JSON Schema is
//! generated from): unknown fields, wrong types and missing fields are
//! refused with the JSON path of the value. Members are visited in key order
//! and the first shape error of a policy or rule is the one reported, as
//! `serde` does; `compile` then collects every semantic problem.

use super::error::{index, join, ConfigError, Problem};
use super::spec::{MatchSpec, Mode, PolicySpec, RouteSpec};
use crate::json::Value;

/// Field names of [`PolicySpec`], in declaration order (as `serde` lists them).
pub(super) const POLICY_FIELDS: &[&str] = &[
    "allow_origins",
    "allow_methods",
    "allow_headers",
    "expose_headers",
    "max_age",
    "allow_credentials",
    "allow_private_network",
    "preflight_status",
    "mode",
    "reject_disallowed",
];
/// Field names of [`RouteSpec`].
pub(super) const ROUTE_FIELDS: &[&str] = &["match", "policy"];
/// Field names of [`MatchSpec`].
pub(super) const MATCH_FIELDS: &[&str] = &["route_name", "host", "path"];
/// Field names of the routed form ([`super::RoutedSpec`]).
pub(super) const ROUTED_FIELDS: &[&str] = &["policies", "routes", "default"];
/// Variants of [`Mode`].
const MODES: &[&str] = &["enforce", "report"];

/// The routed form, its policies and rules still unread.
pub(super) struct Routed<'a> {
    /// Policies by name, sorted by name.
    pub policies: Vec<(&'a str, &'a Value)>,
    /// Rules in order.
    pub routes: &'a [Value],
    /// The default policy's name.
    pub default: Option<String>,
}

/// What a reading step returns; the error is boxed so that the happy path
/// moves small values (and the `.wasm` stays smaller).
pub(super) type Found<T> = Result<T, Box<ConfigError>>;

/// Reads the top level of the routed form.
pub(super) fn routed(root: &Value) -> Found<Routed<'_>> {
    let mut policies = None;
    let mut routes: &[Value] = &[];
    let mut default = None;
    members(root, "", "struct RoutedSpec", ROUTED_FIELDS, |key, value, at| {
        match key {
            "policies" => policies = Some(sorted(value, at, "a map")?),
            "routes" => match value {
                Value::Array(items) => routes = items,
                other => return Err(invalid_type(at, other, "a sequence")),
            },
            _ => default = optional(value, |v| string(v, at))?,
        }
        Ok(())
    })?;
    let policies = policies.ok_or_else(|| missing("", "policies"))?;
    Ok(Routed {
        policies,
        routes,
        default,
    })
}

/// Reads one policy found at `path`.
pub(super) fn policy(value: &Value, path: &str) -> Found<PolicySpec> {
    let mut origins = None;
    let mut spec = PolicySpec {
        allow_origins: Vec::new(),
        allow_methods: None,
        allow_headers: Vec::new(),
        expose_headers: Vec::new(),
        max_age: None,
        allow_credentials: false,
        allow_private_network: false,
        preflight_status: None,
        mode: Mode::default(),
        reject_disallowed: false,
    };
    members(value, path, "struct PolicySpec", POLICY_FIELDS, |key, value, at| {
        match key {
            "allow_origins" => origins = Some(strings(value, at)?),
            "allow_methods" => spec.allow_methods = optional(value, |v| strings(v, at))?,
            "allow_headers" => spec.allow_headers = strings(value, at)?,
            "expose_headers" => spec.expose_headers = strings(value, at)?,
            "max_age" => spec.max_age = optional(value, |v| integer(v, at))?,
            "allow_credentials" => spec.allow_credentials = boolean(value, at)?,
            "allow_private_network" => spec.allow_private_network = boolean(value, at)?,
            "preflight_status" => spec.preflight_status = optional(value, |v| integer(v, at))?,
            "mode" => spec.mode = mode(value, at)?,
            _ => spec.reject_disallowed = boolean(value, at)?,
        }
        Ok(())
    })?;
    spec.allow_origins = origins.ok_or_else(|| missing(path, "allow_origins"))?;
    Ok(spec)
}

/// Reads one route rule found at `path`.
pub(super) fn route(value: &Value, path: &str) -> Found<RouteSpec> {
    let mut matcher = None;
    let mut policy = None;
    members(value, path, "struct RouteSpec", ROUTE_FIELDS, |key, value, at| {
        match key {
            "match" => matcher = Some(match_spec(value, at)?),
            _ => policy = Some(optional(value, |v| string(v, at))?),
        }
        Ok(())
    })?;
    Ok(RouteSpec {
        matcher: matcher.ok_or_else(|| missing(path, "match"))?,
        policy: policy.ok_or_else(|| missing(path, "policy"))?,
    })
}

fn match_spec(value: &Value, path: &str) -> Found<MatchSpec> {
    let mut spec = MatchSpec::default();
    members(value, path, "struct MatchSpec", MATCH_FIELDS, |key, value, at| {
        let text = optional(value, |v| string(v, at))?;
        match key {
            "route_name" => spec.route_name = text,
            "host" => spec.host = text,
            _ => spec.path = text,
        }
        Ok(())
    })?;
    Ok(spec)
}

/// Visits the members of the object `value` in key order (the order `serde`
/// sees them in), refusing keys not in `fields`; `each` gets the key, the
/// value and its path.
fn members<'a>(
    value: &'a Value,
    path: &str,
    expected: &str,
    fields: &[&str],
    mut each: impl FnMut(&str, &'a Value, &str) -> Found<()>,
) -> Found<()> {
    for (key, item) in sorted(value, path, expected)? {
        let at = join(path, key);
        if !fields.contains(&key) {
            return Err(schema(&at, unknown_field(key, fields)));
        }
        each(key, item, &at)?;
    }
    Ok(())
}

/// The members of an object, sorted by key.
fn sorted<'a>(value: &'a Value, path: &str, expected: &str) -> Found<Vec<(&'a str, &'a Value)>> {
    let Value::Object(members) = value else {
        return Err(invalid_type(path, value, expected));
    };
    // Insertion by binary search: a few hundred bytes of code, where the
    // standard sort would add several KiB to the `.wasm`; objects are small.
    let mut sorted: Vec<(&str, &Value)> = Vec::with_capacity(members.len());
    for (key, item) in members {
        let at = sorted.partition_point(|(k, _)| *k < key.as_str());
        sorted.insert(at, (key.as_str(), item));
    }
    Ok(sorted)
}

/// `null` is absent; anything else is read by `read`.
fn optional<T>(value: &Value, read: impl FnOnce(&Value) -> Found<T>) -> Found<Option<T>> {
    match value {
        Value::Null => Ok(None),
        other => read(other).map(Some),
    }
}

fn string(value: &Value, path: &str) -> Found<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(invalid_type(path, other, "a string")),
    }
}

fn strings(value: &Value, path: &str) -> Found<Vec<String>> {
    match value {
        Value::Array(items) => {
            let mut list = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => list.push(s.clone()),
                    // The element's path is only built when it is needed.
                    other => return Err(invalid_type(&index(path, i), other, "a string")),
                }
            }
            Ok(list)
        }
        other => Err(invalid_type(path, other, "a sequence")),
    }
}

fn boolean(value: &Value, path: &str) -> Found<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        other => Err(invalid_type(path, other, "a boolean")),
    }
}

/// An integer; a fraction or exponent is refused, never rounded.
fn integer(value: &Value, path: &str) -> Found<i64> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::Number(text) if is_integer_literal(text) => {
            Err(schema(path, format!("invalid value: integer `{text}`, expected i64")))
        }
        other => Err(invalid_type(path, other, "i64")),
    }
}

/// `"enforce"` or `"report"`; also `{"report": null}`, the externally tagged
/// form `serde` accepts for a unit variant.
fn mode(value: &Value, path: &str) -> Found<Mode> {
    let variant = |name: &str| match name {
        "enforce" => Ok(Mode::Enforce),
        "report" => Ok(Mode::Report),
        other => Err(schema(
            path,
            format!("unknown variant `{other}`, expected {}", one_of(MODES)),
        )),
    };
    match value {
        Value::String(name) => variant(name),
        Value::Object(members) => match members.as_slice() {
            [(name, inner)] => {
                let mode = variant(name)?;
                match inner {
                    Value::Null => Ok(mode),
                    other => Err(invalid_type(&join(path, name), other, "unit variant")),
                }
            }
            _ => Err(schema(
                path,
                "invalid value: map, expected map with a single key".into(),
            )),
        },
        other => Err(invalid_type(path, other, "string or map")),
    }
}

fn is_integer_literal(text: &str) -> bool {
    !text.contains(['.', 'e', 'E'])
}

#[cold]
#[inline(never)]
fn schema(path: &str, message: String) -> Box<ConfigError> {
    Box::new(ConfigError::new(path, None, Problem::Schema(message)))
}

fn missing(path: &str, field: &str) -> Box<ConfigError> {
    schema(path, format!("missing field `{field}`"))
}

/// `serde`'s message for a value of the wrong JSON type.
fn invalid_type(path: &str, value: &Value, expected: &str) -> Box<ConfigError> {
    let found = match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Int(n) => format!("integer `{n}`"),
        Value::Number(text) if is_integer_literal(text) => format!("integer `{text}`"),
        Value::Number(text) => format!("floating point `{text}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "sequence".to_owned(),
        Value::Object(_) => "map".to_owned(),
    };
    schema(path, format!("invalid type: {found}, expected {expected}"))
}

/// `serde`'s message for an unknown field.
fn unknown_field(key: &str, fields: &[&str]) -> String {
    if fields.is_empty() {
        format!("unknown field `{key}`, there are no fields")
    } else {
        format!("unknown field `{key}`, expected {}", one_of(fields))
    }
}

/// `` `a` ``, `` `a` or `b` ``, or `` one of `a`, `b`, `c` ``.
fn one_of(names: &[&str]) -> String {
    match names {
        [one] => format!("`{one}`"),
        [a, b] => format!("`{a}` or `{b}`"),
        _ => {
            let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("one of {}", quoted.join(", "))
        }
    }
}
