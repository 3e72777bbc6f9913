//! One request/response exchange through the filter: which request headers
//! the filter reads ([`select_and_fetch`], shared with the wasm filter), and a
//! simulation of a whole exchange without Envoy ([`simulate`], used by the
//! tests, the case tables and `cors-policy explain`), so the simulation is the
//! filter's behaviour, not a model of it.

use crate::config::Config;
use crate::filter::{counter_index, COUNTER_NAMES};
use crate::policy::{Action, Decision, Header, Policy, Request};
use crate::response::HeaderWriter;
use crate::routes::{RouteInput, Routes};
use crate::tokens;

/// A header list as Envoy hands it over: lowercase names, byte values.
pub type HeaderList = [(String, Vec<u8>)];

/// The request facts the filter reads, borrowed from the header list.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestHead<'a> {
    /// The CORS-relevant headers.
    pub request: Request<'a>,
    /// `:path`, for route rules.
    pub path: &'a [u8],
}

/// Picks the headers the filter needs out of the request header list.
pub fn read_request(headers: &HeaderList) -> RequestHead<'_> {
    let mut head = RequestHead::default();
    let mut forwarded_proto: Option<&[u8]> = None;
    for (name, value) in headers {
        let req = &mut head.request;
        match name.as_str() {
            ":method" => req.method = value,
            ":scheme" => req.scheme = value,
            // The leftmost entry is the scheme the client used.
            "x-forwarded-proto" if forwarded_proto.is_none() => {
                forwarded_proto = crate::tokens::split_list(value).next();
            }
            ":authority" => req.authority = value,
            ":path" => head.path = value,
            "origin" => req.origin.push(value),
            "access-control-request-method" => req.request_method.push(value),
            "access-control-request-headers" => req.request_headers.push(value),
            "access-control-request-private-network" => req.request_private_network.push(value),
            _ => {}
        }
    }
    if let Some(proto) = forwarded_proto {
        head.request.scheme = proto;
    }
    head
}

/// Where the filter reads request headers from: Envoy, one host call per
/// header, or a header list (tests and tools).
pub trait RequestSource {
    /// A request header's value. Envoy hands the CORS headers it knows
    /// (`Origin`, `Access-Control-Request-*`) joined with `,` when repeated,
    /// which the decision refuses like any malformed value.
    fn header(&mut self, name: &str) -> Option<Vec<u8>>;
    /// Envoy's route name.
    fn route_name(&mut self) -> Option<Vec<u8>>;
}

/// The request headers the filter fetched, one by one and only those it
/// needs: a request on an uncovered route, or without `Origin`, costs one or
/// two reads; only a refused actual request reads what the same-origin check
/// needs.
#[derive(Debug, Clone, Default)]
pub struct FetchedRequest {
    route_name: Option<Vec<u8>>,
    path: Option<Vec<u8>>,
    authority: Option<Vec<u8>>,
    scheme: Option<Vec<u8>>,
    forwarded_proto: Option<Vec<u8>>,
    method: Option<Vec<u8>>,
    origin: Option<Vec<u8>>,
    request_method: Option<Vec<u8>>,
    request_headers: Option<Vec<u8>>,
    request_private_network: Option<Vec<u8>>,
}

impl FetchedRequest {
    /// Reads what the route rules look at, and nothing else.
    pub fn fetch_route_input(&mut self, routes: &Routes, src: &mut impl RequestSource) {
        if routes.uses_route_name() {
            self.route_name = src.route_name();
        }
        if routes.uses_path() {
            self.path = src.header(":path");
        }
        if routes.uses_host() {
            self.authority = src.header(":authority");
        }
    }

    /// What the route rules look at.
    pub fn route_input(&self) -> RouteInput<'_> {
        RouteInput {
            route_name: self.route_name.as_deref(),
            authority: self.authority.as_deref().unwrap_or_default(),
            path: self.path.as_deref().unwrap_or_default(),
        }
    }

    /// Reads the headers `policy` needs to decide on this request.
    pub fn fetch_cors(&mut self, policy: &Policy, src: &mut impl RequestSource) {
        self.origin = src.header("origin");
        let Some(origin) = &self.origin else {
            return;
        };
        self.method = src.header(":method");
        if self.method.as_deref() == Some(b"OPTIONS") {
            self.request_method = src.header("access-control-request-method");
            if self.request_method.is_some() {
                self.request_headers = src.header("access-control-request-headers");
                if policy.answers_private_network() {
                    self.request_private_network = src.header("access-control-request-private-network");
                }
                return;
            }
        }
        if !policy.allows_origin(origin) {
            // Only a refused actual request needs the same-origin check.
            if self.authority.is_none() {
                self.authority = src.header(":authority");
            }
            self.scheme = src.header(":scheme");
            self.forwarded_proto = src.header("x-forwarded-proto");
        }
    }

    /// The request as the decision sees it.
    pub fn request(&self) -> Request<'_> {
        // The leftmost `x-forwarded-proto` entry is the scheme the client used.
        let forwarded = self
            .forwarded_proto
            .as_deref()
            .and_then(|v| tokens::split_list(v).next());
        Request {
            method: self.method.as_deref().unwrap_or_default(),
            authority: self.authority.as_deref().unwrap_or_default(),
            scheme: forwarded.or(self.scheme.as_deref()).unwrap_or_default(),
            origin: header(&self.origin),
            request_method: header(&self.request_method),
            request_headers: header(&self.request_headers),
            request_private_network: header(&self.request_private_network),
        }
    }
}

