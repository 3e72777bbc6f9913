//! What each source does with one request, modelled from its documented
//! semantics, so the importer can compare it with this filter's own
//! behaviour (`simulation::simulate`) request by request.
//!
//! - [`EnvoyCors`]: Envoy's built-in `envoy.filters.http.cors` (Istio's
//!   `corsPolicy` is translated to it by istiod), as docs/differences.md
//!   describes it: an origin is allowed when a matcher matches it or the
//!   text `*`; a preflight (OPTIONS with a non-empty
//!   Access-Control-Request-Method) from an allowed origin, or from any
//!   origin with `forward_not_matching_preflights: false`, is answered 200
//!   with the configured lists (`*` echoes the request's method or headers),
//!   and that reply passes the filter's response callback like any other;
//!   every other request goes upstream, and for an allowed origin its
//!   response gets `-Allow-Origin` (the origin), `-Allow-Credentials` and
//!   `-Expose-Headers` set; nothing else is touched.
//!   `tests/e2e/test_import.py` checks this model against the real filter.
//! - [`GatewayCors`]: the Gateway API's HTTPRoute `CORS` filter (GEP-1767,
//!   `HTTPCORSFilter` in v1.5): preflights never reach the backend; an
//!   allowed one is answered 200 with the lists, `*` echoed with
//!   credentials; a refused one 200 without CORS headers; actual responses
//!   of an allowed origin get the three headers. Origins are matched with
//!   the languages the conversion is proven against. Where the specification
//!   leaves a choice (`*` or an echo without credentials), the model takes
//!   `*`, the value the operator wrote.
//! - [`NginxCors`]: ingress-nginx's `CORS` template (import/nginx.rs cites
//!   it): an origin matching its list (or any, for `*`) gets the location's
//!   headers on every response, replacing the upstream's, and its `OPTIONS`
//!   a local `204`; anything else goes upstream untouched.
//!   `tests/e2e/test_nginx_model.py` checks this model against nginx 1.22
//!   with headers-more.

use envoy_cors_core::origin::Origin;
use regex_syntax::escape;

use super::automata::Language;
use super::fields::split;
use super::origins::{MatchKind, StringMatch};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A request of the matrix, as the source and this filter receive it (and
/// as `cors-policy differences` reads it, without `:authority` and `:path`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// `:method`.
    pub method: String,
    /// `:authority`.
    #[serde(default)]
    pub authority: String,
    /// `:path`.
    #[serde(default)]
    pub path: String,
    /// Envoy's route name for the request, if the route has one.
    pub route_name: Option<String>,
    /// The other request headers (lowercase names).
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A CORS preflight as Envoy's filter recognises it: `OPTIONS` with a
    /// non-empty `Access-Control-Request-Method`.
    pub fn is_preflight(&self) -> bool {
        self.method == "OPTIONS"
            && self
                .header("access-control-request-method")
                .is_some_and(|v| !v.is_empty())
    }
}

/// What the client receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The status.
    pub status: u32,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// Whether the upstream saw the request.
    #[serde(default)]
    pub reached_upstream: bool,
}

impl Response {
    /// The headers as the core and the browser model read them.
    pub fn header_bytes(&self) -> Vec<(String, Vec<u8>)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
            .collect()
    }

    /// A reply the source makes itself, before adding its headers.
    pub fn local(status: u32) -> Self {
        Self {
            status,
            headers: Vec::new(),
            reached_upstream: false,
        }
    }
}

/// A header list being written.
fn set(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    headers.push((name.to_owned(), value.to_owned()));
}

/// The headers Envoy's filter and the Gateway API's give an allowed origin
/// on every response: `-Allow-Origin`, `-Allow-Credentials`, `-Expose-Headers`.
fn grant(response: &mut Response, allow_origin: &str, credentials: bool, expose: &str) {
    let headers = &mut response.headers;
    set(headers, "access-control-allow-origin", allow_origin);
    if credentials {
        set(headers, "access-control-allow-credentials", "true");
    }
    if !expose.is_empty() {
        set(headers, "access-control-expose-headers", expose);
    }
}

