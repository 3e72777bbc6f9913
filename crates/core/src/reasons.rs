//! The closed set of reasons the filter gives for a request it does not
//! allow as asked: one table of codes, each with what it means and how to
//! fix it. The access log ([`crate::record`]), the debug log line
//! ([`crate::stream::refusal_line`]), `cors-policy explain` and
//! docs/operators.md all read this table; the browsers' console texts for
//! each code are captured by the browser suite (the scenarios named here)
//! into docs/correctness.json, and docs/operators.md's table joins the two.

use std::fmt::{self, Write as _};

use crate::origin::OriginError;
use crate::policy::Refusal;

/// A reason code, one per row of [`REASONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// A well-formed origin the policy does not list.
    OriginNotAllowed,
    /// `Origin: null`.
    OriginNull,
    /// Two origins: the header repeated, or a list in one value.
    OriginMultiple,
    /// Not a serialized origin as browsers send it.
    OriginMalformed,
    /// A method the policy does not allow.
    MethodNotAllowed,
    /// A request header the policy does not allow.
    HeaderNotAllowed,
    /// Private Network Access the policy does not allow.
    PrivateNetworkNotAllowed,
    /// `Access-Control-Request-Method` repeated or not a token.
    RequestMethodMalformed,
    /// `Access-Control-Request-Headers` repeated or holding a non-token.
    RequestHeadersMalformed,
    /// The route names a policy the configuration does not define.
    UnknownPolicy,
    /// The filter failed (a panic caught in the dynamic module) and refused.
    InternalError,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason {
    /// The code as the access log prints it (before the `:value`, if any).
    pub code: &'static str,
    /// What follows `code:` in the access log, if anything (for the docs).
    pub value: Option<&'static str>,
    /// What happened, in one sentence.
    pub meaning: &'static str,
    /// What to change.
    pub fix: &'static str,
    /// The browser-suite scenario (tests/e2e/browser_scenarios.py) whose
    /// console text shows this reason on a preflight; `None` when browsers
    /// never send such a preflight or the suite cannot make one.
    pub preflight_scenario: Option<&'static str>,
    /// The same for an actual request.
    pub actual_scenario: Option<&'static str>,
}

