//! Test only: a panic on demand, so that the end-to-end tests can show what
//! the module does after one (`fail_closed`). Compiled in only with the
//! `fault-injection` feature, which no release build turns on: the tests
//! build it to `target/fault-injection/` (scripts/build-fault-injection.sh)
//! and check that the released `.so` does not contain the marker
//! (tests/e2e/test_fail_closed.py).

use crate::Envoy;

/// The request header that asks for a panic, and in which hook:
/// `request` or `response`.
#[cfg(feature = "fault-injection")]
pub const MARKER: &str = "x-envoy-cors-test-panic";

/// Panics when the request's marker names `phase`.
#[cfg(feature = "fault-injection")]
#[allow(clippy::panic)] // the point of this test-only build
pub fn inject<'h>(envoy: &impl Envoy<'h>, phase: &str) {
    if envoy.request_header(MARKER).0 == Some(phase.as_bytes()) {
        panic!("injected by the fault-injection build in the {phase} hook");
    }
}

/// Without the feature: nothing, and no marker in the library.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn inject<'h>(_envoy: &impl Envoy<'h>, _phase: &str) {}
