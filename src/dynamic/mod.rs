//! The second shell: the filter as an Envoy dynamic module, a shared library
//! (`target/release/libenvoy_cors.so`) that Envoy loads into its own process
//! and calls through a C ABI, with no VM in between.
//!
//! Layering, as in Envoy's own Rust SDK: `abi` holds the raw declarations,
//! the exported entry points and the only `unsafe` code of the crate; this
//! module is safe Rust over the [`Envoy`] trait, the ABI's calls for one stream
//! in safe form. [`Shell`] implements the filter's [`Host`] port on top of it,
//! so the per-stream logic is [`crate::filter::Stream`], the same as in the
//! proxy-wasm shell; tests and the `dynamic_shell` fuzz target drive this
//! code over a `Vec` instead of Envoy.
//!
//! Per request the shell reads only the request headers the decision needs,
//! each with one header getter whose answer points into Envoy's header map
//! (no copy), and Envoy's route name only when a rule needs it.

#[allow(unsafe_code)] // the one module that talks C to Envoy
mod abi;

use std::time::Instant;

use crate::configure::{self, Loaded};
use crate::exchange::RequestHead;
use crate::filter::{origin_for_log, Host, Runtime};
use crate::policy::{Decision, Header, LocalReply, Policy, Request};
use crate::response::HeaderWriter;

/// The `filter_name` the module answers to in Envoy's config.
pub const FILTER_NAME: &str = "cors";

/// The request headers the filter reads, and the order the shell reads them in.
pub mod names {
    /// `Origin`: read first; without it only route rules matter.
    pub const ORIGIN: &str = "origin";
    /// `:authority`, for route rules and the same-origin check.
    pub const AUTHORITY: &str = ":authority";
    /// `:path`, for route rules.
    pub const PATH: &str = ":path";
    /// `:method`.
    pub const METHOD: &str = ":method";
    /// The scheme a proxy in front saw (leftmost entry).
    pub const FORWARDED_PROTO: &str = "x-forwarded-proto";
    /// `:scheme`, read only without `x-forwarded-proto`.
    pub const SCHEME: &str = ":scheme";
    /// The preflight's request headers, read only for `OPTIONS`.
    pub const PREFLIGHT: [&str; 3] = [
        "access-control-request-method",
        "access-control-request-headers",
        "access-control-request-private-network",
    ];
}

/// What Envoy gives one stream, in safe form: each method is one ABI call.
/// Values borrowed from a request header live as long as the hook (`'h`):
/// they point into Envoy's header map, which the filter never writes while
/// it reads them.
pub trait Envoy<'h> {
    /// The first value of a request header and how many values it has (0 when
    /// absent).
    fn request_header(&self, name: &str) -> (Option<&'h [u8]>, usize);
    /// Envoy's route name (the `xds.route_name` attribute).
    fn route_name(&self) -> Option<&'h [u8]>;
    /// Replaces every value of a response header.
    fn set_response_header(&mut self, name: &str, value: &[u8]);
    /// Adds a value to a response header.
    fn add_response_header(&mut self, name: &str, value: &[u8]);
    /// Removes every value of a response header.
    fn remove_response_header(&mut self, name: &str);
    /// Sends a local reply with an empty body.
    fn send_response(&mut self, status: u32, headers: &[(&str, &str)], details: &str);
    /// Adds one to a counter defined on the filter config.
    fn increment_counter(&mut self, id: u32);
    /// Reports whether Envoy logs dynamic modules at debug level.
    fn debug_enabled(&self) -> bool;
    /// Logs a line at debug level.
    fn log_debug(&self, message: &str);
}

/// How a header getter's answer becomes a [`Header`].
fn header<'h>((value, count): (Option<&'h [u8]>, usize)) -> Header<'h> {
    match count {
        0 => Header::Absent,
        1 => Header::One(value.unwrap_or_default()),
        _ => Header::Repeated,
    }
}

/// The first value of a header, or empty.
fn first<'h>(envoy: &impl Envoy<'h>, name: &str) -> &'h [u8] {
    envoy.request_header(name).0.unwrap_or_default()
}

/// Reads the request facts the decision needs, header by header. Without an
/// `Origin` the decision is "not CORS" whatever the other headers say, so only
/// what route rules read is fetched; the preflight headers only for
/// `OPTIONS`. The result decides exactly as
/// [`crate::exchange::read_request`] over the whole map would (tested below
/// and by the `dynamic_shell` fuzz target).
pub fn read_head<'h>(envoy: &impl Envoy<'h>, route_name: bool) -> RequestHead<'h> {
    let mut head = RequestHead::default();
    let req = &mut head.request;
    req.origin = header(envoy.request_header(names::ORIGIN));
    req.authority = first(envoy, names::AUTHORITY);
    head.path = first(envoy, names::PATH);
    if route_name {
        head.route_name = envoy.route_name();
    }
    if !req.origin.is_present() {
        return head;
    }
    req.method = first(envoy, names::METHOD);
    // Envoy's connection manager sets `x-forwarded-proto` on every request
    // before the filters run, so `:scheme` is rarely needed.
    req.scheme = match envoy
        .request_header(names::FORWARDED_PROTO)
        .0
        .and_then(|v| crate::tokens::split_list(v).next())
    {
        Some(proto) => proto,
        None => first(envoy, names::SCHEME),
    };
    if req.method == b"OPTIONS" {
        let [method, headers, private_network] = names::PREFLIGHT;
        req.request_method = header(envoy.request_header(method));
        req.request_headers = header(envoy.request_header(headers));
        req.request_private_network = header(envoy.request_header(private_network));
    }
    head
}

