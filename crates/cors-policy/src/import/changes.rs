//! The changes a browser would notice, computed, never written by hand:
//! every imported scope gets a matrix of requests (its origins, look-alikes,
//! preflights for listed and unlisted methods and headers, an upstream that
//! sends its own CORS headers); each goes through the source's model and
//! through this filter (`simulation::simulate`), the two answers are compared
//! as `tests/e2e/test_differential.py` compares Envoy's, each differing field
//! is explained by an id of docs/differences.md (the same classifiers, in the
//! same order), and the Fetch model (the `fetch-model` crate) says whether a
//! page could tell.

use std::collections::{BTreeMap, BTreeSet};

use envoy_cors_core::language::Config;
use envoy_cors_core::origin::Origin;
use envoy_cors_core::simulation::simulate;
use serde_json::{json, Value};

use super::fields::{comma_list, string_list, strings};
use super::model::{Request, Response, SourceCors};
use super::Scope;
use crate::args::SourceFormat;

/// The table this module classifies by.
const DIFFERENCES: &str = include_str!("../../../../docs/differences.md");

/// The ids of docs/differences.md that requests can show, in the order of
/// `CLASSIFIERS` in tests/e2e/test_differential.py.
pub const IDS: [&str; 9] = [
    "non-canonical-origin",
    "refused-preflight-answered-locally",
    "preflight-checks-method-and-headers",
    "preflight-status-204",
    "preflight-expose-headers",
    "vary-origin",
    "any-origin-star",
    "any-origin-without-origin",
    "upstream-cors-stripped",
];

/// A difference no row of docs/differences.md explains.
pub const UNEXPLAINED: &str = "unexplained";

/// What an upstream that sends its own CORS headers answers (as in the differential matrix).
const UPSTREAM_CORS: [(&str, &str); 5] = [
    ("access-control-allow-origin", "*"),
    ("access-control-allow-credentials", "true"),
    ("access-control-allow-methods", "GET"),
    ("access-control-expose-headers", "x-upstream"),
    ("vary", "Accept-Encoding"),
];

const PREFLIGHT_VARY: [&str; 4] = [
    "origin",
    "access-control-request-method",
    "access-control-request-headers",
    "access-control-request-private-network",
];
const LIST_HEADERS: [&str; 4] = [
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "vary",
];

/// One request of the matrix and what both sides answered.
#[derive(Debug, Clone)]
pub struct Case {
    scope: usize,
    request: Request,
    upstream_kind: &'static str,
    upstream: Response,
    source: Response,
    ours: Response,
    /// Field -> id that explains its difference.
    explained: BTreeMap<String, &'static str>,
    /// What a page could tell apart, and the id that explains it.
    noticed: Vec<(&'static str, String)>,
}

/// The computed change list.
#[derive(Debug)]
pub struct Report {
    cases: Vec<Case>,
    /// Where each scope comes from in the source.
    places: Vec<String>,
}

/// Status, Access-Control-* and Vary with spelling and order normalised (see `normalise` in test_differential.py).
fn normalise(r: &Response) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert("status".to_owned(), r.status.to_string());
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &r.headers {
        let name = name.to_ascii_lowercase();
        if name.starts_with("access-control-") || name == "vary" {
            grouped.entry(name).or_default().push(value.trim().to_owned());
        }
    }
    for (name, values) in grouped {
        if LIST_HEADERS.contains(&name.as_str()) {
            let mut tokens: BTreeSet<String> = BTreeSet::new();
            for t in values.iter().flat_map(|v| comma_list(v)) {
                tokens.insert(if name == "access-control-allow-methods" {
                    t.to_owned()
                } else {
                    t.to_ascii_lowercase()
                });
            }
            if !tokens.is_empty() {
                out.insert(name, tokens.into_iter().collect::<Vec<_>>().join(","));
            }
        } else {
            out.insert(name, values.join(", "));
        }
    }
    out
}

/// The facts the classifiers read about a case.
struct Facts<'a> {
    preflight: bool,
    origin: Option<&'a str>,
    ours_any: bool,
    upstream: BTreeMap<String, String>,
}

