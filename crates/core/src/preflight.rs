//! A preflight whose origin is allowed: the checks of what it asks for
//! (WHATWG Fetch, "CORS-preflight fetch" steps 7.3-7.8: the method, each
//! request header, and Private Network Access), and the answer.
//!
//! A preflight that asks for something the policy does not grant gets the
//! answer an allowed preflight would get, without what was refused: the
//! browser then blocks the request and names the cause in its console
//! (`Method DELETE is not allowed by Access-Control-Allow-Methods`), where a
//! bare 403 would make it blame the origin. It tells the page nothing an
//! allowed preflight from the same origin would not.

use arrayvec::ArrayVec;

use crate::policy::{Decision, Header, LocalReply, Policy, Refusal, Request, REPLY_HEADERS};
use crate::response::AllowOrigin;
use crate::tokens;

/// What `Access-Control-Allow-Headers` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowHeaders<'a> {
    /// The policy's own list (nothing for a `*` policy asked for no header).
    Policy,
    /// The requested names, echoed (a `*` policy).
    Echo(&'a str),
    /// The requested names without the one a `*` policy refuses
    /// (`authorization`): what came before it and what came after it, each
    /// sent as a field line of its own (a list field may be split over
    /// lines, RFC 9110 section 5.3), so nothing is copied.
    EchoAround(&'a str, &'a str),
}

/// What a preflight answer grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant<'a> {
    /// The origin to echo (or `*` for an any-origin policy).
    pub allow_origin: AllowOrigin<'a>,
    /// The requested method to echo when a policy with credentials allows `*`.
    pub echo_method: Option<&'a str>,
    /// The request headers granted.
    pub allow_headers: AllowHeaders<'a>,
    /// Whether to answer `Access-Control-Allow-Private-Network: true`.
    pub private_network: bool,
}

/// The request headers a preflight asks for, checked against the policy.
struct RequestedHeaders<'a> {
    allow: AllowHeaders<'a>,
    /// The first name the policy does not allow.
    refused: Option<&'a [u8]>,
}

impl Policy {
    /// The checks of a preflight whose origin is allowed.
    pub(crate) fn check_preflight<'a>(&self, req: &Request<'a>, allow_origin: AllowOrigin<'a>) -> Decision<'a> {
        let denied = |refusal| Decision::PreflightDenied { refusal, grant: None };
        let Header::One(method) = req.request_method else {
            return denied(Refusal::MalformedRequestMethod);
        };
        if !tokens::is_token(method) {
            return denied(Refusal::MalformedRequestMethod);
        }
        // Safelisted methods never need the server's approval in a browser.
        let safelisted = tokens::SAFELISTED_METHODS.iter().any(|m| m.as_bytes() == method);
        let method_allowed = safelisted || self.methods.any || self.methods.has_method(method);
        // With credentials a browser reads `*` as a method named "*" (Fetch,
        // CORS-preflight fetch step 7.5), so the answer names the method asked for.
        let echo_method = if self.credentials && self.methods.any {
            std::str::from_utf8(method).ok()
        } else {
            None
        };
        let headers = match req.request_headers {
            Header::Absent => RequestedHeaders {
                allow: AllowHeaders::Policy,
                refused: None,
            },
            Header::Repeated => return denied(Refusal::MalformedRequestHeaders),
            Header::One(list) => match self.requested_headers(list) {
                Some(headers) => headers,
                None => return denied(Refusal::MalformedRequestHeaders),
            },
        };
        let asks_private_network = matches!(req.request_private_network, Header::One(v) if v == b"true");
        let grant = Grant {
            allow_origin,
            echo_method,
            allow_headers: headers.allow,
            private_network: self.private_network && asks_private_network,
        };
        let refusal = if !method_allowed {
            Refusal::MethodNotAllowed(method)
        } else if let Some(name) = headers.refused {
            Refusal::HeaderNotAllowed(name)
        } else if asks_private_network && !self.private_network {
            Refusal::PrivateNetworkNotAllowed
        } else {
            return Decision::PreflightAllowed(grant);
        };
        Decision::PreflightDenied {
            refusal,
            grant: Some(grant),
        }
    }

    /// Reports whether the policy allows a request header.
    fn allows_header(&self, name: &[u8]) -> bool {
        let by_wildcard = self.headers.any && !name.eq_ignore_ascii_case(tokens::NON_WILDCARD_HEADER.as_bytes());
        by_wildcard || self.headers.has_header(name)
    }

