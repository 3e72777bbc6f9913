//! The module's shell over a recording Envoy: it reads only what the decision
//! needs and decides exactly as a reader of the whole header map would, it
//! writes what the core decided, and its configure step words refusals as
//! the plugin does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // test code

use std::cell::RefCell;
use std::sync::Arc;

use envoy_cors::{configure, configure_per_route, read_head, Level, Shell};
use envoy_cors_core::language::PerRouteConfig;
use envoy_cors_core::policy::Header;
use envoy_cors_core::request::{decide, read_request, RequestHead};
use envoy_cors_core::simulation::VecHeaders;
use envoy_cors_core::stream::{Runtime, Stream, Verdict};
use envoy_cors_testing::module_host::ModuleRecorder as Recorder;
use proptest::prelude::*;

const POLICY: &str = r#"{
  "policies": {
    "strict": { "allow_origins": ["https://app.example.com", "https://*.example.org"],
                "allow_methods": ["GET", "PUT"], "allow_headers": ["content-type"],
                "expose_headers": ["x-request-id"], "allow_credentials": true,
                "allow_private_network": true },
    "public": { "allow_origins": ["*"] }
  },
  "routes": [
    { "match": { "path": "/public/**" }, "policy": "public" },
    { "match": { "route_name": "legacy", "host": "api.example.com" }, "policy": null }
  ],
  "default": "strict"
}"#;

fn runtime() -> Runtime {
    let mut next = 0;
    configure(
        b"cors",
        POLICY.as_bytes(),
        |_, _| {
            next += 1;
            Ok(next)
        },
        |_, _| {},
    )
    .unwrap()
}

fn list(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    pairs
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn recorder<'h>(request: &'h [(Vec<u8>, Vec<u8>)], route: Option<&'h [u8]>) -> Recorder<'h> {
    Recorder {
        request,
        route,
        ..Recorder::default()
    }
}

/// The decision over the shell's reads and over the whole header list.
fn both_decisions(request: &[(Vec<u8>, Vec<u8>)], route: Option<&[u8]>) -> (String, String) {
    let runtime = runtime();
    let envoy = recorder(request, route);
    let ours = read_head(&envoy, true);
    let whole = RequestHead {
        route_name: route,
        ..read_request(request)
    };
    let show = |head: &RequestHead<'_>| format!("{:?}", decide(&runtime.config, head).map(|(i, _, d)| (i, d)));
    (show(&ours), show(&whole))
}

#[test]
fn without_origin_only_what_route_rules_read_is_fetched() {
    let request = list(&[
        (":method", "OPTIONS"),
        (":path", "/x"),
        (":authority", "a"),
        ("x-other", "1"),
    ]);
    let envoy = recorder(&request, None);
    let _ = read_head(&envoy, false);
    assert_eq!(*envoy.reads.borrow(), ["origin", ":authority", ":path"]);
}

#[test]
fn preflight_headers_are_read_only_for_options() {
    let request = list(&[(":method", "GET"), ("origin", "https://app.example.com")]);
    let envoy = recorder(&request, None);
    let _ = read_head(&envoy, false);
    assert!(!envoy.reads.borrow().iter().any(|n| n.starts_with("access-control-")));
}

#[test]
fn repeated_origin_is_repeated_and_the_leftmost_forwarded_proto_wins() {
    let request = list(&[
        ("origin", "https://a.example"),
        ("origin", "https://b.example"),
        (":scheme", "http"),
        ("x-forwarded-proto", "https, http"),
        ("x-forwarded-proto", "ftp"),
    ]);
    let envoy = recorder(&request, None);
    let head = read_head(&envoy, false);
    assert_eq!(head.request.origin, Header::Repeated);
    assert_eq!(head.request.scheme, b"https");
}

#[test]
fn a_preflight_is_answered_locally_and_counted() {
    let runtime = runtime();
    let request = list(&[
        (":method", "OPTIONS"),
        (":path", "/items"),
        (":authority", "api.example.com"),
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "PUT"),
        ("access-control-request-headers", "content-type"),
    ]);
    let mut shell = Shell(recorder(&request, None));
    let mut stream = Stream::new(Some(&runtime));
    assert_eq!(stream.on_request_headers(&mut shell), Verdict::Stop);
    let reply = shell.0.reply.clone().unwrap();
    assert_eq!((reply.status, reply.details.as_str()), (204, "cors_preflight_allowed"));
    assert!(reply.headers.contains(&(
        "access-control-allow-origin".to_owned(),
        "https://app.example.com".to_owned()
    )));
    assert_eq!(
        shell.0.increments,
        [5],
        "policies sort by name: public 1..=4, strict 5..=8"
    );
    // Our own reply comes back through the response hook: left alone.
    stream.on_response_headers(&mut shell);
    assert!(shell.0.response.0.is_empty());
}

