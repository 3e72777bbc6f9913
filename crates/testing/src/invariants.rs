//! The invariants every CORS answer must hold, and a byte-driven generator of
//! near-valid policies and hostile exchanges, shared by the property tests
//! (`crates/core/tests/properties.rs`, driven by proptest) and the fuzz
//! targets (`fuzz/fuzz_targets/`, driven by libFuzzer).
//!
//! The generator decodes plain bytes ([`Bytes`]) so that both drivers feed the
//! same code, and a fuzz input that found a bug can be replayed as a
//! proptest regression and the other way round.
//!
//! The checker re-derives what it needs from the policy's JSON (the origin
//! matcher, credentials, mode), not from the compiled `Policy`, so it does not
//! trust the code it checks.

use std::collections::HashMap;

use envoy_cors_core::language::{Config, ConfigError, Problem};
use envoy_cors_core::origin::Origin;
use envoy_cors_core::origin_matcher::{OriginEntry, OriginMatcher};
use envoy_cors_core::simulation::Outcome;
use serde_json::{json, Map, Value};

/// A header list as Envoy hands it to the filter.
pub type Headers = Vec<(String, Vec<u8>)>;

// ---------------------------------------------------------------------------
// Decoding bytes into choices
// ---------------------------------------------------------------------------

/// Reads choices out of a byte string; once exhausted every read is zero, so
/// any input decodes to something.
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from(self.u8()) << 8 | u16::from(self.u8())
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u8) -> bool {
        self.u8().is_multiple_of(n.max(1))
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::from(self.u8()) % n
        }
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let i = self.below(items.len());
        items[i]
    }

    /// Raw bytes, length-prefixed, at most `max`.
    pub fn raw(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        let take = len.min(self.data.len());
        let (head, rest) = self.data.split_at(take);
        self.data = rest;
        head.to_vec()
    }
}

// ---------------------------------------------------------------------------
// Vocabulary: values a policy or a browser (or an attacker) would write
// ---------------------------------------------------------------------------

const SCHEMES: [&str; 7] = ["https", "http", "https", "HTTPS", "chrome-extension", "ws", "h*ttps"];
const LABELS: [&str; 22] = [
    "app",
    "example",
    "com",
    "org",
    "a",
    "pr-1",
    "pr-",
    "preview",
    "localhost",
    "evil",
    "xn--bcher-kva",
    "127",
    "0",
    "1",
    "",
    "A",
    "*",
    "a_b",
    "pr-*",
    "example.org",
    "github.io",
    "co.uk",
];
const TAILS: [&str; 13] = [
    "",
    "",
    "",
    "",
    "/",
    "/x",
    "?q",
    "#f",
    ":443",
    ":80",
    ", https://b.example.org",
    " ",
    ".",
];
const PORTS: [&str; 9] = ["", "", ":8080", ":3000", ":*", ":0", ":65536", ":08080", ":8*"];

/// Fixed origin entries, including every kind the validator must refuse.
const ORIGIN_ENTRIES: [&str; 24] = [
    "https://app.example.com",
    "https://*.example.org",
    "http://localhost:*",
    "https://pr-*.preview.example.com",
    "*",
    "null",
    "https://*.com",
    "https://*example.com",
    "http://127.0.0.1:8080",
    "https://app.example.com/",
    "https://app.example.com:443",
    "HTTPS://a.example.com",
    "https://*.a.example.com:8443",
    "http://[::1]:*",
    "https://example.*",
    "*://example.com",
    "https://*.0.0.1",
    "https://user@app.example.com",
    "https://*.github.io",
    "https://pr-*.co.uk",
    "http://intranet.example.com",
    "http://*.corp.example.com:*",
    "https://app.example.com.",
    "http://127.0.0.1.",
];
const METHODS: [&str; 14] = [
    "GET",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "*",
    "get",
    "patch",
    "CONNECT",
    "trace",
    "X-CUSTOM",
    "BAD METHOD",
    "",
    "OPTIONS",
];
const HEADER_NAMES: [&str; 15] = [
    "content-type",
    "x-api-key",
    "*",
    "authorization",
    "X-Mixed-Case",
    "bad header",
    "",
    "x-a",
    "x-request-id",
    "cookie",
    "Sec-Fetch-Mode",
    "host",
    "access-control-allow-origin",
    "set-cookie",
    "Set-Cookie2",
];
const POLICY_NAMES: [&str; 6] = ["strict", "public", "p", "a-b_c", "bad.name", ""];
const UNKNOWN_FIELDS: [&str; 4] = ["allowed_methods", "allow_origin", "maxAge", "credentials"];
const GLOBS: [&str; 8] = [
    "/public/**",
    "/api/*/items",
    "*.example.com",
    "api.example.com",
    "API.Example.com",
    "[",
    "relative",
    "/**",
];

