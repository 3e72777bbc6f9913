//! What the module needs from Envoy for one stream ([`Envoy`], each method
//! one ABI call, implemented over the ABI in `abi` and by recorders in the
//! tests), and how the request facts are read through it ([`read_head`]).
//!
//! Per request the shell reads only the request headers the decision needs,
//! each with one header getter whose answer points into Envoy's header map
//! (no copy), and Envoy's route name only when a rule needs it.

use std::sync::Arc;

use envoy_cors_core::language::PerRouteConfig;
use envoy_cors_core::policy::Header;
use envoy_cors_core::request::RequestHead;

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
    /// The module's per-route configuration Envoy picked for this stream's
    /// route (route, virtual host, route configuration), shared with the
    /// route table: no ABI call while no route table holds one.
    fn per_route_config(&self) -> Option<Arc<PerRouteConfig>>;
    /// A string of the route's metadata, `filter_metadata.<namespace>.<key>`;
    /// `None` when absent or not a string (Envoy then logs an error).
    fn route_metadata_string(&self, namespace: &str, key: &str) -> Option<&[u8]>;
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
    /// Adds one to a labelled counter defined on the filter config, for
    /// this value of its one label.
    fn increment_labelled_counter(&mut self, id: u32, label: &str);
    /// Writes a value into the stream's filter state, where the access log
    /// reads it (`%FILTER_STATE(key:PLAIN)%`).
    fn set_filter_state(&mut self, key: &str, value: &[u8]);
    /// Reports whether Envoy logs dynamic modules at debug level.
    fn debug_enabled(&self) -> bool;
    /// Logs a line at debug level.
    fn log_debug(&self, message: &str);
    /// Logs a line at warning level.
    fn log_warning(&self, message: &str);
    /// Logs a line at error level.
    fn log_error(&self, message: &str);
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
/// [`envoy_cors_core::request::read_request`] over the whole map would (tested below
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
        .and_then(|v| envoy_cors_core::tokens::split_list(v).next())
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
