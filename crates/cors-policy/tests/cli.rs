//! The `cors-policy` binary, run as an operator runs it: exit statuses,
//! stdout vs stderr, JSON paths in `check`, and what `explain` reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};

use common::{run, stderr, stdout, temp_file, ROOT};

const BAD_POLICY: &str = r#"{
  "policies": {
    "strict": { "allow_origins": ["https://*example.com"], "max_age": 999999, "allowed_methods": ["GET"] },
    "other": { "allow_origins": ["https://ok.example.com"], "max_age": 90000 }
  },
  "default": "missing"
}"#;

fn explain_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["explain", "envoy/policy.json", "--json"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn header<'a>(explained: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    explained["response_headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap())
}

#[test]
fn check_accepts_the_example_policy_and_exits_zero() {
    let out = run(&["check", "envoy/policy.json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("envoy/policy.json: ok (policies: public, strict"));
}

#[test]
fn check_lists_every_problem_with_its_json_path_and_exits_one() {
    let file = temp_file("bad.json", BAD_POLICY);
    let out = run(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("policies.other.max_age: 90000: max_age must be between 0 and 86400"),
        "{text}"
    );
    assert!(text.contains("default: \"missing\""), "{text}");
    assert!(text.contains("policies.strict.allowed_methods"), "{text}");
    assert!(stderr(&out).is_empty());
}

#[test]
fn check_names_where_in_an_envoy_config_the_bad_policy_is() {
    let envoy = std::fs::read_to_string(Path::new(ROOT).join("envoy/envoy.yaml")).unwrap();
    let broken = envoy.replace("\"max_age\": 600", "\"max_age\": -1");
    assert_ne!(broken, envoy, "envoy/envoy.yaml no longer sets max_age 600");
    let file = temp_file("envoy.yaml", &broken);
    let out = run(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("typed_config.config.configuration.value: policies.strict.max_age: -1:"),
        "{text}"
    );
}

#[test]
fn check_finds_every_wasm_filter_of_an_lds_file() {
    let policy = |origin: &str| {
        serde_json::json!({
            "name": "envoy.filters.http.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": { "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": format!("{{\"allow_origins\": [\"{origin}\"]}}"),
                }}
            }
        })
    };
    let listener = |name: &str, origin: &str| {
        serde_json::json!({
            "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
            "name": name,
            "filter_chains": [{ "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": { "http_filters": [policy(origin), { "name": "envoy.filters.http.router" }] }
            }]}]
        })
    };
    let lds = serde_json::json!({
        "resources": [listener("a", "https://a.example.com"), listener("b", "https://b.example.com/")]
    });
    let file = temp_file("lds.json", &lds.to_string());
    let out = run(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("resources[0].filter_chains[0]"), "{text}");
    assert!(text.contains(": ok ("), "{text}");
    assert!(
        text.contains("resources[1].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config.configuration.value: allow_origins[0]: \"https://b.example.com/\""),
        "{text}"
    );
}

#[test]
fn check_reads_the_plugin_config_of_a_wasm_plugin_in_a_multi_document_file() {
    let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: api}\n---\n\
                apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: cors}\n\
                spec:\n  pluginConfig:\n    allow_origins: ['*']\n    allow_credentials: true\n";
    let file = temp_file("wasmplugin.yaml", yaml);
    let out = run(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("document 2: spec.pluginConfig: allow_origins"), "{text}");
    assert!(
        text.contains("\"*\" with allow_credentials would let every website read"),
        "{text}"
    );
}