/// One origin-like string: scheme, labels (possibly wildcards), port, tail.
pub fn origin_like(r: &mut Bytes<'_>) -> String {
    if r.one_in(4) {
        return r.pick(&ORIGIN_ENTRIES).to_owned();
    }
    let scheme = r.pick(&SCHEMES);
    let n = 1 + r.below(4);
    let labels: Vec<&str> = (0..n).map(|_| r.pick(&LABELS)).collect();
    let port = r.pick(&PORTS);
    let tail = r.pick(&TAILS);
    format!("{scheme}://{}{port}{tail}", labels.join("."))
}

/// A request `Origin` value: mostly origin-like, sometimes arbitrary bytes.
fn origin_value(r: &mut Bytes<'_>) -> Vec<u8> {
    match r.below(6) {
        0 => r.raw(40),
        1 => {
            let mut v = origin_like(r).into_bytes();
            let at = r.below(v.len() + 1);
            v.insert(at, r.u8());
            v
        }
        _ => origin_like(r).replace('*', "x").into_bytes(),
    }
}

fn string_list(r: &mut Bytes<'_>, vocab: &[&str], max: usize) -> Value {
    let n = r.below(max + 1);
    Value::Array((0..n).map(|_| Value::from(r.pick(vocab))).collect())
}

/// A near-valid policy object: every field valid most of the time, each one
/// sometimes wrong in the ways operators get it wrong.
pub fn policy_json(r: &mut Bytes<'_>) -> Value {
    let mut p = Map::new();
    if !r.one_in(16) {
        let n = r.below(4);
        let origins: Vec<Value> = (0..=n).map(|_| Value::from(origin_like(r))).collect();
        let origins = if r.one_in(16) { Vec::new() } else { origins };
        p.insert("allow_origins".into(), Value::Array(origins));
    }
    if r.one_in(2) {
        p.insert("allow_methods".into(), string_list(r, &METHODS, 4));
    }
    if r.one_in(2) {
        p.insert("allow_headers".into(), string_list(r, &HEADER_NAMES, 4));
    }
    if r.one_in(3) {
        p.insert("expose_headers".into(), string_list(r, &HEADER_NAMES, 3));
    }
    if r.one_in(3) {
        let age: i64 = r.pick(&[0, 600, 86_400, 86_401, -1]);
        p.insert("max_age".into(), Value::from(age));
    }
    if r.one_in(2) {
        p.insert("allow_credentials".into(), Value::from(r.one_in(2)));
    }
    if r.one_in(4) {
        p.insert("allow_private_network".into(), Value::from(r.one_in(2)));
    }
    if r.one_in(6) {
        p.insert(
            "dangerously_allow_http_origins_with_credentials".into(),
            Value::from(r.one_in(2)),
        );
    }
    if r.one_in(4) {
        let status: i64 = r.pick(&[200, 204, 302, 0]);
        p.insert("preflight_status".into(), Value::from(status));
    }
    if r.one_in(3) {
        p.insert(
            "mode".into(),
            Value::from(r.pick(&["enforce", "report", "Report", "off"])),
        );
    }
    if r.one_in(3) {
        p.insert("reject_disallowed".into(), Value::from(r.one_in(2)));
    }
    if r.one_in(24) {
        p.insert(r.pick(&UNKNOWN_FIELDS).into(), Value::from(1));
    }
    if r.one_in(32) {
        p.insert("allow_credentials".into(), Value::from("yes"));
    }
    Value::Object(p)
}

