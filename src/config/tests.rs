//! Keeps the hand-written reader (`shape`) in step with the spec types'
//! `serde` and `schemars` derives: the same field names, the same specs for
//! valid policies, the same messages for invalid ones.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use super::shape;
use super::spec::{PolicySpec, RoutedSpec};
use crate::json;

/// A routed spec read by `shape`, every policy and rule included.
fn routed_by_reader(text: &str) -> RoutedSpec {
    let root = json::parse(text.as_bytes()).unwrap();
    let routed = shape::routed(&root).unwrap();
    RoutedSpec {
        policies: routed
            .policies
            .iter()
            .map(|(name, p)| ((*name).to_owned(), shape::policy(p, "").unwrap()))
            .collect(),
        routes: routed.routes.iter().map(|r| shape::route(r, "").unwrap()).collect(),
        default: routed.default,
    }
}

fn policy_by_reader(text: &str) -> Result<PolicySpec, String> {
    let root = json::parse(text.as_bytes()).unwrap();
    shape::policy(&root, "").map_err(|e| e.problem.to_string())
}

/// `serde`'s reading of a policy, from a `serde_json::Value` as the filter
/// used to do (so members come in key order and messages carry no position).
fn policy_by_serde(text: &str) -> Result<PolicySpec, String> {
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    serde_json::from_value(value).map_err(|e| e.to_string())
}

const VALID_POLICIES: [&str; 5] = [
    r#"{"allow_origins": ["https://app.example.com"]}"#,
    r#"{"allow_origins": ["https://app.example.com", "https://*.example.org", "http://localhost:*"],
        "allow_methods": ["GET", "POST", "PUT"], "allow_headers": ["content-type", "x-api-key"],
        "expose_headers": ["x-request-id"], "max_age": 600, "allow_credentials": true}"#,
    r#"{"allow_origins": ["*"], "allow_headers": ["*"], "allow_methods": null, "max_age": null,
        "preflight_status": null, "mode": "report"}"#,
    r#"{"reject_disallowed": true, "allow_private_network": true, "preflight_status": 200,
        "mode": "enforce", "allow_origins": ["https://pr-*.preview.example.com"], "allow_methods": []}"#,
    r#"{"allow_origins": ["https://\u00e9.example", "https://a.example.com"], "mode": {"report": null}, "max_age": 0}"#,
];

#[test]
fn valid_policies_read_the_same_through_serde_and_the_reader() {
    for text in VALID_POLICIES {
        assert_eq!(policy_by_reader(text), policy_by_serde(text), "{text}");
        assert!(policy_by_reader(text).is_ok(), "{text}");
    }
}

#[test]
fn the_routed_example_reads_the_same_through_serde_and_the_reader() {
    for text in [
        include_str!("../../envoy/policy.json"),
        r#"{"policies": {"b": {"allow_origins": ["*"]}, "a": {"allow_origins": ["https://a.example.com"], "max_age": 5}},
            "routes": [{"match": {"path": "/public/**", "host": "*.example.com"}, "policy": "b"},
                       {"match": {"route_name": "legacy"}, "policy": null}, {"policy": "a", "match": {}}],
            "default": "a"}"#,
        r#"{"policies": {"p": {"allow_origins": ["*"]}}, "default": null}"#,
    ] {
        let by_serde: RoutedSpec = serde_json::from_str(text).unwrap();
        assert_eq!(routed_by_reader(text), by_serde, "{text}");
    }
}

#[test]
fn invalid_policies_get_serde_s_message_from_the_reader() {
    for text in [
        r#"{"allow_origins": "https://a.example.com"}"#,
        r#"{"allow_origins": ["https://a.example.com", 7]}"#,
        r#"{"allow_origins": [true]}"#,
        r#"{"allow_origins": [null]}"#,
        r#"{"allow_origins": [{}]}"#,
        r#"{"allow_origins": [[]]}"#,
        r#"{"allow_origins": [-3]}"#,
        r#"{"allow_origins": [1.5]}"#,
        r#"{"allow_origins": ["https://a\"\n\u0001.example"], "allow_methods": 1}"#,
        r#"{"allow_origins": null}"#,
        r#"{"allow_methods": ["GET"]}"#,
        r#"{}"#,
        r#"{"allow_origins": ["https://a.example.com"], "allowed_methods": ["GET"]}"#,
        r#"{"zzz": 1, "allow_origins": 5}"#,
        r#"{"allow_origins": ["https://a.example.com"], "allow_headers": null}"#,
        r#"{"allow_origins": ["https://a.example.com"], "allow_credentials": "true"}"#,
        r#"{"allow_origins": ["https://a.example.com"], "allow_private_network": null}"#,
        r#"{"allow_origins": ["https://a.example.com"], "max_age": "600"}"#,
        r#"{"allow_origins": ["https://a.example.com"], "max_age": 1.5}"#,
        r#"{"allow_origins": ["https://a.example.com"], "max_age": 9223372036854775808}"#,
        r#"{"allow_origins": ["https://a.example.com"], "preflight_status": [204]}"#,
        r#"{"allow_origins": ["https://a.example.com"], "mode": "audit"}"#,
        r#"{"allow_origins": ["https://a.example.com"], "mode": null}"#,
        r#"{"allow_origins": ["https://a.example.com"], "mode": 1}"#,
        r#"{"allow_origins": ["https://a.example.com"], "mode": {}}"#,
        r#"{"allow_origins": ["https://a.example.com"], "mode": {"report": null, "enforce": null}}"#,
        r#"{"allow_origins": ["https://a.example.com"], "mode": {"audit": null}}"#,
        r#"{"allow_origins": ["https://a.example.com"], "reject_disallowed": 0}"#,
    ] {
        let by_serde = policy_by_serde(text);
        assert!(by_serde.is_err(), "{text}");
        assert_eq!(policy_by_reader(text), by_serde, "{text}");
    }
}

