//! The Fetch standard's CORS protocol as a table (`tests/cases/fetch.json`),
//! run through the filter's own logic (`simulation::simulate`). The same table
//! runs against the wasm filter in Envoy (`tests/e2e/test_fetch_cases.py`),
//! so the native and the real filter cannot drift apart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // test code

use std::fmt::Write as _;

use envoy_cors_core::language::Config;
use envoy_cors_core::simulation::{simulate, Outcome};
use serde_json::{json, Map, Value};

const TABLE: &str = include_str!("../../../tests/cases/fetch.json");

/// What Envoy answers itself when a cluster has no healthy host.
fn envoy_local_503() -> Vec<(String, Vec<u8>)> {
    vec![
        ("content-length".into(), b"19".to_vec()),
        ("content-type".into(), b"text/plain".to_vec()),
    ]
}

/// Named policies plus every inline one (named `inline-<case index>`).
fn policies(table: &Value) -> Map<String, Value> {
    let mut all = table["policies"].as_object().unwrap().clone();
    for (i, case) in table["cases"].as_array().unwrap().iter().enumerate() {
        if case["policy"].is_object() {
            all.insert(format!("inline-{i}"), case["policy"].clone());
        }
    }
    all
}

fn policy_name(index: usize, case: &Value) -> String {
    match &case["policy"] {
        Value::String(name) => name.clone(),
        _ => format!("inline-{index}"),
    }
}

/// The routed configuration both runners build: one rule per policy, by path
/// (`/<policy>/...`, and `/unavailable/<policy>/...` for the route whose
/// cluster has no healthy host).
fn routed_config(table: &Value) -> Value {
    let policies = policies(table);
    let mut routes = Vec::new();
    for name in policies.keys() {
        routes.push(json!({ "match": { "path": format!("/unavailable/{name}/**") }, "policy": name }));
        routes.push(json!({ "match": { "path": format!("/{name}/**") }, "policy": name }));
    }
    json!({ "policies": policies, "routes": routes })
}

