//! Test only: a trap on demand (a panic aborts the wasm32 module, which the
//! VM reports as a trap), so that the end-to-end tests can show what Envoy's
//! `failure_policy` does after one (tests/e2e/test_failure_policy.py).
//! Compiled in only with the `fault-injection` feature, which no release
//! build turns on: the tests build it to `target/fault-injection/`
//! (scripts/build-fault-injection.sh) and check that the deployable `.wasm`
//! does not contain the marker.

/// Traps when the request carries the marker header with the value `request`.
#[cfg(feature = "fault-injection")]
#[allow(clippy::panic)] // the point of this test-only build
pub fn inject() {
    /// The request header that asks for a trap in the request callback.
    const MARKER: &str = "x-envoy-cors-test-panic";
    let value = proxy_wasm::hostcalls::get_map_value_bytes(proxy_wasm::types::MapType::HttpRequestHeaders, MARKER);
    if matches!(value, Ok(Some(v)) if v == b"request") {
        panic!("injected by the fault-injection build in the request callback");
    }
}

/// Without the feature: nothing, and no marker in the module.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn inject() {}
