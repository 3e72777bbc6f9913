//! After a caught panic the module leaves the stream as a refused CORS
//! request, over a recording Envoy: the upstream's `Access-Control-Allow-Origin`
//! removed, a preflight answered 403, the panic counted, logged and recorded
//! for the access log. (End to end, with a panic injected into a test build:
//! tests/e2e/test_fail_closed.py.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // test code

use envoy_cors::fail_closed::{after_request_panic, after_response_panic, refuse_response, AfterPanic, DETAILS};
use envoy_cors_core::simulation::VecHeaders;
use envoy_cors_testing::module_host::ModuleRecorder as Recorder;

const LINE: &str = "cors: panic in on_http_filter_request_headers, caught: boom";
const PANICS: Option<u32> = Some(42);
const PREFLIGHT: &[(&str, &str)] = &[
    (":method", "OPTIONS"),
    ("origin", "https://app.example.com"),
    ("access-control-request-method", "PUT"),
];

fn list(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    pairs
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn record<'a>(envoy: &'a Recorder<'_>) -> Vec<(&'a str, &'a str)> {
    envoy
        .filter_state
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn logged_once(envoy: &Recorder<'_>) -> bool {
    // The first panic of the process is logged at error level, the others at debug.
    envoy.errors.borrow().len() + envoy.logged.borrow().len() == 1
}

#[test]
fn a_preflight_whose_request_hook_panicked_is_answered_403() {
    let request = list(PREFLIGHT);
    let mut envoy = Recorder {
        request: &request,
        ..Recorder::default()
    };
    assert_eq!(after_request_panic(&mut envoy, PANICS, LINE, false), AfterPanic::Stop);
    let reply = envoy.reply.clone().unwrap();
    assert_eq!((reply.status, reply.details.as_str()), (403, DETAILS));
    assert!(reply.headers.iter().all(|(n, _)| n == "vary"), "{reply:?}");
    assert_eq!(envoy.increments, [42]);
    assert!(logged_once(&envoy));
    assert_eq!(
        record(&envoy),
        [(
            "wasm.cors.decision",
            "policy=- verdict=preflight_denied reason=internal_error"
        )]
    );
}

#[test]
fn a_request_whose_request_hook_panicked_goes_on_and_its_response_grants_nothing() {
    let request = list(&[(":method", "GET"), ("origin", "https://app.example.com")]);
    let mut envoy = Recorder {
        request: &request,
        ..Recorder::default()
    };
    assert_eq!(
        after_request_panic(&mut envoy, PANICS, LINE, false),
        AfterPanic::Continue
    );
    assert!(envoy.reply.is_none());
    envoy.response = VecHeaders(vec![
        ("access-control-allow-origin".into(), b"*".to_vec()),
        ("content-type".into(), b"text/plain".to_vec()),
    ]);
    refuse_response(&mut envoy);
    assert_eq!(envoy.response.0, [("content-type".to_owned(), b"text/plain".to_vec())]);
    assert_eq!(
        record(&envoy),
        [(
            "wasm.cors.decision",
            "policy=- verdict=actual_denied reason=internal_error"
        )]
    );
}

#[test]
fn a_stream_that_already_replied_gets_no_second_reply() {
    let request = list(PREFLIGHT);
    let mut envoy = Recorder {
        request: &request,
        ..Recorder::default()
    };
    assert_eq!(after_request_panic(&mut envoy, None, LINE, true), AfterPanic::Stop);
    assert!(envoy.reply.is_none());
    assert!(envoy.increments.is_empty(), "no counter: none to count with");
}

#[test]
fn a_response_hook_panic_removes_the_upstreams_allow_origin() {
    let request = list(&[(":method", "GET"), ("origin", "https://app.example.com")]);
    let mut envoy = Recorder {
        request: &request,
        response: VecHeaders(vec![(
            "access-control-allow-origin".into(),
            b"https://app.example.com".to_vec(),
        )]),
        ..Recorder::default()
    };
    after_response_panic(
        &mut envoy,
        PANICS,
        "cors: panic in on_http_filter_response_headers, caught: boom",
    );
    assert!(envoy.response.0.is_empty());
    assert_eq!(envoy.increments, [42]);
    assert_eq!(
        record(&envoy),
        [(
            "wasm.cors.decision",
            "policy=- verdict=actual_denied reason=internal_error"
        )]
    );
}
