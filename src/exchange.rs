//! One request/response exchange through the filter, without Envoy: the
//! request headers the filter reads, and a simulation of what it does to a
//! whole exchange. The host adapter reads requests with the same function, so
//! the simulation (used by tests, the case tables and `cors-policy explain`)
//! is the filter's behaviour, not a model of it.

use crate::config::Config;
use crate::filter::{counter_index, COUNTER_NAMES};
use crate::policy::{Action, Decision, Policy, Request};
use crate::response::HeaderWriter;
use crate::routes::RouteInput;

/// A header list as Envoy hands it over: lowercase names, byte values.
pub type HeaderList = [(String, Vec<u8>)];

/// The request facts the filter reads, borrowed from the header list.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestHead<'a> {
    /// The CORS-relevant headers.
    pub request: Request<'a>,
    /// `:path`, for route rules.
    pub path: &'a [u8],
    /// Envoy's route name, for route rules (read only when a rule needs it).
    pub route_name: Option<&'a [u8]>,
}

/// Picks the headers the filter needs out of a request header list: owned
/// pairs (`&[(String, Vec<u8>)]`), or pairs borrowed from a serialized map by
/// [`crate::header_map::pairs`].
pub fn read_request<'a, N, V>(headers: impl IntoIterator<Item = &'a (N, V)>) -> RequestHead<'a>
where
    N: AsRef<[u8]> + 'a,
    V: AsRef<[u8]> + 'a,
{
    read_pairs(headers.into_iter().map(|(n, v)| (n.as_ref(), v.as_ref())))
}

/// [`read_request`] over borrowed `(name, value)` pairs.
pub fn read_pairs<'a>(headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> RequestHead<'a> {
    let mut head = RequestHead::default();
    let mut forwarded_proto: Option<&[u8]> = None;
    for (name, value) in headers {
        // Most of a browser's headers (user-agent, accept-*, cookie, sec-*)
        // start with none of these bytes: one comparison skips them.
        if !matches!(name.first(), Some(b':' | b'o' | b'a' | b'x')) {
            continue;
        }
        let req = &mut head.request;
        match name {
            b":method" => req.method = value,
            b":scheme" => req.scheme = value,
            // The leftmost entry is the scheme the client used.
            b"x-forwarded-proto" if forwarded_proto.is_none() => {
                forwarded_proto = crate::tokens::split_list(value).next();
            }
            b":authority" => req.authority = value,
            b":path" => head.path = value,
            b"origin" => req.origin.push(value),
            b"access-control-request-method" => req.request_method.push(value),
            b"access-control-request-headers" => req.request_headers.push(value),
            b"access-control-request-private-network" => req.request_private_network.push(value),
            _ => {}
        }
    }
    if let Some(proto) = forwarded_proto {
        head.request.scheme = proto;
    }
    head
}

/// The request phase the filter, the simulation and `cors-policy explain`
/// share: the policy the route rules pick, and its decision. `None` when no
/// policy covers the request (CORS off, or no default).
pub fn decide<'c, 'a>(config: &'c Config, head: &RequestHead<'a>) -> Option<(usize, &'c Policy, Decision<'a>)> {
    let index = config.routes.select(&RouteInput {
        route_name: head.route_name,
        authority: head.request.authority,
        path: head.path,
    })?;
    let policy = config.policy(index)?;
    Some((index, policy, policy.decide(&head.request)))
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
    let head = RequestHead {
        route_name,
        ..read_request(request)
    };
    let forwarded = |headers: Vec<(String, Vec<u8>)>| (true, upstream_status, headers);
    let Some((_, policy, decision)) = decide(config, &head) else {
        return Outcome {
            policy: None,
            decision: "no policy".to_owned(),
            counter: None,
            reached_upstream: true,
            status: upstream_status,
            headers: upstream_headers.to_vec(),
        };
    };
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
            plan.apply(policy, &mut out);
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