/// A near-valid configuration, single or routed form, as JSON text; sometimes
/// with one byte damaged, so that the JSON itself is near-valid.
pub fn config_text(r: &mut Bytes<'_>) -> Vec<u8> {
    let value = if r.one_in(3) {
        policy_json(r)
    } else {
        let mut policies = Map::new();
        for _ in 0..=r.below(3) {
            policies.insert(r.pick(&POLICY_NAMES).to_owned(), policy_json(r));
        }
        let names: Vec<String> = policies.keys().cloned().collect();
        let refer = |r: &mut Bytes<'_>| -> Value {
            match r.below(8) {
                0 => Value::Null,
                1 => Value::from("missing"),
                _ => names
                    .get(r.below(names.len()))
                    .map_or(Value::Null, |n| Value::from(n.as_str())),
            }
        };
        let mut routes = Vec::new();
        for _ in 0..r.below(4) {
            let mut m = Map::new();
            if r.one_in(2) {
                m.insert("path".into(), Value::from(r.pick(&GLOBS)));
            }
            if r.one_in(3) {
                m.insert("host".into(), Value::from(r.pick(&GLOBS)));
            }
            if r.one_in(3) {
                m.insert("route_name".into(), Value::from(r.pick(&["legacy", "api"])));
            }
            if r.one_in(24) {
                m.insert("prefix".into(), Value::from("/"));
            }
            routes.push(json!({ "match": Value::Object(m), "policy": refer(r) }));
        }
        let mut config = Map::new();
        config.insert("policies".into(), Value::Object(policies));
        if !routes.is_empty() || r.one_in(2) {
            config.insert("routes".into(), Value::Array(routes));
        }
        if !r.one_in(4) {
            config.insert("default".into(), refer(r));
        }
        Value::Object(config)
    };
    let mut text = value.to_string().into_bytes();
    if r.one_in(16) && !text.is_empty() {
        let at = r.below(text.len());
        text[at] = r.u8();
    }
    text
}

/// Configurations every exchange is run against, besides generated ones.
pub const FIXED_CONFIGS: [&str; 3] = [
    include_str!("../../../envoy/policy.json"),
    r#"{
      "policies": {
        "strict": { "allow_origins": ["https://app.example.com", "https://*.example.org", "http://localhost:*"],
                    "allow_methods": ["GET", "POST", "PUT"], "allow_headers": ["content-type", "x-api-key"],
                    "expose_headers": ["x-request-id"], "max_age": 600, "allow_credentials": true },
        "public": { "allow_origins": ["*"], "allow_headers": ["*"], "allow_methods": ["*"] },
        "report": { "allow_origins": ["https://app.example.com"], "mode": "report" },
        "guarded": { "allow_origins": ["https://pr-*.preview.example.com"], "reject_disallowed": true },
        "pna": { "allow_origins": ["https://app.example.com"], "allow_private_network": true, "preflight_status": 200 },
        "wild": { "allow_origins": ["https://app.example.com"], "allow_headers": ["*", "authorization"], "allow_credentials": true },
        "echo": { "allow_origins": ["https://app.example.com", "https://app.example.com."], "allow_methods": ["*"],
                  "allow_headers": ["*"], "allow_credentials": true, "max_age": 60 }
      },
      "routes": [
        { "match": { "path": "/public/**" }, "policy": "public" },
        { "match": { "path": "/report/**" }, "policy": "report" },
        { "match": { "path": "/guarded/**" }, "policy": "guarded" },
        { "match": { "path": "/pna/**" }, "policy": "pna" },
        { "match": { "path": "/wild/**" }, "policy": "wild" },
        { "match": { "path": "/echo/**" }, "policy": "echo" },
        { "match": { "route_name": "legacy" }, "policy": null }
      ],
      "default": "strict"
    }"#,
    r#"{ "allow_origins": ["*"], "expose_headers": ["*"], "max_age": 0 }"#,
];

