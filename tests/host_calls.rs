//! Regression check on the per-request cost: the host calls the plugin's
//! shell makes for each kind of request (the real shell, `Shell`, over a
//! recording proxy-wasm host), and the heap allocations one CORS decision
//! makes. A change that adds a host call or an allocation on these paths
//! fails here, whatever the wall clock says.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // test code

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;

use envoy_cors_core::language::Config;
use envoy_cors_core::request::read_pairs;
use envoy_cors_core::stream::{PolicyCounters, Runtime, Stream};
use envoy_cors_testing::wasm_host::WasmRecorder;
use envoy_cors_wasm::{header_map, Shell};

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
