//! Regression check on the per-request cost: the host calls the plugin's
//! shell makes for each kind of request (the real shell, `Shell`, over a
//! recording proxy-wasm host), and the heap allocations one CORS decision
//! makes. A change that adds a host call or an allocation on these paths
//! fails here, whatever the wall clock says.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // test code

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;

use envoy_cors_core::configure;
use envoy_cors_core::language::Config;
use envoy_cors_core::request::read_pairs;
use envoy_cors_core::stream::{PolicyCounters, Runtime, Stream};
use envoy_cors_testing::wasm_host::WasmRecorder;
use envoy_cors_wasm::{header_map, Property, Shell};

/// Counts allocations made by the current thread.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract for `alloc`, passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout (the caller's contract).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

const POLICY: &str = r#"{
  "policies": {
    "strict": { "allow_origins": ["https://app.example.com", "https://*.example.org"],
                "allow_methods": ["GET", "PUT"], "allow_headers": ["content-type"],
                "expose_headers": ["x-request-id"], "max_age": 600, "allow_credentials": true }
  },
  "routes": [{ "match": { "path": "/off/**" }, "policy": null }],
  "default": "strict"
}"#;

fn runtime() -> Rc<Runtime> {
    let config = Config::parse(POLICY.as_bytes()).unwrap();
    let counters = config.policies.iter().map(|_| PolicyCounters::default()).collect();
    Rc::new(Runtime::new(config, counters))
}

fn headers(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
        .collect()
}

/// The shell over a host holding these request headers, after one exchange.
fn exchange(request: &[(&str, &str)]) -> WasmRecorder {
    let mut shell = Shell(WasmRecorder {
        request: headers(request),
        ..WasmRecorder::default()
    });
    let mut stream = Stream::new(Some(runtime()));
    // Envoy runs the response callback on our own local reply too, so it
    // runs whatever the verdict.
    let _ = stream.on_request_headers(&mut shell);
    stream.on_response_headers(&mut shell);
    shell.0
}

fn calls_for(request: &[(&str, &str)]) -> Vec<String> {
    exchange(request).calls
}

fn base(method: &'static str, path: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        (":method", method),
        (":path", path),
        (":authority", "api.example.com"),
        (":scheme", "https"),
    ]
}

#[test]
fn allowed_actual_request_costs_six_host_calls_and_never_reads_the_response() {
    let mut req = base("GET", "/items");
    req.push(("origin", "https://app.example.com"));
    assert_eq!(
        calls_for(&req),
        [
            "get request headers",
            "increment",
            "set access-control-allow-origin",
            "set access-control-allow-credentials",
            "set access-control-expose-headers",
            "add vary",
        ]
    );
}

#[test]
fn an_origin_too_long_to_keep_inline_is_still_echoed_whole() {
    let origin = format!("https://{}.{}.example.org", "a".repeat(60), "b".repeat(60));
    for origin in ["https://app.example.com", origin.as_str()] {
        let mut req = base("GET", "/items");
        req.push(("origin", origin));
        let host = exchange(&req);
        assert_eq!(
            host.set.first(),
            Some(&("access-control-allow-origin".to_owned(), origin.as_bytes().to_vec()))
        );
    }
}

#[test]
fn refused_actual_request_costs_one_more_host_call_for_its_record() {
    let mut req = base("GET", "/items");
    req.push(("origin", "https://evil.example"));
    let host = exchange(&req);
    assert_eq!(
        host.calls,
        [
            "get request headers",
            "increment",
            "set property",
            "remove access-control-allow-origin",
            "add vary"
        ]
    );
    assert_eq!(
        host.record.as_deref(),
        Some("policy=strict verdict=actual_denied reason=origin_not_allowed")
    );
}

#[test]
fn refused_preflight_costs_one_more_host_call_for_its_record() {
    let mut req = base("OPTIONS", "/items");
    req.push(("origin", "https://app.example.com"));
    req.push(("access-control-request-method", "DELETE"));
    let host = exchange(&req);
    assert_eq!(
        host.calls,
        ["get request headers", "increment", "set property", "send reply"]
    );
    assert_eq!(
        host.record.as_deref(),
        Some("policy=strict verdict=preflight_denied reason=method_not_allowed:DELETE")
    );
}

