//! The decision where Envoy's access log can print it. On every request the
//! filter does not allow as asked, both shells write one filter-state value,
//! `wasm.cors.decision`, holding three fields in logfmt:
//!
//! ```text
//! policy=strict verdict=preflight_denied reason=method_not_allowed:DELETE
//! ```
//!
//! `%FILTER_STATE(wasm.cors.decision:PLAIN)%` prints it, in both shells
//! (the plugin's `set_property("cors.decision")` lands under the `wasm.`
//! prefix, and the module writes the same key). One value, not three: each
//! write is a host call, and a refused request may cost one more call at
//! most. Allowed requests and requests without `Origin` write nothing, so the
//! access log prints `-`; on a route that names a policy the configuration
//! does not define, every request writes `reason=unknown_policy:<name>`.
//!
//! Every field is parseable: `policy` is a policy name (letters, digits, `-`,
//! `_`), `verdict` one of [`Verdict::ALL`], `reason` a code of
//! [`crate::reasons::REASONS`], then `:` and a value from the request where
//! one exists, at most 64 bytes of HTTP token characters (anything else
//! shows as `?`, so no space, `=` or control byte ever appears).

use std::fmt::{self, Write as _};

use arrayvec::ArrayString;

use crate::policy::{Decision, Policy};
use crate::reasons::{Clean, Code, Coded};

/// The property path the proxy-wasm plugin writes (`set_property`); Envoy
/// stores it in the stream's filter state as [`FILTER_STATE_KEY`].
pub const PROPERTY: &str = "cors.decision";

/// The filter-state key both shells write and the access log reads.
pub const FILTER_STATE_KEY: &str = "wasm.cors.decision";

/// The access-log command that prints the record in both shells (`-` when
/// nothing was written). Without `:PLAIN` the plugin's value prints as
/// base64 protobuf JSON.
pub const ACCESS_LOG_COMMAND: &str = "%FILTER_STATE(wasm.cors.decision:PLAIN)%";

/// What the filter did with a request it did not allow as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A preflight answered 403, or for an allowed origin answered without
    /// what it asked for (the browser then blocks the request).
    PreflightDenied,
    /// A request forwarded without CORS headers: the page cannot read the answer.
    ActualDenied,
    /// A request answered 403 by `reject_disallowed`: it never reached the upstream.
    Rejected,
    /// Report mode: the request would have been refused, and went through untouched.
    ReportWouldDeny,
}

impl Verdict {
    /// Every verdict, in the docs' order.
    pub const ALL: [Verdict; 4] = [
        Self::PreflightDenied,
        Self::ActualDenied,
        Self::Rejected,
        Self::ReportWouldDeny,
    ];

    /// The verdict as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreflightDenied => "preflight_denied",
            Self::ActualDenied => "actual_denied",
            Self::Rejected => "rejected",
            Self::ReportWouldDeny => "report_would_deny",
        }
    }

    /// What it means, for the docs.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::PreflightDenied => {
                "a preflight refused: 403, or, when the origin is allowed, the answer an allowed preflight gets \
                 without what was refused; the browser never sends the request"
            }
            Self::ActualDenied => "a request forwarded without CORS headers: the page cannot read the response",
            Self::Rejected => {
                "a cross-origin request answered 403 by `reject_disallowed`: it never reached the upstream"
            }
            Self::ReportWouldDeny => "report mode: the request would be refused, and went through untouched",
        }
    }
}

/// The three fields the access log prints.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The policy's name (cleaned when printed: a name from route metadata
    /// may be anything); `None` when the filter failed before choosing one.
    pub policy: Option<&'a [u8]>,
    /// What the filter did.
    pub verdict: Verdict,
    /// Why.
    pub reason: Coded<'a>,
}

/// Room for the longest record: a 64-byte policy name, the longest verdict
/// and code, and a 64-byte value with its `...`.
pub const CAPACITY: usize = 256;

impl<'a> Record<'a> {
    /// The record of a decision; `None` when the request is allowed as asked
    /// (or not a CORS request): nothing is written then.
    pub fn of(policy: &'a Policy, decision: &Decision<'a>) -> Option<Self> {
        let (verdict, refusal) = match decision {
            Decision::PreflightDenied { refusal, .. } => (Verdict::PreflightDenied, refusal),
            Decision::ActualDenied(refusal) if policy.reject_disallowed => (Verdict::Rejected, refusal),
            Decision::ActualDenied(refusal) => (Verdict::ActualDenied, refusal),
            _ => return None,
        };
        Some(Self {
            policy: Some(policy.name.as_bytes()),
            verdict: if policy.is_report_only() {
                Verdict::ReportWouldDeny
            } else {
                verdict
            },
            reason: refusal.coded(),
        })
    }