/// Whether the source's CORS is on, off, or only counting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Enabled {
    /// Enforced (`filter_enabled` absent or 100 %).
    #[default]
    On,
    /// `shadow_enabled` only: origins are evaluated and counted, nothing changes.
    Shadow,
    /// Neither: requests pass untouched.
    Off,
}

/// A CorsPolicy of Envoy's built-in filter after the route-to-virtual-host
/// fallback, field by field.
#[derive(Debug, Clone, Default)]
pub struct EnvoyCors {
    /// `allow_origin_string_match`.
    pub origins: Vec<StringMatch>,
    /// Compiled `origins` (a matcher that does not compile matches nothing).
    pub languages: Vec<Language>,
    /// `allow_methods`, verbatim.
    pub allow_methods: String,
    /// `allow_headers`, verbatim.
    pub allow_headers: String,
    /// `expose_headers`, verbatim.
    pub expose_headers: String,
    /// `max_age`, verbatim.
    pub max_age: String,
    /// `allow_credentials`.
    pub allow_credentials: bool,
    /// `allow_private_network_access`.
    pub allow_private_network: bool,
    /// `forward_not_matching_preflights` (true when unset).
    pub forward_not_matching_preflights: bool,
    /// `filter_enabled` / `shadow_enabled` of the most specific policy.
    pub enabled: Enabled,
}

impl EnvoyCors {
    /// The CorsPolicy itself, for the end-to-end tests to run in Envoy's own filter.
    pub fn cors_policy(&self) -> serde_json::Value {
        let origins: Vec<serde_json::Value> = self
            .origins
            .iter()
            .map(|m| match m.kind {
                MatchKind::Regex => json!({ "safe_regex": { "regex": m.value } }),
                kind => json!({ kind.key(): m.value, "ignore_case": m.ignore_case }),
            })
            .collect();
        let share = |on: bool| json!({ "default_value": { "numerator": if on { 100 } else { 0 } } });
        json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
            "allow_origin_string_match": origins, "allow_methods": self.allow_methods,
            "allow_headers": self.allow_headers, "expose_headers": self.expose_headers, "max_age": self.max_age,
            "allow_credentials": self.allow_credentials, "allow_private_network_access": self.allow_private_network,
            "forward_not_matching_preflights": self.forward_not_matching_preflights,
            "filter_enabled": share(self.enabled == Enabled::On), "shadow_enabled": share(self.enabled == Enabled::Shadow),
        })
    }

    /// The policy with its origin matchers compiled.
    pub fn compiled(self) -> Self {
        let languages = self.origins.iter().filter_map(|m| m.language().ok()).collect();
        Self { languages, ..self }
    }

    fn allows(&self, origin: &str) -> bool {
        self.languages
            .iter()
            .any(|l| l.matches(b"*") || l.matches(origin.as_bytes()))
    }

    /// Envoy's response to `request`, given the upstream's answer.
    pub fn respond(&self, request: &Request, upstream: &Response) -> Response {
        let forwarded = || upstream.clone();
        if self.enabled != Enabled::On {
            return forwarded();
        }
        let Some(origin) = request.header("origin").filter(|o| !o.is_empty()) else {
            return forwarded();
        };
        let allowed = self.allows(origin);
        let decorate = |mut response: Response| {
            if allowed {
                grant(&mut response, origin, self.allow_credentials, &self.expose_headers);
            }
            response
        };
        if !request.is_preflight() || (!allowed && self.forward_not_matching_preflights) {
            return decorate(forwarded());
        }
        // `decorate` adds `-Allow-Origin` (and moves `-Allow-Credentials`
        // after it) when the origin is allowed.
        let mut headers = Vec::new();
        if self.allow_credentials {
            set(&mut headers, "access-control-allow-credentials", "true");
        }
        let echo = |configured: &str, requested: &str| {
            if configured == "*" {
                request.header(requested).unwrap_or_default().to_owned()
            } else {
                configured.to_owned()
            }
        };
        if !self.allow_methods.is_empty() {
            let value = echo(&self.allow_methods, "access-control-request-method");
            set(&mut headers, "access-control-allow-methods", &value);
        }
        if !self.allow_headers.is_empty() {
            let value = echo(&self.allow_headers, "access-control-request-headers");
            set(&mut headers, "access-control-allow-headers", &value);
        }
        if !self.max_age.is_empty() {
            set(&mut headers, "access-control-max-age", &self.max_age);
        }
        if self.allow_private_network && request.header("access-control-request-private-network") == Some("true") {
            set(&mut headers, "access-control-allow-private-network", "true");
        }
        decorate(Response {
            headers,
            ..Response::local(200)
        })
    }
}