/// Every reason, in the order of the docs' table.
pub const REASONS: [Reason; 11] = [
    Reason {
        code: "origin_not_allowed",
        value: None,
        meaning: "The `Origin` is a well-formed origin that `allow_origins` does not list (scheme, host and port must \
                  match; `https://*.example.com` does not cover `https://example.com`).",
        fix: "List the origin exactly as the browser sends it, or a pattern that covers it; check which policy the \
              route uses (`cors-policy explain`).",
        preflight_scenario: Some("page_on_a_disallowed_origin_cannot_send_a_preflighted_request"),
        actual_scenario: Some("page_on_a_disallowed_origin_cannot_read_the_api"),
    },
    Reason {
        code: "origin_null",
        value: None,
        meaning: "`Origin: null`: an opaque origin (a sandboxed iframe, a `data:` or `file:` page, a redirect that \
                  crossed origins). No policy may allow it.",
        fix: "Serve the page from a real origin and list that one; never allow `null`, which every sandboxed page \
              sends.",
        preflight_scenario: None,
        actual_scenario: None,
    },
    Reason {
        code: "origin_multiple",
        value: None,
        meaning: "More than one origin: `Origin` sent twice (Envoy joins the lines with a comma) or a list in one \
                  value. Browsers send exactly one.",
        fix: "Nothing in the policy: the request comes from a non-browser client, or a proxy in front added an \
              `Origin`.",
        preflight_scenario: None,
        actual_scenario: None,
    },
    Reason {
        code: "origin_malformed",
        value: None,
        meaning: "The `Origin` is not a serialized origin as browsers send it (uppercase, a path, a trailing slash, \
                  a default port, bytes that are not ASCII, ...).",
        fix: "Nothing in the policy: only a non-browser client or a forged header sends this (`cors-policy explain` \
              names what is wrong with the value).",
        preflight_scenario: None,
        actual_scenario: None,
    },
    Reason {
        code: "method_not_allowed",
        value: Some("the method asked for"),
        meaning: "The preflight asks for a method `allow_methods` does not list. Methods compare case-sensitively: \
                  `patch` is not `PATCH`.",
        fix: "Add the method to `allow_methods`, or have the page send it in upper case.",
        preflight_scenario: Some("refused_method_is_blocked_before_reaching_the_api"),
        actual_scenario: None,
    },
    Reason {
        code: "header_not_allowed",
        value: Some("the first header name not allowed"),
        meaning: "The preflight asks for a request header `allow_headers` does not list (`\"*\"` never covers \
                  `authorization`).",
        fix: "Add the header to `allow_headers` (`authorization` by name), or stop the page or its client library \
              from sending it.",
        preflight_scenario: Some("refused_header_is_blocked_before_reaching_the_api"),
        actual_scenario: None,
    },
    Reason {
        code: "private_network_not_allowed",
        value: None,
        meaning: "The preflight asks for Private Network Access (`Access-Control-Request-Private-Network: true`) \
                  and the policy does not set `allow_private_network`.",
        fix: "Set `\"allow_private_network\": true` if pages on public sites may call this private address.",
        preflight_scenario: None,
        actual_scenario: None,
    },
    Reason {
        code: "request_method_malformed",
        value: None,
        meaning: "`Access-Control-Request-Method` is repeated or not a method name. Browsers never send this.",
        fix: "Nothing in the policy: find the client.",
        preflight_scenario: None,
        actual_scenario: None,
    },
    Reason {
        code: "request_headers_malformed",
        value: None,
        meaning: "`Access-Control-Request-Headers` is repeated or holds something that is not a header name. \
                  Browsers never send this.",
        fix: "Nothing in the policy: find the client.",
        preflight_scenario: None,
        actual_scenario: None,
    },
    Reason {
        code: "unknown_policy",
        value: Some("the name the route gave"),
        meaning: "The route names a policy (in its metadata or per-route config) that the filter's configuration \
                  does not define; the filter refuses the request (no CORS headers, 403 to a preflight).",
        fix: "Correct the name on the route, or define the policy under `policies`.",
        preflight_scenario: None,
        actual_scenario: None,
    },
    Reason {
        code: "internal_error",
        value: None,
        meaning: "The filter failed on this request (a panic caught in the dynamic module) and failed closed: no \
                  CORS header reached the browser, and a preflight got 403.",
        fix: "Report it with the `cors: panic in ...` log line (and `cors.panics`); nothing in the policy.",
        preflight_scenario: None,
        actual_scenario: None,
    },
];

impl Code {
    /// Every code, in the table's order.
    pub const ALL: [Code; 11] = [
        Self::OriginNotAllowed,
        Self::OriginNull,
        Self::OriginMultiple,
        Self::OriginMalformed,
        Self::MethodNotAllowed,
        Self::HeaderNotAllowed,
        Self::PrivateNetworkNotAllowed,
        Self::RequestMethodMalformed,
        Self::RequestHeadersMalformed,
        Self::UnknownPolicy,
        Self::InternalError,
    ];

    /// This code's row.
    pub fn reason(self) -> &'static Reason {
        let [origin_not_allowed, origin_null, origin_multiple, origin_malformed, method, header, private_network, request_method, request_headers, unknown_policy, internal] =
            &REASONS;
        match self {
            Self::OriginNotAllowed => origin_not_allowed,
            Self::OriginNull => origin_null,
            Self::OriginMultiple => origin_multiple,
            Self::OriginMalformed => origin_malformed,
            Self::MethodNotAllowed => method,
            Self::HeaderNotAllowed => header,
            Self::PrivateNetworkNotAllowed => private_network,
            Self::RequestMethodMalformed => request_method,
            Self::RequestHeadersMalformed => request_headers,
            Self::UnknownPolicy => unknown_policy,
            Self::InternalError => internal,
        }
    }

    /// The code as printed.
    pub fn as_str(self) -> &'static str {
        self.reason().code
    }
}