/// A fetched header as the decision sees it.
fn header(value: &Option<Vec<u8>>) -> Header<'_> {
    value.as_deref().map_or(Header::Absent, Header::One)
}

/// A header list as a [`RequestSource`]: repeated headers are joined with
/// `,`, as Envoy does.
#[derive(Debug, Clone, Copy)]
pub struct ListSource<'a> {
    /// The request headers.
    pub headers: &'a HeaderList,
    /// Envoy's route name.
    pub route_name: Option<&'a [u8]>,
}

impl RequestSource for ListSource<'_> {
    fn header(&mut self, name: &str) -> Option<Vec<u8>> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v);
        let mut joined = values.next()?.clone();
        for value in values {
            joined.push(b',');
            joined.extend_from_slice(value);
        }
        Some(joined)
    }

    fn route_name(&mut self) -> Option<Vec<u8>> {
        self.route_name.map(<[u8]>::to_vec)
    }
}

/// The request phase shared by the filter and the simulation: fetches what
/// route selection and then the selected policy need from `src`. `None` when
/// no policy covers the request; decide with `policy.decide(&fetched.request())`.
pub fn select_and_fetch<'c>(
    config: &'c Config,
    src: &mut impl RequestSource,
    fetched: &mut FetchedRequest,
) -> Option<(usize, &'c Policy)> {
    fetched.fetch_route_input(&config.routes, src);
    let index = config.routes.select(&fetched.route_input())?;
    let policy = config.policy(index)?;
    fetched.fetch_cors(policy, src);
    Some((index, policy))
}

/// What happened to one simulated exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The policy that applied, if any.
    pub policy: Option<String>,
    /// The decision, for humans (`Debug` of [`Decision`]).
    pub decision: String,
    /// The counter the decision increments (`preflight_allowed`, ...), if any.
    pub counter: Option<&'static str>,
    /// Whether the request reached the upstream.
    pub reached_upstream: bool,
    /// The status the client sees.
    pub status: u32,
    /// The response headers the client sees, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Outcome {
    /// Every value of a response header (name compared case-insensitively).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// The counter a decision increments.
pub fn counter_name(decision: &Decision<'_>) -> Option<&'static str> {
    counter_index(decision).and_then(|i| COUNTER_NAMES.get(i).copied())
}

/// Runs one exchange through the filter's logic: `request` in, and if it is
/// forwarded, `upstream_status` with `upstream_headers` back.
pub fn simulate(
    config: &Config,
    request: &HeaderList,
    route_name: Option<&[u8]>,
    upstream_status: u32,
    upstream_headers: &HeaderList,
) -> Outcome {
    let mut source = ListSource {
        headers: request,
        route_name,
    };
    let mut fetched = FetchedRequest::default();
    let forwarded = |headers: Vec<(String, Vec<u8>)>| (true, upstream_status, headers);
    let Some((_, policy)) = select_and_fetch(config, &mut source, &mut fetched) else {
        return Outcome {
            policy: None,
            decision: "no policy".to_owned(),
            counter: None,
            reached_upstream: true,
            status: upstream_status,
            headers: upstream_headers.to_vec(),
        };
    };
    let request = fetched.request();
    let decision = policy.decide(&request);
    let (reached_upstream, status, headers) = match policy.act(&decision) {
        Action::Untouched => forwarded(upstream_headers.to_vec()),
        Action::Reply(reply) => (
            false,
            reply.status,
            reply
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
                .collect(),
        ),
        Action::Forward(plan) => {
            let mut out = VecHeaders(upstream_headers.to_vec());
            plan.apply(policy, upstream_headers, &mut out);
            forwarded(out.0)
        }
    };
    Outcome {
        policy: Some(policy.name.clone()),
        decision: format!("{decision:?}"),
        counter: counter_name(&decision),
        reached_upstream,
        status,
        headers,
    }
}

/// A header map over a `Vec`, for simulations and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VecHeaders(pub Vec<(String, Vec<u8>)>);

impl HeaderWriter for VecHeaders {
    fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    fn set(&mut self, name: &str, value: &[u8]) {
        self.remove(name);
        self.add(name, value);
    }

    fn add(&mut self, name: &str, value: &[u8]) {
        self.0.push((name.to_owned(), value.to_vec()));
    }
}