/// The response code details Envoy records for the filter's local replies.
pub fn reply_details(reply: &LocalReply<'_>) -> &'static str {
    if reply.status == 403 {
        "cors_refused"
    } else {
        "cors_preflight_allowed"
    }
}

/// The filter's [`Host`] port over one stream's [`Envoy`].
pub struct Shell<E>(pub E);

impl<'h, E: Envoy<'h>> Host for Shell<E> {
    fn read_request<R>(&mut self, route_name: bool, f: impl FnOnce(&mut Self, &RequestHead<'_>) -> R) -> Option<R> {
        let head = read_head(&self.0, route_name);
        Some(f(self, &head))
    }

    fn send_reply(&mut self, reply: &LocalReply<'_>) -> bool {
        self.0.send_response(reply.status, &reply.headers, reply_details(reply));
        true
    }

    fn increment(&mut self, counter: u32) {
        self.0.increment_counter(counter);
    }

    fn log_refusal(&mut self, policy: &Policy, decision: &Decision<'_>, request: &Request<'_>) {
        let (kind, refusal) = match decision {
            Decision::PreflightDenied(r) => ("preflight", r),
            Decision::ActualDenied(r) => ("request", r),
            _ => return,
        };
        self.0.log_debug(&format!(
            "cors: policy {}{}: refused {kind} from origin {:?}: {refusal}",
            policy.name,
            if policy.is_report_only() { " (report only)" } else { "" },
            origin_for_log(request),
        ));
    }

    fn debug_enabled(&self) -> bool {
        self.0.debug_enabled()
    }
}

impl<'h, E: Envoy<'h>> HeaderWriter for Shell<E> {
    fn remove(&mut self, name: &str) {
        self.0.remove_response_header(name);
    }

    fn set(&mut self, name: &str, value: &[u8]) {
        self.0.set_response_header(name, value);
    }

    fn add(&mut self, name: &str, value: &[u8]) {
        self.0.add_response_header(name, value);
    }
}

/// A log line's level, as the configure step needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A refused configuration.
    Error,
    /// A loaded one.
    Info,
}

/// Compiles a filter config: the policy in `filter_config`, with its
/// counters defined through `define`. `None` when Envoy must refuse the
/// config; every problem is then logged on its own line, with the same
/// wording as the proxy-wasm shell.
pub fn configure(
    name: &[u8],
    policy: &[u8],
    define: impl FnMut(&str) -> Result<u32, String>,
    mut log: impl FnMut(Level, &str),
) -> Option<Runtime> {
    if name != FILTER_NAME.as_bytes() {
        log(
            Level::Error,
            &format!(
                "cors: policy refused: filter_name {:?} is not {FILTER_NAME:?}, the only filter this module implements",
                String::from_utf8_lossy(name)
            ),
        );
        return None;
    }
    let started = Instant::now();
    match configure::load(policy, define) {
        Ok(runtime) => {
            let took_us = started.elapsed().as_micros();
            log(
                Level::Info,
                &Loaded {
                    config: &runtime.config,
                    took_us,
                }
                .to_string(),
            );
            Some(runtime)
        }
        Err(lines) => {
            for line in &lines {
                log(Level::Error, line);
            }
            None
        }
    }
}

/// A local reply as [`Recorder`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentReply {
    /// HTTP status.
    pub status: u32,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The response code details.
    pub details: String,
}

/// An [`Envoy`] over a request header list, recording what the filter does:
/// for tests and the fuzz target (no Envoy needed). Header lookups follow
/// Envoy's: names compare exactly (Envoy lowercases them), the first value
/// is returned with the count of values.
#[derive(Debug, Default)]
pub struct Recorder<'h> {
    /// The request headers.
    pub request: &'h [(Vec<u8>, Vec<u8>)],
    /// The route name attribute.
    pub route: Option<&'h [u8]>,
    /// The response headers, edited in place.
    pub response: crate::exchange::VecHeaders,
    /// The local reply sent, if any.
    pub reply: Option<SentReply>,
    /// Counter increments, by id.
    pub increments: Vec<u32>,
    /// Request headers read, in order.
    pub reads: std::cell::RefCell<Vec<String>>,
    /// Debug lines logged.
    pub logged: std::cell::RefCell<Vec<String>>,
}

impl<'h> Envoy<'h> for Recorder<'h> {
    fn request_header(&self, name: &str) -> (Option<&'h [u8]>, usize) {
        self.reads.borrow_mut().push(name.to_owned());
        let mut values = self
            .request
            .iter()
            .filter(|(n, _)| n.as_slice() == name.as_bytes())
            .map(|(_, v)| v.as_slice());
        let first = values.next();
        (first, first.map_or(0, |_| 1 + values.count()))
    }

    fn route_name(&self) -> Option<&'h [u8]> {
        self.route
    }

    fn set_response_header(&mut self, name: &str, value: &[u8]) {
        self.response.set(name, value);
    }

    fn add_response_header(&mut self, name: &str, value: &[u8]) {
        self.response.add(name, value);
    }

    fn remove_response_header(&mut self, name: &str) {
        self.response.remove(name);
    }

    fn send_response(&mut self, status: u32, headers: &[(&str, &str)], details: &str) {
        self.reply = Some(SentReply {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            details: details.to_owned(),
        });
    }

    fn increment_counter(&mut self, id: u32) {
        self.increments.push(id);
    }

    fn debug_enabled(&self) -> bool {
        true
    }

    fn log_debug(&self, message: &str) {
        self.logged.borrow_mut().push(message.to_owned());
    }
}

#[cfg(test)]
mod tests;