    /// Checks `Access-Control-Request-Headers`; `None` when it holds a name
    /// that is not a token.
    fn requested_headers<'a>(&self, list: &'a [u8]) -> Option<RequestedHeaders<'a>> {
        let mut refused = None;
        for name in tokens::split_list(list) {
            if !tokens::is_token(name) {
                return None;
            }
            if refused.is_none() && !self.allows_header(name) {
                refused = Some(name);
            }
        }
        // A list of only commas names no header: nothing to echo.
        let allow = if !self.headers.any || tokens::split_list(list).next().is_none() {
            AllowHeaders::Policy
        } else if let Some(name) = refused {
            self.echo_around(list, name)
        } else {
            std::str::from_utf8(tokens::trim_ows(list)).map_or(AllowHeaders::Policy, AllowHeaders::Echo)
        };
        Some(RequestedHeaders { allow, refused })
    }

    /// The requested list of a `*` policy without the refused name. What
    /// follows it is left out too if it holds another name the policy
    /// refuses (the same name twice: browsers never send that).
    fn echo_around<'a>(&self, list: &'a [u8], refused: &[u8]) -> AllowHeaders<'a> {
        let mut start = 0;
        for item in list.split(|&b| b == b',') {
            let end = start + item.len();
            if tokens::trim_ows(item) == refused {
                let before = trim_list(list.get(..start).unwrap_or_default());
                let mut after = trim_list(list.get(end..).unwrap_or_default());
                if tokens::split_list(after).any(|name| !self.allows_header(name)) {
                    after = b"";
                }
                return match (std::str::from_utf8(before), std::str::from_utf8(after)) {
                    (Ok(before), Ok(after)) => AllowHeaders::EchoAround(before, after),
                    _ => AllowHeaders::Policy,
                };
            }
            start = end + 1;
        }
        AllowHeaders::Policy
    }

    /// The answer to a preflight: what `grant` allows, with this policy's
    /// status, credentials, lists and `max_age`.
    pub(crate) fn preflight_reply<'a>(&'a self, grant: &Grant<'a>) -> LocalReply<'a> {
        let mut headers: ArrayVec<_, REPLY_HEADERS> = ArrayVec::new();
        // At most eight pushes into room for eight: `try_push` never fails.
        let mut push = |name, value: &'a str| {
            let _ = headers.try_push((name, value));
        };
        push("access-control-allow-origin", grant.allow_origin.as_str());
        if self.credentials {
            push("access-control-allow-credentials", "true");
        }
        if let Some(requested) = grant.echo_method {
            push("access-control-allow-methods", requested);
        } else if !self.methods.rendered.is_empty() {
            push("access-control-allow-methods", self.methods.rendered.as_str());
        }
        match grant.allow_headers {
            AllowHeaders::Echo(requested) => push("access-control-allow-headers", requested),
            AllowHeaders::EchoAround(before, after) => {
                for part in [before, after] {
                    if !part.is_empty() {
                        push("access-control-allow-headers", part);
                    }
                }
            }
            AllowHeaders::Policy if !self.headers.any && !self.headers.rendered.is_empty() => {
                push("access-control-allow-headers", self.headers.rendered.as_str());
            }
            AllowHeaders::Policy => {}
        }
        if let Some(max_age) = &self.max_age {
            push("access-control-max-age", max_age.as_str());
        }
        if grant.private_network {
            push("access-control-allow-private-network", "true");
        }
        push("vary", self.preflight_vary());
        LocalReply {
            status: self.preflight_status,
            headers,
            refused: false,
        }
    }
}

