//! The filter's behaviour on whole exchanges, simulated natively with the
//! same code the wasm filter runs (`simulation::simulate`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // test helpers

use envoy_cors_core::language::Config;
use envoy_cors_core::simulation::{simulate, Outcome};

const STRICT: &str = r#"{
  "policies": {
    "strict": { "allow_origins": ["https://app.example.com", "https://*.example.org", "http://localhost:*"],
                "allow_methods": ["GET", "POST", "PUT"], "allow_headers": ["content-type", "x-api-key"],
                "expose_headers": ["x-request-id"], "max_age": 600, "allow_credentials": true },
    "public": { "allow_origins": ["*"], "allow_headers": ["*"] },
    "report": { "allow_origins": ["https://app.example.com"], "mode": "report" },
    "guarded": { "allow_origins": ["https://app.example.com"], "reject_disallowed": true },
    "pna": { "allow_origins": ["https://app.example.com"], "allow_private_network": true, "preflight_status": 200 },
    "wildheaders": { "allow_origins": ["https://app.example.com"], "allow_headers": ["*"], "allow_credentials": true }
  },
  "routes": [
    { "match": { "path": "/public/**" }, "policy": "public" },
    { "match": { "path": "/report/**" }, "policy": "report" },
    { "match": { "path": "/guarded/**" }, "policy": "guarded" },
    { "match": { "path": "/pna/**" }, "policy": "pna" },
    { "match": { "path": "/wild/**" }, "policy": "wildheaders" },
    { "match": { "route_name": "legacy" }, "policy": null }
  ],
  "default": "strict"
}"#;

fn config() -> Config {
    Config::parse(STRICT.as_bytes()).unwrap()
}

fn headers(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
        .collect()
}

fn request(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    let mut list = headers(&[
        (":method", method),
        (":path", path),
        (":authority", "api.example.com"),
        (":scheme", "https"),
    ]);
    list.extend(headers(extra));
    list
}

fn run(req: &[(String, Vec<u8>)], upstream: &[(&str, &str)]) -> Outcome {
    simulate(&config(), req, None, 200, &headers(upstream))
}

fn one(outcome: &Outcome, name: &str) -> Option<String> {
    let values: Vec<_> = outcome.header_values(name).collect();
    assert!(values.len() <= 1, "{name} repeated: {:?}", outcome.headers);
    values.first().map(|v| String::from_utf8_lossy(v).into_owned())
}

fn cors_headers(outcome: &Outcome) -> Vec<&str> {
    outcome
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("access-control-"))
        .map(|(n, _)| n.as_str())
        .collect()
}

#[test]
fn allowed_preflight_is_answered_locally_with_every_header() {
    let out = run(
        &request(
            "OPTIONS",
            "/items",
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "content-type,x-api-key"),
            ],
        ),
        &[],
    );
    assert!(!out.reached_upstream);
    assert_eq!(out.status, 204);
    assert_eq!(
        one(&out, "access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(one(&out, "access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(
        one(&out, "access-control-allow-methods").as_deref(),
        Some("GET, POST, PUT")
    );
    assert_eq!(
        one(&out, "access-control-allow-headers").as_deref(),
        Some("content-type, x-api-key")
    );
    assert_eq!(one(&out, "access-control-max-age").as_deref(), Some("600"));
    assert_eq!(
        one(&out, "vary").as_deref(),
        Some("Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
    );
    assert_eq!(out.counter, Some("preflight_allowed"));
}

#[test]
fn preflight_for_unlisted_method_or_header_gets_what_an_allowed_one_gets_without_it() {
    for (extra, methods, allow_headers) in [
        (
            vec![("access-control-request-method", "DELETE")],
            "GET, POST, PUT",
            "content-type, x-api-key",
        ),
        (
            vec![("access-control-request-method", "put")],
            "GET, POST, PUT",
            "content-type, x-api-key",
        ),
        (
            vec![
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "x-other"),
            ],
            "GET, POST, PUT",
            "content-type, x-api-key",
        ),
    ] {
        let mut list = vec![("origin", "https://app.example.com")];
        list.extend(extra);
        let out = run(&request("OPTIONS", "/items", &list), &[]);
        assert_eq!(out.status, 204, "{list:?}");
        assert!(!out.reached_upstream);
        assert_eq!(
            one(&out, "access-control-allow-origin").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(one(&out, "access-control-allow-credentials").as_deref(), Some("true"));
        assert_eq!(one(&out, "access-control-allow-methods").as_deref(), Some(methods));
        assert_eq!(
            one(&out, "access-control-allow-headers").as_deref(),
            Some(allow_headers)
        );
        assert_eq!(one(&out, "access-control-max-age").as_deref(), Some("600"));
        assert!(one(&out, "vary").unwrap().contains("Origin"));
        assert_eq!(out.counter, Some("preflight_denied"));
    }
}

#[test]
fn malformed_preflight_or_refused_origin_gets_a_bare_403() {
    for list in [
        vec![
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "x bad"),
        ],
        vec![
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "P T"),
        ],
        vec![
            ("origin", "https://evil.example"),
            ("access-control-request-method", "PUT"),
        ],
    ] {
        let out = run(&request("OPTIONS", "/items", &list), &[]);
        assert_eq!(out.status, 403, "{list:?}");
        assert!(cors_headers(&out).is_empty(), "{:?}", out.headers);
        assert!(one(&out, "vary").unwrap().contains("Origin"));
        assert_eq!(out.counter, Some("preflight_denied"));
    }
}