const PATHS: [&str; 9] = [
    "/",
    "/items",
    "/public/x",
    "/report/a",
    "/guarded/a",
    "/pna/a",
    "/wild/a",
    "/echo/a",
    "/legacy/x",
];
const AUTHORITIES: [&str; 6] = [
    "api.example.com",
    "app.example.com",
    "api.example.com:8443",
    "[::1]:80",
    "",
    "localhost",
];
const REQUEST_METHODS: [&str; 5] = ["PUT", "PATCH", "GET", "DELETE", "X-Custom"];
const REQUEST_HEADER_LISTS: [&str; 7] = [
    "content-type",
    "x-api-key, content-type",
    "authorization",
    "X-API-KEY",
    " , ",
    "x-other",
    "content-type,,x-api-key",
];
const UPSTREAM_NAMES: [&str; 9] = [
    "vary",
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-allow-methods",
    "access-control-max-age",
    "content-type",
    "x-request-id",
    "access-control-",
];
const UPSTREAM_VALUES: [&str; 8] = [
    "*",
    "true",
    "Origin",
    "Accept-Encoding",
    "accept-encoding, origin",
    "",
    " ",
    "https://evil.example",
];

fn value_for(r: &mut Bytes<'_>, vocab: &[&str]) -> Vec<u8> {
    if r.one_in(4) {
        r.raw(24)
    } else {
        r.pick(vocab).as_bytes().to_vec()
    }
}

/// A request header list: the pseudo-headers once, then any number of the
/// headers the filter reads, repeated or not, with browser-like or arbitrary
/// values.
pub fn request(r: &mut Bytes<'_>) -> Headers {
    let method: Vec<u8> = match r.below(5) {
        0 | 1 => b"OPTIONS".to_vec(),
        2 => b"GET".to_vec(),
        3 => b"options".to_vec(),
        _ => r.raw(12),
    };
    let mut headers: Headers = vec![
        (":method".into(), method),
        (":path".into(), value_for(r, &PATHS)),
        (":authority".into(), value_for(r, &AUTHORITIES)),
        (":scheme".into(), b"https".to_vec()),
    ];
    for _ in 0..r.below(7) {
        let (name, value) = match r.below(6) {
            0 | 1 => ("origin", origin_value(r)),
            2 => ("access-control-request-method", value_for(r, &REQUEST_METHODS)),
            3 => ("access-control-request-headers", value_for(r, &REQUEST_HEADER_LISTS)),
            4 => (
                "access-control-request-private-network",
                value_for(r, &["true", "false", "TRUE"]),
            ),
            _ => ("x-other", r.raw(8)),
        };
        headers.push((name.into(), value));
    }
    headers
}

/// An upstream response: a status and arbitrary headers, including its own
/// (possibly hostile) CORS headers and `Vary`.
pub fn upstream(r: &mut Bytes<'_>) -> (u32, Headers) {
    let status = r.pick(&[200, 204, 404, 500, 503]);
    let headers = (0..r.below(6))
        .map(|_| (r.pick(&UPSTREAM_NAMES).to_owned(), value_for(r, &UPSTREAM_VALUES)))
        .collect();
    (status, headers)
}

pub fn route_name(r: &mut Bytes<'_>) -> Option<&'static [u8]> {
    r.pick(&[None, None, Some(&b"legacy"[..]), Some(&b"api"[..])])
}

// ---------------------------------------------------------------------------
// What the checker knows about a policy, re-derived from its JSON
// ---------------------------------------------------------------------------

/// The facts of one accepted policy that the invariants need.
pub struct PolicyFacts {
    pub origins: OriginMatcher,
    pub any_origin: bool,
    pub credentials: bool,
    pub exposes: bool,
    pub report: bool,
    pub reject_disallowed: bool,
    pub preflight_status: u32,
}

/// Facts of every policy of an accepted configuration, by name.
pub struct ConfigFacts {
    pub policies: HashMap<String, PolicyFacts>,
}

impl ConfigFacts {
    /// Reads the facts from a configuration that `Config::parse` accepted.
    pub fn from_json(text: &[u8]) -> Result<Self, String> {
        let value: Value = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        let mut policies = HashMap::new();
        match value.get("policies").and_then(Value::as_object) {
            Some(map) => {
                for (name, p) in map {
                    policies.insert(name.clone(), PolicyFacts::from_json(p)?);
                }
            }
            None => {
                policies.insert("default".to_owned(), PolicyFacts::from_json(&value)?);
            }
        }
        Ok(Self { policies })
    }
}

impl PolicyFacts {
    fn from_json(p: &Value) -> Result<Self, String> {
        let flag = |key: &str| p.get(key).and_then(Value::as_bool).unwrap_or(false);
        let mut entries = Vec::new();
        let mut any_origin = false;
        for entry in p.get("allow_origins").and_then(Value::as_array).into_iter().flatten() {
            let text = entry.as_str().ok_or("non-string origin accepted")?;
            any_origin |= text == "*";
            entries.push(OriginEntry::parse(text).map_err(|e| format!("accepted origin entry {text:?}: {e}"))?);
        }
        Ok(Self {
            origins: OriginMatcher::new(entries),
            any_origin,
            credentials: flag("allow_credentials"),
            exposes: p
                .get("expose_headers")
                .and_then(Value::as_array)
                .is_some_and(|list| !list.is_empty()),
            report: p.get("mode").and_then(Value::as_str) == Some("report"),
            reject_disallowed: flag("reject_disallowed"),
            preflight_status: p
                .get("preflight_status")
                .and_then(Value::as_u64)
                .map_or(204, |s| s as u32),
        })
    }
}

// ---------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------

fn values<'a>(headers: &'a [(String, Vec<u8>)], name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// Comma-separated items over every line of a header, trimmed, lowercased.
fn list_items(headers: &[(String, Vec<u8>)], name: &str) -> Vec<Vec<u8>> {
    values(headers, name)
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|item| {
            let s = item
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t'))
                .map_or(&[][..], |start| &item[start..]);
            let end = s.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(0, |e| e + 1);
            s[..end].to_ascii_lowercase()
        })
        .filter(|item| !item.is_empty())
        .collect()
}