#[test]
fn an_allowed_request_gets_its_response_headers_written_without_reading_them() {
    let runtime = runtime();
    let request = list(&[
        (":method", "GET"),
        (":path", "/items"),
        ("origin", "https://x.example.org"),
    ]);
    let mut shell = Shell(recorder(&request, None));
    let mut stream = Stream::new(Some(&runtime));
    assert_eq!(stream.on_request_headers(&mut shell), Verdict::Continue);
    shell.0.response = VecHeaders(vec![
        ("vary".into(), b"accept".to_vec()),
        ("access-control-allow-origin".into(), b"*".to_vec()),
    ]);
    stream.on_response_headers(&mut shell);
    let got: Vec<_> = shell
        .0
        .response
        .0
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    assert_eq!(
        got,
        [
            ("vary", &b"accept"[..]),
            ("access-control-allow-origin", b"https://x.example.org"),
            ("access-control-allow-credentials", b"true"),
            ("access-control-expose-headers", b"x-request-id"),
            ("vary", b"Origin"),
        ]
    );
    assert_eq!(shell.0.increments, [7]);
}

#[test]
fn the_route_name_is_read_only_when_a_rule_needs_it() {
    let runtime = runtime();
    let request = list(&[(":authority", "api.example.com"), ("origin", "https://app.example.com")]);
    let mut shell = Shell(recorder(&request, Some(b"legacy")));
    let mut stream = Stream::new(Some(&runtime));
    stream.on_request_headers(&mut shell);
    stream.on_response_headers(&mut shell);
    assert!(shell.0.increments.is_empty(), "the legacy rule turns CORS off");
    assert!(shell.0.response.0.is_empty());
}

fn per_route(text: &str) -> Arc<PerRouteConfig> {
    Arc::new(configure_per_route(b"cors", text.as_bytes(), |_, line| panic!("{line}")).unwrap())
}

/// One allowed-or-not actual request from `origin`, with a per-route config
/// and route metadata; the recorder afterwards.
fn with_route_config<'h>(
    runtime: &Runtime,
    request: &'h [(Vec<u8>, Vec<u8>)],
    per_route: Option<Arc<PerRouteConfig>>,
    metadata: &[(&'h str, &'h str, &'h [u8])],
) -> Recorder<'h> {
    let mut shell = Shell(Recorder {
        per_route,
        route_metadata: metadata.to_vec(),
        ..recorder(request, Some(b"legacy"))
    });
    let mut stream = Stream::new(Some(runtime));
    stream.on_request_headers(&mut shell);
    stream.on_response_headers(&mut shell);
    shell.0
}

#[test]
fn a_per_route_policy_wins_over_the_rules_and_counts_under_its_name() {
    let runtime = runtime();
    let request = list(&[
        (":method", "GET"),
        (":authority", "api.example.com"),
        ("origin", "https://t7.example"),
    ]);
    // The route is `legacy`, which the rules turn off: the per-route config wins.
    let envoy = with_route_config(
        &runtime,
        &request,
        Some(per_route(
            r#"{"name": "tenant7", "allow_origins": ["https://t7.example"]}"#,
        )),
        &[],
    );
    assert_eq!(
        envoy.response.0[0],
        ("access-control-allow-origin".to_owned(), b"https://t7.example".to_vec())
    );
    assert!(envoy.increments.is_empty());
    // public 1..=4, strict 5..=8, cors.unknown_policy 9, cors.per_route.* 10..=13.
    assert_eq!(envoy.labelled_increments, [(12, "tenant7".to_owned())]);
}

