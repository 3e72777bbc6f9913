//! Finding the policies in a file: a policy on its own (JSON, or YAML for
//! convenience), every `envoy.filters.http.wasm` filter and every
//! `envoy.filters.http.dynamic_modules` filter with `filter_name: cors` of an
//! Envoy bootstrap, LDS or ECDS file, an Istio `WasmPlugin`
//! (`spec.pluginConfig`) or an Envoy Gateway `EnvoyExtensionPolicy`
//! (`spec.wasm[].config`, and `spec.dynamicModules[].config` with `filterName:
//! cors`). In Envoy files, also the module's per-route configs
//! (`DynamicModuleFilterPerRoute` with `filter_name: cors`, in a route's,
//! virtual host's or route configuration's `typed_per_filter_config`). YAML
//! files may hold several documents.

use std::path::Path;

use serde_json::Value;

use super::document::{self, join, within, YamlError};

/// The type URL suffix of the wasm HTTP filter's configuration.
const WASM_FILTER_TYPE: &str = "envoy.extensions.filters.http.wasm.v3.Wasm";
/// The type URL suffix of the dynamic-module HTTP filter's configuration.
const DYNAMIC_FILTER_TYPE: &str = "envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter";
/// The type URL of the dynamic module's per-route configuration.
const PER_ROUTE_TYPE: &str = "envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilterPerRoute";
/// The `filter_name` (`filterName` in Envoy Gateway) of this module's filter.
const DYNAMIC_FILTER_NAME: &str = "cors";
/// Top-level keys that mark an Envoy bootstrap or xDS file rather than a policy.
const ENVOY_KEYS: [&str; 5] = ["static_resources", "dynamic_resources", "resources", "admin", "node"];

/// What a policy found in a file configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The filter: its configuration string (a policy or the routed form).
    Filter,
    /// One route's (or virtual host's) per-route config of the dynamic module.
    PerRoute,
}

/// One policy found in a file.
#[derive(Debug, Clone)]
pub struct Found {
    /// Where in the file the policy is (empty for a file that is the policy).
    pub location: String,
    /// The configuration string the plugin receives.
    pub text: String,
    /// What it configures.
    pub kind: Kind,
}

/// Why a file yields no policy to check.
#[derive(Debug)]
pub enum LocateError {
    /// The file cannot be read (exit status 2).
    Io(String),
    /// The file is not JSON or YAML, or holds no policy (a problem: exit status 1).
    Content(String),
}

/// Reads `path` and returns every policy in it, in file order.
pub fn policies_in(path: &Path) -> Result<Vec<Found>, LocateError> {
    let bytes = std::fs::read(path).map_err(|e| LocateError::Io(format!("{}: {e}", path.display())))?;
    let text = String::from_utf8(bytes).map_err(|_| LocateError::Content("not UTF-8 text".into()))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.is_empty() {
        // A JSON file is handed to the parser as is, exactly as the plugin
        // would receive it, so its syntax errors are the plugin's own.
        return match serde_json::from_str::<Value>(&text) {
            Ok(doc) if looks_like_envoy(&doc) => require_some(in_document(&doc, ""), true),
            _ => Ok(vec![Found {
                location: String::new(),
                text,
                kind: Kind::Filter,
            }]),
        };
    }
    let docs = yaml_documents(&text)?;
    let many = docs.len() > 1;
    let mut found = Vec::new();
    let mut envoy_like = false;
    for (i, doc) in docs.iter().enumerate() {
        let prefix = if many {
            format!("document {}", i + 1)
        } else {
            String::new()
        };
        envoy_like |= looks_like_envoy(doc);
        found.extend(in_document(doc, &prefix));
    }
    require_some(found, envoy_like)
}

/// Fails a file that holds no policy at all.
fn require_some(found: Vec<Found>, envoy_like: bool) -> Result<Vec<Found>, LocateError> {
    match (found.is_empty(), envoy_like) {
        (false, _) => Ok(found),
        (true, true) => Err(LocateError::Content(format!(
            "no {WASM_FILTER_TYPE} filter ({}) found, nor a {DYNAMIC_FILTER_TYPE} with filter_name {DYNAMIC_FILTER_NAME:?}",
            "envoy.filters.http.wasm"
        ))),
        (true, false) => Err(LocateError::Content(
            "no policy found: expected a policy, an Envoy config, a WasmPlugin or an EnvoyExtensionPolicy".into(),
        )),
    }
}