/// `Access-Control-<something>`, the headers the policy owns.
fn is_cors_name(name: &str) -> bool {
    let prefix = "access-control-";
    name.len() > prefix.len() && name.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn show(v: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(v))
}

/// Checks one simulated exchange against every invariant; the error says
/// which one broke.
pub fn check_exchange(
    facts: &ConfigFacts,
    request: &[(String, Vec<u8>)],
    upstream_status: u32,
    upstream: &[(String, Vec<u8>)],
    out: &Outcome,
) -> Result<(), String> {
    let origins: Vec<&[u8]> = values(request, "origin").collect();
    let method = values(request, ":method").last().unwrap_or_default();
    let acrm: Vec<&[u8]> = values(request, "access-control-request-method").collect();
    let is_preflight = method == b"OPTIONS" && !origins.is_empty() && !acrm.is_empty();

    let Some(name) = &out.policy else {
        return untouched(upstream_status, upstream, out, "no policy applies");
    };
    let policy = facts
        .policies
        .get(name)
        .ok_or_else(|| format!("outcome names an unknown policy {name:?}"))?;

    // Counters add up: exactly the requests with an Origin that is not
    // recognised as same-origin are counted.
    let same_origin = out.decision == "SameOrigin";
    if out.counter.is_some() != (!origins.is_empty() && !same_origin) {
        return Err(format!("counter {:?} for decision {}", out.counter, out.decision));
    }
    if policy.report {
        return untouched(upstream_status, upstream, out, "report mode");
    }

    let acao: Vec<&[u8]> = out.header_values("access-control-allow-origin").collect();
    let acac: Vec<&[u8]> = out.header_values("access-control-allow-credentials").collect();
    if acao.len() > 1 {
        return Err(format!("{} Access-Control-Allow-Origin values", acao.len()));
    }
    match acao.first() {
        // A browser's CORS check fails without Access-Control-Allow-Origin,
        // so what else an upstream sent grants nothing; the filter's own
        // answers carry no stray CORS header.
        None if !out.reached_upstream => {
            if let Some((n, _)) = out.headers.iter().find(|(n, _)| is_cors_name(n)) {
                return Err(format!("{n} without Access-Control-Allow-Origin in a local answer"));
            }
        }
        None => {}
        Some(&b"*") => {
            if !acac.is_empty() {
                return Err("Access-Control-Allow-Origin: * with Access-Control-Allow-Credentials".into());
            }
            if !policy.any_origin || policy.credentials {
                return Err("Access-Control-Allow-Origin: * from a policy that does not allow any origin".into());
            }
        }
        Some(value) => {
            if origins.len() != 1 || origins[0] != *value {
                return Err(format!(
                    "Access-Control-Allow-Origin {} is not the request's single Origin {:?}",
                    show(value),
                    origins.iter().map(|o| show(o)).collect::<Vec<_>>()
                ));
            }
            let parsed =
                Origin::parse(value).map_err(|e| format!("allowed a malformed origin {}: {e}", show(value)))?;
            if !policy.origins.allows(&parsed) {
                return Err(format!(
                    "allowed {} which the policy's own matcher rejects",
                    show(value)
                ));
            }
        }
    }
    if !acao.is_empty() {
        // With an Access-Control-Allow-Origin, what a browser reads comes
        // from the policy alone.
        if acac.len() > 1 || acac.first().is_some_and(|v| *v != b"true") || (!acac.is_empty() && !policy.credentials) {
            return Err(format!(
                "unexpected Access-Control-Allow-Credentials {:?}",
                acac.iter().map(|v| show(v)).collect::<Vec<_>>()
            ));
        }
        let expose = out.header_values("access-control-expose-headers").count();
        if expose > 1 || (expose == 1 && !policy.exposes && !is_preflight) {
            return Err(format!(
                "{expose} Access-Control-Expose-Headers values the policy does not send"
            ));
        }
    }
    if !out.reached_upstream {
        for name in [
            "access-control-expose-headers",
            "access-control-allow-methods",
            "access-control-allow-headers",
            "access-control-max-age",
        ] {
            if out.header_values(name).count() > 1 {
                return Err(format!("{name} repeated in a local answer"));
            }
        }
    }

    let vary = list_items(&out.headers, "vary");
    let varies_on = |item: &str| vary.iter().any(|v| v == b"*" || v == item.as_bytes());
    if !policy.any_origin && !varies_on("origin") {
        return Err(format!(
            "no Vary: Origin although the answer depends on the origin (vary {vary:?})"
        ));
    }
    // A response from the upstream keeps every Vary item it had.
    for kept in list_items(upstream, "vary")
        .into_iter()
        .filter(|_| out.reached_upstream)
    {
        if !vary.contains(&kept) {
            return Err(format!("upstream Vary item {} was dropped", show(&kept)));
        }
    }

    if is_preflight {
        if out.reached_upstream {
            return Err("a preflight on a covered route reached the upstream".into());
        }
        let allowed = out.counter == Some("preflight_allowed");
        // A refused preflight from an allowed origin is answered as an
        // allowed one would be, without what was refused.
        let precise = !allowed && !acao.is_empty();
        let expected = if allowed || precise {
            policy.preflight_status
        } else {
            403
        };
        if out.status != expected {
            return Err(format!("preflight answered {} instead of {expected}", out.status));
        }
        if !(varies_on("access-control-request-method") && varies_on("access-control-request-headers")) {
            return Err(format!("preflight Vary misses the request headers: {vary:?}"));
        }
        if allowed {
            if acao.is_empty() {
                return Err("an allowed preflight without Access-Control-Allow-Origin".into());
            }
            check_preflight_grants(request, out, policy.credentials)?;
        }
        if precise {
            check_preflight_refuses(request, out)?;
        }
    } else if out.counter == Some("actual_denied") && policy.reject_disallowed {
        if out.reached_upstream || out.status != 403 {
            return Err("a disallowed origin reached the upstream although reject_disallowed is on".into());
        }
    } else {
        if !out.reached_upstream || out.status != upstream_status {
            return Err(format!(
                "a non-preflight request was answered locally with {}",
                out.status
            ));
        }
        // Everything the upstream sent that is not CORS or Vary is kept as is.
        let keep = |h: &&(String, Vec<u8>)| !is_cors_name(&h.0) && !h.0.eq_ignore_ascii_case("vary");
        let before: Vec<_> = upstream.iter().filter(keep).collect();
        let after: Vec<_> = out.headers.iter().filter(keep).collect();
        if before != after {
            return Err(format!("upstream headers changed: {before:?} -> {after:?}"));
        }
    }
    Ok(())
}