impl<'a> Refusal<'a> {
    /// The reason code of this refusal, with the value from the request that
    /// goes with it.
    pub fn coded(&self) -> Coded<'a> {
        let (code, value) = match *self {
            Refusal::MalformedOrigin(OriginError::Null) => (Code::OriginNull, None),
            Refusal::MalformedOrigin(OriginError::List) | Refusal::RepeatedOrigin => (Code::OriginMultiple, None),
            Refusal::MalformedOrigin(_) => (Code::OriginMalformed, None),
            Refusal::OriginNotAllowed => (Code::OriginNotAllowed, None),
            Refusal::MalformedRequestMethod => (Code::RequestMethodMalformed, None),
            Refusal::MethodNotAllowed(method) => (Code::MethodNotAllowed, Some(method)),
            Refusal::MalformedRequestHeaders => (Code::RequestHeadersMalformed, None),
            Refusal::HeaderNotAllowed(name) => (Code::HeaderNotAllowed, Some(name)),
            Refusal::PrivateNetworkNotAllowed => (Code::PrivateNetworkNotAllowed, None),
        };
        Coded { code, value }
    }
}

/// The most bytes of a request's value a reason carries.
pub const MAX_VALUE: usize = 64;

/// A value from the request as a reason carries it: at most [`MAX_VALUE`]
/// bytes (then `...`), and every byte that is not an HTTP token character
/// (RFC 9110 `tchar`: no space, no `=`, no control byte, no quote) as `?`,
/// so that the value can never break the line it is printed in.
#[derive(Debug, Clone, Copy)]
pub struct Clean<'a>(pub &'a [u8]);

impl fmt::Display for Clean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (head, cut) = match self.0.get(..MAX_VALUE) {
            Some(head) if head.len() < self.0.len() => (head, true),
            _ => (self.0, false),
        };
        for &b in head {
            f.write_char(if crate::tokens::is_tchar(b) { char::from(b) } else { '?' })?;
        }
        if cut {
            f.write_str("...")?;
        }
        Ok(())
    }
}

/// A code with its value, as the access log prints it: `method_not_allowed:DELETE`.
#[derive(Debug, Clone, Copy)]
pub struct Coded<'a> {
    /// The code.
    pub code: Code,
    /// The value from the request (cleaned when printed).
    pub value: Option<&'a [u8]>,
}

impl fmt::Display for Coded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code.as_str())?;
        match self.value {
            Some(value) => write!(f, ":{}", Clean(value)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_row_in_order() {
        for (code, row) in Code::ALL.into_iter().zip(REASONS.iter()) {
            assert_eq!(code.reason(), row);
            assert_eq!(code.as_str(), row.code);
        }
        let mut codes: Vec<&str> = REASONS.iter().map(|r| r.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), REASONS.len(), "a code appears twice");
    }

    #[test]
    fn values_from_the_request_are_bounded_and_cleaned() {
        assert_eq!(Clean(b"x-secret").to_string(), "x-secret");
        assert_eq!(Clean(b"a b=c\"d\ne\x00\xff").to_string(), "a?b?c?d?e??");
        let long = [b'A'; 200];
        let shown = Clean(&long).to_string();
        assert_eq!(shown.len(), MAX_VALUE + 3);
        assert!(shown.ends_with("..."));
        assert_eq!(Clean(&[b'A'; MAX_VALUE]).to_string().len(), MAX_VALUE);
    }

    #[test]
    fn a_refusal_prints_its_code_and_clean_value() {
        let coded = Refusal::HeaderNotAllowed(b"x-secret\r\n").coded();
        assert_eq!(coded.to_string(), "header_not_allowed:x-secret??");
        assert_eq!(Refusal::OriginNotAllowed.coded().to_string(), "origin_not_allowed");
        assert_eq!(
            Refusal::MalformedOrigin(OriginError::Null).coded().to_string(),
            "origin_null"
        );
        assert_eq!(
            Refusal::MalformedOrigin(OriginError::List).coded().to_string(),
            "origin_multiple"
        );
    }
}