#[test]
fn allowed_requests_and_requests_without_origin_write_no_record() {
    let mut allowed = base("GET", "/items");
    allowed.push(("origin", "https://app.example.com"));
    let mut preflight = base("OPTIONS", "/items");
    preflight.push(("origin", "https://app.example.com"));
    preflight.push(("access-control-request-method", "PUT"));
    for req in [allowed, preflight, base("GET", "/items")] {
        let host = exchange(&req);
        assert_eq!(host.record, None, "{req:?}");
        assert!(!host.calls.iter().any(|c| c == "set property"), "{req:?}");
    }
}

#[test]
fn preflight_costs_three_host_calls_and_is_not_decorated_twice() {
    let mut req = base("OPTIONS", "/items");
    req.push(("origin", "https://app.example.com"));
    req.push(("access-control-request-method", "PUT"));
    assert_eq!(calls_for(&req), ["get request headers", "increment", "send reply"]);
}

#[test]
fn request_without_origin_costs_three_host_calls() {
    assert_eq!(
        calls_for(&base("GET", "/items")),
        ["get request headers", "remove access-control-allow-origin", "add vary"]
    );
}

#[test]
fn uncovered_route_costs_one_host_call() {
    let mut req = base("GET", "/off/x");
    req.push(("origin", "https://app.example.com"));
    assert_eq!(calls_for(&req), ["get request headers"]);
}

/// The routed form with route metadata: `strict` by default, `public` by name.
const METADATA_POLICY: &str = r#"{
  "policies": {
    "strict": { "allow_origins": ["https://app.example.com"] },
    "public": { "allow_origins": ["*"] }
  },
  "default": "strict",
  "metadata_namespace": "envoy-cors"
}"#;

const ROUTE_POLICY: &str = "xds.route_metadata.filter_metadata.envoy-cors.policy";
const VHOST_POLICY: &str = "xds.virtual_host_metadata.filter_metadata.envoy-cors.policy";

/// One exchange with route metadata: the properties the host holds, and the
/// counter ids the configure step gave (`cors.unknown_policy` is the last).
fn exchange_with_metadata(properties: &[(&str, Property)], request: &[(&str, &str)]) -> (WasmRecorder, Vec<u32>) {
    let mut next = 0;
    let runtime = configure::load(METADATA_POLICY.as_bytes(), |_| {
        next += 1;
        Ok::<_, String>(next)
    })
    .unwrap();
    let mut shell = Shell(WasmRecorder {
        request: headers(request),
        properties: properties.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        ..WasmRecorder::default()
    });
    let mut stream = Stream::new(Some(Rc::new(runtime)));
    let _ = stream.on_request_headers(&mut shell);
    stream.on_response_headers(&mut shell);
    (shell.0, (1..=next).collect())
}

fn named(name: &str) -> Property {
    Property::Value(name.as_bytes().to_vec())
}

#[test]
fn route_metadata_costs_one_property_read_when_the_route_names_the_policy() {
    let mut req = base("GET", "/items");
    req.push(("origin", "https://evil.example"));
    let (host, _) = exchange_with_metadata(
        &[(ROUTE_POLICY, named("public")), (VHOST_POLICY, named("strict"))],
        &req,
    );
    assert_eq!(
        host.calls,
        [
            format!("get property {ROUTE_POLICY}"),
            "get request headers".into(),
            "increment".into(),
            "set access-control-allow-origin".into(),
            "remove access-control-allow-credentials".into(),
            "remove access-control-expose-headers".into(),
        ]
    );
}

#[test]
fn without_route_metadata_the_virtual_host_is_read_then_the_rules() {
    let mut req = base("GET", "/items");
    req.push(("origin", "https://evil.example"));
    let (host, _) = exchange_with_metadata(&[(VHOST_POLICY, named("public"))], &req);
    assert_eq!(
        host.calls[..3],
        [
            format!("get property {ROUTE_POLICY}"),
            format!("get property {VHOST_POLICY}"),
            "get request headers".into()
        ]
    );
    assert_eq!(
        host.set.first().map(|(n, v)| (n.as_str(), v.as_slice())),
        Some(("access-control-allow-origin", &b"*"[..]))
    );
    // Neither: the default (strict) refuses the origin.
    let (host, _) = exchange_with_metadata(&[], &req);
    assert_eq!(
        host.calls[..3],
        [
            format!("get property {ROUTE_POLICY}"),
            format!("get property {VHOST_POLICY}"),
            "get request headers".into()
        ]
    );
    assert!(
        host.calls.contains(&"remove access-control-allow-origin".to_owned()),
        "{:?}",
        host.calls
    );
}