#[test]
fn check_finds_the_dynamic_module_filter_of_an_envoy_config_and_an_extension_policy() {
    let bad = r#"{"allow_origins": ["https://*example.com"]}"#;
    let envoy = format!(
        "static_resources:\n  listeners:\n  - filter_chains:\n    - filters:\n      - typed_config:\n          http_filters:\n          - name: envoy.filters.http.dynamic_modules\n            typed_config:\n              \"@type\": type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter\n              dynamic_module_config: {{ name: envoy_cors }}\n              filter_name: cors\n              filter_config:\n                \"@type\": type.googleapis.com/google.protobuf.StringValue\n                value: '{bad}'\n"
    );
    let out = run(&["check", temp_file("module-envoy.yaml", &envoy).to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("typed_config.filter_config.value: allow_origins[0]"),
        "{}",
        stdout(&out)
    );

    let policy = "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyExtensionPolicy\nmetadata: { name: cors }\nspec:\n  dynamicModules:\n  - name: other\n    filterName: something-else\n    config: { anything: 1 }\n  - name: envoy-cors\n    filterName: cors\n    config: { allow_origins: [\"https://*example.com\"] }\n";
    let out = run(&["check", temp_file("module-eep.yaml", policy).to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("spec.dynamicModules[1].config: allow_origins[0]"),
        "{text}"
    );
    assert!(!text.contains("spec.dynamicModules[0]"), "{text}");
}

#[test]
fn check_validates_the_modules_per_route_configs_with_their_location() {
    let per_route = |value: &str| {
        format!(
            "typed_per_filter_config:\n                  envoy.filters.http.dynamic_modules:\n                    \"@type\": type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilterPerRoute\n                    dynamic_module_config: {{ name: envoy_cors }}\n                    filter_name: cors\n                    filter_config: {{ \"@type\": type.googleapis.com/google.protobuf.StringValue, value: '{value}' }}"
        )
    };
    let envoy = format!(
        "static_resources:\n  listeners:\n  - filter_chains:\n    - filters:\n      - typed_config:\n          route_config:\n            virtual_hosts:\n            - name: t\n              domains: [\"*\"]\n              {}\n              routes:\n              - match: {{ prefix: /bad/ }}\n                {}\n              - match: {{ prefix: /named/ }}\n                {}\n          http_filters:\n          - name: envoy.filters.http.dynamic_modules\n            typed_config:\n              \"@type\": type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter\n              dynamic_module_config: {{ name: envoy_cors }}\n              filter_name: cors\n              filter_config: {{ \"@type\": type.googleapis.com/google.protobuf.StringValue, value: '{{\"allow_origins\": [\"*\"]}}' }}\n",
        per_route(r#"{"name": "t7", "allow_origins": ["https://t7.example"]}"#).replace("\n                  ", "\n                "),
        per_route(r#"{"allow_origins": ["https://*.com"]}"#),
        per_route(r#"{"policy": "strict"}"#),
    );
    let out = run(&["check", temp_file("per-route-envoy.yaml", &envoy).to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("virtual_hosts[0].typed_per_filter_config.envoy.filters.http.dynamic_modules.filter_config.value: ok (per-route policy t7)"), "{text}");
    assert!(text.contains("routes[0].typed_per_filter_config.envoy.filters.http.dynamic_modules.filter_config.value: allow_origins[0]: \"https://*.com\""), "{text}");
    assert!(text.contains("routes[1].typed_per_filter_config.envoy.filters.http.dynamic_modules.filter_config.value: ok (per-route: the filter's policy strict, if it defines one)"), "{text}");
    assert!(
        text.contains("http_filters[0].typed_config.filter_config.value: ok"),
        "{text}"
    );
}

#[test]
fn check_refuses_an_envoy_config_without_the_wasm_filter() {
    let file = temp_file("plain-envoy.yaml", "static_resources:\n  listeners: []\n");
    let out = run(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("no envoy.extensions.filters.http.wasm.v3.Wasm filter"));
}

#[test]
fn check_reports_invalid_json_as_a_problem() {
    let file = temp_file("broken.json", "{\"allow_origins\": [\"https://a.example.com\"],}");
    let out = run(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("$: invalid JSON"), "{}", stdout(&out));
}

#[test]
fn check_of_a_missing_file_is_an_io_error_on_stderr_with_status_two() {
    let out = run(&["check", "does/not/exist.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("does/not/exist.json"));
}

#[test]
fn a_usage_error_exits_two() {
    assert_eq!(run(&["check"]).status.code(), Some(2));
    assert_eq!(run(&["explain", "envoy/policy.json"]).status.code(), Some(2));
}

#[test]
fn output_has_no_colour_when_not_on_a_terminal() {
    let out = run(&["check", "envoy/policy.json"]);
    assert!(!stdout(&out).contains('\u{1b}'));
    let forced = run(&["--color", "always", "check", "envoy/policy.json"]);
    assert!(stdout(&forced).contains('\u{1b}'));
}

#[test]
fn every_policy_in_the_repository_passes_check() {
    let mut files: Vec<PathBuf> = Vec::new();
    for pattern in ["envoy/*.json", "envoy/*.yaml", "deploy/**/*.yaml", "deploy/**/*.json"] {
        let full = format!("{ROOT}/{pattern}");
        files.extend(glob::glob(&full).unwrap().map(Result::unwrap));
    }
    // Envoy configs without the plugin (e.g. for comparisons) hold no policy.
    let markers = [
        "envoy.filters.http.wasm",
        "WasmPlugin",
        "EnvoyExtensionPolicy",
        "allow_origins",
    ];
    files.retain(|f| {
        let text = std::fs::read_to_string(f).unwrap();
        markers.iter().any(|m| text.contains(m))
    });
    assert!(files.len() >= 4, "expected the example policies, found {files:?}");
    for file in files {
        let out = run(&["check", file.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}{}",
            file.display(),
            stdout(&out),
            stderr(&out)
        );
    }
}

#[test]
fn explain_allowed_preflight_shows_the_exact_reply_and_that_the_upstream_is_not_reached() {
    let e = explain_json(&[
        "--origin",
        "https://app.example.com",
        "--method",
        "PUT",
        "--header",
        "X-Api-Key",
        "--preflight",
    ]);
    assert_eq!(e["policy"], "strict");
    assert_eq!(e["decision"], "preflight_allowed");
    assert_eq!(e["allowed"], true);
    assert_eq!(e["reached_upstream"], false);
    assert_eq!(e["status"], 204);
    assert_eq!(e["counter"], "cors.strict.preflight_allowed");
    assert_eq!(
        header(&e, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(header(&e, "access-control-allow-methods"), Some("GET, POST, PUT"));
    assert_eq!(header(&e, "access-control-max-age"), Some("600"));
}

#[test]
fn explain_refused_preflight_names_the_method_and_grants_the_rest() {
    let e = explain_json(&[
        "--origin",
        "https://app.example.com",
        "--method",
        "DELETE",
        "--preflight",
    ]);
    assert_eq!(e["decision"], "preflight_denied");
    assert_eq!(e["allowed"], false);
    assert_eq!(e["reason"], "method_not_allowed:DELETE");
    assert!(e["meaning"].as_str().unwrap().contains("allow_methods"), "{e}");
    assert!(e["fix"].as_str().unwrap().contains("allow_methods"), "{e}");
    assert_eq!(
        e["access_log"],
        "policy=strict verdict=preflight_denied reason=method_not_allowed:DELETE"
    );
    // The origin is allowed: the answer is an allowed one without DELETE.
    assert_eq!(e["status"], 204);
    assert_eq!(
        header(&e, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(header(&e, "access-control-allow-methods"), Some("GET, POST, PUT"));
}

#[test]
fn explain_actual_request_from_an_unlisted_origin_strips_the_upstreams_cors_headers() {
    let e = explain_json(&[
        "--origin",
        "https://evil.example",
        "--upstream-header",
        "Access-Control-Allow-Origin: *",
    ]);
    assert_eq!(e["decision"], "actual_denied");
    assert_eq!(e["reason"], "origin_not_allowed");
    assert_eq!(
        e["access_log"],
        "policy=strict verdict=actual_denied reason=origin_not_allowed"
    );
    assert_eq!(e["reached_upstream"], true);
    assert_eq!(header(&e, "access-control-allow-origin"), None);
    assert_eq!(header(&e, "vary"), Some("Origin"));
}

#[test]
fn explain_follows_route_rules_and_names_the_rule() {
    let e = explain_json(&["--origin", "https://any.example.net", "--path", "/public/x/y"]);
    assert_eq!(e["rule"]["index"], 0);
    assert_eq!(e["rule"]["match"]["path"], "/public/**");
    assert_eq!(e["policy"], "public");
    assert_eq!(header(&e, "access-control-allow-origin"), Some("*"));

    let off = explain_json(&[
        "--origin",
        "https://app.example.com",
        "--route-name",
        "legacy",
        "--host",
        "api.example.com",
    ]);
    assert_eq!(off["rule"]["index"], 1);
    assert_eq!(off["policy"], serde_json::Value::Null);
    assert_eq!(off["decision"], "no_policy");
}

#[test]
fn explain_text_shows_decision_reason_and_headers() {
    let out = run(&[
        "explain",
        "envoy/policy.json",
        "--origin",
        "https://App.example.com",
        "--method",
        "PUT",
        "--preflight",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("preflight_denied: origin_malformed (browsers send"),
        "{text}"
    );
    assert!(
        text.contains("recorded  policy=strict verdict=preflight_denied reason=origin_malformed"),
        "{text}"
    );
    assert!(text.contains("counter   cors.strict.preflight_denied"), "{text}");
    assert!(text.contains("response  403"), "{text}");
    assert!(text.contains("vary: Origin, Access-Control-Request-Method"), "{text}");
}

#[test]
fn explain_of_an_invalid_policy_exits_one_with_the_problems_on_stderr() {
    let file = temp_file("bad.json", BAD_POLICY);
    let out = run(&["explain", file.to_str().unwrap(), "--origin", "https://a.example.com"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("policies.other.max_age"));
}

#[test]
fn committed_schema_is_up_to_date() {
    let out = run(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read_to_string(Path::new(ROOT).join("schema/cors-policy.schema.json")).unwrap_or_default();
    assert!(
        committed == stdout(&out),
        "schema/cors-policy.schema.json is out of date; regenerate it with\n  \
         cargo run --quiet --bin cors-policy -- schema > schema/cors-policy.schema.json"
    );
}

#[test]
fn schema_constrains_max_age_preflight_status_and_mode() {
    let schema: serde_json::Value = serde_json::from_slice(&run(&["schema"]).stdout).unwrap();
    let policy = &schema["$defs"]["PolicySpec"]["properties"];
    assert_eq!(policy["max_age"]["minimum"], 0);
    assert_eq!(policy["max_age"]["maximum"], 86400);
    assert_eq!(policy["preflight_status"]["enum"], serde_json::json!([200, 204, null]));
    let modes: Vec<&str> = schema["$defs"]["Mode"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["const"].as_str().unwrap())
        .collect();
    assert_eq!(modes, ["enforce", "report"]);
    assert_eq!(schema["$defs"]["PolicySpec"]["additionalProperties"], false);
    assert_eq!(schema["anyOf"].as_array().unwrap().len(), 2);
}
