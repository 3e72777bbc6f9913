//! `cors-policy import`, run as an operator runs it: the routed policy on
//! stdout, refusals naming the file, the path and the reason (exit 1), usage
//! errors (exit 2), and, for the Istio and Gateway API fixtures, a table per
//! fixture of requests and the browser outcomes their documentation defines,
//! checked against the importer's model of the source and against this
//! filter running the imported policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use serde_json::Value;

use common::{run, stderr, stdout, temp_file, ROOT};

const FIXTURES: &str = "tests/fixtures/import";

/// Imports a file; returns the policy, stderr and the matrix.
fn import(file: &str, extra: &[&str]) -> (Value, String, Value) {
    let matrix = temp_file("matrix.json", "");
    let mut args = vec!["import", file, "--matrix", matrix.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
    let policy = serde_json::from_str(&stdout(&out)).unwrap();
    let matrix = serde_json::from_str(&std::fs::read_to_string(matrix).unwrap()).unwrap();
    (policy, stderr(&out), matrix)
}

fn fixtures() -> Vec<String> {
    let mut all: Vec<String> = glob::glob(&format!("{ROOT}/{FIXTURES}/*/*.yaml"))
        .unwrap()
        .map(|p| {
            p.unwrap()
                .strip_prefix(ROOT)
                .unwrap()
                .to_str()
                .unwrap()
                .trim_start_matches('/')
                .to_owned()
        })
        .collect();
    all.sort();
    all
}

/// An Envoy route configuration around `cors_policy` on a virtual host with one route.
fn envoy_with(cors_policy: &str, route_match: &str) -> String {
    envoy_vhost(&format!(
        r#""domains": ["*"],
      "typed_per_filter_config": {{"envoy.filters.http.cors": {{
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy", {cors_policy}}}}},
      "routes": [{{"match": {route_match}, "route": {{"cluster": "c"}}}}]"#
    ))
}

/// An Envoy route configuration with one virtual host of these fields.
fn envoy_vhost(fields: &str) -> String {
    format!(
        r#"{{"static_resources": {{"listeners": [{{"name": "l", "filter_chains": [{{"filters": [{{
  "name": "envoy.filters.network.http_connection_manager",
  "typed_config": {{
    "http_filters": [{{"name": "envoy.filters.http.cors"}}, {{"name": "envoy.filters.http.router"}}],
    "route_config": {{"name": "r", "virtual_hosts": [{{"name": "api", {fields}}}]}}}}}}]}}]}}]}}}}"#
    )
}

#[test]
fn every_fixture_imports_and_its_output_passes_check() {
    let all = fixtures();
    assert!(all.len() >= 4, "{all:?}");
    for file in all {
        let (policy, _, _) = import(&file, &[]);
        let written = temp_file("imported.json", &policy.to_string());
        let check = run(&["check", written.to_str().unwrap()]);
        assert_eq!(check.status.code(), Some(0), "{file}: {}", stdout(&check));
    }
}

#[test]
fn envoy_route_fields_fall_back_to_the_virtual_host_and_named_routes_become_route_name_rules() {
    let (policy, err, _) = import(&format!("{FIXTURES}/envoy/virtual-hosts.yaml"), &[]);
    let public = &policy["policies"]["api-route0"];
    // Origins and methods from the route, headers and max_age from the virtual host.
    assert_eq!(public["allow_origins"], serde_json::json!(["*"]));
    assert_eq!(public["allow_methods"], serde_json::json!(["GET"]));
    assert_eq!(
        public["allow_headers"],
        serde_json::json!(["content-type", "x-api-key"])
    );
    assert_eq!(public["max_age"], 600);
    assert!(
        public.get("allow_credentials").is_none(),
        "the route's allow_credentials: false wins"
    );
    let routes = policy["routes"].as_array().unwrap();
    assert_eq!(
        routes[0]["match"],
        serde_json::json!({"host": "api.example.com", "path": "/public/*"})
    );
    assert_eq!(routes[1]["match"]["path"], "/public/*/**");
    assert_eq!(
        routes[2],
        serde_json::json!({"match": {"route_name": "legacy"}, "policy": null})
    );
    assert_eq!(routes[3]["match"]["path"], "/health");
    assert!(
        routes[3]["policy"].is_null(),
        "direct_response routes are skipped by the built-in filter"
    );
    let api = &policy["policies"][routes[4]["policy"].as_str().unwrap()];
    assert_eq!(
        api["allow_origins"],
        serde_json::json!(["https://app.example.com", "https://*.example.org"])
    );
    assert_eq!(api["preflight_status"], 200);
    assert!(err.contains("change: vary-origin"), "{err}");
    assert!(err.contains("change: upstream-cors-stripped"), "{err}");
}

/// The cases of a `--matrix` that `keep` keeps.
fn cases_of(matrix: &Value, keep: impl Fn(&Value) -> bool) -> Vec<&Value> {
    matrix["cases"].as_array().unwrap().iter().filter(|c| keep(c)).collect()
}

#[test]
fn requests_an_earlier_route_takes_are_compared_with_that_routes_policy() {
    // Before, each route's requests were answered with its own CorsPolicy,
    // although Envoy sends them to the earlier route: the import was refused
    // with `unexplained` changes ("now refused ..., allowed before").
    let (policy, err, matrix) = import(&format!("{FIXTURES}/envoy/shadowed-routes.yaml"), &[]);
    assert!(outcome_line(&err).ends_with(": none"), "{err}");
    assert!(!err.contains("unexplained"), "{err}");
    let routes = "virtual_hosts[0].routes";
    let fallback = ("virtual_hosts[3].routes", 1, "unlisted-host.invalid/api/sample");
    for (at, route, sample) in [
        (routes, 1, "example.net/api/sample"),
        (routes, 2, "example.net/api/v2"),
        fallback,
    ] {
        let note = format!("{at}[{route}]: its requests ({sample}) land in static_resources");
        assert!(err.contains(&note), "{note}\n{err}");
    }
    // The policies of the routes no request reaches are compared nowhere,
    // and the notes say so; the prefix "/api" is compared at "/api".
    for policy in ["backend-route2", "fallback-route1"] {
        assert!(
            err.contains(&format!("policy {policy:?} is compared on no request")),
            "{err}"
        );
    }
    for policy in ["backend-route1", "subdomains-route0"] {
        assert!(!err.contains(&format!("{policy:?} is compared on no request")), "{err}");
    }
    let at_api = cases_of(&matrix, |c| {
        c["request"]["path"] == "/api" && c["request"]["authority"] == "example.net"
    });
    assert!(at_api
        .iter()
        .all(|c| c["rule"].as_str().unwrap().ends_with("routes[1]")));
    assert!(at_api.len() > 20, "{matrix}");
    // `*.example.net` is compared on a name `sample.example.net`'s virtual host does not take.
    let subdomains = cases_of(&matrix, |c| c["request"]["authority"] == "another.example.net");
    assert!(subdomains
        .iter()
        .all(|c| c["rule"].as_str().unwrap().ends_with("virtual_hosts[1].routes[0]")));
    assert!(subdomains.len() > 20, "{matrix}");
    for case in matrix["cases"].as_array().unwrap() {
        let path = case["request"]["path"].as_str().unwrap();
        let rule = case["rule"].as_str().unwrap();
        if path.starts_with("/api/") {
            let at = if case["request"]["authority"] == "example.net" {
                routes
            } else {
                fallback.0
            };
            assert!(rule.ends_with(&format!("{at}[0]")), "{case}");
        }
    }
    // The prefix "/api" still has its own policy for "/api" and "/apix".
    let legacy = policy_of(&policy, &serde_json::json!({"host": "example.net", "path": "/api*"}));
    assert_eq!(
        legacy["allow_origins"],
        serde_json::json!(["https://legacy.example.net"])
    );
}

