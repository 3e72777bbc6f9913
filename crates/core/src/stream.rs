//! The per-stream filter logic, written against the [`Host`] port that each
//! shell implements (the proxy-wasm plugin over its host calls, the dynamic
//! module over Envoy's ABI, the tests over recorders). Per request it reads
//! the request headers (one host call for the whole map in wasm), the route
//! name only when a rule needs it, counts a CORS decision, and on the
//! response writes one call per header it changes, never reading the
//! response. Where Envoy's route configuration names the policy (the
//! module's per-route configuration, route metadata: [`crate::selection`]),
//! that is read first, and only when the operator uses it.

use std::ops::Deref;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use arrayvec::ArrayString;

use crate::language::{Config, PerRouteConfig};
use crate::policy::{Action, Decision, Header, LocalReply, Policy, Request};
use crate::reasons::{Code, Coded};
use crate::record::Record;
use crate::request::{counter_index, RequestHead, COUNTER_NAMES};
use crate::response::{AllowOrigin, HeaderWriter};
use crate::routes::RouteInput;
use crate::selection::{Attached, Choice, MetadataLevel, UnknownPolicies};

/// The counters of one policy, as host metric ids in [`COUNTER_NAMES`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyCounters([u32; 4]);

impl PolicyCounters {
    /// Defines the counters of `policy` with `define(full_name)`.
    pub fn define<E>(policy: &str, define: impl FnMut(&str) -> Result<u32, E>) -> Result<Self, E> {
        Self::define_from(COUNTER_NAMES.map(|name| format!("cors.{policy}.{name}")), define)
    }

