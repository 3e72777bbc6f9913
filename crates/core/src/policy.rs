//! A compiled CORS policy and the decision it makes for one request
//! (WHATWG Fetch, "CORS protocol": the CORS check, the CORS-preflight fetch).
//!
//! Data flows one way: the request's header bytes in ([`Request`]), a
//! [`Decision`] out, then an [`Action`] for the host to carry out. Nothing
//! here talks to the host, so every rule is unit-tested natively.

use std::fmt;

use arrayvec::ArrayVec;

use serde::{Deserialize, Serialize};

use crate::origin::{default_port, Origin, OriginError};
use crate::origin_matcher::OriginMatcher;
use crate::preflight::Grant;
use crate::response::{AllowOrigin, ResponsePlan, VARY_ORIGIN};
use crate::tokens::TokenList;

/// `Vary` on a preflight answer: it depends on all three request headers.
pub const PREFLIGHT_VARY: &str = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
/// `Vary` on a preflight answer of a policy that answers Private Network Access.
const PREFLIGHT_VARY_PNA: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network";
/// What the filter does with its decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Answer preflights, add and strip headers, refuse when told to.
    #[default]
    Enforce,
    /// Decide, count and log, but change nothing and forward everything.
    Report,
}

/// A compiled policy: everything a request needs, pre-rendered at configure time.
#[derive(Debug)]
pub struct Policy {
    /// The policy's name, as used in metric names.
    pub name: String,
    pub(crate) origins: OriginMatcher,
    pub(crate) methods: TokenList,
    pub(crate) headers: TokenList,
    pub(crate) expose_headers: Option<String>,
    pub(crate) max_age: Option<String>,
    pub(crate) credentials: bool,
    pub(crate) private_network: bool,
    pub(crate) preflight_status: u32,
    pub(crate) mode: Mode,
    pub(crate) reject_disallowed: bool,
}

/// A request header as the decision sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Header<'a> {
    /// Not sent.
    #[default]
    Absent,
    /// Sent once, with this value.
    One(&'a [u8]),
    /// Sent more than once; browsers never do this for CORS headers.
    Repeated,
}

impl<'a> Header<'a> {
    /// Records one more occurrence of the header.
    pub fn push(&mut self, value: &'a [u8]) {
        *self = match self {
            Self::Absent => Self::One(value),
            _ => Self::Repeated,
        };
    }

    /// Reports whether the header was sent at all.
    pub fn is_present(&self) -> bool {
        !matches!(self, Self::Absent)
    }
}

/// The request facts a CORS decision needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// `:method`.
    pub method: &'a [u8],
    /// `:authority`, to recognise same-origin requests.
    pub authority: &'a [u8],
    /// The scheme the client used: `x-forwarded-proto` when a proxy in front
    /// set it, else `:scheme`; to recognise same-origin requests.
    pub scheme: &'a [u8],
    /// `Origin`.
    pub origin: Header<'a>,
    /// `Access-Control-Request-Method`.
    pub request_method: Header<'a>,
    /// `Access-Control-Request-Headers`.
    pub request_headers: Header<'a>,
    /// `Access-Control-Request-Private-Network`.
    pub request_private_network: Header<'a>,
}

impl Request<'_> {
    /// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
    pub fn is_preflight(&self) -> bool {
        self.method == b"OPTIONS" && self.origin.is_present() && self.request_method.is_present()
    }
}

/// Why a CORS request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal<'a> {
    /// The `Origin` is not a serialized origin as browsers send it.
    MalformedOrigin(OriginError),
    /// More than one `Origin` header.
    RepeatedOrigin,
    /// The origin is well-formed but not allowed.
    OriginNotAllowed,
    /// `Access-Control-Request-Method` is repeated or not a token.
    MalformedRequestMethod,
    /// The requested method is not allowed.
    MethodNotAllowed(&'a [u8]),
    /// `Access-Control-Request-Headers` is repeated or holds a non-token.
    MalformedRequestHeaders,
    /// A requested header is not allowed.
    HeaderNotAllowed(&'a [u8]),
    /// Private Network Access was asked for and the policy does not allow it.
    PrivateNetworkNotAllowed,
}

/// The reason code and its value, as the access log prints it
/// (`method_not_allowed:DELETE`, see [`crate::reasons`]), and for a malformed
/// origin what is wrong with it.
impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.coded())?;
        match self {
            Self::MalformedOrigin(e) if !matches!(e, OriginError::Null | OriginError::List) => write!(f, " ({e})"),
            _ => Ok(()),
        }
    }
}

