//! The requests of a scope's matrix (its origins and look-alikes, preflights
//! for listed and unlisted methods and headers), the upstreams that answer
//! them (a plain one, and one that sends its own CORS headers, as in the
//! end-to-end differential matrix), and this filter's answer by its own code.

use envoy_cors_core::language::Config;
use envoy_cors_core::origin::Origin;
use envoy_cors_core::simulation::simulate;
use itertools::Itertools;

use super::model::{Hints, Request, Response};
use super::Scope;

/// What an upstream that sends its own CORS headers answers.
const UPSTREAM_CORS: [(&str, &str); 5] = [
    ("access-control-allow-origin", "*"),
    ("access-control-allow-credentials", "true"),
    ("access-control-allow-methods", "GET"),
    ("access-control-expose-headers", "x-upstream"),
    ("vary", "Accept-Encoding"),
];

/// A response header the upstreams send, which a page could read if exposed.
pub const UPSTREAM_HEADER: &str = "x-upstream";

/// The upstreams a scope's requests meet: the route's own answer
/// (`direct_response`), or a plain upstream and one with its own CORS headers.
pub fn upstreams(scope: &Scope) -> Vec<(&'static str, Response)> {
    let upstream = |headers: &[(&str, &str)]| Response {
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        reached_upstream: true,
        ..Response::local(200)
    };
    match scope.sample.direct_status {
        Some(status) => vec![("direct", Response::local(status))],
        None => vec![("plain", upstream(&[])), ("own-cors", upstream(&UPSTREAM_CORS))],
    }
}

/// The response headers a page might read: the upstream's own, and what the
/// policy and the source expose.
pub fn exposed(scope: &Scope, hints: &Hints) -> Vec<String> {
    let upstream = UPSTREAM_HEADER.to_owned();
    let policy = scope.cors.policy.iter().flat_map(|p| &p.expose_headers);
    names([&upstream].into_iter().chain(policy).chain(&hints.expose))
}

/// Names but `*`, sorted, each once.
fn names<'a>(items: impl Iterator<Item = &'a String>) -> Vec<String> {
    items.filter(|n| *n != "*").sorted().dedup().cloned().collect()
}

/// The requests of one scope's matrix.
pub fn requests(scope: &Scope, hints: &Hints) -> Vec<Request> {
    let policy = scope.cors.policy.as_ref();
    let written = policy.iter().flat_map(|p| &p.allow_origins).chain(&hints.origins);
    let variants = written.flat_map(|o| origin_variants(o)).map(Some);
    let fixed = [None, Some("https://evil.example".into()), Some("null".into())];
    let origins: Vec<Option<String>> = fixed.into_iter().chain(variants).unique().take(16).collect();
    let methods = names(
        policy
            .iter()
            .flat_map(|p| p.allow_methods.iter().flatten())
            .chain(&hints.methods),
    );
    let headers = names(policy.iter().flat_map(|p| &p.allow_headers).chain(&hints.headers));
    let mut out = Vec::new();
    for origin in &origins {
        for (method, extra) in kinds(&methods, &headers) {
            if origin.is_none() && method == "OPTIONS" && !extra.is_empty() {
                continue;
            }
            let mut headers: Vec<(String, String)> = origin.iter().map(|o| ("origin".to_owned(), o.clone())).collect();
            headers.extend(extra.into_iter().map(|(name, value)| (name.to_owned(), value)));
            headers.extend(scope.sample.headers.iter().cloned());
            out.push(Request {
                method: method.to_owned(),
                authority: scope.sample.authority.clone(),
                path: scope.sample.path.clone(),
                route_name: scope.route_name.clone(),
                headers,
            });
        }
    }
    out
}

/// The kinds of request sent from each origin: simple requests, a plain
/// `OPTIONS`, and preflights (for listed and unlisted methods and headers,
/// and for Private Network Access), each a method and its request headers.
fn kinds(methods: &[String], headers: &[String]) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let unlisted = ["PUT", "DELETE", "PATCH", "PURGE"]
        .into_iter()
        .find(|m| !methods.iter().any(|l| l == m))
        .unwrap_or("PURGE");
    // A preflight for `method`, also sending `also` (a header and its value) if any.
    let preflight = |method: &str, also: Option<(&'static str, &str)>| {
        let asked = [("access-control-request-method", method)].into_iter().chain(also);
        ("OPTIONS", asked.map(|(n, v)| (n, v.to_owned())).collect())
    };
    let methods = ["GET"].into_iter().chain(methods.iter().take(4).map(String::as_str));
    let listed = (!headers.is_empty()).then(|| headers.iter().take(3).join(","));
    let headers = listed.iter().map(String::as_str).chain(["x-unlisted", "authorization"]);
    let also = headers.map(|h| ("access-control-request-headers", h));
    let private_network = ("access-control-request-private-network", "true");
    let mut kinds = vec![
        ("GET", vec![]),
        ("POST", vec![("content-type", "text/plain".to_owned())]),
        ("OPTIONS", vec![]),
    ];
    kinds.extend(methods.chain([unlisted]).map(|m| preflight(m, None)));
    kinds.extend(also.chain([private_network]).map(|a| preflight("GET", Some(a))));
    kinds
}

/// An origin, or a sample of a pattern, and the look-alikes of it.
fn origin_variants(entry: &str) -> Vec<String> {
    let sample = entry.replacen("*.", "sample.", 1).replacen("*", "1", 1);
    let sample = sample
        .strip_suffix(":1")
        .map_or(sample.clone(), |s| format!("{s}:3000"));
    let Ok(origin) = Origin::parse(sample.as_bytes()) else {
        return Vec::new();
    };
    let (scheme, host) = (origin.scheme(), origin.host());
    let mut out = vec![sample.clone()];
    if entry.contains("*.") {
        out.push(entry.replacen("*.", "a.b.", 1));
        out.push(format!("{scheme}://{}", host.trim_start_matches("sample.")));
    }
    out.push(format!("{scheme}://evil{host}"));
    out.push(format!("{sample}.evil.example"));
    out.push(format!("{}://{host}", if scheme == "https" { "http" } else { "https" }));
    out
}

/// This filter's answer, by its own code.
pub fn ours(config: &Config, request: &Request, upstream: &Response) -> Response {
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        (":method".into(), request.method.as_bytes().to_vec()),
        (":scheme".into(), b"http".to_vec()),
        (":authority".into(), request.authority.as_bytes().to_vec()),
        (":path".into(), request.path.as_bytes().to_vec()),
    ];
    headers.extend(request.headers.iter().map(|(n, v)| (n.clone(), v.as_bytes().to_vec())));
    let upstream_headers = upstream.header_bytes();
    let route_name = request.route_name.as_deref().map(str::as_bytes);
    let outcome = simulate(config, &headers, route_name, upstream.status, &upstream_headers);
    Response {
        status: outcome.status,
        headers: outcome
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect(),
        reached_upstream: outcome.reached_upstream && upstream.reached_upstream,
    }
}
