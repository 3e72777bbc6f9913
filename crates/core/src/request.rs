//! The request phase every shell runs: the request headers the filter reads
//! ([`RequestHead`]), the policy the route rules pick and its [`Decision`]
//! ([`decide`]), and the counter that decision increments
//! ([`COUNTER_NAMES`]). The proxy-wasm shell reads a header map with
//! [`read_pairs`], the dynamic module header by header into the same
//! [`RequestHead`], and `simulation` reads owned lists with [`read_request`].

use crate::language::Config;
use crate::policy::{Decision, Policy, Request};
use crate::routes::RouteInput;

/// The counter names of a policy: `cors.<policy>.<name>`.
pub const COUNTER_NAMES: [&str; 4] = [
    "preflight_allowed",
    "preflight_denied",
    "actual_allowed",
    "actual_denied",
];

/// Which of [`COUNTER_NAMES`] a decision increments; none for non-CORS and
/// same-origin requests.
pub fn counter_index(decision: &Decision<'_>) -> Option<usize> {
    match decision {
        Decision::PreflightAllowed(_) => Some(0),
        Decision::PreflightDenied { .. } => Some(1),
        Decision::ActualAllowed(_) => Some(2),
        Decision::ActualDenied(_) => Some(3),
        Decision::NotCors | Decision::SameOrigin => None,
    }
}

/// The counter a decision increments, by name.
pub fn counter_name(decision: &Decision<'_>) -> Option<&'static str> {
    counter_index(decision).and_then(|i| COUNTER_NAMES.get(i).copied())
}

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
/// pairs (`&[(String, Vec<u8>)]`), or pairs borrowed from a host's header
/// map.
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
