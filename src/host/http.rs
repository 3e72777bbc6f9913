//! The HTTP context: the proxy-wasm implementation of the filter's [`Host`]
//! port, and the callbacks that drive [`Stream`]. Header values are read as
//! bytes (never as `String`: those getters panic on invalid UTF-8 and would
//! take the VM down).

use std::rc::Rc;

use log::debug;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use super::raw;
use crate::exchange::{read_pairs, RequestHead};
use crate::filter::{origin_for_log, Host, Runtime, Stream, Verdict};
use crate::header_map;
use crate::policy::{Decision, LocalReply, Policy, Request};
use crate::response::HeaderWriter;

/// One HTTP stream.
pub struct CorsHttp {
    stream: Stream,
}

impl CorsHttp {
    pub fn new(runtime: Option<Rc<Runtime>>) -> Self {
        Self {
            stream: Stream::new(runtime),
        }
    }
}

impl Context for CorsHttp {}

impl HttpContext for CorsHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match self.stream.on_request_headers(&mut Envoy) {
            Verdict::Continue => Action::Continue,
            Verdict::Stop => Action::Pause,
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.stream.on_response_headers(&mut Envoy);
        Action::Continue
    }
}

/// Envoy, through the proxy-wasm host calls of the current stream.
struct Envoy;

impl Host for Envoy {
    fn read_request<R>(&mut self, route_name: bool, f: impl FnOnce(&mut Self, &RequestHead<'_>) -> R) -> Option<R> {
        // One host call for the whole map: each call into the host that
        // returns data also calls back into the VM to allocate it, so one
        // map read costs less than two header reads (`make bench-callgrind`).
        let buffer = raw::header_map(MapType::HttpRequestHeaders)?;
        let mut pairs = header_map::pairs(&buffer)?;
        // Envoy 1.40 answers `xds.route_name`; the bare `route_name` is empty.
        let name = if route_name {
            hostcalls::get_property(vec!["xds", "route_name"]).ok().flatten()
        } else {
            None
        };
        let head = RequestHead {
            route_name: name.as_deref(),
            ..read_pairs(pairs.by_ref())
        };
        // A map the host sent malformed is not trusted, even in part.
        pairs.is_whole().then(|| f(self, &head))
    }

    fn send_reply(&mut self, reply: &LocalReply<'_>) -> bool {
        raw::send_local_response(reply.status, &reply.headers)
    }

    fn increment(&mut self, counter: u32) {
        // A failed increment must never fail the request.
        let _ = hostcalls::increment_metric(counter, 1);
    }

    fn debug_enabled(&self) -> bool {
        log::log_enabled!(log::Level::Debug)
    }

    fn log_refusal(&mut self, policy: &Policy, decision: &Decision<'_>, request: &Request<'_>) {
        let (kind, refusal) = match decision {
            Decision::PreflightDenied(r) => ("preflight", r),
            Decision::ActualDenied(r) => ("request", r),
            _ => return,
        };
        debug!(
            "cors: policy {}{}: refused {kind} from origin {:?}: {refusal}",
            policy.name,
            if policy.is_report_only() { " (report only)" } else { "" },
            origin_for_log(request),
        );
    }
}

impl HeaderWriter for Envoy {
    fn remove(&mut self, name: &str) {
        let _ = hostcalls::remove_map_value(MapType::HttpResponseHeaders, name);
    }

    fn set(&mut self, name: &str, value: &[u8]) {
        let _ = hostcalls::set_map_value_bytes(MapType::HttpResponseHeaders, name, Some(value));
    }

    fn add(&mut self, name: &str, value: &[u8]) {
        let _ = hostcalls::add_map_value_bytes(MapType::HttpResponseHeaders, name, value);
    }
}
