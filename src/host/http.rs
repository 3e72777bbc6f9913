//! The HTTP context: bytes in from Envoy, a decision from the core, headers
//! written back. Header values are read as bytes (never as `String`, whose
//! getters panic on invalid UTF-8 and would take the VM down).

use std::rc::Rc;

use log::debug;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use super::root::Runtime;
use crate::exchange::{read_request, RequestHead};
use crate::policy::{self, Decision, Header, Request};
use crate::response::{AllowOrigin, HeaderWriter, ResponsePlan};
use crate::routes::RouteInput;

/// What the request phase left for the response phase.
enum State {
    /// No policy applies, or report mode: leave the response alone.
    Untouched,
    /// We answered locally; our own reply must not be decorated again.
    Replied,
    /// Decorate the upstream's (or Envoy's) response.
    Forwarded {
        policy: usize,
        allow_origin: Option<OwnedAllowOrigin>,
        vary_origin: bool,
    },
}

/// [`AllowOrigin`] kept across callbacks.
enum OwnedAllowOrigin {
    Any,
    Echo(String),
}

/// One HTTP stream.
pub struct CorsHttp {
    runtime: Option<Rc<Runtime>>,
    state: State,
}

impl CorsHttp {
    pub fn new(runtime: Option<Rc<Runtime>>) -> Self {
        Self {
            runtime,
            state: State::Untouched,
        }
    }
}

impl Context for CorsHttp {}

impl HttpContext for CorsHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(runtime) = self.runtime.clone() else {
            return Action::Continue;
        };
        let Ok(headers) = hostcalls::get_map_bytes(MapType::HttpRequestHeaders) else {
            return Action::Continue;
        };
        let RequestHead { request, path } = read_request(&headers);
        let route_name = if runtime.config.routes.uses_route_name() {
            hostcalls::get_property(vec!["xds", "route_name"]).ok().flatten()
        } else {
            None
        };
        let selected = runtime.config.routes.select(&RouteInput {
            route_name: route_name.as_deref(),
            authority: request.authority,
            path,
        });
        let Some((index, policy)) = selected.and_then(|i| runtime.config.policy(i).map(|p| (i, p))) else {
            return Action::Continue;
        };

        let decision = policy.decide(&request);
        if let Some(metrics) = runtime.metrics.get(index) {
            metrics.count(&decision);
        }
        log_refusal(policy, &decision, &request);

        match policy.act(&decision) {
            policy::Action::Untouched => Action::Continue,
            policy::Action::Reply(reply) => {
                self.state = State::Replied;
                match hostcalls::send_http_response(reply.status, reply.headers, None) {
                    Ok(()) => Action::Pause,
                    Err(_) => Action::Continue,
                }
            }
            policy::Action::Forward(plan) => {
                self.state = State::Forwarded {
                    policy: index,
                    allow_origin: plan.allow_origin.map(|allow| match allow {
                        AllowOrigin::Any => OwnedAllowOrigin::Any,
                        AllowOrigin::Echo(origin) => OwnedAllowOrigin::Echo(origin.to_owned()),
                    }),
                    vary_origin: plan.vary_origin,
                };
                Action::Continue
            }
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let State::Forwarded {
            policy,
            allow_origin,
            vary_origin,
        } = &self.state
        else {
            return Action::Continue;
        };
        let Some(policy) = self.runtime.as_ref().and_then(|r| r.config.policy(*policy)) else {
            return Action::Continue;
        };
        let plan = ResponsePlan {
            allow_origin: allow_origin.as_ref().map(|allow| match allow {
                OwnedAllowOrigin::Any => AllowOrigin::Any,
                OwnedAllowOrigin::Echo(origin) => AllowOrigin::Echo(origin),
            }),
            vary_origin: *vary_origin,
        };
        let Ok(upstream) = hostcalls::get_map_bytes(MapType::HttpResponseHeaders) else {
            return Action::Continue;
        };
        plan.apply(policy, &upstream, &mut EnvoyResponseHeaders);
        Action::Continue
    }
}

/// Logs why a CORS request was refused, at debug level.
fn log_refusal(policy: &policy::Policy, decision: &Decision<'_>, request: &Request<'_>) {
    if !log::log_enabled!(log::Level::Debug) {
        return;
    }
    let (kind, refusal) = match decision {
        Decision::PreflightDenied(r) => ("preflight", r),
        Decision::ActualDenied(r) => ("request", r),
        _ => return,
    };
    let origin = match request.origin {
        Header::One(value) => String::from_utf8_lossy(value),
        _ => "".into(),
    };
    debug!(
        "cors: policy {}{}: refused {kind} from origin {origin:?}: {refusal}",
        policy.name,
        if policy.is_report_only() { " (report only)" } else { "" },
    );
}

/// The response header map of the current stream.
struct EnvoyResponseHeaders;

impl HeaderWriter for EnvoyResponseHeaders {
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