/// An allowed preflight grants what was asked: the method (unless safelisted)
/// and every requested header, by name when the policy allows credentials
/// (browsers then read `*` as a name).
fn check_preflight_grants(request: &[(String, Vec<u8>)], out: &Outcome, credentials: bool) -> Result<(), String> {
    let methods = list_items(&out.headers, "access-control-allow-methods");
    if let Some(asked) = values(request, "access-control-request-method").next() {
        let safelisted = [&b"GET"[..], b"HEAD", b"POST"].contains(&asked);
        let lower = asked.to_ascii_lowercase();
        // Methods compare case-sensitively; the list is lowercased here, so
        // check the exact bytes in the raw header too.
        let raw = out
            .header_values("access-control-allow-methods")
            .next()
            .unwrap_or_default();
        let exact = raw
            .split(|&b| b == b',')
            .any(|m| m.iter().filter(|b| **b != b' ').copied().collect::<Vec<_>>() == asked);
        let star = !credentials && methods.iter().any(|m| m == b"*");
        if !(safelisted || exact || star) {
            return Err(format!(
                "allowed method {} not in Allow-Methods {methods:?} ({lower:?})",
                show(asked)
            ));
        }
    }
    let granted = list_items(&out.headers, "access-control-allow-headers");
    for asked in list_items(request, "access-control-request-headers") {
        if !granted.contains(&asked) {
            return Err(format!(
                "allowed header {} not in Allow-Headers {granted:?}",
                show(&asked)
            ));
        }
    }
    Ok(())
}