/// Parses every non-empty YAML document as JSON values.
fn yaml_documents(text: &str) -> Result<Vec<Value>, LocateError> {
    document::yaml_documents(text).map_err(|e| {
        LocateError::Content(match e {
            YamlError::Invalid(e) => format!("invalid YAML: {e}"),
            YamlError::NotJson(e) => format!("YAML that has no JSON equivalent: {e}"),
        })
    })
}

/// Reports whether a document is an Envoy bootstrap or xDS resource file.
fn looks_like_envoy(doc: &Value) -> bool {
    doc.as_object()
        .is_some_and(|map| ENVOY_KEYS.iter().any(|key| map.contains_key(*key)))
}

/// The policies of one document; `prefix` names the document in a multi-document file.
fn in_document(doc: &Value, prefix: &str) -> Vec<Found> {
    let at = |path: &str| within(prefix, path);
    let kind = doc.get("kind").and_then(Value::as_str);
    let is_kubernetes = doc.get("apiVersion").is_some() && kind.is_some();
    match kind {
        Some("WasmPlugin") if is_kubernetes => {
            vec![structured(doc.pointer("/spec/pluginConfig"), at("spec.pluginConfig"))]
        }
        Some("EnvoyExtensionPolicy") if is_kubernetes => {
            let entries = |key: &str| {
                doc.pointer(&format!("/spec/{key}"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
            };
            let wasm =
                entries("wasm").map(|(i, wasm)| structured(wasm.get("config"), at(&format!("spec.wasm[{i}].config"))));
            let modules = entries("dynamicModules")
                .filter(|(_, m)| m.get("filterName").and_then(Value::as_str) == Some(DYNAMIC_FILTER_NAME))
                .map(|(i, m)| structured(m.get("config"), at(&format!("spec.dynamicModules[{i}].config"))));
            wasm.chain(modules).collect()
        }
        _ if is_kubernetes => Vec::new(),
        _ if looks_like_envoy(doc) => {
            let mut found = Vec::new();
            document::walk_objects(doc, "", (), &mut |object, path, ()| match our_filter(object, path) {
                Some((location, text, kind)) => {
                    found.push(Found {
                        location: at(&location),
                        text,
                        kind,
                    });
                    None
                }
                None => Some(()),
            });
            found
        }
        _ => vec![structured(Some(doc), at(""))],
    }
}

/// A policy given as a JSON/YAML value; its configuration string is that value as JSON.
fn structured(value: Option<&Value>, location: String) -> Found {
    Found {
        location,
        text: value.map(Value::to_string).unwrap_or_default(),
        kind: Kind::Filter,
    }
}

/// The location and configuration string of `object` when it is a wasm HTTP
/// filter configuration, or a dynamic-module filter of this module, or a
/// per-route config of it.
fn our_filter(object: &Value, path: &str) -> Option<(String, String, Kind)> {
    let of_type = |suffix: &str| {
        object
            .get("@type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.ends_with(suffix))
    };
    if of_type(WASM_FILTER_TYPE) {
        let configuration = object.get("config").and_then(|c| c.get("configuration"));
        return Some(match configuration.and_then(|c| c.get("value")) {
            Some(Value::String(s)) => (join(path, "config.configuration.value"), s.clone(), Kind::Filter),
            // Envoy hands the plugin an empty string when there is no configuration.
            _ => (join(path, "config.configuration"), String::new(), Kind::Filter),
        });
    }
    let ours = object.get("filter_name").and_then(Value::as_str) == Some(DYNAMIC_FILTER_NAME);
    let kind = if of_type(PER_ROUTE_TYPE) {
        Kind::PerRoute
    } else if of_type(DYNAMIC_FILTER_TYPE) {
        Kind::Filter
    } else {
        return None;
    };
    ours.then(|| match object.get("filter_config").and_then(|c| c.get("value")) {
        Some(Value::String(s)) => (join(path, "filter_config.value"), s.clone(), kind),
        _ => (join(path, "filter_config"), String::new(), kind),
    })
}