/// An HTTPRoute rule's `CORS` filter (GEP-1767's `HTTPCORSFilter`), as
/// written until [`GatewayCors::compiled`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GatewayCors {
    /// `allowOrigins`; compiled: lowercased, default ports removed.
    pub allow_origins: Vec<String>,
    /// `allowCredentials`.
    pub allow_credentials: Option<bool>,
    /// `allowMethods`.
    pub allow_methods: Vec<String>,
    /// `allowHeaders`.
    pub allow_headers: Vec<String>,
    /// `exposeHeaders`.
    pub expose_headers: Vec<String>,
    /// `maxAge` (5 when unset).
    pub max_age: Option<i64>,
    /// Compiled: each `CORSOrigin` as a matcher.
    #[serde(skip)]
    pub origins: Vec<StringMatch>,
    #[serde(skip)]
    languages: Vec<Language>,
}

impl GatewayCors {
    /// The filter with its origins normalised and compiled.
    pub fn compiled(mut self) -> Self {
        for o in &mut self.allow_origins {
            o.make_ascii_lowercase();
            let default = if o.starts_with("https://") { ":443" } else { ":80" };
            if let Some(len) = o.strip_suffix(default).map(str::len) {
                o.truncate(len);
            }
        }
        self.origins = self.allow_origins.iter().map(|o| Self::origin(o)).collect();
        // A pattern that does not compile matches nothing here; the conversion
        // refuses it, so only --lossy gets this far.
        self.languages = self.origins.iter().filter_map(|m| m.language().ok()).collect();
        self
    }

    /// A `CORSOrigin` as a matcher: `*`; an origin with a `*` host, any
    /// number of labels to its left (alone: any host, an `[IPv6]` literal
    /// too) and never a port, the port written or the scheme's default;
    /// or an exact origin.
    fn origin(written: &str) -> StringMatch {
        let label = format!("{written:?}");
        match written.split_once("://") {
            _ if written == "*" => StringMatch::written_as("(?s-u:.)*", false, label),
            Some((scheme, host)) if host.starts_with('*') => {
                let rest = host.get(1..).unwrap_or_default();
                let alone = rest.is_empty() || rest.starts_with(':');
                let any = if alone { r"(?:[^:]+|\[[^\]]*\])" } else { "[^:]+" };
                StringMatch::written_as(&format!("{}://{any}{}", escape(scheme), escape(rest)), false, label)
            }
            _ => StringMatch::exact(written),
        }
    }

    /// `allowCredentials` (false when unset).
    pub fn credentials(&self) -> bool {
        self.allow_credentials == Some(true)
    }

    /// `maxAge` (5 when unset).
    pub fn max_age(&self) -> i64 {
        self.max_age.unwrap_or(5)
    }

    /// Whether an origin a browser sends matches `allowOrigins` (anything
    /// else only `*`).
    pub fn allows(&self, origin: &str) -> bool {
        let allowed = || self.languages.iter().any(|l| l.matches(origin.as_bytes()));
        self.any_origin() || (Origin::parse(origin.as_bytes()).is_ok() && allowed())
    }

