//! The per-stream filter logic, written against the [`Host`] port that each
//! shell implements (the proxy-wasm plugin over its host calls, the dynamic
//! module over Envoy's ABI, the tests over recorders). Per request it reads
//! the request headers (one host call for the whole map in wasm), the route
//! name only when a rule needs it, counts a CORS decision, and on the
//! response writes one call per header it changes, never reading the
//! response.

use std::ops::Deref;
use std::rc::Rc;

use arrayvec::ArrayString;

use crate::language::Config;
use crate::policy::{Action, Decision, Header, LocalReply, Policy, Request};
use crate::record::Record;
use crate::request::{counter_index, decide, RequestHead, COUNTER_NAMES};
use crate::response::{AllowOrigin, HeaderWriter};

/// The counters of one policy, as host metric ids in [`COUNTER_NAMES`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyCounters([u32; 4]);

impl PolicyCounters {
    /// Defines the counters of `policy` with `define(full_name)`.
    pub fn define<E>(policy: &str, mut define: impl FnMut(&str) -> Result<u32, E>) -> Result<Self, E> {
        let mut ids = [0; 4];
        for (id, name) in ids.iter_mut().zip(COUNTER_NAMES) {
            *id = define(&format!("cors.{policy}.{name}"))?;
        }
        Ok(Self(ids))
    }

    /// The counter id a decision increments.
    pub fn for_decision(&self, decision: &Decision<'_>) -> Option<u32> {
        counter_index(decision).and_then(|i| self.0.get(i).copied())
    }
}

/// A compiled configuration with its counters, shared by every stream.
#[derive(Debug)]
pub struct Runtime {
    /// The compiled configuration.
    pub config: Config,
    /// Counters, indexed like `config.policies`.
    pub counters: Vec<PolicyCounters>,
    /// Whether any rule needs Envoy's route name (one more host call).
    needs_route_name: bool,
}

impl Runtime {
    /// A runtime for a compiled configuration and its counters.
    pub fn new(config: Config, counters: Vec<PolicyCounters>) -> Self {
        let needs_route_name = config.routes.uses_route_name();
        Self {
            config,
            counters,
            needs_route_name,
        }
    }
}

/// What the filter needs from the proxy: the request facts, a local reply, a
/// counter, logging, and write access to the response headers. Each method is
/// at most one host call (reading the request is one per header the host
/// reads, or one for the whole map), and the response is never read.
pub trait Host: HeaderWriter {
    /// Reads the request headers the filter looks at, and Envoy's route
    /// name when `route_name` is true, then hands them and the host to `f`.
    /// `None` (and `f` not called) when the host cannot read them. The
    /// head's lifetime ends with `f`: a host that lends its own memory (a
    /// header map it holds) needs no copy.
    fn read_request<R>(&mut self, route_name: bool, f: impl FnOnce(&mut Self, &RequestHead<'_>) -> R) -> Option<R>;
    /// Sends a local reply; true when the host took it.
    fn send_reply(&mut self, reply: &LocalReply<'_>) -> bool;
    /// Adds one to a counter.
    fn increment(&mut self, counter: u32);
    /// Writes the record of a request not allowed as asked where the access
    /// log reads it (the filter state [`crate::record::FILTER_STATE_KEY`]).
    fn write_record(&mut self, record: &str);
    /// Reports whether debug logging is on.
    fn debug_enabled(&self) -> bool;
    /// Logs a line at debug level (called only when [`Host::debug_enabled`]).
    fn log_debug(&mut self, line: &str);
}

/// What the stream should do after the request headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let the request go on.
    Continue,
    /// Stop: a local reply was sent.
    Stop,
}

/// What the request phase left for the response phase.
#[derive(Debug, Default)]
enum State {
    /// No policy applies, or report mode: leave the response alone.
    #[default]
    Untouched,
    /// We answered locally; our own reply passes through the response
    /// callback too and must not be decorated again.
    Replied,
    /// Decorate the response (the upstream's, or an Envoy local reply).
    Forwarded {
        policy: usize,
        allow_origin: Option<OwnedAllowOrigin>,
        vary_origin: bool,
    },
}

/// [`AllowOrigin`] kept from the request to the response callback.
#[derive(Debug)]
enum OwnedAllowOrigin {
    Any,
    /// Most origins fit inline: no heap allocation per allowed request.
    Echo(ArrayString<INLINE_ORIGIN>),
    /// A longer one (up to `origin::MAX_ORIGIN_LEN`).
    EchoLong(String),
}

/// Origins up to this many bytes are kept without allocating.
const INLINE_ORIGIN: usize = 64;

impl OwnedAllowOrigin {
    fn new(allow: AllowOrigin<'_>) -> Self {
        match allow {
            AllowOrigin::Any => Self::Any,
            AllowOrigin::Echo(origin) => match ArrayString::from(origin) {
                Ok(inline) => Self::Echo(inline),
                Err(_) => Self::EchoLong(origin.to_owned()),
            },
        }
    }

    fn get(&self) -> AllowOrigin<'_> {
        match self {
            Self::Any => AllowOrigin::Any,
            Self::Echo(origin) => AllowOrigin::Echo(origin),
            Self::EchoLong(origin) => AllowOrigin::Echo(origin),
        }
    }
}

/// The filter state of one HTTP stream. `R` is how the shell shares the
/// compiled runtime with its streams: an `Rc` in the single-threaded wasm VM;
/// in the dynamic module, a plain reference to the filter config that Envoy
/// keeps alive for as long as any of its streams (no reference count shared
/// between worker threads).
#[derive(Debug, Default)]
pub struct Stream<R = Rc<Runtime>> {
    runtime: Option<R>,
    state: State,
}

impl<R: Deref<Target = Runtime> + Clone> Stream<R> {
    /// A stream using `runtime` (none before the first good configure).
    pub fn new(runtime: Option<R>) -> Self {
        Self {
            runtime,
            state: State::Untouched,
        }
    }