    /// Defines counters by their full names, in [`COUNTER_NAMES`] order.
    pub fn define_from<E>(names: [String; 4], mut define: impl FnMut(&str) -> Result<u32, E>) -> Result<Self, E> {
        let mut ids = [0; 4];
        for (id, name) in ids.iter_mut().zip(names) {
            *id = define(&name)?;
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
    /// Counters, indexed like `config.policies`: defined at load, or at a
    /// policy's first decision ([`Runtime::with_counters_on_first_use`]).
    counters: Vec<OnceLock<PolicyCounters>>,
    /// The counters of per-route policies (the dynamic module's): one
    /// family, labelled with the policy's name.
    pub per_route_counters: Option<PolicyCounters>,
    /// What becomes of requests whose route names no policy.
    pub unknown: UnknownPolicies,
    /// Whether any rule needs Envoy's route name (one more host call).
    needs_route_name: bool,
}

impl Runtime {
    /// A runtime for a compiled configuration and its counters.
    pub fn new(config: Config, counters: Vec<PolicyCounters>) -> Self {
        let mut runtime = Self::with_counters_on_first_use(config);
        for (cell, ids) in runtime.counters.iter_mut().zip(counters) {
            *cell = OnceLock::from(ids);
        }
        runtime
    }

    /// A runtime whose policies' counters are defined through the host at
    /// each policy's first decision ([`Host::define_counter`]): Envoy spends
    /// several microseconds defining a counter, which with 10,000 policies
    /// is most of the configure step.
    pub fn with_counters_on_first_use(config: Config) -> Self {
        let needs_route_name = config.routes.uses_route_name();
        Self {
            counters: config.policies.iter().map(|_| OnceLock::new()).collect(),
            config,
            per_route_counters: None,
            unknown: UnknownPolicies::default(),
            needs_route_name,
        }
    }

    /// The policy Envoy's route configuration names for this request, read
    /// through `host` before the route rules: the module's per-route
    /// configuration, then route metadata if the operator opted in. `None`
    /// falls through to the rules.
    fn attached<H: Host>(&self, host: &mut H) -> Option<Choice> {
        if let Some(per_route) = host.per_route_config() {
            return Some(Choice::per_route(&self.config, per_route));
        }
        let namespace = self.config.metadata_namespace.as_deref()?;
        MetadataLevel::ALL
            .into_iter()
            .find_map(|level| Choice::metadata(&self.config, &host.metadata_policy(namespace, level)))
    }

    /// Reports whether every policy's counters are defined.
    pub fn counters_defined(&self) -> bool {
        self.counters.iter().all(|c| c.get().is_some())
    }

    /// The counters of a listed policy, defined through `host` if this is
    /// its first decision.
    fn listed_counters<H: Host>(&self, index: usize, host: &mut H) -> Option<PolicyCounters> {
        let cell = self.counters.get(index)?;
        if let Some(ids) = cell.get() {
            return Some(*ids);
        }
        let policy = self.config.policy(index)?;
        let ids = PolicyCounters::define(&policy.name, |name| host.define_counter(name).ok_or(())).ok()?;
        Some(*cell.get_or_init(|| ids))
    }

    /// The counter a decision of the chosen policy increments, and the
    /// label it carries (per-route policies count in one labelled family).
    fn counter<'r, H: Host>(
        &'r self,
        choice: &Choice,
        policy: &'r Policy,
        decision: &Decision<'_>,
        host: &mut H,
    ) -> Option<(u32, Option<&'r str>)> {
        let (counters, label) = match choice {
            Choice::Listed(index) => (self.listed_counters(*index, host)?, None),
            Choice::PerRoute(_) => (*self.per_route_counters.as_ref()?, Some(policy.name.as_str())),
            Choice::Unknown(_) => return self.unknown.counter.map(|id| (id, None)),
            Choice::Off => return None,
        };
        counters.for_decision(decision).map(|id| (id, label))
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
    /// The filter's per-route configuration Envoy picked for this request's
    /// route: the dynamic module's; `None` without one, and in hosts that
    /// have none.
    fn per_route_config(&mut self) -> Option<Arc<PerRouteConfig>>;
    /// `filter_metadata.<namespace>.policy` of the request's route or
    /// virtual host ([`Attached::Absent`] where the host cannot read it).
    fn metadata_policy(&mut self, namespace: &str, level: MetadataLevel) -> Attached<'_>;
    /// Sends a local reply; true when the host took it.
    fn send_reply(&mut self, reply: &LocalReply<'_>) -> bool;
    /// Adds one to a counter.
    fn increment(&mut self, counter: u32);
    /// Defines a counter by its full name; `None` if the host cannot (a
    /// runtime whose counters were defined at load never asks).
    fn define_counter(&mut self, name: &str) -> Option<u32>;
    /// Adds one to a counter of a labelled family, for this label value.
    fn increment_labelled(&mut self, counter: u32, label: &str);
    /// Writes the record of a request not allowed as asked where the access
    /// log reads it (the filter state [`crate::record::FILTER_STATE_KEY`]).
    fn write_record(&mut self, record: &str);
    /// Logs a line at warning level.
    fn log_warning(&mut self, line: &str);
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
        policy: Choice,
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
        let attached = runtime.attached(host);
        // CORS off by the route's own configuration: nothing more to read.
        if matches!(attached, Some(Choice::Off)) {
            return Verdict::Continue;
        }
        let route_name = runtime.needs_route_name && attached.is_none();
        host.read_request(route_name, |host, head| self.on_request(&runtime, attached, host, head))
            .unwrap_or(Verdict::Continue)
    }

    fn on_request<H: Host>(
        &mut self,
        runtime: &Runtime,
        attached: Option<Choice>,
        host: &mut H,
        head: &RequestHead<'_>,
    ) -> Verdict {
        let choice = attached.unwrap_or_else(|| {
            Choice::routes(
                &runtime.config,
                &RouteInput {
                    route_name: head.route_name,
                    authority: head.request.authority,
                    path: head.path,
                },
            )
        });
        let Some(policy) = choice.policy(&runtime.config, runtime.unknown.refused()) else {
            return Verdict::Continue;
        };
        let unknown_name = match &choice {
            Choice::Unknown(name) => Some(&**name),
            _ => None,
        };
        if let Some(line) = unknown_name.and_then(|name| runtime.unknown.first_sighting(name)) {
            host.log_warning(&line);
        }
        let decision = policy.decide(&head.request);
        match runtime.counter(&choice, policy, &decision, host) {
            Some((counter, None)) => host.increment(counter),
            Some((counter, Some(label))) => host.increment_labelled(counter, label),
            None => {}
        }
        // An unknown name is the reason, whatever the refusing policy decided.
        let record = match unknown_name {
            Some(name) => Some(Record::unknown_policy(name, head.request.is_preflight())),
            None => Record::of(policy, &decision),
        };
        if let Some(record) = record {
            host.write_record(&record.render());
            if host.debug_enabled() {
                let line = match unknown_name {
                    Some(name) => Some(unknown_policy_line(name, &head.request)),
                    None => refusal_line(policy, &decision, &head.request),
                };
                if let Some(line) = line {
                    host.log_debug(&line);
                }
            }
        }

        // Bound, not the tail expression: the action borrows `choice`, which
        // a tail expression's temporaries would outlive (edition 2021).
        let verdict = match policy.act(&decision) {
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
                    policy: choice.clone(),
                    allow_origin: plan.allow_origin.map(OwnedAllowOrigin::new),
                    vary_origin: plan.vary_origin,
                };
                Verdict::Continue
            }
        };
        verdict
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
        let Some(runtime) = self.runtime.as_ref() else {
            return;
        };
        let Some(policy) = policy.policy(&runtime.config, runtime.unknown.refused()) else {
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
        refusal.coded().code.reason().meaning,
    ))
}

/// The debug line for a request refused because its route names a policy
/// the configuration does not define.
fn unknown_policy_line(name: &[u8], request: &Request<'_>) -> String {
    let reason = Coded {
        code: Code::UnknownPolicy,
        value: Some(name),
    };
    format!(
        "cors: refused {} from origin {:?}: {reason}: {}",
        if request.is_preflight() { "preflight" } else { "request" },
        origin_for_log(request),
        Code::UnknownPolicy.reason().meaning,
    )
}

/// The `Origin` of a request for a log line (lossy, never failing).
fn origin_for_log(request: &Request<'_>) -> String {
    match request.origin {
        Header::One(value) => String::from_utf8_lossy(value).into_owned(),
        Header::Repeated => "(repeated)".to_owned(),
        Header::Absent => String::new(),
    }
}