    fn any_origin(&self) -> bool {
        self.allow_origins.iter().any(|a| a == "*")
    }

    /// The gateway's response to `request`, given the backend's answer.
    pub fn respond(&self, request: &Request, upstream: &Response) -> Response {
        let Some(origin) = request.header("origin") else {
            return upstream.clone();
        };
        let allowed = self.allows(origin);
        let credentials = self.credentials();
        let allow_origin = if self.any_origin() && !credentials { "*" } else { origin };
        let preflight = request.is_preflight();
        let mut response = if preflight {
            Response::local(200)
        } else {
            upstream.clone()
        };
        if !allowed {
            return response;
        }
        let expose = self.expose_headers.join(", ");
        grant(&mut response, allow_origin, credentials, &expose);
        let headers = &mut response.headers;
        if preflight {
            let star = |list: &[String]| list.iter().any(|m| m == "*");
            if star(&self.allow_methods) && credentials {
                let requested = request.header("access-control-request-method").unwrap_or_default();
                set(headers, "access-control-allow-methods", requested);
            } else if !self.allow_methods.is_empty() {
                set(headers, "access-control-allow-methods", &self.allow_methods.join(", "));
            }
            if star(&self.allow_headers) && credentials {
                if let Some(requested) = request.header("access-control-request-headers") {
                    set(headers, "access-control-allow-headers", requested);
                }
            } else if !self.allow_headers.is_empty() {
                set(headers, "access-control-allow-headers", &self.allow_headers.join(", "));
            }
            set(headers, "access-control-max-age", &self.max_age().to_string());
        }
        response
    }
}

/// ingress-nginx's CORS on one location.
#[derive(Debug, Clone)]
pub struct NginxCors {
    /// `cors-allow-origin` is `*`: `set $http_origin *` and CORS on every request.
    pub any: bool,
    /// The listed origins as nginx matches them: `~* ((o1)|(o2))$`.
    pub origins: Option<Box<Language>>,
    /// The listed origins as written, for the request matrix.
    pub written: Vec<String>,
    /// `cors-allow-credentials`.
    pub credentials: bool,
    /// `cors-allow-methods`, verbatim.
    pub methods: String,
    /// `cors-allow-headers`, verbatim.
    pub headers: String,
    /// `cors-expose-headers`, verbatim.
    pub expose: String,
    /// `cors-max-age`.
    pub max_age: i64,
}

impl NginxCors {
    /// The `CorsConfig` ingress-nginx's template renders, for the end-to-end
    /// tests to run in nginx.
    pub fn cors_config(&self) -> serde_json::Value {
        json!({ "CorsAllowOrigin": if self.any { vec!["*".to_owned()] } else { self.written.clone() },
                "CorsAllowCredentials": self.credentials, "CorsAllowMethods": self.methods,
                "CorsAllowHeaders": self.headers, "CorsExposeHeaders": self.expose, "CorsMaxAge": self.max_age })
    }

    /// nginx's response to `request`, given the upstream's answer.
    pub fn respond(&self, request: &Request, upstream: &Response) -> Response {
        let origin = request.header("origin");
        let matched =
            self.any || origin.is_some_and(|o| self.origins.as_ref().is_some_and(|l| l.matches(o.as_bytes())));
        if !matched {
            return upstream.clone();
        }
        let mut response = if request.method == "OPTIONS" {
            Response::local(204)
        } else {
            upstream.clone()
        };
        let allow_origin = if self.any { "*" } else { origin.unwrap_or_default() };
        let headers = &mut response.headers;
        set(headers, "access-control-allow-origin", allow_origin);
        if self.credentials {
            set(headers, "access-control-allow-credentials", "true");
        }
        set(headers, "access-control-allow-methods", &self.methods);
        set(headers, "access-control-allow-headers", &self.headers);
        if !self.expose.is_empty() {
            set(headers, "access-control-expose-headers", &self.expose);
        }
        set(headers, "access-control-max-age", &self.max_age.to_string());
        response
    }
}