    /// Handles the request headers.
    pub fn on_request_headers<H: Host>(&mut self, host: &mut H) -> Verdict {
        let Some(runtime) = self.runtime.clone() else {
            return Verdict::Continue;
        };
        host.read_request(runtime.needs_route_name, |host, head| {
            self.on_request(&runtime, host, head)
        })
        .unwrap_or(Verdict::Continue)
    }

    fn on_request<H: Host>(&mut self, runtime: &Runtime, host: &mut H, head: &RequestHead<'_>) -> Verdict {
        let Some((index, policy, decision)) = decide(&runtime.config, head) else {
            return Verdict::Continue;
        };
        if let Some(counter) = runtime.counters.get(index).and_then(|c| c.for_decision(&decision)) {
            host.increment(counter);
        }
        if let Some(record) = Record::of(policy, &decision) {
            host.write_record(&record.render());
            if host.debug_enabled() {
                if let Some(line) = refusal_line(policy, &decision, &head.request) {
                    host.log_debug(&line);
                }
            }
        }

        match policy.act(&decision) {
            Action::Untouched => Verdict::Continue,
            Action::Reply(reply) => {
                self.state = State::Replied;
                if host.send_reply(&reply) {
                    Verdict::Stop
                } else {
                    Verdict::Continue
                }
            }
            Action::Forward(plan) => {
                self.state = State::Forwarded {
                    policy: index,
                    allow_origin: plan.allow_origin.map(OwnedAllowOrigin::new),
                    vary_origin: plan.vary_origin,
                };
                Verdict::Continue
            }
        }
    }

    /// Reports whether the filter sent its own local reply for this stream.
    pub fn replied(&self) -> bool {
        matches!(self.state, State::Replied)
    }

    /// Handles the response headers (of the upstream or of an Envoy local
    /// reply): writes what the request phase decided, without reading them.
    pub fn on_response_headers<W: HeaderWriter>(&mut self, out: &mut W) {
        let State::Forwarded {
            policy,
            allow_origin,
            vary_origin,
        } = &self.state
        else {
            return;
        };
        let Some(policy) = self.runtime.as_ref().and_then(|r| r.config.policy(*policy)) else {
            return;
        };
        policy
            .response_plan(allow_origin.as_ref().map(OwnedAllowOrigin::get), *vary_origin)
            .apply(out);
    }
}

/// The debug line both shells log for a refused request, in the words of
/// the reason table ([`crate::reasons`]); `None` for a decision that is not
/// a refusal.
pub fn refusal_line(policy: &Policy, decision: &Decision<'_>, request: &Request<'_>) -> Option<String> {
    let (kind, refusal) = match decision {
        Decision::PreflightDenied { refusal, .. } => ("preflight", refusal),
        Decision::ActualDenied(refusal) => ("request", refusal),
        _ => return None,
    };
    Some(format!(
        "cors: policy {}{}: refused {kind} from origin {:?}: {refusal}: {}",
        policy.name,
        if policy.is_report_only() { " (report only)" } else { "" },
        origin_for_log(request),
        refusal.code().0.reason().meaning,
    ))
}

/// The `Origin` of a request for a log line (lossy, never failing).
fn origin_for_log(request: &Request<'_>) -> String {
    match request.origin {
        Header::One(value) => String::from_utf8_lossy(value).into_owned(),
        Header::Repeated => "(repeated)".to_owned(),
        Header::Absent => String::new(),
    }
}
