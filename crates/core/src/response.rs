//! Decorating a forwarded request's response: the CORS headers a browser
//! reads come from the policy alone (set, or removed when the upstream sent
//! them), and `Origin` is added to `Vary`.
//!
//! The response is written, never read: reading Envoy's response map from
//! the wasm VM was the most expensive host call of a request (11.3k
//! instructions, `make bench-callgrind`). The host's header map is reached
//! through the [`HeaderWriter`] port, so the same code runs over Envoy's map
//! in the filter and over a `Vec` in tests.

/// `Vary` on a response whose answer depends on the request's origin.
pub const VARY_ORIGIN: &str = "Origin";

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
    /// With an `allow_origin`: send `Access-Control-Allow-Credentials: true`.
    pub credentials: bool,
    /// With an `allow_origin`: the `Access-Control-Expose-Headers` value.
    pub expose_headers: Option<&'a str>,
    /// Add `Origin` to `Vary`.
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

/// The CORS response headers a browser reads on an actual response (Fetch,
/// "CORS check" and "CORS-filtered response"): the only ones an upstream could
/// use to widen what the policy grants. The others (`-Allow-Methods`,
/// `-Max-Age`, ...) are read only on a preflight answer, and the filter
/// answers every preflight of a covered route itself.
pub const ACTUAL_RESPONSE_HEADERS: [&str; 3] = [
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-expose-headers",
];

impl ResponsePlan<'_> {
    /// Applies the plan to a response without reading it: every header a
    /// browser reads is set from the policy or removed, so whatever the
    /// upstream sent in its place is replaced, and `Origin` is added to
    /// `Vary` as one more field line (RFC 9110 section 5.3: a list field may
    /// be split over several lines), which keeps the upstream's `Vary`.
    pub fn apply<W: HeaderWriter>(&self, out: &mut W) {
        let [allow_origin, allow_credentials, expose_headers] = ACTUAL_RESPONSE_HEADERS;
        match self.allow_origin {
            Some(allow) => {
                out.set(allow_origin, allow.as_str().as_bytes());
                if self.credentials {
                    out.set(allow_credentials, b"true");
                } else {
                    out.remove(allow_credentials);
                }
                match self.expose_headers {
                    Some(expose) => out.set(expose_headers, expose.as_bytes()),
                    None => out.remove(expose_headers),
                }
            }
            // Without `-Allow-Origin` a browser fails the CORS check, so the
            // upstream's `-Allow-Credentials` and `-Expose-Headers` grant
            // nothing: one removal denies everything. Also on responses to
            // requests without `Origin`: a cache that ignores `Vary` could
            // serve them to one that has it.
            None => out.remove(allow_origin),
        }
        if self.vary_origin {
            out.add("vary", VARY_ORIGIN.as_bytes());
        }
    }
}
