//! One request/response exchange through the filter's logic, without Envoy:
//! the request phase of [`crate::request`], the policy's action, and the
//! response plan applied to the upstream's headers. The shells run the same
//! functions, so a simulation (what `cors-policy explain` prints, what the
//! importer compares, what the case tables check) is the filter's behaviour,
//! not a model of it.

use crate::language::Config;
use crate::policy::Action;
use crate::request::{counter_name, decide, read_request, RequestHead};
use crate::response::HeaderWriter;

/// A header list as Envoy hands it over: lowercase names, byte values.
pub type HeaderList = [(String, Vec<u8>)];

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
            plan.apply(&mut out);
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