    /// The record of a request the filter failed on and refused.
    pub fn internal_error(preflight: bool) -> Self {
        Self::refused(None, preflight, Code::InternalError, None)
    }

    /// The record of a request whose route names a policy the configuration
    /// does not define (route metadata, per-route config), refused: the name
    /// is both the policy and the reason's value.
    pub fn unknown_policy(name: &'a [u8], preflight: bool) -> Self {
        Self::refused(Some(name), preflight, Code::UnknownPolicy, Some(name))
    }

    /// A refusal the filter makes without a policy's decision: a preflight
    /// gets 403, an actual request no CORS header.
    fn refused(policy: Option<&'a [u8]>, preflight: bool, code: Code, value: Option<&'a [u8]>) -> Self {
        Self {
            policy,
            verdict: if preflight {
                Verdict::PreflightDenied
            } else {
                Verdict::ActualDenied
            },
            reason: Coded { code, value },
        }
    }

    /// The value written, without a heap allocation.
    pub fn render(&self) -> ArrayString<CAPACITY> {
        let mut out = ArrayString::new();
        // Never longer than CAPACITY (see there); were it, the tail would be cut.
        let _ = write!(out, "{self}");
        out
    }
}

impl fmt::Display for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.policy {
            Some(name) => write!(f, "policy={}", Clean(name))?,
            None => f.write_str("policy=-")?,
        }
        write!(f, " verdict={} reason={}", self.verdict.as_str(), self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::Config;
    use crate::policy::{Header, Request};

    fn policy(json: &str) -> Policy {
        let mut config = Config::parse(json.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
        config.policies.remove(0)
    }

    fn actual(origin: &str) -> Request<'_> {
        Request {
            method: b"GET",
            origin: Header::One(origin.as_bytes()),
            ..Request::default()
        }
    }

    fn record_of(p: &Policy, req: &Request<'_>) -> Option<String> {
        Record::of(p, &p.decide(req)).map(|r| r.render().to_string())
    }

    #[test]
    fn allowed_and_non_cors_requests_have_no_record() {
        let p = policy(r#"{"allow_origins": ["https://app.example.com"]}"#);
        assert_eq!(record_of(&p, &actual("https://app.example.com")), None);
        assert_eq!(record_of(&p, &Request::default()), None);
    }

    #[test]
    fn each_mode_names_its_verdict() {
        for (extra, verdict) in [
            ("", "actual_denied"),
            (r#", "reject_disallowed": true"#, "rejected"),
            (r#", "mode": "report""#, "report_would_deny"),
            (r#", "mode": "report", "reject_disallowed": true"#, "report_would_deny"),
        ] {
            let p = policy(&format!(r#"{{"allow_origins": ["https://app.example.com"]{extra}}}"#));
            assert_eq!(
                record_of(&p, &actual("https://evil.example")).as_deref(),
                Some(format!("policy=default verdict={verdict} reason=origin_not_allowed").as_str())
            );
        }
    }

    #[test]
    fn a_preflight_record_carries_the_clean_value() {
        let p = policy(r#"{"allow_origins": ["https://app.example.com"]}"#);
        let req = Request {
            method: b"OPTIONS",
            request_method: Header::One(b"DELETE"),
            ..actual("https://app.example.com")
        };
        assert_eq!(
            record_of(&p, &req).as_deref(),
            Some("policy=default verdict=preflight_denied reason=method_not_allowed:DELETE")
        );
        let long = "X".repeat(10_000);
        let req = Request {
            request_method: Header::One(long.as_bytes()),
            ..req
        };
        let record = record_of(&p, &req).unwrap_or_default();
        assert!(record.ends_with(&format!(":{}...", "X".repeat(64))), "{record}");
    }

    #[test]
    fn an_unknown_policy_is_named_clean_in_both_fields() {
        assert_eq!(
            Record::unknown_policy(b"tenant 42\n", false).render().as_str(),
            "policy=tenant?42? verdict=actual_denied reason=unknown_policy:tenant?42?"
        );
    }

    #[test]
    fn the_longest_record_fits() {
        let name = "p".repeat(64);
        let longest = Record {
            policy: Some(name.as_bytes()),
            verdict: Verdict::ReportWouldDeny,
            reason: Coded {
                code: Code::RequestHeadersMalformed,
                value: Some(&[b'v'; 1000]),
            },
        };
        assert_eq!(longest.render().as_str(), longest.to_string());
        let internal = Record::internal_error(true).render();
        assert_eq!(
            internal.as_str(),
            "policy=- verdict=preflight_denied reason=internal_error"
        );
    }
}