fn pairs(value: &Value) -> Vec<(String, Vec<u8>)> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .map(|p| {
                    (
                        p[0].as_str().unwrap().to_owned(),
                        p[1].as_str().unwrap().as_bytes().to_vec(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn tokens(value: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(value)
        .split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Runs one case; returns every way it failed.
fn run(config: &Config, table: &Value, index: usize, case: &Value) -> Vec<String> {
    let policy = policy_name(index, case);
    let req = &case["request"];
    let authority = req["authority"]
        .as_str()
        .unwrap_or(table["authority"].as_str().unwrap());
    let scheme = req["scheme"].as_str().unwrap_or(table["scheme"].as_str().unwrap());
    let local = case["local_reply"].as_bool().unwrap_or(false);
    let id = case["id"].as_str().unwrap();
    let path = if local {
        format!("/unavailable/{policy}/{id}")
    } else {
        format!("/{policy}/{id}")
    };
    let mut request = vec![
        (
            ":method".to_owned(),
            req["method"].as_str().unwrap().as_bytes().to_vec(),
        ),
        (":authority".to_owned(), authority.as_bytes().to_vec()),
        (":path".to_owned(), path.into_bytes()),
        (":scheme".to_owned(), scheme.as_bytes().to_vec()),
    ];
    request.extend(pairs(&req["headers"]));
    let (route, status, upstream) = if local {
        ("unavailable", 503, envoy_local_503())
    } else {
        let up = &case["upstream"];
        let status = up["status"].as_u64().unwrap_or(200) as u32;
        ("api", status, pairs(&up["headers"]))
    };
    let out = simulate(config, &request, Some(route.as_bytes()), status, &upstream);
    check(case, &request, &out, local)
}

fn check(case: &Value, request: &[(String, Vec<u8>)], out: &Outcome, local: bool) -> Vec<String> {
    let expect = &case["expect"];
    let mut fails = Vec::new();
    let got = |name: &str| fetch_model::get(&out.headers, name);
    if let Some(status) = expect["status"].as_u64() {
        if u64::from(out.status) != status {
            fails.push(format!("status {} (expected {status})", out.status));
        }
    }
    if let (Some(reached), false) = (expect["reached_upstream"].as_bool(), local) {
        if out.reached_upstream != reached {
            fails.push(format!(
                "reached_upstream {} (expected {reached})",
                out.reached_upstream
            ));
        }
    }
    if let Some(counter) = expect.get("counter") {
        if out.counter != counter.as_str() {
            fails.push(format!("counter {:?} (expected {counter})", out.counter));
        }
    }
    for (name, value) in expect["headers"].as_object().into_iter().flatten() {
        let want = value.as_str().unwrap().as_bytes();
        if got(name).as_deref() != Some(want) {
            fails.push(format!(
                "{name}: {:?} (expected {value})",
                got(name).map(|v| String::from_utf8_lossy(&v).into_owned())
            ));
        }
    }
    for (name, list) in expect["tokens"].as_object().into_iter().flatten() {
        let fold = |t: &str| {
            if name == "access-control-allow-methods" {
                t.to_owned()
            } else {
                t.to_ascii_lowercase()
            }
        };
        let mut have: Vec<String> = tokens(&got(name).unwrap_or_default()).iter().map(|t| fold(t)).collect();
        let mut want: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|t| fold(t.as_str().unwrap()))
            .collect();
        have.sort();
        want.sort();
        if have != want {
            fails.push(format!("{name} tokens {have:?} (expected {want:?})"));
        }
    }
    for name in expect["absent"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap();
        if got(name).is_some() {
            fails.push(format!("{name} present (expected absent)"));
        }
    }
    let vary: Vec<String> = tokens(&got("vary").unwrap_or_default())
        .iter()
        .map(|t| t.to_ascii_lowercase())
        .collect();
    for token in expect["vary"].as_array().into_iter().flatten() {
        if !vary.contains(&token.as_str().unwrap().to_ascii_lowercase()) {
            fails.push(format!("Vary {vary:?} lacks {token}"));
        }
    }
    for token in expect["not_vary"].as_array().into_iter().flatten() {
        if vary.contains(&token.as_str().unwrap().to_ascii_lowercase()) {
            fails.push(format!("Vary {vary:?} has {token}"));
        }
    }
    if let Some(b) = expect.get("browser") {
        check_browser(case, b, request, out, &mut fails);
    }
    fails
}

/// Computes what a browser does with the actual response and compares it to
/// what the case says it may do.
fn check_browser(case: &Value, want: &Value, request: &[(String, Vec<u8>)], out: &Outcome, fails: &mut Vec<String>) {
    let credentials = case["credentials"].as_bool().unwrap_or(false);
    let header = |name: &str| request.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let origin = header("origin").unwrap_or_default();
    if let Some(expected) = want["preflight_ok"].as_bool() {
        let intent = fetch_model::Intent {
            method: String::from_utf8_lossy(&header("access-control-request-method").unwrap_or_default()).into_owned(),
            unsafe_headers: tokens(&header("access-control-request-headers").unwrap_or_default())
                .iter()
                .map(|t| t.to_ascii_lowercase())
                .collect(),
            credentials,
            private_network: header("access-control-request-private-network").as_deref() == Some(b"true"),
        };
        let verdict = fetch_model::preflight_check(out.status, &out.headers, &origin, &intent);
        if verdict.is_ok() != expected {
            fails.push(format!(
                "browser preflight_ok {} (expected {expected}): {verdict:?}",
                verdict.is_ok()
            ));
        }
    }
    if let Some(expected) = want.get("cache_max_age") {
        let have = fetch_model::max_age(&out.headers);
        if have != expected.as_u64() {
            fails.push(format!("browser cache_max_age {have:?} (expected {expected})"));
        }
    }
    if let Some(expected) = want["cors_ok"].as_bool() {
        let verdict = fetch_model::cors_check(&out.headers, &origin, credentials);
        if verdict.is_ok() != expected {
            fails.push(format!(
                "browser cors_ok {} (expected {expected}): {verdict:?}",
                verdict.is_ok()
            ));
        }
    }
    for (key, expected) in [("readable", true), ("unreadable", false)] {
        for name in want[key].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap();
            if fetch_model::readable(&out.headers, name, credentials) != expected {
                fails.push(format!(
                    "browser: {name} readable is {} (expected {expected})",
                    !expected
                ));
            }
        }
    }
}

#[test]
fn every_fetch_standard_case_holds_for_the_native_filter() {
    let table: Value = serde_json::from_str(TABLE).unwrap();
    let config_json = routed_config(&table);
    let config = Config::parse(config_json.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("the table's policies do not compile: {e:?}"));
    let cases = table["cases"].as_array().unwrap();
    let mut report = String::new();
    for (i, case) in cases.iter().enumerate() {
        for fail in run(&config, &table, i, case) {
            writeln!(
                report,
                "{} [{}]: {fail}",
                case["id"].as_str().unwrap(),
                case["spec"].as_str().unwrap()
            )
            .unwrap();
        }
    }
    assert!(report.is_empty(), "Fetch cases failed:\n{report}");
    println!("{} Fetch standard cases pass natively", cases.len());
}

#[test]
fn the_table_is_large_and_every_case_is_cited() {
    let table: Value = serde_json::from_str(TABLE).unwrap();
    let cases = table["cases"].as_array().unwrap();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut ids = std::collections::HashSet::new();
    for case in cases {
        let id = case["id"].as_str().unwrap();
        assert!(ids.insert(id), "duplicate case id {id}");
        assert!(!case["spec"].as_str().unwrap_or("").is_empty(), "{id} cites no section");
        assert!(case["expect"]["status"].is_u64(), "{id} expects no status");
    }
}

#[test]
fn the_browser_model_follows_the_cors_check() {
    let h = |list: &[(&str, &str)]| -> Vec<(String, Vec<u8>)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
            .collect()
    };
    let o = b"https://a.test";
    assert!(fetch_model::cors_check(&h(&[("access-control-allow-origin", "*")]), o, false).is_ok());
    assert!(fetch_model::cors_check(&h(&[("access-control-allow-origin", "*")]), o, true).is_err());
    assert!(fetch_model::cors_check(&h(&[("Access-Control-Allow-Origin", "https://a.test")]), o, false).is_ok());
    assert!(fetch_model::cors_check(&h(&[("access-control-allow-origin", "https://a.test")]), o, true).is_err());
    let two = h(&[
        ("access-control-allow-origin", "https://a.test"),
        ("access-control-allow-origin", "https://a.test"),
    ]);
    assert!(
        fetch_model::cors_check(&two, o, false).is_err(),
        "two values combine into a list that matches nothing"
    );
    let bad = h(&[
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET, P UT"),
    ]);
    let intent = fetch_model::Intent {
        method: "GET".into(),
        unsafe_headers: vec![],
        credentials: false,
        private_network: false,
    };
    assert!(
        fetch_model::preflight_check(200, &bad, o, &intent).is_err(),
        "an unparsable method list is a network error"
    );
}