/// Trims whitespace and commas from both ends of a part of a list.
fn trim_list(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b',', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b','] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::Config;

    fn policy(json: &str) -> Policy {
        let mut config = Config::parse(json.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
        config.policies.remove(0)
    }

    fn preflight<'a>(method: &'a str, headers: Option<&'a str>) -> Request<'a> {
        let mut req = Request {
            method: b"OPTIONS",
            origin: Header::One(b"https://app.example.com"),
            request_method: Header::One(method.as_bytes()),
            ..Request::default()
        };
        if let Some(list) = headers {
            req.request_headers = Header::One(list.as_bytes());
        }
        req
    }

    /// The headers of the local reply the policy sends for `req`.
    fn reply_headers(policy: &Policy, req: &Request<'_>) -> Vec<(String, String)> {
        match policy.act(&policy.decide(req)) {
            crate::policy::Action::Reply(reply) => reply
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    fn values<'h>(headers: &'h [(String, String)], name: &str) -> Vec<&'h str> {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn a_refused_method_is_answered_with_the_policys_methods_and_counted_as_denied() {
        let p = policy(
            r#"{"allow_origins": ["https://app.example.com"], "allow_methods": ["GET", "PUT"], "allow_credentials": true}"#,
        );
        let req = preflight("DELETE", None);
        assert!(matches!(
            p.decide(&req),
            Decision::PreflightDenied {
                refusal: Refusal::MethodNotAllowed(b"DELETE"),
                grant: Some(_)
            }
        ));
        let headers = reply_headers(&p, &req);
        assert_eq!(
            values(&headers, "access-control-allow-origin"),
            ["https://app.example.com"]
        );
        assert_eq!(values(&headers, "access-control-allow-credentials"), ["true"]);
        assert_eq!(values(&headers, "access-control-allow-methods"), ["GET, PUT"]);
    }

    #[test]
    fn a_refused_header_is_left_out_of_a_star_policys_echo() {
        let p = policy(r#"{"allow_origins": ["https://app.example.com"], "allow_headers": ["*"]}"#);
        for (asked, expect) in [
            ("authorization", vec![]),
            ("authorization,x-a", vec!["x-a"]),
            ("x-a, authorization, x-b", vec!["x-a", "x-b"]),
            ("x-a,Authorization", vec!["x-a"]),
            // Twice (never from a browser): what follows is left out too.
            ("x-a,authorization,x-b,authorization", vec!["x-a"]),
        ] {
            let req = preflight("GET", Some(asked));
            let decision = p.decide(&req);
            assert!(
                matches!(decision, Decision::PreflightDenied { refusal: Refusal::HeaderNotAllowed(name), .. } if name.eq_ignore_ascii_case(b"authorization")),
                "{asked}: {decision:?}"
            );
            let headers = reply_headers(&p, &req);
            assert_eq!(values(&headers, "access-control-allow-headers"), expect, "{asked}");
        }
    }

    #[test]
    fn a_refused_header_gets_the_policys_own_list() {
        let p =
            policy(r#"{"allow_origins": ["https://app.example.com"], "allow_headers": ["content-type", "x-api-key"]}"#);
        let req = preflight("GET", Some("content-type,x-grpc-web"));
        assert!(matches!(
            p.decide(&req),
            Decision::PreflightDenied {
                refusal: Refusal::HeaderNotAllowed(b"x-grpc-web"),
                ..
            }
        ));
        let headers = reply_headers(&p, &req);
        assert_eq!(
            values(&headers, "access-control-allow-headers"),
            ["content-type, x-api-key"]
        );
    }

    #[test]
    fn private_network_access_the_policy_does_not_allow_is_refused_without_the_header() {
        let p = policy(r#"{"allow_origins": ["https://app.example.com"]}"#);
        let mut req = preflight("GET", None);
        req.request_private_network = Header::One(b"true");
        assert!(matches!(
            p.decide(&req),
            Decision::PreflightDenied {
                refusal: Refusal::PrivateNetworkNotAllowed,
                grant: Some(Grant {
                    private_network: false,
                    ..
                })
            }
        ));
        let headers = reply_headers(&p, &req);
        assert!(values(&headers, "access-control-allow-private-network").is_empty());
        assert_eq!(
            values(&headers, "access-control-allow-origin"),
            ["https://app.example.com"]
        );
    }

    #[test]
    fn malformed_requests_and_refused_origins_get_a_bare_refusal() {
        let p = policy(r#"{"allow_origins": ["https://app.example.com"]}"#);
        for req in [
            preflight("GE T", None),
            preflight("GET", Some("x-a, b@d")),
            Request {
                origin: Header::One(b"https://evil.example"),
                ..preflight("GET", None)
            },
        ] {
            let decision = p.decide(&req);
            assert!(
                matches!(decision, Decision::PreflightDenied { grant: None, .. }),
                "{decision:?}"
            );
            let headers = reply_headers(&p, &req);
            assert_eq!(headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["vary"]);
        }
    }

    #[test]
    fn lists_are_trimmed_of_commas_and_spaces() {
        assert_eq!(trim_list(b" , x-a, "), b"x-a");
        assert_eq!(trim_list(b",,"), b"");
    }
}