/// A refused preflight's answer never lets a browser send the request,
/// with or without credentials (the Fetch model's CORS-preflight fetch).
fn check_preflight_refuses(request: &[(String, Vec<u8>)], out: &Outcome) -> Result<(), String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let origin = values(request, "origin").next().unwrap_or_default();
    let headers: Vec<(String, Vec<u8>)> = out.headers.clone();
    for credentials in [false, true] {
        let intent = fetch_model::Intent {
            method: text(
                values(request, "access-control-request-method")
                    .next()
                    .unwrap_or_default(),
            ),
            unsafe_headers: list_items(request, "access-control-request-headers")
                .iter()
                .map(|h| text(h).to_ascii_lowercase())
                .collect(),
            credentials,
            private_network: values(request, "access-control-request-private-network").next() == Some(b"true"),
        };
        if fetch_model::preflight_check(out.status, &headers, origin, &intent).is_ok() {
            return Err(format!(
                "a refused preflight's answer lets the browser send the request (credentials {credentials}): {:?}",
                out.headers
            ));
        }
    }
    Ok(())
}

fn untouched(status: u32, upstream: &[(String, Vec<u8>)], out: &Outcome, why: &str) -> Result<(), String> {
    if !out.reached_upstream || out.status != status || out.headers != upstream {
        return Err(format!("{why}: the exchange must pass untouched, got {out:?}"));
    }
    Ok(())
}

/// Checks what `Config::parse` said about a configuration text.
pub fn check_config(text: &[u8], result: &Result<Config, Vec<ConfigError>>) -> Result<(), String> {
    match result {
        Ok(config) => {
            let facts = ConfigFacts::from_json(text)?;
            if facts.policies.len() != config.policies.len() {
                return Err("compiled a different number of policies than written".into());
            }
            let value: Value = serde_json::from_slice(text).map_err(|e| e.to_string())?;
            let policies: Vec<&Value> = match value.get("policies").and_then(Value::as_object) {
                Some(map) => map.values().collect(),
                None => vec![&value],
            };
            for p in policies {
                check_accepted_policy(p)?;
            }
            Ok(())
        }
        Err(errors) if errors.is_empty() => Err("refused without saying why".into()),
        Err(errors) => {
            let root: Option<Value> = serde_json::from_slice(text).ok();
            for e in errors {
                if e.path.is_empty() {
                    return Err(format!("error without a JSON path: {e}"));
                }
                let _ = e.to_string();
                if let (Some(root), Some(shown)) = (&root, &e.value) {
                    check_error_points_at_value(root, e, shown)?;
                }
            }
            Ok(())
        }
    }
}