#[test]
fn invalid_rules_get_serde_s_message_from_the_reader() {
    for text in [
        r#"{"match": {}}"#,
        r#"{"policy": "p"}"#,
        r#"{"match": {"paht": "/x"}, "policy": "p"}"#,
        r#"{"match": {"path": 1}, "policy": "p"}"#,
        r#"{"match": null, "policy": "p"}"#,
        r#"{"match": "x", "policy": "p"}"#,
        r#"{"match": {}, "policy": 1}"#,
        r#"{"match": {}, "policy": "p", "name": "x"}"#,
        r#""route""#,
    ] {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let by_serde = serde_json::from_value::<super::RouteSpec>(value).map_err(|e| e.to_string());
        let root = json::parse(text.as_bytes()).unwrap();
        let by_reader = shape::route(&root, "").map_err(|e| e.problem.to_string());
        assert!(by_serde.is_err(), "{text}");
        assert_eq!(by_reader, by_serde, "{text}");
    }
}

/// The JSON Schema is generated natively only (`schemars` is not a wasm dependency).
#[cfg(all(feature = "cli", not(target_arch = "wasm32")))]
mod schema {
    use std::collections::BTreeSet;

    use super::super::shape::{MATCH_FIELDS, POLICY_FIELDS, ROUTED_FIELDS, ROUTE_FIELDS};
    use super::RoutedSpec;

    /// The property names of one object in the generated JSON Schema.
    fn schema_properties(schema: &serde_json::Value) -> BTreeSet<String> {
        schema["properties"].as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn the_reader_knows_exactly_the_fields_the_json_schema_lists() {
        let routed = serde_json::to_value(schemars::schema_for!(RoutedSpec)).unwrap();
        let defs = &routed["$defs"];
        let names = |fields: &[&str]| -> BTreeSet<String> { fields.iter().map(|f| (*f).to_owned()).collect() };
        assert_eq!(schema_properties(&routed), names(ROUTED_FIELDS));
        assert_eq!(schema_properties(&defs["PolicySpec"]), names(POLICY_FIELDS));
        assert_eq!(schema_properties(&defs["RouteSpec"]), names(ROUTE_FIELDS));
        assert_eq!(schema_properties(&defs["MatchSpec"]), names(MATCH_FIELDS));
        for schema in [&routed, &defs["PolicySpec"], &defs["RouteSpec"], &defs["MatchSpec"]] {
            assert_eq!(schema["additionalProperties"], serde_json::Value::Bool(false));
        }
        let modes: Vec<&str> = defs["Mode"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["const"].as_str().unwrap())
            .collect();
        assert_eq!(modes, ["enforce", "report"]);
    }
}

#[test]
fn duplicate_keys_are_refused_with_their_path() {
    let errors = super::Config::parse(
        br#"{"policies": {"p": {"allow_origins": ["https://a.example.com"], "max_age": 5, "max_age": 6}}}"#,
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "policies.p.max_age");
    assert!(
        errors[0].to_string().starts_with("policies.p.max_age: duplicate key"),
        "{}",
        errors[0]
    );
}

#[test]
fn syntax_errors_are_reported_at_the_root_with_line_and_column() {
    let errors = super::Config::parse(b"{\"allow_origins\": [\"https://a.example.com\"],}").unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "$: invalid JSON: trailing comma at line 1 column 45"
    );
    let errors = super::Config::parse(b"{\"allow_origins\": [\"https://a.example.com\" 1]}").unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "$: invalid JSON: expected `,` or `]` at line 1 column 44 (in allow_origins)"
    );
}