type Fields = BTreeMap<String, String>;

/// The cases an id explains, each with what the page notices.
type Examples<'a> = Vec<(&'a Case, &'a str)>;

/// The id that explains why `field` differs, in docs/differences.md's order.
fn classify(f: &Facts<'_>, field: &str, envoy: &Fields, ours: &Fields) -> Option<&'static str> {
    let acao = "access-control-allow-origin";
    let get = |m: &Fields, k: &str| m.get(k).cloned();
    let origin = f.origin.map(str::to_owned);
    let status = |m: &Fields| m.get("status").cloned().unwrap_or_default();
    let checks: [(&str, bool); 9] = [
        (
            "non-canonical-origin",
            f.origin
                .is_some_and(|o| o != "null" && Origin::parse(o.as_bytes()).is_err())
                && get(envoy, acao) == origin
                && !ours.contains_key(acao),
        ),
        (
            "refused-preflight-answered-locally",
            f.preflight && status(ours) == "403" && get(envoy, acao) != origin,
        ),
        (
            "preflight-checks-method-and-headers",
            f.preflight && field == "access-control-allow-headers" && ours.contains_key(acao) && {
                let names = |m: &Fields| -> BTreeSet<String> {
                    m.get(field)
                        .map(|v| v.split(',').map(str::to_owned).collect())
                        .unwrap_or_default()
                };
                let (theirs, have) = (names(envoy), names(ours));
                have.is_subset(&theirs) && theirs.difference(&have).eq(["authorization".to_owned()].iter())
            },
        ),
        (
            "preflight-status-204",
            field == "status" && f.preflight && status(envoy) == "200" && status(ours) == "204",
        ),
        (
            "preflight-expose-headers",
            field == "access-control-expose-headers"
                && f.preflight
                && !ours.contains_key(field)
                && get(envoy, acao) == origin,
        ),
        ("vary-origin", field == "vary" && vary_explained(envoy, ours)),
        (
            "any-origin-star",
            field == acao
                && f.ours_any
                && origin.is_some()
                && get(ours, acao).as_deref() == Some("*")
                && get(envoy, acao) == origin,
        ),
        (
            "any-origin-without-origin",
            (field == acao || field == "access-control-expose-headers")
                && f.ours_any
                && origin.is_none()
                && get(ours, acao).as_deref() == Some("*")
                && ours.contains_key(field)
                && (get(envoy, field).is_none() || get(envoy, field) == f.upstream.get(field).cloned()),
        ),
        (
            "upstream-cors-stripped",
            field.starts_with("access-control-")
                && !ours.contains_key(field)
                && get(envoy, field).is_some()
                && get(envoy, field) == f.upstream.get(field).cloned(),
        ),
    ];
    checks.iter().find(|(_, applies)| *applies).map(|(id, _)| *id)
}

fn vary_explained(envoy: &Fields, ours: &Fields) -> bool {
    let set = |m: &Fields| -> BTreeSet<String> {
        m.get("vary")
            .map(|v| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let (have, theirs) = (set(ours), set(envoy));
    let added: BTreeSet<&String> = have.difference(&theirs).collect();
    theirs.is_subset(&have) && !added.is_empty() && added.iter().all(|a| PREFLIGHT_VARY.contains(&a.as_str()))
}

/// Response headers as the browser model reads them.
fn as_headers(r: &Response) -> Vec<(String, Vec<u8>)> {
    r.headers
        .iter()
        .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
        .collect()
}

/// What a page at the request's origin can do with a response, per credentials mode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    ok: [bool; 2],
    readable: [Vec<String>; 2],
    max_age: Option<u64>,
}

fn verdict(request: &Request, response: &Response, exposed: &[String]) -> Option<Verdict> {
    let origin = request.header("origin")?;
    let preflight = request.method == "OPTIONS" && request.header("access-control-request-method").is_some();
    if request.method == "OPTIONS" && !preflight {
        return None;
    }
    let mut headers = as_headers(response);
    for name in exposed {
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            headers.push((name.clone(), b"v".to_vec()));
        }
    }
    let mut ok = [false; 2];
    let mut readable: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for (i, credentials) in [false, true].into_iter().enumerate() {
        let passed = if preflight {
            let intent = fetch_model::Intent {
                method: request
                    .header("access-control-request-method")
                    .unwrap_or_default()
                    .to_owned(),
                unsafe_headers: comma_list(request.header("access-control-request-headers").unwrap_or_default())
                    .map(str::to_ascii_lowercase)
                    .collect(),
                credentials,
                private_network: request.header("access-control-request-private-network") == Some("true"),
            };
            fetch_model::preflight_check(response.status, &headers, origin.as_bytes(), &intent).is_ok()
        } else {
            fetch_model::cors_check(&headers, origin.as_bytes(), credentials).is_ok()
        };
        if let (Some(slot), Some(names)) = (ok.get_mut(i), readable.get_mut(i)) {
            *slot = passed;
            if passed && !preflight {
                *names = exposed
                    .iter()
                    .filter(|n| fetch_model::readable(&headers, n, credentials))
                    .cloned()
                    .collect();
            }
        }
    }
    let max_age = (preflight && ok.iter().any(|o| *o)).then(|| fetch_model::max_age(&headers).unwrap_or(5).min(86_400));
    Some(Verdict { ok, readable, max_age })
}

/// The requests of one scope's matrix.
fn requests(scope: &Scope) -> Vec<Request> {
    let mut origins: Vec<Option<String>> = vec![None, Some("https://evil.example".into()), Some("null".into())];
    let mut methods: Vec<String> = Vec::new();
    let mut headers: Vec<String> = Vec::new();
    let collect_origin = |o: &str, origins: &mut Vec<Option<String>>| {
        for variant in origin_variants(o) {
            if !origins.contains(&Some(variant.clone())) {
                origins.push(Some(variant));
            }
        }
    };
    if let Some(policy) = &scope.policy {
        for o in strings(policy.get("allow_origins")) {
            collect_origin(o, &mut origins);
        }
        methods.extend(string_list(policy.get("allow_methods")));
        headers.extend(string_list(policy.get("allow_headers")));
    }
    match &scope.source {
        Some(SourceCors::Envoy(cors)) => {
            for m in &cors.origins {
                collect_origin(&m.value.replace(['^', '$', '\\'], ""), &mut origins);
            }
            methods.extend(comma_list(&cors.allow_methods).map(str::to_owned));
            headers.extend(comma_list(&cors.allow_headers).map(str::to_ascii_lowercase));
        }
        Some(SourceCors::Gateway(cors)) => {
            for o in &cors.allow_origins {
                collect_origin(o, &mut origins);
            }
            methods.extend(cors.allow_methods.iter().cloned());
            headers.extend(cors.allow_headers.iter().map(|h| h.to_ascii_lowercase()));
        }
        None => {}
    }
    origins.truncate(16);
    methods.retain(|m| m != "*");
    headers.retain(|h| h != "*");
    methods.sort();
    methods.dedup();
    headers.sort();
    headers.dedup();
    let unlisted = ["PUT", "DELETE", "PATCH", "PURGE"]
        .into_iter()
        .find(|m| !methods.iter().any(|l| l == m))
        .unwrap_or("PURGE");
    let mut kinds: Vec<(String, Vec<(String, String)>)> = vec![
        ("GET".into(), vec![]),
        ("POST".into(), vec![("content-type".into(), "text/plain".into())]),
        ("OPTIONS".into(), vec![]),
    ];
    let preflight = |method: &str, hdrs: Option<&str>| {
        let mut h = vec![("access-control-request-method".to_owned(), method.to_owned())];
        if let Some(list) = hdrs {
            h.push(("access-control-request-headers".to_owned(), list.to_owned()));
        }
        ("OPTIONS".to_owned(), h)
    };
    kinds.push(preflight("GET", None));
    for m in methods.iter().take(4) {
        kinds.push(preflight(m, None));
    }
    kinds.push(preflight(unlisted, None));
    if !headers.is_empty() {
        let listed: Vec<&str> = headers.iter().take(3).map(String::as_str).collect();
        kinds.push(preflight("GET", Some(&listed.join(","))));
    }
    kinds.push(preflight("GET", Some("x-unlisted")));
    kinds.push(preflight("GET", Some("authorization")));
    let mut pna = preflight("GET", None);
    pna.1
        .push(("access-control-request-private-network".into(), "true".into()));
    kinds.push(pna);
    let mut out = Vec::new();
    for origin in &origins {
        for (method, extra) in &kinds {
            if origin.is_none() && method == "OPTIONS" && !extra.is_empty() {
                continue;
            }
            let mut headers = Vec::new();
            if let Some(o) = origin {
                headers.push(("origin".to_owned(), o.clone()));
            }
            headers.extend(extra.iter().cloned());
            headers.extend(scope.sample.headers.iter().cloned());
            out.push(Request {
                method: method.clone(),
                authority: scope.sample.authority.clone(),
                path: scope.sample.path.clone(),
                route_name: scope.sample.route_name.clone(),
                headers,
            });
        }
    }
    out
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

/// Runs every scope's matrix.
pub fn compute(scopes: &[Scope], names: &[Option<String>], config: &Config) -> Report {
    let mut cases = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, scope) in scopes.iter().enumerate() {
        let ours_any = scope
            .policy
            .as_ref()
            .is_some_and(|p| strings(p.get("allow_origins")).any(|e| e == "*"));
        let mut exposed: Vec<String> = vec!["x-upstream".into()];
        if let Some(p) = &scope.policy {
            exposed.extend(string_list(p.get("expose_headers")));
        }
        match &scope.source {
            Some(SourceCors::Envoy(c)) => exposed.extend(comma_list(&c.expose_headers).map(str::to_ascii_lowercase)),
            Some(SourceCors::Gateway(c)) => exposed.extend(c.expose_headers.iter().map(|h| h.to_ascii_lowercase())),
            None => {}
        }
        exposed.retain(|h| h != "*");
        exposed.sort();
        exposed.dedup();
        let upstreams: Vec<(&'static str, Response)> = match scope.sample.direct_status {
            Some(status) => vec![(
                "direct",
                Response {
                    status,
                    headers: Vec::new(),
                    reached_upstream: false,
                },
            )],
            None => vec![
                (
                    "plain",
                    Response {
                        status: 200,
                        headers: Vec::new(),
                        reached_upstream: true,
                    },
                ),
                (
                    "own-cors",
                    Response {
                        status: 200,
                        headers: UPSTREAM_CORS
                            .iter()
                            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                            .collect(),
                        reached_upstream: true,
                    },
                ),
            ],
        };
        // A scope with the same policies as an earlier one (another host or
        // path of the same route) needs only a few requests: its routing.
        let key = (
            names.get(i).cloned().flatten(),
            scope.policy_hint.clone(),
            scope.source.is_some(),
        );
        let all = requests(scope);
        let count = if seen.insert(key) { all.len() } else { 6 };
        for request in all.into_iter().take(count) {
            for (upstream_kind, upstream) in &upstreams {
                let (upstream_kind, upstream) = (*upstream_kind, upstream.clone());
                let source = match &scope.source {
                    Some(cors) => cors.respond(&request, &upstream),
                    None => upstream.clone(),
                };
                let ours = ours(config, &request, &upstream);
                let (envoy_fields, our_fields) = (normalise(&source), normalise(&ours));
                let facts = Facts {
                    preflight: request.method == "OPTIONS"
                        && request
                            .header("access-control-request-method")
                            .is_some_and(|m| !m.is_empty())
                        && request.header("origin").is_some(),
                    origin: request.header("origin"),
                    ours_any,
                    upstream: normalise(&upstream),
                };
                let mut explained = BTreeMap::new();
                let fields: BTreeSet<&String> = envoy_fields.keys().chain(our_fields.keys()).collect();
                for field in fields {
                    if envoy_fields.get(field) == our_fields.get(field) {
                        continue;
                    }
                    let id = classify(&facts, field, &envoy_fields, &our_fields).unwrap_or(UNEXPLAINED);
                    explained.insert(field.clone(), id);
                }
                // What a page could tell, each with the ids that explain it: the
                // cache key by `vary`'s id, the rest by the other fields' ids.
                let mut noticed: Vec<(&'static str, String)> = Vec::new();
                let header_ids: BTreeSet<&'static str> = explained
                    .iter()
                    .filter(|(f, _)| f.as_str() != "vary")
                    .map(|(_, id)| *id)
                    .collect();
                let mut aspects = Vec::new();
                let (theirs_v, ours_v) = (verdict(&request, &source, &exposed), verdict(&request, &ours, &exposed));
                if let (Some(t), Some(o)) = (&theirs_v, &ours_v) {
                    for (i, mode) in ["without credentials", "with credentials"].iter().enumerate() {
                        match (t.ok.get(i), o.ok.get(i)) {
                            (Some(true), Some(false)) => aspects.push(format!("now refused {mode}, allowed before")),
                            (Some(false), Some(true)) => aspects.push(format!("now allowed {mode}, refused before")),
                            _ => {}
                        }
                        if t.ok.get(i) == o.ok.get(i) && t.readable.get(i) != o.readable.get(i) {
                            aspects.push(format!(
                                "the page reads {:?} {mode}, {:?} before",
                                o.readable.get(i).cloned().unwrap_or_default(),
                                t.readable.get(i).cloned().unwrap_or_default()
                            ));
                        }
                    }
                    if t.max_age.is_some() && o.max_age.is_some() && t.max_age != o.max_age {
                        aspects.push(format!(
                            "the preflight is cached {} s, {} s before",
                            o.max_age.unwrap_or_default(),
                            t.max_age.unwrap_or_default()
                        ));
                    }
                }
                for aspect in aspects {
                    let ids = if header_ids.is_empty() {
                        BTreeSet::from([UNEXPLAINED])
                    } else {
                        header_ids.clone()
                    };
                    for id in ids {
                        noticed.push((id, aspect.clone()));
                    }
                }
                if let Some(id) = explained.get("vary") {
                    noticed.push((
                        id,
                        format!(
                            "caches keep one answer per Vary: {}",
                            our_fields.get("vary").cloned().unwrap_or_default()
                        ),
                    ));
                }
                cases.push(Case {
                    scope: i,
                    request: request.clone(),
                    upstream_kind,
                    upstream,
                    source,
                    ours,
                    explained,
                    noticed,
                });
            }
        }
    }
    Report {
        cases,
        places: scopes.iter().map(|s| s.at.clone()).collect(),
    }
}

/// This filter's answer, by its own code.
fn ours(config: &Config, request: &Request, upstream: &Response) -> Response {
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        (":method".into(), request.method.as_bytes().to_vec()),
        (":scheme".into(), b"http".to_vec()),
        (":authority".into(), request.authority.as_bytes().to_vec()),
        (":path".into(), request.path.as_bytes().to_vec()),
    ];
    headers.extend(request.headers.iter().map(|(n, v)| (n.clone(), v.as_bytes().to_vec())));
    let upstream_headers: Vec<(String, Vec<u8>)> = upstream
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
        .collect();
    let outcome = simulate(
        config,
        &headers,
        request.route_name.as_deref().map(str::as_bytes),
        upstream.status,
        &upstream_headers,
    );
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

/// The "This filter" cell of an id's row in docs/differences.md, first sentence.
fn documented(id: &str) -> String {
    let row = DIFFERENCES
        .lines()
        .find(|l| l.starts_with(&format!("| `{id}` |")))
        .and_then(|l| l.split(" | ").nth(2));
    let text = row.unwrap_or("not in docs/differences.md: a difference the importer did not expect");
    let end = text.find(". ").map_or(text.len(), |i| i + 1);
    text.get(..end).unwrap_or(text).to_owned()
}

impl Report {
    /// Cases a browser would notice that no documented id explains.
    pub fn unexplained_noticed(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| c.noticed.iter().any(|(id, _)| *id == UNEXPLAINED))
            .count()
    }

    /// Prints the change list on stderr.
    pub fn print(&self, format: SourceFormat) {
        let source = match format {
            SourceFormat::Envoy => "Envoy's built-in CORS filter",
            SourceFormat::Istio => "Istio (Envoy's built-in CORS filter)",
            SourceFormat::GatewayApi => "the Gateway API CORS filter",
        };
        let differ = self.cases.iter().filter(|c| !c.explained.is_empty()).count();
        let noticed: Vec<&Case> = self.cases.iter().filter(|c| !c.noticed.is_empty()).collect();
        eprintln!(
            "cors-policy: compared {} requests with {source}: {differ} answered differently, {} in a way a browser notices",
            self.cases.len(),
            noticed.len()
        );
        let mut by_id: BTreeMap<usize, (&str, Examples<'_>)> = BTreeMap::new();
        for case in &noticed {
            let mut seen = BTreeSet::new();
            for (id, aspect) in &case.noticed {
                if !seen.insert(*id) {
                    continue;
                }
                let rank = IDS.iter().position(|i| i == id).unwrap_or(IDS.len());
                by_id
                    .entry(rank)
                    .or_insert((id, Vec::new()))
                    .1
                    .push((case, aspect.as_str()));
            }
        }
        let quiet: Vec<&Case> = self
            .cases
            .iter()
            .filter(|c| c.noticed.is_empty() && c.explained.values().any(|id| *id == UNEXPLAINED))
            .collect();
        if let Some(first) = quiet.first() {
            let fields: Vec<&String> = first
                .explained
                .iter()
                .filter(|(_, id)| **id == UNEXPLAINED)
                .map(|(f, _)| f)
                .collect();
            eprintln!(
                "cors-policy: note: {} requests differ in a way docs/differences.md does not list and no browser \
                 notices (e.g. {}: {fields:?})",
                quiet.len(),
                label(&first.request)
            );
        }
        for (id, cases) in by_id.values() {
            eprintln!("change: {id} ({} requests): {}", cases.len(), documented(id));
            // The first example of each kind of effect.
            let mut shown = BTreeSet::new();
            for (case, aspect) in cases {
                let kind: String = aspect.split(' ').take(3).collect();
                if shown.len() < 3 && shown.insert(kind) {
                    eprintln!("    e.g. {}: {aspect}", label(&case.request));
                }
            }
        }
    }

    /// Every case, for `--matrix`.
    pub fn to_json(&self, format: SourceFormat) -> Value {
        let response =
            |r: &Response| json!({ "status": r.status, "headers": r.headers, "reached_upstream": r.reached_upstream });
        let cases: Vec<Value> = self
            .cases
            .iter()
            .map(|c| {
                json!({
                    "scope": c.scope,
                    "rule": self.places.get(c.scope),
                    "request": {
                        "method": c.request.method, "authority": c.request.authority, "path": c.request.path,
                        "route_name": c.request.route_name, "headers": c.request.headers,
                    },
                    "upstream": { "kind": c.upstream_kind, "status": c.upstream.status, "headers": c.upstream.headers },
                    "source": response(&c.source),
                    "ours": response(&c.ours),
                    "differences": c.explained,
                    "noticed": c.noticed.iter().map(|(id, a)| json!([id, a])).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "source": format!("{format:?}"), "ids": IDS, "cases": cases })
    }
}

/// A request in a line.
fn label(r: &Request) -> String {
    let origin = r
        .header("origin")
        .map_or_else(|| "no Origin".to_owned(), |o| format!("from {o}"));
    match r.header("access-control-request-method") {
        Some(m) if r.method == "OPTIONS" => {
            let hdrs = r
                .header("access-control-request-headers")
                .map_or_else(String::new, |h| format!(" with {h}"));
            format!("preflight for {m}{hdrs} to {}{} {origin}", r.authority, r.path)
        }
        _ => format!("{} {}{} {origin}", r.method, r.authority, r.path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_is_a_row_of_docs_differences_in_order() {
        let rows: Vec<&str> = DIFFERENCES
            .lines()
            .filter_map(|l| l.strip_prefix("| `").and_then(|l| l.split('`').next()))
            .collect();
        let known: Vec<&str> = rows.iter().copied().filter(|r| IDS.contains(r)).collect();
        assert_eq!(known, IDS);
    }
}