#[test]
fn header_names_compare_case_insensitively_and_safelisted_methods_always_pass() {
    let out = run(
        &request(
            "OPTIONS",
            "/items",
            &[
                ("origin", "https://a.b.example.org"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "Content-Type, X-API-Key"),
            ],
        ),
        &[],
    );
    assert_eq!(out.status, 204);
}

#[test]
fn preflight_from_disallowed_or_look_alike_origin_is_refused() {
    for origin in [
        "https://evil.com",
        "https://app.example.com.evil.com",
        "https://example.org",
        "https://app.example.com/",
        "https://APP.example.com",
        "https://app.example.com:443",
        "null",
        "http://app.example.com",
    ] {
        let out = run(
            &request(
                "OPTIONS",
                "/items",
                &[("origin", origin), ("access-control-request-method", "PUT")],
            ),
            &[],
        );
        assert_eq!(out.status, 403, "{origin}");
        assert!(cors_headers(&out).is_empty());
    }
}

#[test]
fn options_without_request_method_is_an_ordinary_request() {
    let out = run(&request("OPTIONS", "/items", &[]), &[("allow", "GET")]);
    assert!(out.reached_upstream);
    let out = run(
        &request("OPTIONS", "/items", &[("origin", "https://app.example.com")]),
        &[],
    );
    assert!(out.reached_upstream);
    assert_eq!(
        one(&out, "access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
}

#[test]
fn allowed_actual_request_gets_origin_credentials_and_exposed_headers() {
    let out = run(
        &request("GET", "/items", &[("origin", "http://localhost:5173")]),
        &[("x-request-id", "1")],
    );
    assert!(out.reached_upstream);
    assert_eq!(
        one(&out, "access-control-allow-origin").as_deref(),
        Some("http://localhost:5173")
    );
    assert_eq!(one(&out, "access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(
        one(&out, "access-control-expose-headers").as_deref(),
        Some("x-request-id")
    );
    assert_eq!(one(&out, "vary").as_deref(), Some("Origin"));
    assert_eq!(out.counter, Some("actual_allowed"));
}

#[test]
fn a_refused_origin_never_gets_the_upstreams_allow_origin() {
    let out = run(
        &request("GET", "/items", &[("origin", "https://evil.com")]),
        &[
            ("access-control-allow-origin", "https://evil.com"),
            ("access-control-allow-credentials", "true"),
            ("access-control-expose-headers", "x-secret"),
        ],
    );
    assert!(out.reached_upstream);
    // Without `-Allow-Origin` the browser's CORS check fails, so what else
    // the upstream sent grants nothing.
    assert_eq!(one(&out, "access-control-allow-origin"), None, "{:?}", out.headers);
    assert_eq!(out.counter, Some("actual_denied"));
}

#[test]
fn the_headers_a_browser_reads_come_from_the_policy_not_the_upstream() {
    let out = run(
        &request("GET", "/items", &[("origin", "https://app.example.com")]),
        &[
            ("access-control-allow-origin", "*"),
            ("access-control-expose-headers", "x-secret"),
            ("access-control-max-age", "99"),
        ],
    );
    assert_eq!(
        one(&out, "access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(one(&out, "access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(
        one(&out, "access-control-expose-headers").as_deref(),
        Some("x-request-id")
    );
    // Read by a browser only on a preflight answer, and every preflight is
    // answered by the filter: the upstream's copy on an actual response is inert.
    assert_eq!(one(&out, "access-control-max-age").as_deref(), Some("99"));
}

#[test]
fn credentials_and_exposed_headers_the_policy_does_not_grant_are_removed() {
    let out = run(
        &request("GET", "/public/x", &[("origin", "https://app.example.com")]),
        &[
            ("access-control-allow-credentials", "true"),
            ("access-control-expose-headers", "x-secret"),
        ],
    );
    assert_eq!(one(&out, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(one(&out, "access-control-allow-credentials"), None);
    assert_eq!(one(&out, "access-control-expose-headers"), None);
}

#[test]
fn vary_origin_is_added_as_a_field_line_and_the_upstreams_vary_is_kept() {
    let req = request("GET", "/items", &[("origin", "https://app.example.com")]);
    for upstream in [
        vec![],
        vec![("vary", "Accept-Encoding")],
        vec![("vary", "origin")],
        vec![("vary", "*")],
        vec![("vary", "Accept"), ("vary", "Accept-Language")],
    ] {
        let out = run(&req, &upstream);
        let lines: Vec<_> = out.header_values("vary").collect();
        let mut expected: Vec<&[u8]> = upstream.iter().map(|(_, v)| v.as_bytes()).collect();
        expected.push(b"Origin");
        // RFC 9110 section 5.3: the field lines of a list field combine into
        // one list, so this keeps every member the upstream named.
        assert_eq!(lines, expected, "{upstream:?}");
    }
}

#[test]
fn responses_to_requests_without_origin_still_vary_on_origin() {
    let out = run(
        &request("GET", "/items", &[]),
        &[("access-control-allow-origin", "https://stale.example")],
    );
    assert!(out.reached_upstream);
    assert_eq!(one(&out, "vary").as_deref(), Some("Origin"));
    assert!(cors_headers(&out).is_empty());
    assert_eq!(out.counter, None);
}

#[test]
fn any_origin_policy_answers_star_to_everyone_without_vary_origin() {
    for extra in [
        vec![("origin", "https://anyone.test")],
        vec![],
        vec![("origin", "null")],
    ] {
        let out = run(&request("GET", "/public/x", &extra), &[]);
        assert_eq!(
            one(&out, "access-control-allow-origin").as_deref(),
            Some("*"),
            "{extra:?}"
        );
        assert!(out.header_values("access-control-allow-credentials").next().is_none());
        assert!(out.header_values("vary").next().is_none());
    }
}

#[test]
fn wildcard_headers_echo_the_request_but_never_cover_authorization() {
    let pre = |headers: &str, path: &str| {
        run(
            &request(
                "OPTIONS",
                path,
                &[
                    ("origin", "https://app.example.com"),
                    ("access-control-request-method", "GET"),
                    ("access-control-request-headers", headers),
                ],
            ),
            &[],
        )
    };
    let out = pre("x-anything,x-else", "/public/x");
    assert_eq!(out.status, 204);
    assert_eq!(one(&out, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(
        one(&out, "access-control-allow-headers").as_deref(),
        Some("x-anything,x-else")
    );
    // Refused, and answered without it: the browser names `authorization`.
    let out = pre("authorization,x-anything", "/public/x");
    assert_eq!((out.status, out.counter), (204, Some("preflight_denied")));
    assert_eq!(one(&out, "access-control-allow-headers").as_deref(), Some("x-anything"));
    let out = pre("x-custom", "/wild/x");
    assert_eq!(one(&out, "access-control-allow-headers").as_deref(), Some("x-custom"));
    assert_eq!(one(&out, "access-control-allow-credentials").as_deref(), Some("true"));
}

#[test]
fn report_mode_counts_but_changes_nothing() {
    let out = run(
        &request(
            "OPTIONS",
            "/report/x",
            &[("origin", "https://evil.com"), ("access-control-request-method", "PUT")],
        ),
        &[("access-control-allow-origin", "https://upstream.example")],
    );
    assert!(out.reached_upstream);
    assert_eq!(out.status, 200);
    assert_eq!(
        one(&out, "access-control-allow-origin").as_deref(),
        Some("https://upstream.example")
    );
    assert_eq!(out.counter, Some("preflight_denied"));
}

#[test]
fn reject_disallowed_refuses_cross_origin_but_passes_same_origin_and_no_origin() {
    let out = run(&request("POST", "/guarded/x", &[("origin", "https://evil.com")]), &[]);
    assert_eq!(out.status, 403);
    assert!(!out.reached_upstream);
    assert_eq!(one(&out, "vary").as_deref(), Some("Origin"));
    assert!(cors_headers(&out).is_empty());
    let out = run(
        &request("POST", "/guarded/x", &[("origin", "https://api.example.com")]),
        &[],
    );
    assert!(out.reached_upstream, "same-origin POST must pass");
    assert_eq!(out.counter, None);
    let out = run(&request("POST", "/guarded/x", &[]), &[]);
    assert!(out.reached_upstream);
    let out = run(
        &request("POST", "/guarded/x", &[("origin", "https://app.example.com")]),
        &[],
    );
    assert!(out.reached_upstream);
}

#[test]
fn private_network_access_is_answered_only_when_asked_and_allowed() {
    let pre = |path: &str| {
        run(
            &request(
                "OPTIONS",
                path,
                &[
                    ("origin", "https://app.example.com"),
                    ("access-control-request-method", "GET"),
                    ("access-control-request-private-network", "true"),
                ],
            ),
            &[],
        )
    };
    let out = pre("/pna/x");
    assert_eq!(out.status, 200);
    assert_eq!(
        one(&out, "access-control-allow-private-network").as_deref(),
        Some("true")
    );
    assert!(one(&out, "vary")
        .unwrap()
        .ends_with("Access-Control-Request-Private-Network"));
    // Not allowed: the same answer without the header, counted as refused.
    let out = pre("/items");
    assert!(out
        .header_values("access-control-allow-private-network")
        .next()
        .is_none());
    assert_eq!((out.status, out.counter), (204, Some("preflight_denied")));
}

#[test]
fn disabled_route_leaves_everything_untouched() {
    let out = simulate(
        &config(),
        &request(
            "OPTIONS",
            "/items",
            &[("origin", "https://evil.com"), ("access-control-request-method", "PUT")],
        ),
        Some(b"legacy"),
        200,
        &headers(&[("access-control-allow-origin", "*")]),
    );
    assert!(out.reached_upstream);
    assert_eq!(out.policy, None);
    assert_eq!(one(&out, "access-control-allow-origin").as_deref(), Some("*"));
}

#[test]
fn repeated_or_non_utf8_origin_matches_nothing() {
    let mut req = request(
        "GET",
        "/items",
        &[
            ("origin", "https://app.example.com"),
            ("origin", "https://app.example.com"),
        ],
    );
    let out = run(&req, &[]);
    assert!(cors_headers(&out).is_empty());
    assert_eq!(out.counter, Some("actual_denied"));
    req.truncate(4);
    req.push(("origin".into(), b"https://app.example.com\xff".to_vec()));
    let out = run(&req, &[]);
    assert!(cors_headers(&out).is_empty());
}

#[test]
fn same_origin_needs_the_same_scheme_as_the_client_used() {
    let mut req = request("POST", "/guarded/x", &[("origin", "http://api.example.com")]);
    assert_eq!(
        run(&req, &[]).status,
        403,
        "http page posting to the https API is cross-origin"
    );
    req.push(("x-forwarded-proto".into(), b"http".to_vec()));
    assert!(
        run(&req, &[]).reached_upstream,
        "behind a proxy the client's scheme comes from x-forwarded-proto"
    );
}

#[test]
fn an_empty_requested_header_list_is_not_echoed() {
    let out = run(
        &request(
            "OPTIONS",
            "/public/x",
            &[
                ("origin", "https://a.test"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", ",,, ,"),
            ],
        ),
        &[],
    );
    assert_eq!(out.status, 204);
    assert!(
        out.header_values("access-control-allow-headers").next().is_none(),
        "{:?}",
        out.headers
    );
}
