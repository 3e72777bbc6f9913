//! After a panic the unwind guard caught in a stream's hook, the stream is
//! left as CORS leaves a refused request, never untouched: the upstream's
//! `Access-Control-Allow-Origin` is removed from the response (so the browser
//! grants nothing), and a preflight whose request phase panicked is answered
//! 403. The panic is counted (`cors.panics`), logged (the first one at
//! error level, later ones at debug: a panic on every request must not
//! flood the log), and recorded for the access log as `reason=internal_error`.
//!
//! Everything here goes through the [`Envoy`] trait, so the tests drive it
//! over a recorder; the ABI hooks call it from their unwind guard.

use std::sync::atomic::{AtomicBool, Ordering};

use envoy_cors_core::policy;
use envoy_cors_core::record::{Record, FILTER_STATE_KEY};
use envoy_cors_core::response::ACTUAL_RESPONSE_HEADERS;

use crate::envoy::{names, Envoy};

/// The counter of caught panics, defined on every filter config.
pub const PANICS_COUNTER: &str = "cors.panics";

/// The response code details of the 403 a preflight gets after a panic.
pub const DETAILS: &str = "cors_internal_error";

/// Whether a panic was logged at error level yet, in this process.
static LOGGED: AtomicBool = AtomicBool::new(false);

/// What the request hook answers Envoy after a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPanic {
    /// The request goes on; its response loses `Access-Control-Allow-Origin`.
    Continue,
    /// A 403 was sent.
    Stop,
}

/// Counts and logs a panic: the first of the process at error level, the
/// others at debug.
fn report<'h>(envoy: &mut impl Envoy<'h>, panics: Option<u32>, line: &str) {
    if let Some(id) = panics {
        envoy.increment_counter(id);
    }
    if !LOGGED.swap(true, Ordering::Relaxed) {
        envoy.log_error(&format!(
            "{line} (the request was refused; later panics are counted in {PANICS_COUNTER} and logged at debug level)"
        ));
    } else if envoy.debug_enabled() {
        envoy.log_debug(line);
    }
}

/// Reports whether the request is a CORS preflight (read again: what the
/// panicking hook read is gone).
fn is_preflight<'h>(envoy: &impl Envoy<'h>) -> bool {
    let [request_method, ..] = names::PREFLIGHT;
    envoy.request_header(names::METHOD).0 == Some(b"OPTIONS")
        && envoy.request_header(names::ORIGIN).1 > 0
        && envoy.request_header(request_method).1 > 0
}

/// Fails a stream closed after a panic in its request hook; `replied` when
/// the filter had already sent its local reply (nothing more to send).
pub fn after_request_panic<'h>(
    envoy: &mut impl Envoy<'h>,
    panics: Option<u32>,
    line: &str,
    replied: bool,
) -> AfterPanic {
    report(envoy, panics, line);
    let preflight = is_preflight(envoy);
    envoy.set_filter_state(FILTER_STATE_KEY, Record::internal_error(preflight).render().as_bytes());
    if replied {
        return AfterPanic::Stop;
    }
    if preflight {
        envoy.send_response(403, &[("vary", policy::PREFLIGHT_VARY)], DETAILS);
        return AfterPanic::Stop;
    }
    AfterPanic::Continue
}

/// The response of a stream whose request hook panicked: the upstream's
/// `Access-Control-Allow-Origin` is removed (without it a browser's CORS
/// check fails, whatever else the upstream sent).
pub fn refuse_response<'h>(envoy: &mut impl Envoy<'h>) {
    let [allow_origin, ..] = ACTUAL_RESPONSE_HEADERS;
    envoy.remove_response_header(allow_origin);
}

/// Fails a stream closed after a panic in its response hook.
pub fn after_response_panic<'h>(envoy: &mut impl Envoy<'h>, panics: Option<u32>, line: &str) {
    report(envoy, panics, line);
    refuse_response(envoy);
    envoy.set_filter_state(FILTER_STATE_KEY, Record::internal_error(false).render().as_bytes());
}