/// A source's CORS for one scope.
#[derive(Debug, Clone)]
pub enum SourceCors {
    /// Envoy's built-in filter (also what Istio and Envoy Gateway configure).
    Envoy(EnvoyCors),
    /// The Gateway API's CORS filter.
    Gateway(GatewayCors),
    /// ingress-nginx's annotations.
    Nginx(NginxCors),
}

/// What the request matrix is built from: the source's origins (exact ones,
/// or patterns whose samples it tries), methods, request and response headers.
#[derive(Debug, Default)]
pub struct Hints {
    /// Origins or origin patterns.
    pub origins: Vec<String>,
    /// Methods.
    pub methods: Vec<String>,
    /// Request header names, lowercase.
    pub headers: Vec<String>,
    /// Response header names, lowercase.
    pub expose: Vec<String>,
}

impl SourceCors {
    /// The source's response to `request`.
    pub fn respond(&self, request: &Request, upstream: &Response) -> Response {
        match self {
            Self::Envoy(cors) => cors.respond(request, upstream),
            Self::Gateway(cors) => cors.respond(request, upstream),
            Self::Nginx(cors) => cors.respond(request, upstream),
        }
    }

    /// What the matrix tries.
    pub fn hints(&self) -> Hints {
        let lower = |list: &[String]| list.iter().map(|h| h.to_ascii_lowercase()).collect();
        match self {
            Self::Envoy(c) => Hints {
                origins: c
                    .origins
                    .iter()
                    .map(|m| m.value.replace(['^', '$', '\\'], ""))
                    .collect(),
                methods: split(&c.allow_methods),
                headers: lower(&split(&c.allow_headers)),
                expose: lower(&split(&c.expose_headers)),
            },
            Self::Gateway(c) => Hints {
                origins: c.allow_origins.clone(),
                methods: c.allow_methods.clone(),
                headers: lower(&c.allow_headers),
                expose: lower(&c.expose_headers),
            },
            Self::Nginx(c) => Hints {
                origins: c.written.clone(),
                methods: split(&c.methods),
                headers: lower(&split(&c.headers)),
                expose: lower(&split(&c.expose)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_origins_take_the_schemes_default_port_and_a_host_wildcard_never_spans_one() {
        // GEP-1767: without a port, 80 for http and 443 for https; `*` is
        // any number of labels to its left, and alone any host.
        let cases = [
            ("http://[::1]", "http://[::1]", true),
            ("HTTP://[::1]:80", "http://[::1]", true),
            ("http://[::1]", "http://[::1]:8080", false),
            ("https://*", "https://a.example", true),
            ("https://*", "https://[::1]", true),
            ("https://*", "https://a.example:8443", false),
            ("https://*", "http://a.example", false),
            ("http://*:8080", "http://[::1]:8080", true),
            ("http://*:8080", "http://a.example", false),
            ("https://*.example.com", "https://a.b.example.com", true),
            ("https://*.example.com", "https://example.com", false),
            ("https://*.example.com:8443", "https://a.example.com:8443", true),
            ("https://*.example.com:8443", "https://a.example.com", false),
            ("*", "null", true),
        ];
        for (written, origin, allowed) in cases {
            let cors = GatewayCors {
                allow_origins: vec![written.to_owned()],
                ..GatewayCors::default()
            }
            .compiled();
            assert_eq!(cors.allows(origin), allowed, "{written} allows {origin}");
            // The conversion is proven against the matcher the model uses.
            let converted = cors
                .origins
                .iter()
                .any(|m| m.language().unwrap().matches(origin.as_bytes()));
            assert_eq!(converted, allowed, "{written} converted, {origin}");
        }
    }
}