#[test]
fn a_per_route_name_picks_a_listed_policy_and_null_turns_cors_off() {
    let runtime = runtime();
    let request = list(&[
        (":method", "GET"),
        (":authority", "api.example.com"),
        ("origin", "https://evil.example"),
    ]);
    let envoy = with_route_config(&runtime, &request, Some(per_route(r#"{"policy": "public"}"#)), &[]);
    assert_eq!(
        envoy.response.0[0],
        ("access-control-allow-origin".to_owned(), b"*".to_vec())
    );
    assert_eq!(envoy.increments, [3]);
    let envoy = with_route_config(&runtime, &request, Some(per_route(r#"{"policy": null}"#)), &[]);
    assert!(envoy.response.0.is_empty() && envoy.increments.is_empty());
    assert!(envoy.reads.borrow().is_empty(), "CORS off: no header read");
}

#[test]
fn route_metadata_names_a_policy_when_the_opt_in_is_on_and_an_unknown_one_is_refused() {
    let text = POLICY.replacen(
        "\"default\": \"strict\"",
        "\"default\": \"strict\", \"metadata_namespace\": \"envoy-cors\"",
        1,
    );
    let opted_in = configure(b"cors", text.as_bytes(), |_, _| Ok(1), |_, _| {}).unwrap();
    let request = list(&[
        (":method", "GET"),
        (":authority", "api.example.com"),
        ("origin", "https://evil.example"),
    ]);
    let envoy = with_route_config(&opted_in, &request, None, &[("envoy-cors", "policy", b"public")]);
    assert_eq!(
        envoy.response.0[0],
        ("access-control-allow-origin".to_owned(), b"*".to_vec())
    );
    let envoy = with_route_config(&opted_in, &request, None, &[("envoy-cors", "policy", b"pubilc")]);
    assert_eq!(envoy.response.0, [("vary".to_owned(), b"Origin".to_vec())]);
    assert_eq!(envoy.warned.borrow().len(), 1);
    // Without the opt-in, metadata is not read: the rules turn `legacy` off.
    let envoy = with_route_config(&runtime(), &request, None, &[("envoy-cors", "policy", b"public")]);
    assert!(envoy.response.0.is_empty());
}

#[test]
fn a_refused_per_route_policy_is_logged_one_line_per_problem() {
    let mut lines = Vec::new();
    let got = configure_per_route(
        b"cors",
        br#"{"allow_origins": ["https://*.com"], "max_age": -1}"#,
        |level, line| lines.push((level, line.to_owned())),
    );
    assert!(got.is_none());
    assert!(lines.iter().all(|(level, _)| *level == Level::Error));
    let lines: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("cors: per-route policy refused: allow_origins[0]: \"https://*.com\""));
    assert!(lines[1].starts_with("cors: per-route policy refused: max_age: -1"));
    assert!(lines[2].contains("Envoy refuses the route configuration"));
    assert!(configure_per_route(b"corz", br#"{"policy": null}"#, |_, _| {}).is_none());
}

#[test]
fn a_refusal_writes_its_record_for_the_access_log_and_an_allowed_request_none() {
    let runtime = runtime();
    let refused = list(&[
        (":method", "OPTIONS"),
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "PUT"),
        ("access-control-request-headers", "x-secret"),
    ]);
    let mut shell = Shell(recorder(&refused, None));
    Stream::new(Some(&runtime)).on_request_headers(&mut shell);
    assert_eq!(
        shell.0.filter_state,
        [(
            "wasm.cors.decision".to_owned(),
            "policy=strict verdict=preflight_denied reason=header_not_allowed:x-secret".to_owned()
        )]
    );
    let reply = shell.0.reply.unwrap();
    assert_eq!((reply.status, reply.details.as_str()), (204, "cors_preflight_refused"));
    for allowed in [
        list(&[(":method", "GET"), ("origin", "https://app.example.com")]),
        list(&[(":method", "GET")]),
    ] {
        let mut shell = Shell(recorder(&allowed, None));
        let mut stream = Stream::new(Some(&runtime));
        stream.on_request_headers(&mut shell);
        stream.on_response_headers(&mut shell);
        assert!(shell.0.filter_state.is_empty(), "{allowed:?}");
    }
}

#[test]
fn refusals_are_logged_at_debug_level() {
    let runtime = runtime();
    let request = list(&[(":method", "GET"), ("origin", "https://evil.example")]);
    let mut shell = Shell(recorder(&request, None));
    Stream::new(Some(&runtime)).on_request_headers(&mut shell);
    let logged = shell.0.logged.borrow();
    assert_eq!(logged.len(), 1);
    assert!(
        logged[0].contains("refused request from origin \"https://evil.example\""),
        "{logged:?}"
    );
}

#[test]
fn a_bad_policy_is_refused_one_line_per_problem() {
    let lines = RefCell::new(Vec::new());
    let policy = br#"{"policies": {"p": {"allow_origins": ["https://*example.com", "null"], "max_age": 100000}}, "default": "p"}"#;
    let got = configure(
        b"cors",
        policy,
        |_, _| Ok(0),
        |level, line| lines.borrow_mut().push((level, line.to_owned())),
    );
    assert!(got.is_none());
    let lines = lines.into_inner();
    assert!(lines
        .iter()
        .all(|(level, line)| *level == Level::Error && line.starts_with("cors: policy refused")));
    for path in [
        "policies.p.allow_origins[0]",
        "policies.p.allow_origins[1]",
        "policies.p.max_age",
    ] {
        assert!(lines.iter().any(|(_, line)| line.contains(path)), "{path}: {lines:?}");
    }
}

#[test]
fn another_filter_name_is_refused() {
    let lines = RefCell::new(Vec::new());
    let got = configure(
        b"corz",
        br#"{"allow_origins": ["*"]}"#,
        |_, _| Ok(0),
        |_, line| lines.borrow_mut().push(line.to_owned()),
    );
    assert!(got.is_none());
    assert!(lines.borrow()[0].contains("filter_name \"corz\""));
}

#[test]
fn a_counter_envoy_cannot_define_refuses_the_config() {
    let got = configure(
        b"cors",
        POLICY.as_bytes(),
        |name, _| Err(format!("{name}: frozen")),
        |_, _| {},
    );
    assert!(got.is_none());
}

fn header_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        ":method",
        ":scheme",
        ":authority",
        ":path",
        "origin",
        "x-forwarded-proto",
        "access-control-request-method",
        "access-control-request-headers",
        "access-control-request-private-network",
        "x-other",
    ])
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "OPTIONS",
            "GET",
            "PUT",
            "https://app.example.com",
            "https://a.example.org",
            "https://evil.example",
            "http",
            "https",
            "api.example.com",
            "/public/x",
            "/items",
            "content-type",
            "true",
            "",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..12),
    ]
}

proptest! {
    #[test]
    fn reading_header_by_header_decides_as_reading_the_whole_map(
        pairs in prop::collection::vec((header_name(), header_value()), 0..10),
        route in prop::option::of(prop::sample::select(vec!["legacy", "api"])),
    ) {
        // Envoy never holds a pseudo-header twice.
        let mut seen = Vec::new();
        let request: Vec<(Vec<u8>, Vec<u8>)> = pairs
            .into_iter()
            .filter(|(n, _)| !n.starts_with(':') || { let new = !seen.contains(n); seen.push(n); new })
            .map(|(n, v)| (n.as_bytes().to_vec(), v))
            .collect();
        let (ours, whole) = both_decisions(&request, route.map(str::as_bytes));
        prop_assert_eq!(ours, whole);
    }
}

/// The module's cost is its ABI calls: this fails if a request makes more.
#[test]
fn each_kind_of_request_makes_a_fixed_number_of_header_reads() {
    let runtime = runtime();
    let cases: [(&[(&str, &str)], usize); 4] = [
        (&[(":method", "GET"), (":path", "/x")], 3),
        (
            &[
                (":method", "GET"),
                (":path", "/x"),
                ("origin", "https://app.example.com"),
            ],
            6,
        ),
        // As Envoy hands it over: x-forwarded-proto set, so :scheme is not read.
        (
            &[
                (":method", "GET"),
                (":scheme", "http"),
                ("x-forwarded-proto", "http"),
                ("origin", "https://app.example.com"),
            ],
            5,
        ),
        (
            &[
                (":method", "OPTIONS"),
                (":path", "/x"),
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "PUT"),
            ],
            9,
        ),
    ];
    for (pairs, reads) in cases {
        let request = list(pairs);
        let mut shell = Shell(recorder(&request, None));
        let mut stream = Stream::new(Some(&runtime));
        stream.on_request_headers(&mut shell);
        stream.on_response_headers(&mut shell);
        assert_eq!(
            shell.0.reads.borrow().len(),
            reads,
            "{pairs:?}: {:?}",
            shell.0.reads.borrow()
        );
        assert!(shell.0.increments.len() <= 1);
    }
}