#[test]
fn a_null_in_route_metadata_turns_cors_off_without_reading_the_request() {
    let mut req = base("OPTIONS", "/items");
    req.push(("origin", "https://evil.example"));
    req.push(("access-control-request-method", "PUT"));
    let (host, _) = exchange_with_metadata(&[(ROUTE_POLICY, Property::Unserializable)], &req);
    assert_eq!(host.calls, [format!("get property {ROUTE_POLICY}")]);
}

#[test]
fn an_unknown_name_refuses_the_preflight_counts_it_and_warns() {
    let mut req = base("OPTIONS", "/items");
    req.push(("origin", "https://app.example.com"));
    req.push(("access-control-request-method", "GET"));
    let properties = [(ROUTE_POLICY, named("pubilc"))];
    let (host, ids) = exchange_with_metadata(&properties, &req);
    assert_eq!(
        host.calls,
        [
            format!("get property {ROUTE_POLICY}"),
            "get request headers".into(),
            "warn".into(),
            "increment".into(),
            "set property".into(),
            "send reply".into()
        ]
    );
    assert_eq!(
        host.record.as_deref(),
        Some("policy=pubilc verdict=preflight_denied reason=unknown_policy:pubilc")
    );
    let (status, headers) = host.reply.clone().unwrap();
    assert_eq!(status, 403);
    assert!(
        headers.iter().all(|(name, _)| !name.starts_with("access-control-")),
        "{headers:?}"
    );
    assert!(host.logged[0].contains("\"pubilc\""), "{:?}", host.logged);
    // 4 counters per policy, two policies, then cors.unknown_policy.
    assert_eq!(ids.len(), 9);
}

#[test]
fn without_the_opt_in_no_property_is_read() {
    let mut req = base("GET", "/items");
    req.push(("origin", "https://app.example.com"));
    let host = exchange(&req);
    assert!(
        host.calls.iter().all(|c| !c.starts_with("get property")),
        "{:?}",
        host.calls
    );
}

#[test]
fn with_many_policies_a_policy_s_counters_are_defined_at_its_first_decision_only() {
    let policies: Vec<String> = (0..=configure::DEFINED_AT_LOAD_UP_TO)
        .map(|i| format!(r#""t{i}": {{"allow_origins": ["https://app.example.com"]}}"#))
        .collect();
    let text = format!(r#"{{"policies": {{{}}}, "default": "t7"}}"#, policies.join(","));
    let runtime =
        Rc::new(configure::load_deferring_counters(text.as_bytes(), |_| Err::<u32, _>("not at load")).unwrap());
    let mut req = base("GET", "/items");
    req.push(("origin", "https://app.example.com"));
    let mut shell = Shell(WasmRecorder {
        request: headers(&req),
        ..WasmRecorder::default()
    });
    for _ in 0..2 {
        let mut stream = Stream::new(Some(runtime.clone()));
        let _ = stream.on_request_headers(&mut shell);
    }
    let calls: Vec<&str> = shell.0.calls.iter().map(String::as_str).collect();
    assert_eq!(
        calls,
        [
            "get request headers",
            "define cors.t7.preflight_allowed",
            "define cors.t7.preflight_denied",
            "define cors.t7.actual_allowed",
            "define cors.t7.actual_denied",
            "increment",
            "get request headers",
            "increment",
        ]
    );
}

#[test]
fn reading_the_request_and_deciding_allocate_nothing() {
    let config = Config::parse(POLICY.as_bytes()).unwrap();
    let policy = &config.policies[0];
    let cases = [
        headers(&[
            (":method", "GET"),
            (":authority", "api.example.com"),
            ("origin", "https://app.example.com"),
        ]),
        headers(&[
            (":method", "GET"),
            (":authority", "api.example.com"),
            ("origin", "https://a.b.example.org"),
        ]),
        headers(&[
            (":method", "GET"),
            (":authority", "api.example.com"),
            ("origin", "https://evil.example"),
        ]),
        headers(&[
            (":method", "OPTIONS"),
            (":authority", "api.example.com"),
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "content-type"),
        ]),
    ];
    for case in &cases {
        let buffer = header_map::serialize(case);
        // As the filter does: the host's buffer read in place, no
        // allocation to read the map, none per header, none in the decision.
        let before = allocations();
        let mut pairs = header_map::pairs(&buffer).unwrap();
        let head = read_pairs(pairs.by_ref());
        assert!(pairs.is_whole());
        let decision = policy.decide(&head.request);
        std::hint::black_box(&decision);
        assert_eq!(allocations() - before, 0, "{case:?} -> {decision:?}");
    }
}