/// What the policy concluded about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// No `Origin`: not a CORS request.
    NotCors,
    /// An `Origin` equal to the request's own origin that the policy does not
    /// list: the browser needs no CORS headers, and it is never refused.
    SameOrigin,
    /// An allowed preflight, and what its answer grants.
    PreflightAllowed(Grant<'a>),
    /// A refused preflight.
    PreflightDenied {
        /// Why.
        refusal: Refusal<'a>,
        /// What the answer grants when the origin is allowed and the refusal
        /// is about the method, a header or Private Network Access: the
        /// browser then names the cause. `None` (a bare 403) otherwise.
        grant: Option<Grant<'a>>,
    },
    /// An allowed actual request.
    ActualAllowed(AllowOrigin<'a>),
    /// A refused actual request.
    ActualDenied(Refusal<'a>),
}

/// What the host must do with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
// The reply lives on the stack on purpose: boxing it would be the heap
// allocation per preflight that `LocalReply` keeps its headers inline to avoid.
#[allow(clippy::large_enum_variant)]
pub enum Action<'a> {
    /// Leave the request and its response untouched.
    Untouched,
    /// Answer locally; nothing reaches the upstream.
    Reply(LocalReply<'a>),
    /// Forward the request, then decorate its response.
    Forward(ResponsePlan<'a>),
}

/// The most headers a local reply carries: a preflight answer's eight (two
/// `Access-Control-Allow-Headers` lines when a `*` policy refuses a header).
pub const REPLY_HEADERS: usize = 8;

/// A response the filter sends itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply<'a> {
    /// HTTP status.
    pub status: u32,
    /// Response headers, names lowercase; kept inline: a heap allocation
    /// here cost more in the wasm VM than the rest of the reply's logic.
    pub headers: ArrayVec<(&'static str, &'a str), REPLY_HEADERS>,
    /// The request was refused (a 403, or a preflight answered without what
    /// it asked for).
    pub refused: bool,
}

impl<'a> LocalReply<'a> {
    /// A reply with these headers.
    fn new(status: u32, headers: &[(&'static str, &'a str)]) -> Self {
        Self {
            status,
            headers: headers.iter().copied().collect(),
            refused: true,
        }
    }
}

impl Policy {
    /// Reports whether the answer depends on the request's origin (so every
    /// response needs `Vary: Origin`); false only for `"*"` without credentials.
    pub fn varies_by_origin(&self) -> bool {
        !self.origins.allows_any()
    }

    /// True in report mode: decide and count, but change nothing.
    pub fn is_report_only(&self) -> bool {
        self.mode == Mode::Report
    }

    /// Decides what CORS says about this request.
    pub fn decide<'a>(&self, req: &Request<'a>) -> Decision<'a> {
        let origin = match req.origin {
            Header::Absent => return Decision::NotCors,
            Header::Repeated => Err(Refusal::RepeatedOrigin),
            Header::One(value) => Origin::parse(value).map_err(Refusal::MalformedOrigin),
        };
        let allow_origin = if self.origins.allows_any() {
            Ok(AllowOrigin::Any)
        } else {
            origin.and_then(|o| {
                if self.origins.allows(&o) {
                    Ok(AllowOrigin::Echo(o.as_str()))
                } else {
                    Err(Refusal::OriginNotAllowed)
                }
            })
        };
        if req.is_preflight() {
            return match allow_origin {
                Ok(allow) => self.check_preflight(req, allow),
                Err(refusal) => Decision::PreflightDenied { refusal, grant: None },
            };
        }
        match allow_origin {
            Ok(allow) => Decision::ActualAllowed(allow),
            Err(_) if origin.is_ok_and(|o| is_same_origin(&o, req.scheme, req.authority)) => Decision::SameOrigin,
            Err(refusal) => Decision::ActualDenied(refusal),
        }
    }

    /// Turns a decision into what the host must do, honouring the mode.
    pub fn act<'a>(&'a self, decision: &Decision<'a>) -> Action<'a> {
        if self.is_report_only() {
            return Action::Untouched;
        }
        let vary_origin = self.varies_by_origin();
        match *decision {
            // An any-origin policy answers the same to everyone, so its
            // responses need no `Vary: Origin`.
            Decision::NotCors if !vary_origin => Action::Forward(self.response_plan(Some(AllowOrigin::Any), false)),
            Decision::NotCors | Decision::SameOrigin => Action::Forward(self.response_plan(None, vary_origin)),
            Decision::ActualAllowed(allow) => Action::Forward(self.response_plan(Some(allow), vary_origin)),
            Decision::ActualDenied(_) if self.reject_disallowed => {
                Action::Reply(LocalReply::new(403, &[("vary", VARY_ORIGIN)]))
            }
            Decision::ActualDenied(_) => Action::Forward(self.response_plan(None, vary_origin)),
            Decision::PreflightDenied { grant: None, .. } => {
                Action::Reply(LocalReply::new(403, &[("vary", self.preflight_vary())]))
            }
            Decision::PreflightAllowed(ref grant) => Action::Reply(self.preflight_reply(grant)),
            Decision::PreflightDenied {
                grant: Some(ref grant), ..
            } => Action::Reply(LocalReply {
                refused: true,
                ..self.preflight_reply(grant)
            }),
        }
    }

    /// What to write on the response of a forwarded request: `allow_origin`
    /// (`None` when the request is refused or not CORS) with this policy's
    /// credentials and exposed headers, and whether to add `Origin` to `Vary`.
    pub fn response_plan<'a>(&'a self, allow_origin: Option<AllowOrigin<'a>>, vary_origin: bool) -> ResponsePlan<'a> {
        ResponsePlan {
            allow_origin,
            credentials: self.credentials,
            expose_headers: self.expose_headers.as_deref(),
            vary_origin,
        }
    }

    pub(crate) fn preflight_vary(&self) -> &'static str {
        if self.private_network {
            PREFLIGHT_VARY_PNA
        } else {
            PREFLIGHT_VARY
        }
    }
}

/// Reports whether the origin is the request's own (a browser sends `Origin`
/// on its own same-origin POSTs): same scheme, host and port.
fn is_same_origin(origin: &Origin<'_>, scheme: &[u8], authority: &[u8]) -> bool {
    if !scheme.eq_ignore_ascii_case(origin.scheme().as_bytes()) {
        return false;
    }
    let Ok(authority) = std::str::from_utf8(authority) else {
        return false;
    };
    let (host, port) = match crate::origin::split_host_port(authority) {
        Ok((host, Some(port))) => (host, port.parse::<u16>().ok()),
        Ok((host, None)) => (host, default_port(origin.scheme())),
        Err(_) => return false,
    };
    host.eq_ignore_ascii_case(origin.host()) && port.is_some() && port == origin.effective_port()
}