#[test]
fn a_named_route_an_earlier_route_shadows_is_compared_there_not_labelled_lossy() {
    // The beta route's match has a header, which a path rule cannot hold,
    // but its route_name rule is exact: nothing was widened, so its requests,
    // which the prefix "/api" before it takes in Envoy, are compared with
    // that route's policy. Before, they were labelled `lossy` (without
    // --lossy, and with no warning to point at).
    let (_, err, matrix) = import(&format!("{FIXTURES}/envoy/named-route-shadowed.yaml"), &[]);
    assert!(outcome_line(&err).ends_with(": none"), "{err}");
    for not in ["change: lossy", "unexplained", "warning: "] {
        assert!(!err.contains(not), "{not}\n{err}");
    }
    let note = "virtual_hosts[0].routes[1]: its requests (example.net/api/sample) land in static_resources";
    assert!(err.contains(note), "{err}");
    for case in matrix["cases"].as_array().unwrap() {
        if case["request"]["route_name"] == "beta" {
            assert!(case["rule"].as_str().unwrap().ends_with("routes[0]"), "{case}");
        }
    }
}

#[test]
fn a_path_match_without_a_leading_slash_never_matches_and_is_left_out() {
    // Envoy accepts `prefix: api`, and no request's path starts so. Its glob
    // `api*` is no path rule: after a catch-all, or as a trailing rule
    // without CORS, the output left it out, but the rules compiled to find
    // where requests land kept it, and the import failed with an internal
    // error. A regex's literal start without `/` is no path rule either.
    let route = |m: &str, origin: Option<&str>| {
        let cors = origin.map_or_else(String::new, |o| {
            format!(
                r#", "typed_per_filter_config": {{"envoy.filters.http.cors": {{"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy", "allow_origin_string_match": [{{"exact": "{o}"}}]}}}}"#
            )
        });
        format!(r#"{{"match": {m}, "route": {{"cluster": "c"}}{cors}}}"#)
    };
    let envoy = |routes: &[String]| {
        envoy_vhost(&format!(
            r#""domains": ["example.net"], "routes": [{}]"#,
            routes.join(", ")
        ))
    };
    let a = Some("https://a.example");
    let b = Some("https://b.example");
    for (name, routes, lossy) in [
        (
            "after-catch-all",
            [route(r#"{"prefix": "/"}"#, a), route(r#"{"prefix": "api"}"#, b)],
            false,
        ),
        (
            "trailing",
            [route(r#"{"prefix": "/x"}"#, a), route(r#"{"path": "api"}"#, None)],
            false,
        ),
        (
            "regex",
            [
                route(r#"{"prefix": "/"}"#, a),
                route(r#"{"safe_regex": {"regex": "api.*"}}"#, b),
            ],
            true,
        ),
    ] {
        let file = temp_file(&format!("unrooted-{name}.json"), &envoy(&routes));
        let extra: &[&str] = if lossy { &["--lossy"] } else { &[] };
        let (_, err, _) = import(file.to_str().unwrap(), extra);
        assert!(!err.contains("internal error"), "{name}: {err}");
        let said = if lossy {
            "has no exact glob; --lossy matches every path"
        } else {
            "routes[1].match: \"api\" does not start with '/', as every request's path does: the route never matches; left out"
        };
        assert!(err.contains(said), "{name}: {err}");
    }
}

#[test]
fn the_change_list_is_computed_from_the_matrix_and_names_documented_ids_only() {
    let (_, err, matrix) = import(&format!("{FIXTURES}/envoy/virtual-hosts.yaml"), &[]);
    let ids: Vec<&str> = matrix["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    let doc = std::fs::read_to_string(format!("{ROOT}/docs/differences.md")).unwrap();
    for id in &ids {
        assert!(doc.contains(&format!("| `{id}` |")), "{id}");
    }
    for case in matrix["cases"].as_array().unwrap() {
        for (_, id) in case["differences"].as_object().unwrap() {
            assert!(ids.contains(&id.as_str().unwrap()), "{case}");
        }
    }
    for line in err.lines().filter(|l| l.starts_with("change: ")) {
        let id = line.trim_start_matches("change: ").split(' ').next().unwrap();
        assert!(ids.contains(&id), "{line}");
    }
}

#[test]
fn a_suffix_matcher_is_refused_as_the_hole_it_is_naming_file_and_path() {
    let file = temp_file(
        "suffix.json",
        &envoy_with(
            r#""allow_origin_string_match": [{"suffix": "example.com"}]"#,
            r#"{"prefix": "/"}"#,
        ),
    );
    for extra in [&[][..], &["--lossy"][..]] {
        let mut args = vec!["import", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = run(&args);
        let err = stderr(&out);
        assert!(err.contains(file.to_str().unwrap()), "{err}");
        assert!(err.contains("allow_origin_string_match[0]"), "{err}");
        assert!(
            err.contains("is a hole") && err.contains("https://evilexample.com"),
            "{err}"
        );
        if extra.is_empty() {
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert!(stdout(&out).is_empty());
        } else {
            // The only origin is dropped: nothing is left to allow.
            assert!(!stdout(&out).contains("example.com"), "{}", stdout(&out));
        }
    }
}

#[test]
fn a_one_label_regex_is_refused_with_an_origin_it_would_widen_to_and_lossy_writes_the_wildcard() {
    let file = temp_file(
        "label.json",
        &envoy_with(
            r#""allow_origin_string_match": [{"safe_regex": {"regex": "^https://[a-z0-9-]+\\.example\\.com$"}}]"#,
            r#"{"prefix": "/"}"#,
        ),
    );
    let out = run(&["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("would also allow https://a.a.example.com"),
        "{}",
        stderr(&out)
    );
    let lossy = run(&["import", file.to_str().unwrap(), "--lossy"]);
    assert_eq!(lossy.status.code(), Some(0), "{}", stderr(&lossy));
    assert!(stderr(&lossy).contains("warning:"));
    let policy: Value = serde_json::from_str(&stdout(&lossy)).unwrap();
    assert_eq!(policy["default"], "api-route0");
    assert_eq!(
        policy["policies"]["api-route0"]["allow_origins"],
        serde_json::json!(["https://*.example.com"])
    );
}

#[test]
fn a_regex_path_has_no_exact_rule_unless_lossy() {
    let file = temp_file(
        "regex-path.json",
        &envoy_with(
            r#""allow_origin_string_match": [{"exact": "https://app.example.com"}]"#,
            r#"{"safe_regex": {"regex": "^/api/v[0-9]+/.*"}}"#,
        ),
    );
    let out = run(&["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("routes[0].match.safe_regex"), "{}", stderr(&out));
    let lossy = run(&["import", file.to_str().unwrap(), "--lossy"]);
    assert_eq!(lossy.status.code(), Some(0), "{}", stderr(&lossy));
    assert!(stdout(&lossy).contains("/api/v*"), "{}", stdout(&lossy));
}

#[test]
fn any_origin_with_credentials_is_refused_with_the_risk() {
    let file = temp_file(
        "star.json",
        &envoy_with(
            r#""allow_origin_string_match": [{"safe_regex": {"regex": ".*"}}], "allow_credentials": true"#,
            r#"{"prefix": "/"}"#,
        ),
    );
    let out = run(&["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("every website read"), "{}", stderr(&out));
}

#[test]
fn a_regex_for_every_origin_but_the_text_star_is_every_origin_too() {
    // `[^*]+` never matches the text `*`, but every origin a browser sends.
    let file = temp_file(
        "not-star.json",
        &envoy_with(
            r#""allow_origin_string_match": [{"safe_regex": {"regex": "[^*]+"}}], "allow_credentials": true"#,
            r#"{"prefix": "/"}"#,
        ),
    );
    let (err, lossy) = refused(file.to_str().unwrap());
    assert!(
        err.contains("every origin with credentials (Envoy then echoes"),
        "{err}"
    );
    assert!(!err.contains("internal error"), "{err}");
    let policy = lossy.unwrap();
    let policy = &policy["policies"][policy["default"].as_str().unwrap()];
    assert_eq!(policy["allow_origins"], serde_json::json!(["*"]), "{policy}");
    assert_ne!(policy["allow_credentials"], true, "{policy}");
}

#[test]
fn a_connection_manager_without_the_cors_filter_is_refused() {
    let text = envoy_with(
        r#""allow_origin_string_match": [{"exact": "https://a.example.com"}]"#,
        r#"{"prefix": "/"}"#,
    )
    .replace(r#"{"name": "envoy.filters.http.cors"}, "#, "");
    let out = run(&["import", temp_file("nocors.json", &text).to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("do nothing today"), "{}", stderr(&out));
}

#[test]
fn a_malformed_http_filter_is_refused_at_its_path_in_the_file() {
    let text = envoy_with(
        r#""allow_origin_string_match": [{"exact": "https://a.example.com"}]"#,
        r#"{"prefix": "/"}"#,
    )
    .replace(r#"{"name": "envoy.filters.http.router"}"#, r#"{"name": 5}"#);
    let out = run(&["import", temp_file("filters.json", &text).to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            ": static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[1].name: invalid type"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(run(&["import"]).status.code(), Some(2));
    assert_eq!(run(&["import", "does/not/exist.yaml"]).status.code(), Some(2));
    let both = format!(
        "{}\n---\n{}",
        std::fs::read_to_string(format!("{ROOT}/{FIXTURES}/istio/ratings.yaml")).unwrap(),
        std::fs::read_to_string(format!("{ROOT}/{FIXTURES}/gateway-api/cors.yaml")).unwrap()
    );
    let file = temp_file("both.yaml", &both);
    let out = run(&["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--format"), "{}", stderr(&out));
    let chosen = run(&["import", file.to_str().unwrap(), "--format", "istio"]);
    assert_eq!(chosen.status.code(), Some(0), "{}", stderr(&chosen));
}

// -- the documented semantics, one table per fixture ---------------------------

/// One row: a request, and whether a browser's check passes (without, with
/// credentials) under the source as its documentation defines it, and under
/// this filter with the imported policy.
struct Row {
    what: &'static str,
    /// A preflight for `method` (else the actual request).
    preflight: bool,
    origin: &'static str,
    method: &'static str,
    request_headers: Option<&'static str>,
    path: &'static str,
    source: [bool; 2],
    ours: [bool; 2],
}

/// The browser's verdicts on a response of the matrix.
fn verdicts(case: &Value, side: &str) -> [bool; 2] {
    let response = &case[side];
    let headers: Vec<(String, Vec<u8>)> = response["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().as_bytes().to_vec(),
            )
        })
        .collect();
    let status = u32::try_from(response["status"].as_u64().unwrap()).unwrap();
    let request = &case["request"];
    let header = |name: &str| {
        request["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p[0] == name)
            .map(|p| p[1].as_str().unwrap().to_owned())
    };
    let origin = header("origin").unwrap();
    let mut out = [false; 2];
    for (i, credentials) in [false, true].into_iter().enumerate() {
        out[i] = match header("access-control-request-method") {
            Some(method) => {
                let intent = fetch_model::Intent {
                    method,
                    unsafe_headers: header("access-control-request-headers")
                        .map(|h| h.split(',').map(|s| s.trim().to_ascii_lowercase()).collect())
                        .unwrap_or_default(),
                    credentials,
                    private_network: false,
                };
                fetch_model::preflight_check(status, &headers, origin.as_bytes(), &intent).is_ok()
            }
            None => fetch_model::cors_check(&headers, origin.as_bytes(), credentials).is_ok(),
        };
    }
    out
}

fn check_table(file: &str, rows: &[Row]) {
    let (_, err, matrix) = import(file, &[]);
    for row in rows {
        let case = matrix["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                let r = &c["request"];
                let has = |n: &str, v: &str| r["headers"].as_array().unwrap().iter().any(|p| p[0] == n && p[1] == v);
                let preflight = row.preflight;
                r["path"].as_str().unwrap().starts_with(row.path)
                    && c["upstream"]["kind"] == "plain"
                    && has("origin", row.origin)
                    && if preflight {
                        r["method"] == "OPTIONS"
                            && has("access-control-request-method", row.method)
                            && row
                                .request_headers
                                .is_none_or(|h| has("access-control-request-headers", h))
                            && (row.request_headers.is_some()
                                || !r["headers"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .any(|p| p[0] == "access-control-request-headers"))
                            && !r["headers"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .any(|p| p[0] == "access-control-request-private-network")
                    } else {
                        r["method"] == row.method
                    }
            })
            .unwrap_or_else(|| panic!("{file}: no case in the matrix for: {}", row.what));
        assert_eq!(
            verdicts(case, "source"),
            row.source,
            "{file}: the source's documented outcome: {}",
            row.what
        );
        assert_eq!(
            verdicts(case, "ours"),
            row.ours,
            "{file}: this filter's outcome: {}",
            row.what
        );
        if row.source != row.ours {
            assert!(
                !case["noticed"].as_array().unwrap().is_empty(),
                "{file}: a change not listed: {}",
                row.what
            );
        }
    }
    assert!(err.contains("change:"), "{err}");
}

#[test]
fn istio_fixture_matches_the_virtualservice_reference() {
    // Istio's reference: origins that match allowOrigins get
    // Access-Control-Allow-Origin set to the origin; allowCredentials: false
    // sends no Access-Control-Allow-Credentials; the methods and headers are
    // serialized into the preflight answer; unmatched preflights are forwarded
    // (here to an upstream without CORS headers).
    let rows = [
        Row {
            what: "GET from the exact origin",
            preflight: false,
            origin: "https://example.com",
            method: "GET",
            request_headers: None,
            path: "/ratings",
            source: [true, false],
            ours: [true, false],
        },
        Row {
            what: "GET from a subdomain (regex)",
            preflight: false,
            origin: "https://sample.example.com",
            method: "GET",
            request_headers: None,
            path: "/ratings",
            source: [true, false],
            ours: [true, false],
        },
        Row {
            what: "GET from two labels deep (regex .+)",
            preflight: false,
            origin: "https://a.b.example.com",
            method: "GET",
            request_headers: None,
            path: "/ratings",
            source: [true, false],
            ours: [true, false],
        },
        Row {
            what: "GET from a look-alike",
            preflight: false,
            origin: "https://evilexample.com",
            method: "GET",
            request_headers: None,
            path: "/ratings",
            source: [false, false],
            ours: [false, false],
        },
        Row {
            what: "preflight for POST",
            preflight: true,
            origin: "https://example.com",
            method: "POST",
            request_headers: None,
            path: "/ratings",
            source: [true, false],
            ours: [true, false],
        },
        Row {
            what: "preflight for PUT, not listed",
            preflight: true,
            origin: "https://example.com",
            method: "PUT",
            request_headers: None,
            path: "/ratings",
            source: [false, false],
            ours: [false, false],
        },
        Row {
            what: "preflight with X-Foo-Bar",
            preflight: true,
            origin: "https://example.com",
            method: "GET",
            request_headers: Some("x-foo-bar"),
            path: "/ratings",
            source: [true, false],
            ours: [true, false],
        },
        Row {
            what: "preflight with an unlisted header",
            preflight: true,
            origin: "https://example.com",
            method: "GET",
            request_headers: Some("x-unlisted"),
            path: "/ratings",
            source: [false, false],
            ours: [false, false],
        },
        Row {
            what: "preflight from another site, forwarded",
            preflight: true,
            origin: "https://evil.example",
            method: "GET",
            request_headers: None,
            path: "/ratings",
            source: [false, false],
            ours: [false, false],
        },
    ];
    check_table(&format!("{FIXTURES}/istio/ratings.yaml"), &rows);
}

#[test]
fn gateway_api_fixture_matches_gep_1767() {
    // GEP-1767 / HTTPCORSFilter: an allowed origin is echoed with
    // Access-Control-Allow-Credentials: true when allowCredentials is set;
    // `*.bar.com` matches any number of labels to the left; CORS-safelisted
    // methods always pass; "*" origins without credentials answer `*`.
    let rows = [
        Row {
            what: "GET from an exact origin, credentials allowed",
            preflight: false,
            origin: "https://www.foo.com",
            method: "GET",
            request_headers: None,
            path: "/cors-1",
            source: [true, true],
            ours: [true, true],
        },
        Row {
            what: "GET from a wildcard origin",
            preflight: false,
            origin: "https://sample.bar.com",
            method: "GET",
            request_headers: None,
            path: "/cors-1",
            source: [true, true],
            ours: [true, true],
        },
        Row {
            what: "GET from two labels under the wildcard",
            preflight: false,
            origin: "https://a.b.bar.com",
            method: "GET",
            request_headers: None,
            path: "/cors-1",
            source: [true, true],
            ours: [true, true],
        },
        Row {
            what: "GET from the wildcard's apex",
            preflight: false,
            origin: "https://bar.com",
            method: "GET",
            request_headers: None,
            path: "/cors-1",
            source: [false, false],
            ours: [false, false],
        },
        Row {
            what: "preflight with the listed headers",
            preflight: true,
            origin: "https://www.foo.com",
            method: "GET",
            request_headers: Some("x-header-1,x-header-2"),
            path: "/cors-1",
            source: [true, true],
            ours: [true, true],
        },
        Row {
            what: "preflight for an unlisted method",
            preflight: true,
            origin: "https://www.foo.com",
            method: "PUT",
            request_headers: None,
            path: "/cors-1",
            source: [false, false],
            ours: [false, false],
        },
        Row {
            what: "preflight from a refused origin",
            preflight: true,
            origin: "https://evil.example",
            method: "GET",
            request_headers: None,
            path: "/cors-1",
            source: [false, false],
            ours: [false, false],
        },
        Row {
            what: "any origin, PUT listed",
            preflight: true,
            origin: "https://evil.example",
            method: "PUT",
            request_headers: None,
            path: "/cors-wildcard-origin",
            source: [true, false],
            ours: [true, false],
        },
        Row {
            what: "any origin, GET without credentials",
            preflight: false,
            origin: "https://evil.example",
            method: "GET",
            request_headers: None,
            path: "/cors-wildcard-origin",
            source: [true, false],
            ours: [true, false],
        },
    ];
    check_table(&format!("{FIXTURES}/gateway-api/cors.yaml"), &rows);
}

#[test]
fn several_route_configurations_need_route_config_to_pick_one() {
    let one = envoy_with(
        r#""allow_origin_string_match": [{"exact": "https://a.example.com"}]"#,
        r#"{"prefix": "/"}"#,
    );
    let doc: Value = serde_json::from_str(&one).unwrap();
    let mut second = doc["static_resources"]["listeners"][0].clone();
    second["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["name"] = "other".into();
    let mut both = doc.clone();
    both["static_resources"]["listeners"]
        .as_array_mut()
        .unwrap()
        .push(second);
    let file = temp_file("two.json", &both.to_string());
    let out = run(&["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--route-config") && stderr(&out).contains("other"),
        "{}",
        stderr(&out)
    );
    let picked = run(&["import", file.to_str().unwrap(), "--route-config", "other"]);
    assert_eq!(picked.status.code(), Some(0), "{}", stderr(&picked));
}

#[test]
fn an_rds_resource_file_is_read_like_a_bootstrap() {
    let rds = r#"
resources:
- "@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration
  name: rds
  virtual_hosts:
  - name: api
    domains: ["api.example.com"]
    routes:
    - match: { path: "/v1/items" }
      route: { cluster: c }
      typed_per_filter_config:
        envoy.filters.http.cors:
          "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy
          allow_origin_string_match: [{ exact: "https://App.example.com", ignore_case: true }]
"#;
    let (policy, _, _) = import(temp_file("rds.yaml", rds).to_str().unwrap(), &[]);
    assert_eq!(
        policy["routes"][0]["match"],
        serde_json::json!({"host": "api.example.com", "path": "/v1/items"})
    );
    let name = policy["routes"][0]["policy"].as_str().unwrap();
    assert_eq!(
        policy["policies"][name]["allow_origins"],
        serde_json::json!(["https://app.example.com"])
    );
    assert_eq!(
        policy["policies"][name]["allow_methods"],
        serde_json::json!([]),
        "no allow_methods: no header, as Envoy"
    );
}

#[test]
fn null_and_plain_http_origins_with_credentials_are_refused_with_their_reasons() {
    let file = temp_file(
        "null.json",
        &envoy_with(
            r#""allow_origin_string_match": [{"exact": "null"}, {"exact": "http://intranet.example.com"}], "allow_credentials": true"#,
            r#"{"prefix": "/"}"#,
        ),
    );
    let out = run(&["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("sandboxed page"), "{err}");
    assert!(err.contains("anyone on the network path"), "{err}");
}

#[test]
fn istio_short_names_and_gateway_method_matches_need_lossy() {
    let vs = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [ratings]\n  http:\n  - corsPolicy:\n      allowOrigins: [{exact: https://a.example.com}]\n    route: [{destination: {host: ratings}}]\n";
    let file = temp_file("short.yaml", vs);
    assert_eq!(run(&["import", file.to_str().unwrap()]).status.code(), Some(1));
    assert_eq!(
        run(&["import", file.to_str().unwrap(), "--lossy"]).status.code(),
        Some(0)
    );
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  rules:\n  - matches: [{method: GET}]\n    filters:\n    - type: CORS\n      cors: {allowOrigins: ['https://a.example.com']}\n";
    let file = temp_file("method.yaml", route);
    let out = run(&["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("spec.rules[0].matches[0]: also matches on method"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn messages_name_each_sources_own_fields() {
    // Istio's names, not Envoy's proto fields the importer reads them into.
    let vs = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [api.example.com]\n  http:\n  - corsPolicy:\n      allowOrigins: [{exact: https://a.example.com}, {suffix: example.com}]\n    route: [{destination: {host: api}}]\n";
    let file = temp_file("istio-paths.yaml", vs);
    let err = stderr(&run(&["import", file.to_str().unwrap()]));
    assert!(err.contains("spec.http[0].corsPolicy.allowOrigins[1]"), "{err}");
    assert!(!err.contains("allow_origin_string_match"), "{err}");
    // The Gateway API's: the filter's index, then `cors`.
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  rules:\n  - filters:\n    - type: RequestHeaderModifier\n      requestHeaderModifier: {add: [{name: x, value: y}]}\n    - type: CORS\n      cors: {allowOrigins: ['https://a.example.com', 'https://*.co.uk']}\n";
    let file = temp_file("gateway-paths.yaml", route);
    let err = stderr(&run(&["import", file.to_str().unwrap()]));
    assert!(err.contains("spec.rules[0].filters[1].cors.allowOrigins"), "{err}");
    // Envoy's in a multi-document file: the document, then its path.
    let envoy = envoy_with(
        r#""allow_origin_string_match": [{"suffix": "example.com"}]"#,
        r#"{"prefix": "/"}"#,
    );
    let file = temp_file("envoy-docs.yaml", &format!("kind: Unrelated\n---\n{envoy}\n"));
    let err = stderr(&run(&["import", file.to_str().unwrap(), "--format", "envoy"]));
    assert!(err.contains("document 2: static_resources."), "{err}");
}

#[test]
fn gateway_api_rules_with_equal_matches_go_to_the_oldest_route_first() {
    // The specification (and Envoy Gateway's sort) breaks a tie between
    // routes by creationTimestamp before namespace/name: `b-old` takes
    // /api, although `a-new` comes first by name.
    let route = |name: &str, created: &str, origin: &str| {
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: {name}, namespace: shop, \
             creationTimestamp: '{created}'}}\nspec:\n  hostnames: [api.example.com]\n  rules:\n  - matches: [{{path: \
             {{type: PathPrefix, value: /api}}}}]\n    filters:\n    - type: CORS\n      cors: {{allowOrigins: ['{origin}']}}\n"
        )
    };
    let new = route("a-new", "2025-06-01T00:00:00Z", "https://new.example.com");
    let old = route("b-old", "2024-01-01T00:00:00Z", "https://old.example.com");
    let file = temp_file("gateway-ages.yaml", &format!("{new}---\n{old}"));
    let (policy, err, _) = import(file.to_str().unwrap(), &[]);
    let rule = policy_of(&policy, &serde_json::json!({"host": "api.example.com", "path": "/api"}));
    assert_eq!(rule["allow_origins"], serde_json::json!(["https://old.example.com"]));
    let note = "document 1: spec.rules[0].matches[0]: its requests (api.example.com/api/sample) land in document 2:";
    assert!(err.contains(note), "{err}");
}

#[test]
fn a_gateway_api_ipv6_literal_origin_without_a_port_converts_exactly() {
    // GEP-1767: no port is the scheme's default, for an `[IPv6]` host too.
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  hostnames: [api.example.com]\n  rules:\n  - filters:\n    - type: CORS\n      cors: {allowOrigins: ['http://[::1]', 'https://[::1]:8443']}\n";
    let file = temp_file("gateway-ipv6.yaml", route);
    let (policy, err, _) = import(file.to_str().unwrap(), &[]);
    let rule = policy_of(&policy, &serde_json::json!({"host": "api.example.com"}));
    assert_eq!(
        rule["allow_origins"],
        serde_json::json!(["http://[::1]", "https://[::1]:8443"])
    );
    assert_eq!(outcome_line(&err), "cors-policy: outcome changes (a request allowed or blocked, response headers a page reads, preflight caching): none");
    assert!(!err.contains("unexplained"), "{err}");
}

#[test]
fn an_istio_rule_with_an_empty_match_list_covers_every_path() {
    let vs = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [api.example.com]\n  http:\n  - match: []\n    corsPolicy:\n      allowOrigins: [{exact: https://a.example.com}]\n    route: [{destination: {host: api}}]\n";
    let file = temp_file("istio-empty-match.yaml", vs);
    let out = run(&["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let policy: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let origins = policy["policies"].as_object().unwrap().values().next().unwrap()["allow_origins"].clone();
    assert_eq!(origins, serde_json::json!(["https://a.example.com"]), "{policy}");
}

// -- ingress-nginx, Envoy Gateway, and the shapes real configurations take ------

const REFUSED: &str = "tests/fixtures/import-refused";

/// The summary line that counts outcome changes with a plain upstream.
fn outcome_line(err: &str) -> &str {
    err.lines()
        .find(|l| l.starts_with("cors-policy: outcome changes ("))
        .unwrap_or_else(|| panic!("no outcome line in:\n{err}"))
}

/// The policy a rule matching exactly `matcher` names.
fn policy_of<'a>(policy: &'a Value, matcher: &Value) -> &'a Value {
    let rule = policy["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| &r["match"] == matcher);
    let name = rule.unwrap_or_else(|| panic!("no rule {matcher} in {policy}"))["policy"].clone();
    match name.as_str() {
        Some(name) => &policy["policies"][name],
        None => &Value::Null,
    }
}

/// Runs an import that must be refused; returns stderr and what `--lossy` writes.
fn refused(file: &str) -> (String, Option<Value>) {
    let out = run(&["import", file]);
    assert_eq!(out.status.code(), Some(1), "{file}: {}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let lossy = run(&["import", file, "--lossy"]);
    let policy = (lossy.status.code() == Some(0)).then(|| serde_json::from_str(&stdout(&lossy)).unwrap());
    (stderr(&out), policy)
}

#[test]
fn ingress_nginx_defaults_become_any_origin_without_credentials_and_the_notes_say_why() {
    let (policy, err, matrix) = import(&format!("{FIXTURES}/ingress-nginx/defaults.yaml"), &[]);
    let api = policy_of(
        &policy,
        &serde_json::json!({"host": "shop.example.com", "path": "/api"}),
    );
    assert_eq!(api["allow_origins"], serde_json::json!(["*"]));
    assert!(api.get("allow_credentials").is_none(), "{api}");
    assert_eq!(
        api["allow_methods"],
        serde_json::json!(["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"])
    );
    let headers = api["allow_headers"].as_array().unwrap();
    assert!(
        headers.contains(&"authorization".into())
            && !headers.contains(&"keep-alive".into())
            && !headers.contains(&"dnt".into())
    );
    assert_eq!(api["max_age"], 86400);
    assert!(api.get("preflight_status").is_none(), "nginx answers 204, the default");
    // The change list for the defaults, one note each.
    assert!(err.contains("credentialed requests never worked"), "{err}");
    assert!(err.contains("\"keep-alive\": a forbidden request-header name"), "{err}");
    assert!(err.contains("\"dnt\": a forbidden request-header name"), "{err}");
    assert!(err.contains("1728000 is capped at 86400"), "{err}");
    assert!(outcome_line(&err).ends_with(": none"), "{err}");
    // Exact before prefixes; the path `/` of the Ingress without CORS stays untouched.
    let routes = policy["routes"].as_array().unwrap();
    assert_eq!(
        routes[0]["match"],
        serde_json::json!({"host": "shop.example.com", "path": "/status"})
    );
    assert_eq!(routes.len(), 3, "{policy}");
    // A credentialed request fails in both, an uncredentialed one passes in both.
    let rows = [Row {
        what: "GET from any origin",
        preflight: false,
        origin: "https://evil.example",
        method: "GET",
        request_headers: None,
        path: "/api",
        source: [true, false],
        ours: [true, false],
    }];
    check_table(&format!("{FIXTURES}/ingress-nginx/defaults.yaml"), &rows);
    assert!(matrix["cases"].as_array().unwrap().len() > 100);
}

#[test]
fn ingress_nginx_paths_follow_nginx_locations() {
    let (policy, err, _) = import(&format!("{FIXTURES}/ingress-nginx/origins.yaml"), &[]);
    let accounts = policy_of(
        &policy,
        &serde_json::json!({"host": "accounts.example.com", "path": "/v1/session"}),
    );
    assert_eq!(
        accounts["allow_origins"],
        serde_json::json!(["https://shop.example.com", "https://admin.example.com"]),
        "nginx matches origins case-insensitively"
    );
    assert_eq!(accounts["allow_credentials"], true);
    // Prefix is element-wise; the host's other paths get the oldest Ingress's CORS.
    for path in ["/v1/users", "/v1/users/**"] {
        let m = serde_json::json!({"host": "accounts.example.com", "path": path});
        assert_eq!(policy_of(&policy, &m), accounts);
    }
    assert_eq!(
        policy_of(&policy, &serde_json::json!({"host": "accounts.example.com"})),
        accounts
    );
    // use-regex: a case-insensitive string prefix.
    let reports =
        serde_json::json!({"host": "reports.example.com", "path": "/[aA][pP][iI]/[rR][eE][pP][oO][rR][tT][sS]*"});
    assert_eq!(
        policy_of(&policy, &reports)["allow_methods"],
        serde_json::json!(["GET"])
    );
    assert!(outcome_line(&err).ends_with(": none"), "{err}");
}

#[test]
fn ingress_nginx_refusals_say_what_nginx_does() {
    let (err, lossy) = refused(&format!("{REFUSED}/ingress-nginx-wildcard.yaml"));
    assert!(
        err.contains("cors-allow-origin[1]") && err.contains("one label"),
        "{err}"
    );
    assert!(err.contains("would also allow https://a.a.example.com"), "{err}");
    let origins = &lossy.unwrap()["policies"]["api"]["allow_origins"];
    assert_eq!(
        origins,
        &serde_json::json!(["https://app.example.com", "https://*.example.com"])
    );
    let (err, lossy) = refused(&format!("{REFUSED}/ingress-nginx-invalid-origins.yaml"));
    assert!(
        err.contains("since v1.12") && err.contains("allows every origin"),
        "{err}"
    );
    assert_eq!(
        lossy.unwrap()["policies"]["web"]["allow_origins"],
        serde_json::json!(["*"])
    );
    // Prefix `/api` and `/api/` make one nginx location twice: nginx refuses
    // that, so there is nothing to import, with or without --lossy.
    let (err, lossy) = refused(&format!("{REFUSED}/ingress-nginx-duplicate-location.yaml"));
    let line = err.lines().find(|l| l.contains(": error: ")).unwrap_or_default();
    assert!(
        line.contains("document 2: spec.rules[0].http.paths[0]: \"/api/\" here and \"/api\" at document 1")
            && line.contains("both make nginx's `location /api/`, a duplicate nginx refuses"),
        "{err}"
    );
    assert!(!err.contains("unexplained"), "{err}");
    assert!(lossy.is_none());
    // Across files: each message names its own file, not the first one.
    let files = ["routes", "servers"].map(|f| format!("{FIXTURES}/ingress-nginx/{f}.yaml"));
    let out = run(&["import", &files[0], &files[1]]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let refusal = format!(
        "cors-policy: 2 files: error: {}: document 1: spec.rules[0].http.paths[0]: \"/api/\"",
        files[0]
    );
    assert!(err.contains(&refusal), "{err}");
}

#[test]
fn envoy_gateway_security_policies_follow_its_precedence() {
    let (policy, err, _) = import(&format!("{FIXTURES}/envoy-gateway/security-policies.yaml"), &[]);
    // The Gateway's policy on the storefront, its wildcard origin exact.
    let storefront = policy_of(&policy, &serde_json::json!({"host": "www.example.com", "path": "/api"}));
    assert_eq!(
        storefront["allow_origins"],
        serde_json::json!(["https://www.example.com", "https://*.example.com"])
    );
    assert_eq!(storefront["max_age"], 3600);
    // A rule policy without `cors` replaces the Gateway's whole: CORS off.
    let health = serde_json::json!({"host": "www.example.com", "path": "/api/health"});
    assert!(policy_of(&policy, &health).is_null());
    // The route's policy beats the Gateway's; `*` headers echo Authorization too.
    let payments = policy_of(&policy, &serde_json::json!({"host": "pay.example.com"}));
    assert_eq!(
        payments["allow_origins"],
        serde_json::json!(["https://checkout.example.com"])
    );
    assert_eq!(payments["allow_headers"], serde_json::json!(["*", "authorization"]));
    // A rule's own CORS filter beats every SecurityPolicy.
    let widget = policy_of(
        &policy,
        &serde_json::json!({"host": "pay.example.com", "path": "/widget"}),
    );
    assert_eq!(widget["allow_origins"], serde_json::json!(["*"]));
    assert!(outcome_line(&err).ends_with(": none"), "{err}");
}

#[test]
fn a_cors_policy_under_a_key_envoy_never_looks_up_is_left_out_and_a_configmap_is_read() {
    let (policy, err, _) = import(&format!("{FIXTURES}/real-world/kubeflow-configmap.yaml"), &[]);
    assert!(
        err.contains("data.\"envoy.yaml\": static_resources.")
            && err.contains("envoy.filter.http.cors: a CorsPolicy Envoy never applies"),
        "{err}"
    );
    for (_, p) in policy["policies"].as_object().unwrap() {
        assert_eq!(
            p["allow_origins"],
            serde_json::json!(["https://pipelines.example.com"]),
            "{policy}"
        );
    }
}

#[test]
fn star_request_headers_with_credentials_keep_authorization() {
    let (policy, err, _) = import(&format!("{FIXTURES}/real-world/gateway-api-all-fields.yaml"), &[]);
    let (_, p) = policy["policies"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(p["allow_headers"], serde_json::json!(["*", "authorization"]));
    assert!(outcome_line(&err).ends_with(": none"), "{err}");
    let rows = [Row {
        what: "preflight asking for Authorization with credentials",
        preflight: true,
        origin: "https://www.foo.example.com",
        method: "GET",
        request_headers: Some("authorization"),
        path: "/cors-behavior-creds-true",
        source: [true, true],
        ours: [true, true],
    }];
    check_table(&format!("{FIXTURES}/real-world/gateway-api-all-fields.yaml"), &rows);
}

#[test]
fn an_istio_string_match_with_no_field_is_read_as_istiod_translates_it() {
    // `uri: {}` keeps istiod's default `prefix: /`; an origin `{}` is left out.
    let file = temp_file(
        "istio-empty-match.yaml",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\nspec:\n  \
         hosts: [api.example.com]\n  http:\n  - match: [{uri: {}}]\n    corsPolicy:\n      \
         allowOrigins: [{exact: \"https://a.example.com\"}, {}]\n      allowMethods: [GET]\n",
    );
    let (policy, err, _) = import(file.to_str().unwrap(), &[]);
    assert_eq!(
        policy["routes"][0]["match"],
        serde_json::json!({"host": "api.example.com"})
    );
    let (_, p) = policy["policies"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(p["allow_origins"], serde_json::json!(["https://a.example.com"]));
    assert!(
        err.contains("note: spec.http[0].corsPolicy.allowOrigins[1]: sets none of exact, prefix and regex"),
        "{err}"
    );
    // A field Istio's StringMatch does not have is refused at its path.
    let file = temp_file(
        "istio-suffix-match.yaml",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\nspec:\n  \
         hosts: [api.example.com]\n  http:\n  - corsPolicy:\n      allowOrigins: [{suffix: example.com}]\n",
    );
    let (err, _) = refused(file.to_str().unwrap());
    assert!(
        err.contains("error: spec.http[0].corsPolicy.allowOrigins[0].suffix: unknown field `suffix`"),
        "{err}"
    );
}

#[test]
fn what_lossy_changes_is_named_lossy_in_the_change_list_not_unexplained() {
    // `*` for "every origin but null": null is now allowed, as the warning says.
    let file = format!("{REFUSED}/istio-gateway-star.json");
    let (_, err, _) = import(&file, &["--lossy"]);
    assert!(err.contains("warning: ") && err.contains("except null"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("change: lossy (") && l.contains("`--lossy` wrote")),
        "{err}"
    );
    assert!(err.contains("from null: now allowed without credentials"), "{err}");
    assert!(!err.contains("change: unexplained"), "{err}");
    // Where --lossy leaves no origin, the note says the source allowed some.
    let out = run(&["import", &format!("{REFUSED}/pixie-suffix.yaml"), "--lossy"]);
    let pixie = stderr(&out);
    assert!(
        pixie.contains("no origin is left once --lossy drops what the warnings say"),
        "{pixie}"
    );
    assert!(!pixie.contains("leaves their requests untouched"), "{pixie}");
    // A header match --lossy ignores: the beta rule catches the other
    // route's requests, and what that changes is the loss, not a classifier's row.
    let (_, shadowed, _) = import(&format!("{REFUSED}/envoy-header-route.yaml"), &["--lossy"]);
    assert!(
        shadowed.contains("warning: ") && shadowed.contains("--lossy ignores them"),
        "{shadowed}"
    );
    assert!(
        shadowed.contains("e.g. GET api.example.com/sample from https://app.example.com: now refused"),
        "{shadowed}"
    );
    let outcome = shadowed.split("header-level differences").next().unwrap_or_default();
    let named: Vec<&str> = outcome.lines().filter(|l| l.starts_with("change: ")).collect();
    assert!(named.iter().any(|l| l.starts_with("change: lossy (")), "{shadowed}");
    for not in ["unexplained", "preflight-checks-method-and-headers"] {
        assert!(!named.iter().any(|l| l.contains(not)), "{shadowed}");
    }
    // A rule --lossy widened on another host takes no blame for a route
    // Envoy never reaches (shadowed by `/` before it): its requests are
    // compared where they land, with a note.
    let fixture = std::fs::read_to_string(format!("{ROOT}/{REFUSED}/envoy-header-route.yaml")).unwrap();
    let unrelated = fixture
        .replace("                  headers: [{name: x-beta, string_match: {exact: \"1\"}}]\n", "")
        .replace("- match: {prefix: \"/\"}", "- match: {prefix: \"/api\"}")
        .replace(
            "  clusters:\n",
            "            - name: other\n              domains: [\"other.example.com\"]\n              routes:\n              \
             - match: {safe_regex: {regex: \"/v[0-9]+/x\"}}\n                route: {cluster: main}\n  clusters:\n",
        );
    let file = temp_file("unrelated-regex.yaml", &unrelated);
    let (_, err, _) = import(file.to_str().unwrap(), &["--lossy"]);
    assert!(err.contains("warning: ") && err.contains("has no exact glob"), "{err}");
    assert!(
        err.contains("routes[1]: its requests (api.example.com/api/sample) land in"),
        "{err}"
    );
    assert!(
        !err.contains("change: unexplained (") && !err.contains("change: lossy ("),
        "{err}"
    );
    // A conversion that needed no --lossy has nothing to name so.
    let (_, exact, _) = import(&format!("{FIXTURES}/envoy/virtual-hosts.yaml"), &["--lossy"]);
    assert!(!exact.contains("change: lossy"), "{exact}");
}

#[test]
fn requests_a_rule_widened_to_every_port_takes_are_labelled_lossy() {
    // Envoy sends `example.net` (no port) to the second virtual host; the
    // host rule --lossy writes for `example.net:8443` takes them first. That
    // is the loss: the report must say so, not claim Envoy sends them there.
    let vhost = |name: &str, domain: &str, origin: &str| {
        format!(
            r#"{{"name": "{name}", "domains": ["{domain}"], "routes": [{{"match": {{"prefix": "/"}},
              "route": {{"cluster": "c"}}, "typed_per_filter_config": {{"envoy.filters.http.cors": {{
              "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
              "allow_origin_string_match": [{{"exact": "{origin}"}}]}}}}}}]}}"#
        )
    };
    let admin = vhost("admin", "example.net:8443", "https://admin.example.net");
    let public = vhost("public", "example.net", "https://www.example.net");
    let config = format!(r#"{{"route_config": {{"name": "r", "virtual_hosts": [{admin}, {public}]}}}}"#);
    let file = temp_file("port-domain.json", &config);
    let (_, err, _) = import(file.to_str().unwrap(), &["--lossy"]);
    assert!(
        err.contains("warning: ") && err.contains("--lossy matches every port"),
        "{err}"
    );
    assert!(!err.contains("land in"), "{err}");
    assert!(err.lines().any(|l| l.starts_with("change: lossy (")), "{err}");
    assert!(
        err.contains("GET example.net/sample from https://www.example.net: now refused"),
        "{err}"
    );
}

#[test]
fn a_domain_named_twice_is_refused_as_envoy_refuses_it() {
    // Envoy 1.40 refuses the route configuration ("Only unique values for
    // domains are permitted"), ASCII case ignored, so nothing serves it.
    let vhost = |name: &str, domain: &str| {
        format!(
            r#"{{"name": "{name}", "domains": ["{domain}"], "routes": [{{"match": {{"prefix": "/"}},
              "route": {{"cluster": "c"}}, "typed_per_filter_config": {{"envoy.filters.http.cors": {{
              "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
              "allow_origin_string_match": [{{"exact": "https://{name}.example.net"}}]}}}}}}]}}"#
        )
    };
    for (one, two) in [("example.net", "Example.net"), ("*", "*")] {
        let (first, second) = (vhost("one", one), vhost("two", two));
        let config = format!(r#"{{"route_config": {{"name": "r", "virtual_hosts": [{first}, {second}]}}}}"#);
        let file = temp_file("duplicate-domain.json", &config);
        for lossy in [&[][..], &["--lossy"][..]] {
            let out = run(&[&["import", file.to_str().unwrap()][..], lossy].concat());
            assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
            let err = stderr(&out);
            let refusal = format!(
                "error: route_config.virtual_hosts[1].domains[0]: \"{two}\" is also the domain at \
                 route_config.virtual_hosts[0].domains[0]"
            );
            assert!(err.contains(&refusal), "{err}");
        }
    }
}

#[test]
fn lossy_writes_the_nearest_policy_where_one_is_obvious() {
    // Istio's rendering of the Gateway API's `*`: every origin but null.
    let (err, lossy) = refused(&format!("{REFUSED}/istio-gateway-star.json"));
    assert!(
        err.contains("allowOriginStringMatch[0]") && err.contains("except null"),
        "{err}"
    );
    let lossy = lossy.unwrap();
    let (_, p) = lossy["policies"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(p["allow_origins"], serde_json::json!(["*"]));
    // A regex that leaves the scheme open: the https subdomains.
    let (_, lossy) = refused(&format!("{REFUSED}/envoyproxy-io-regex.yaml"));
    let lossy = lossy.unwrap();
    let (_, p) = lossy["policies"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(p["allow_origins"], serde_json::json!(["https://*.envoyproxy.io"]));
    // A prefix only ports can extend: the exact list, no --lossy needed.
    let (policy, err, _) = import(&format!("{FIXTURES}/real-world/localhost-prefix.yaml"), &[]);
    let (_, p) = policy["policies"].as_object().unwrap().iter().next().unwrap();
    let origins = p["allow_origins"].as_array().unwrap();
    assert_eq!(origins.len(), 11, "{p}");
    assert!(origins.contains(&"http://localhost:30009".into()));
    assert!(outcome_line(&err).ends_with(": none"), "{err}");
}

#[test]
fn route_dumps_as_istioctl_and_egctl_print_them_are_read() {
    let (policy, err, _) = import(&format!("{FIXTURES}/real-world/istioctl-routes.json"), &[]);
    let rule = &policy["routes"][0];
    assert_eq!(rule["match"], serde_json::json!({"route_name": "ratings-route"}));
    let p = &policy["policies"][rule["policy"].as_str().unwrap()];
    assert_eq!(
        p["allow_origins"],
        serde_json::json!(["https://bookinfo.example.com", "https://*.apps.example.com"])
    );
    assert!(outcome_line(&err).ends_with(": none"), "{err}");
    let (policy, err, _) = import(&format!("{FIXTURES}/real-world/egctl-routes.yaml"), &[]);
    let p = policy["policies"].as_object().unwrap().values().next().unwrap();
    assert_eq!(
        p["allow_origins"],
        serde_json::json!(["https://www.example.com", "https://*.example.com"])
    );
    assert!(outcome_line(&err).ends_with(": none"), "{err}");
}

#[test]
fn messages_on_a_route_dump_show_filter_names_as_the_dump_writes_them() {
    let dump = r#"{"routeConfig": {"name": "x", "virtualHosts": [{"name": "v", "domains": ["*"],
      "typedPerFilterConfig": {"envoy.filters.http.my_cors": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "allowOriginStringMatch": [{"exact": "https://a.example.com"}]}},
      "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "c"}}]}]}}"#;
    let out = run(&["import", temp_file("dump.json", dump).to_str().unwrap()]);
    assert!(
        stderr(&out).contains(
            ": routeConfig.virtualHosts[0].typedPerFilterConfig.envoy.filters.http.my_cors: a CorsPolicy Envoy never applies"
        ),
        "{}",
        stderr(&out)
    );
    // A match condition a rule cannot hold is named as the dump writes it too.
    let dump = dump.replace(
        r#""prefix": "/"}"#,
        r#""prefix": "/", "queryParameters": [{"name": "beta"}]}"#,
    );
    let err = stderr(&run(&["import", temp_file("dump.json", &dump).to_str().unwrap()]));
    assert!(
        err.contains("routes[0].match: also matches on queryParameters, which"),
        "{err}"
    );
}

#[test]
fn reasons_name_the_real_problem() {
    // Another host of the same site is no site anyone can register.
    let (err, _) = refused(&format!("{REFUSED}/pixie-suffix.yaml"));
    assert!(!err.contains("anyone can"), "{err}");
    assert!(err.contains("another host of withpixie.dev"), "{err}");
    // The deprecated field, named as written, with an error line.
    let (err, _) = refused(&format!("{REFUSED}/istio-allow-origin.yaml"));
    assert!(
        err.contains("error: spec.http[0].corsPolicy.allowOrigin: \"http://app.example.com\""),
        "{err}"
    );
    assert!(!err.contains("allowOrigins"), "{err}");
    // A regex RE2 refuses, and why.
    let (err, _) = refused(&format!("{REFUSED}/envoy-lookahead.yaml"));
    assert!(err.contains("RE2") && err.contains("look-around"), "{err}");
    assert!(!err.contains("error building NFA"), "{err}");
}

#[test]
fn every_real_world_fixture_leads_its_summary_with_no_outcome_change() {
    let dir = format!("{ROOT}/{FIXTURES}/real-world");
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = format!("{FIXTURES}/real-world/{}", entry.unwrap().file_name().to_str().unwrap());
        let (_, err, _) = import(&file, &[]);
        let summary: Vec<&str> = err.lines().skip_while(|l| !l.contains(": compared ")).collect();
        assert!(
            summary[1].starts_with("cors-policy: outcome changes ("),
            "{file}:\n{err}"
        );
        assert!(summary[1].ends_with(": none"), "{file}:\n{err}");
    }
}

#[test]
fn the_differences_subcommand_names_each_field_as_the_importer_does() {
    let (_, _, matrix) = import(&format!("{FIXTURES}/envoy/virtual-hosts.yaml"), &[]);
    let cases: Vec<Value> = matrix["cases"].as_array().unwrap().clone();
    let pairs: Vec<Value> = cases
        .iter()
        .map(|c| {
            serde_json::json!({
                "method": c["request"]["method"], "headers": c["request"]["headers"],
                "any_origin": c["ours"]["headers"].as_array().unwrap().iter().any(|h| h[0] == "access-control-allow-origin" && h[1] == "*"),
                "upstream": c["upstream"]["headers"], "source": c["source"], "ours": c["ours"],
            })
        })
        .collect();
    let input = temp_file("pairs.json", &serde_json::to_string(&pairs).unwrap());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cors-policy"))
        .arg("differences")
        .stdin(std::fs::File::open(input).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let answer: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(answer["ids"], matrix["ids"]);
    for (case, named) in cases.iter().zip(answer["cases"].as_array().unwrap()) {
        assert_eq!(&case["differences"], named, "{case}");
    }
}

#[test]
fn envoy_gateway_refusals_each_say_why() {
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: api, namespace: shop}\nspec:\n  parentRefs: [{name: eg}]\n  hostnames: [api.example.com]\n  rules:\n  - matches: [{path: {type: PathPrefix, value: /}}]\n";
    let policy = |cors: &str, extra: &str| {
        format!(
            "{route}---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {{name: p, namespace: shop}}\nspec:\n  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: api}}]\n{extra}  cors: {cors}\n"
        )
    };
    let cases = [
        (
            policy("{allowOrigins: ['https://*']}", ""),
            "spec.cors.allowOrigins[0]",
            "\"https://*\"",
        ),
        (
            policy("{allowOrigins: ['*'], allowCredentials: true}", ""),
            "spec.cors.allowOrigins",
            "Envoy Gateway then echoes every origin with credentials",
        ),
        (
            policy(
                "{allowOrigins: ['https://a.example.com']}",
                "  mergeType: StrategicMerge\n",
            ),
            "spec.mergeType",
            "merges into the policy of the route's Gateway",
        ),
    ];
    for (text, path, reason) in cases {
        let file = temp_file("security-policy.yaml", &text);
        let (err, lossy) = refused(file.to_str().unwrap());
        assert!(err.contains(path) && err.contains(reason), "{path}: {err}");
        assert!(lossy.is_some() || path.ends_with("[0]"), "{err}");
    }
}