/// A policy that was accepted holds none of the refused combinations.
fn check_accepted_policy(p: &Value) -> Result<(), String> {
    let list = |key: &str| -> Vec<String> {
        p.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let origins = list("allow_origins");
    let credentials = p.get("allow_credentials").and_then(Value::as_bool).unwrap_or(false);
    if origins.is_empty() {
        return Err("accepted an empty allow_origins".into());
    }
    if origins.iter().any(|o| o == "*") && (origins.len() > 1 || credentials) {
        return Err(format!("accepted \"*\" with others or with credentials: {origins:?}"));
    }
    if credentials && list("expose_headers").contains(&"*".into()) {
        return Err("accepted expose_headers \"*\" together with credentials".into());
    }
    // Fetch "forbidden request-header", and the CORS response headers.
    let never_sent = |h: &str| {
        let h = h.to_ascii_lowercase();
        [
            "accept-charset",
            "accept-encoding",
            "connection",
            "content-length",
            "cookie",
            "cookie2",
            "date",
            "dnt",
            "expect",
            "host",
            "keep-alive",
            "origin",
            "referer",
            "set-cookie",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "via",
        ]
        .contains(&h.as_str())
            || ["sec-", "proxy-", "access-control-"].iter().any(|p| h.starts_with(p))
    };
    if let Some(h) = list("allow_headers").iter().find(|h| never_sent(h)) {
        return Err(format!("accepted the request header {h:?}, which a page never sends"));
    }
    if let Some(h) = list("expose_headers")
        .iter()
        .find(|h| h.eq_ignore_ascii_case("set-cookie") || h.eq_ignore_ascii_case("set-cookie2"))
    {
        return Err(format!("accepted exposing {h:?}, which a page can never read"));
    }
    let opted_in = p
        .get("dangerously_allow_http_origins_with_credentials")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if credentials && !opted_in {
        let loopback = |authority: &str| {
            let host = authority.split(':').next().unwrap_or_default().trim_end_matches('.');
            authority.starts_with("[::1]")
                || host == "localhost"
                || host.ends_with(".localhost")
                || host.starts_with("127.")
        };
        if let Some(o) = origins
            .iter()
            .find(|o| o.strip_prefix("http://").is_some_and(|host| !loopback(host)))
        {
            return Err(format!("accepted the http origin {o:?} with credentials"));
        }
    }
    for o in &origins {
        if o == "null" || (o != "*" && OriginEntry::parse(o).is_err()) {
            return Err(format!("accepted the origin entry {o:?}"));
        }
    }
    for m in list("allow_methods") {
        if ["CONNECT", "TRACE", "TRACK"].iter().any(|f| f.eq_ignore_ascii_case(&m)) {
            return Err(format!("accepted the forbidden method {m:?}"));
        }
    }
    if let Some(age) = p.get("max_age").and_then(Value::as_i64) {
        if !(0..=86_400).contains(&age) {
            return Err(format!("accepted max_age {age}"));
        }
    }
    Ok(())
}

/// The error's path leads, in the written JSON, to the value it shows.
fn check_error_points_at_value(root: &Value, e: &ConfigError, shown: &str) -> Result<(), String> {
    if matches!(e.problem, Problem::PolicyName) {
        return Ok(()); // shows the name (a key), not the value under it
    }
    let Some(found) = lookup(root, &e.path) else {
        return Err(format!("error path {:?} leads nowhere: {e}", e.path));
    };
    let found = found.to_string();
    let host_glob = e.path.ends_with(".match.host");
    if found != shown && !(host_glob && found.eq_ignore_ascii_case(shown)) {
        return Err(format!("error shows {shown} but {} holds {found}", e.path));
    }
    Ok(())
}

/// Follows a path such as `policies.strict.allow_origins[2]` (`$` is the root).
/// Policy names with `.` or `[` are ambiguous in this syntax; the generator's
/// names with a dot are refused, and such paths are resolved greedily.
fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    if path == "$" {
        return Some(root);
    }
    let mut here = root;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let i: usize = after[..end].parse().ok()?;
            here = here.get(i)?;
            rest = &after[end + 1..];
        } else {
            let rest_key = rest.strip_prefix('.').unwrap_or(rest);
            let obj = here.as_object()?;
            // The longest key that prefixes the rest (names may hold dots).
            let key = obj
                .keys()
                .filter(|k| {
                    rest_key.starts_with(k.as_str())
                        && matches!(rest_key.as_bytes().get(k.len()), None | Some(b'.') | Some(b'['))
                })
                .max_by_key(|k| k.len())?;
            here = obj.get(key)?;
            rest = &rest_key[key.len()..];
        }
    }
    Some(here)
}
