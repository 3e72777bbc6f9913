//! Decorating a forwarded request's response: the upstream's own
//! `Access-Control-*` headers are removed (the policy is the one source of
//! truth), ours are added, and `Origin` is merged into `Vary`.
//!
//! The host's header map is reached through the [`HeaderWriter`] port, so the
//! same code runs over Envoy's map in the filter and over a `Vec` in tests.

use crate::policy::{Policy, VARY_ORIGIN};
use crate::tokens;

/// The `Access-Control-Allow-Origin` value to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowOrigin<'a> {
    /// `*`.
    Any,
    /// The request's own origin, echoed.
    Echo(&'a str),
}

impl<'a> AllowOrigin<'a> {
    /// The header value.
    pub fn as_str(&self) -> &'a str {
        match self {
            Self::Any => "*",
            Self::Echo(origin) => origin,
        }
    }
}

/// What to do to the response of a forwarded request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePlan<'a> {
    /// Send `Access-Control-Allow-Origin` (and the policy's credentials and
    /// exposed headers) with this value; `None` for refused or non-CORS requests.
    pub allow_origin: Option<AllowOrigin<'a>>,
    /// Merge `Origin` into `Vary`.
    pub vary_origin: bool,
}

/// Write access to the response headers (names are lowercase).
pub trait HeaderWriter {
    /// Removes every value of `name`.
    fn remove(&mut self, name: &str);
    /// Replaces every value of `name` with `value`.
    fn set(&mut self, name: &str, value: &[u8]);
    /// Adds a value of `name`, keeping the others.
    fn add(&mut self, name: &str, value: &[u8]);
}

/// The prefix of every CORS response header.
const CORS_PREFIX: &str = "access-control-";

impl ResponsePlan<'_> {
    /// Applies the plan to a response whose headers are `upstream`.
    pub fn apply<N, V, W>(&self, policy: &Policy, upstream: &[(N, V)], out: &mut W)
    where
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
        W: HeaderWriter,
    {
        for (i, (name, _)) in upstream.iter().enumerate() {
            let name = name.as_ref();
            let is_cors = name.len() > CORS_PREFIX.len()
                && name
                    .get(..CORS_PREFIX.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(CORS_PREFIX.as_bytes()));
            let seen = || {
                upstream
                    .iter()
                    .take(i)
                    .any(|(earlier, _)| earlier.as_ref().eq_ignore_ascii_case(name))
            };
            if is_cors && !seen() {
                if let Ok(name) = std::str::from_utf8(name) {
                    out.remove(name);
                }
            }
        }
        if let Some(allow) = self.allow_origin {
            out.add("access-control-allow-origin", allow.as_str().as_bytes());
            if policy.credentials {
                out.add("access-control-allow-credentials", b"true");
            }
            if let Some(expose) = &policy.expose_headers {
                out.add("access-control-expose-headers", expose.as_bytes());
            }
        }
        if self.vary_origin {
            merge_vary(upstream, out);
        }
    }
}

/// Adds `Origin` to the response's `Vary` unless it is already covered,
/// keeping what the upstream sent.
fn merge_vary<N: AsRef<[u8]>, V: AsRef<[u8]>, W: HeaderWriter>(upstream: &[(N, V)], out: &mut W) {
    let mut lines = upstream
        .iter()
        .filter(|(name, _)| name.as_ref().eq_ignore_ascii_case(b"vary"))
        .map(|(_, value)| value.as_ref());
    let first = lines.next();
    let covered = first.into_iter().chain(lines.clone()).any(|value| {
        tokens::split_list(value).any(|item| item == b"*" || item.eq_ignore_ascii_case(VARY_ORIGIN.as_bytes()))
    });
    if covered {
        return;
    }
    match (first, lines.next()) {
        (Some(value), None) if !tokens::trim_ows(value).is_empty() => {
            let mut merged = Vec::with_capacity(value.len() + 8);
            merged.extend_from_slice(tokens::trim_ows(value));
            merged.extend_from_slice(b", ");
            merged.extend_from_slice(VARY_ORIGIN.as_bytes());
            out.set("vary", &merged);
        }
        (Some(_), None) => out.set("vary", VARY_ORIGIN.as_bytes()),
        _ => out.add("vary", VARY_ORIGIN.as_bytes()),
    }
}
