//! The change summary, computed, never written by hand: each scope's matrix
//! ([`super::matrix`]) goes through the source's model and through this
//! filter; each differing field is named by a row of docs/differences.md
//! ([`super::differences`]); the Fetch model (the `fetch-model` crate) says
//! what a page could tell apart. The summary leads with outcome changes (a
//! request now allowed or blocked, headers a page now reads or not, a
//! preflight cached for another time), then those that only happen where the
//! upstream sends its own CORS headers, then header-level differences no
//! page's outcome depends on (`Vary`, a `204` for a `200`...).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use envoy_cors_core::language::Config;
use envoy_cors_core::origin::Origin;
use envoy_cors_core::routes::RouteInput;
use itertools::Itertools;
use serde::Serialize;
use serde_json::{json, Value};

use super::convert::BROWSER_MAX_AGE;
use super::differences::{explain, normalise, read_by_browser, Facts, DIFFERENCES, LOSSY, UNEXPLAINED};
use super::fields::comma_list;
use super::matrix;
use super::model::{Request, Response, SourceCors};
use super::paths::glob_sample;
use super::Scope;
use crate::args::SourceFormat;

/// The table the summary quotes.
const DIFFERENCES_DOC: &str = include_str!("../../../../docs/differences.md");

/// Requests a scope gets when an earlier scope had the same policies (another
/// host or path of the same route): enough to check its routing.
const REPEATED_SCOPE_REQUESTS: usize = 6;

/// One request of the matrix and what both sides answered.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    scope: usize,
    /// Where the scope comes from in the source.
    rule: String,
    request: Request,
    upstream: Upstream,
    source: Response,
    ours: Response,
    /// Field -> id that explains its difference.
    differences: BTreeMap<String, &'static str>,
    /// What a page could tell apart, each with the id that explains it.
    noticed: Vec<(&'static str, String)>,
    /// Whether a page's outcome differs (not only a cache key).
    outcome: bool,
}

/// What the upstream answered, and which upstream it was.
#[derive(Debug, Clone, Serialize)]
struct Upstream {
    kind: &'static str,
    #[serde(flatten)]
    response: Response,
}

/// The computed change list.
#[derive(Debug)]
pub struct Report {
    cases: Vec<Case>,
    /// Each scope, for `--matrix`: its route name, its policy's name, whether
    /// the policy allows any origin, and the CorsPolicy of Envoy's own filter it models (a
    /// string when another source's model stands there, `null` for none);
    /// for ingress-nginx also the `CorsConfig` its template renders.
    scopes: Vec<Value>,
    /// Where requests land in another route's scope, and the policies
    /// compared on no request.
    notes: Vec<String>,
}

/// Runs every scope's matrix; `names` are the scopes' policy names, and
/// `by_scope` has a rule per scope ([`super::output::by_scope`]).
pub fn compute(scopes: &[Scope], names: &[Option<String>], config: &Config, by_scope: Option<&Config>) -> Report {
    let mut cases = Vec::new();
    let mut seen = BTreeSet::new();
    let mut notes = Vec::new();
    let hints = |s: &Scope| s.cors.source.as_ref().map(|c| c.hints()).unwrap_or_default();
    for (i, (written, name)) in scopes.iter().zip(names).enumerate() {
        let first = seen.insert((name, &written.policy_hint, written.cors.source.is_some()));
        let (scope, landed) = land(i, written, scopes, by_scope);
        let scope = scope.as_ref();
        let requests = matrix::requests(scope, &hints(scope));
        let count = if first { requests.len() } else { REPEATED_SCOPE_REQUESTS };
        // Where the requests land in another route's scope first, the source
        // sends them there too (the scopes are in the order it selects
        // routes), unless `--lossy` widened either rule: then what changes
        // with the policy is that loss, whatever a row would say.
        let other = scopes.get(landed).filter(|s| s.at != scope.at);
        let either_widened = other.is_some_and(|s| s.widened || scope.widened);
        let moved = either_widened && names.get(landed) != Some(name);
        let (j, owner) = match other {
            Some(other) if !either_widened => {
                let sample = format!("{}{}", scope.sample.authority, scope.sample.path);
                let note = format!(
                    "{}: its requests ({sample}) land in {} first, as in the source",
                    scope.at, other.at
                );
                if !notes.contains(&note) {
                    notes.push(note);
                }
                (landed, other)
            }
            _ => (i, scope),
        };
        let exposed = matrix::exposed(owner, &hints(owner));
        let upstreams = matrix::upstreams(owner);
        for request in requests.into_iter().take(count) {
            for (kind, response) in &upstreams {
                let upstream = Upstream {
                    kind,
                    response: response.clone(),
                };
                cases.push(compare(j, owner, request.clone(), upstream, config, &exposed, moved));
            }
        }
    }
    notes.extend(uncompared(scopes, names, &cases));
    let envoy = |s: &Scope| match &s.cors.source {
        Some(SourceCors::Envoy(cors)) => cors.cors_policy(),
        Some(_) => Value::from("not Envoy's filter"),
        None => Value::Null,
    };
    let scopes = scopes.iter().zip(names).map(|(s, policy)| {
        let mut scope = json!({
            "rule": s.at, "route_name": s.route_name, "policy": policy, "any_origin": s.any_origin(), "envoy": envoy(s)
        });
        if let (Some(SourceCors::Nginx(cors)), Some(fields)) = (&s.cors.source, scope.as_object_mut()) {
            fields.insert("nginx".to_owned(), cors.cors_config());
        }
        scope
    });
    let scopes = scopes.collect();
    Report { cases, scopes, notes }
}

/// Scope `i`, and the scope its requests land in first. Where that is
/// another route's, the path its own glob spells (a prefix `/api` after a
/// prefix `/api/`: `/api`, not the usual `/api/sample`), or another name of
/// its wildcard host (`*.example.net` after `sample.example.net`), may still
/// reach its own rule: then the scope is sampled there.
fn land<'a>(i: usize, scope: &'a Scope, scopes: &[Scope], by_scope: Option<&Config>) -> (Cow<'a, Scope>, usize) {
    let landed = |s: &Scope| by_scope.and_then(|rules| first_scope(rules, s)).unwrap_or(i);
    let own = |j: usize| scopes.get(j).is_none_or(|s| s.at == scope.at);
    let first = landed(scope);
    if own(first) {
        return (Cow::Borrowed(scope), first);
    }
    let path = scope
        .path
        .as_deref()
        .map_or_else(|| scope.sample.path.clone(), glob_sample);
    let host = scope
        .host
        .as_deref()
        .filter(|h| h.starts_with("*."))
        .map(|h| h.replacen('*', "another", 1));
    let hosts = [scope.sample.authority.clone()].into_iter().chain(host);
    for (authority, path) in hosts.cartesian_product([scope.sample.path.clone(), path]).skip(1) {
        let mut resampled = scope.clone();
        resampled.sample.authority = authority;
        resampled.sample.path = path;
        let again = landed(&resampled);
        if own(again) {
            return (Cow::Owned(resampled), again);
        }
    }
    (Cow::Borrowed(scope), first)
}

/// The first scope whose rule a scope's requests meet (they share its
/// sample's route name, host and path).
fn first_scope(by_scope: &Config, scope: &Scope) -> Option<usize> {
    by_scope.routes.first_match(&RouteInput {
        route_name: scope.route_name.as_deref().map(str::as_bytes),
        authority: scope.sample.authority.as_bytes(),
        path: scope.sample.path.as_bytes(),
    })
}

/// A note for each policy no case compared: each sample of its scopes
/// landed in an earlier route's scope.
fn uncompared(scopes: &[Scope], names: &[Option<String>], cases: &[Case]) -> Vec<String> {
    let compared: BTreeSet<&Option<String>> = cases.iter().filter_map(|c| names.get(c.scope)).collect();
    let mut noted = BTreeSet::new();
    let mut out = Vec::new();
    for (scope, name) in scopes.iter().zip(names) {
        if let Some(policy) = name.as_deref().filter(|_| !compared.contains(name)) {
            if noted.insert(policy) {
                out.push(format!(
                    "{}: policy {policy:?} is compared on no request: each sample of its rules lands in an earlier \
                     route first",
                    scope.at
                ));
            }
        }
    }
    out
}

/// One case of a scope: both answers, the differing fields named, what a
/// page notices; `moved` says whether the request lands in another route's
/// scope, with another policy, because `--lossy` widened a rule.
fn compare(
    index: usize,
    scope: &Scope,
    request: Request,
    upstream: Upstream,
    config: &Config,
    exposed: &[String],
    moved: bool,
) -> Case {
    let source = match &scope.cors.source {
        Some(cors) => cors.respond(&request, &upstream.response),
        None => upstream.response.clone(),
    };
    let ours = matrix::ours(config, &request, &upstream.response);
    let (theirs, mine) = (normalise(&source), normalise(&ours));
    let facts = Facts::new(&request, scope.any_origin(), &upstream.response);
    let differences = explain(&facts, &theirs, &mine);
    // An outcome by the ids of the fields a browser reads there; the cache key by `vary`'s.
    let read = differences.iter().filter(|(f, _)| read_by_browser(facts.preflight, f));
    let mut ids: BTreeSet<&'static str> = read.map(|(_, id)| *id).collect();
    if ids.is_empty() {
        ids.insert(UNEXPLAINED);
    }
    // Where `--lossy` wrote the nearest policy, that is what changed.
    if scope.cors.lossy && ids.remove(UNEXPLAINED) {
        ids.insert(LOSSY);
    }
    if moved {
        ids = BTreeSet::from([LOSSY]);
    }
    let effects = effects(&request, &source, &ours, exposed);
    let each = effects.iter().cartesian_product(&ids);
    let mut noticed: Vec<(&'static str, String)> = each.map(|(e, id)| (*id, e.clone())).collect();
    if let Some(id) = differences.get("vary") {
        let vary = mine.get("vary").cloned().unwrap_or_default();
        noticed.push((id, format!("caches keep one answer per Vary: {vary}")));
    }
    let outcome = !effects.is_empty();
    Case {
        scope: index,
        rule: scope.at.clone(),
        request,
        upstream,
        source,
        ours,
        differences,
        noticed,
        outcome,
    }
}

/// What a page at the request's origin can do with a response in one
/// credentials mode: pass the CORS check, and read which headers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mode {
    ok: bool,
    readable: Vec<String>,
}

/// What a page can do with a response, without and with credentials, and
/// how long a preflight it passes is cached.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    modes: [Mode; 2],
    max_age: Option<u64>,
}

/// What a page can tell apart between the source's answer and ours.
fn effects(request: &Request, source: &Response, ours: &Response, exposed: &[String]) -> Vec<String> {
    let (Some(t), Some(o)) = (verdict(request, source, exposed), verdict(request, ours, exposed)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ((t, o), mode) in t
        .modes
        .iter()
        .zip(&o.modes)
        .zip(["without credentials", "with credentials"])
    {
        match (t.ok, o.ok) {
            (true, false) => out.push(format!("now refused {mode}, allowed before")),
            (false, true) => out.push(format!("now allowed {mode}, refused before")),
            _ if t.readable != o.readable => out.push(format!(
                "the page reads {:?} {mode}, {:?} before",
                o.readable, t.readable
            )),
            _ => {}
        }
    }
    if let (Some(theirs), Some(mine)) = (t.max_age, o.max_age) {
        if theirs != mine {
            out.push(format!("the preflight is cached {mine} s, {theirs} s before"));
        }
    }
    out
}

/// What a page can do with a response; `None` when no page sends the request
/// (a plain `OPTIONS`, an `Origin` no browser serializes).
fn verdict(request: &Request, response: &Response, exposed: &[String]) -> Option<Verdict> {
    let origin = request
        .header("origin")
        .filter(|o| *o == "null" || Origin::parse(o.as_bytes()).is_ok())?;
    let preflight = request.is_preflight();
    if request.method == "OPTIONS" && !preflight {
        return None;
    }
    let mut headers = response.header_bytes();
    for name in exposed {
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            headers.push((name.clone(), b"v".to_vec()));
        }
    }
    let modes = [false, true].map(|credentials| {
        let ok = if preflight {
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
        let readable = exposed
            .iter()
            .filter(|n| ok && !preflight && fetch_model::readable(&headers, n, credentials))
            .cloned()
            .collect();
        Mode { ok, readable }
    });
    let max_age = (preflight && modes.iter().any(|m| m.ok)).then(|| {
        fetch_model::max_age(&headers)
            .unwrap_or(5)
            .min(BROWSER_MAX_AGE.unsigned_abs())
    });
    Some(Verdict { modes, max_age })
}

/// The "This filter" cell of an id's row in docs/differences.md, first sentence.
fn documented(id: &str) -> String {
    let row = DIFFERENCES_DOC
        .lines()
        .find(|l| l.starts_with(&format!("| `{id}` |")))
        .and_then(|l| l.split(" | ").nth(2));
    let text = row.unwrap_or("not in docs/differences.md: a difference the importer did not expect");
    let end = text.find(". ").map_or(text.len(), |i| i + 1);
    text.get(..end).unwrap_or(text).to_owned()
}

/// The cases each id explains, in the table's order (then [`LOSSY`] and
/// [`UNEXPLAINED`], for outcome changes), each with what a page notices.
fn by_id<'a>(cases: &[&'a Case], outcome: bool) -> Vec<(&'static str, Vec<(&'a Case, &'a str)>)> {
    let ids = DIFFERENCES
        .iter()
        .map(|(id, _)| *id)
        .chain(outcome.then_some(LOSSY))
        .chain(outcome.then_some(UNEXPLAINED));
    let explained = |id: &'static str| -> Vec<(&'a Case, &'a str)> {
        let found = cases.iter().filter_map(|case| match outcome {
            true => case
                .noticed
                .iter()
                .find(|(i, aspect)| *i == id && !aspect.starts_with("caches keep"))
                .map(|(_, aspect)| (*case, aspect.as_str())),
            false => case.differences.values().any(|i| *i == id).then_some((*case, "")),
        });
        found.collect()
    };
    ids.map(|id| (id, explained(id)))
        .filter(|(_, found)| !found.is_empty())
        .collect()
}

impl Report {
    /// Cases a browser would notice that no documented id explains.
    pub fn unexplained_noticed(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| c.noticed.iter().any(|(id, _)| *id == UNEXPLAINED))
            .count()
    }

    /// Prints the change summary on stderr, outcome changes first.
    pub fn print(&self, format: SourceFormat) {
        let source = match format {
            SourceFormat::Envoy => "Envoy's built-in CORS filter",
            SourceFormat::Istio => "Istio (Envoy's built-in CORS filter)",
            SourceFormat::GatewayApi => "the Gateway API CORS filter",
            SourceFormat::IngressNginx => "ingress-nginx",
            SourceFormat::EnvoyGateway => "Envoy Gateway (Envoy's built-in CORS filter)",
        };
        let differ = self.cases.iter().filter(|c| !c.differences.is_empty()).count();
        eprintln!(
            "cors-policy: compared {} requests with {source}: {differ} answered differently",
            self.cases.len()
        );
        for note in &self.notes {
            eprintln!("cors-policy: note: {note}");
        }
        let outcome = self.cases.iter().filter(|c| c.outcome);
        let (own, plain): (Vec<&Case>, Vec<&Case>) = outcome.partition(|c| c.upstream.kind == "own-cors");
        let header: Vec<&Case> = self
            .cases
            .iter()
            .filter(|c| !c.outcome && !c.differences.is_empty())
            .collect();
        print_group(
            "outcome changes (a request allowed or blocked, response headers a page reads, preflight caching)",
            &plain,
            true,
        );
        if !own.is_empty() {
            print_group(
                "outcome changes only where the upstream sends its own CORS headers",
                &own,
                true,
            );
        }
        if !header.is_empty() {
            print_group("header-level differences, with the same outcome", &header, false);
        }
        let quiet: Vec<&&Case> = header
            .iter()
            .filter(|c| c.differences.values().any(|id| *id == UNEXPLAINED))
            .collect();
        if let Some(first) = quiet.first() {
            let fields: Vec<&String> = first
                .differences
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
    }

    /// Every case, for `--matrix`.
    pub fn to_json(&self, format: SourceFormat) -> Value {
        let ids: Vec<&str> = DIFFERENCES.iter().map(|(id, _)| *id).collect();
        json!({ "source": format!("{format:?}"), "ids": ids, "scopes": self.scopes, "cases": self.cases })
    }
}

/// A group of cases: a line that counts them, then one `change:` line per
/// id, with up to three examples of what a page notices for outcome changes.
fn print_group(what: &str, cases: &[&Case], outcome: bool) {
    match cases.len() {
        0 => eprintln!("cors-policy: {what}: none"),
        n => eprintln!("cors-policy: {what}: {n} requests"),
    }
    for (id, cases) in by_id(cases, outcome) {
        eprintln!("change: {id} ({} requests): {}", cases.len(), documented(id));
        let mut shown = BTreeSet::new();
        for (case, aspect) in cases.iter().filter(|_| outcome) {
            let kind: String = aspect.split(' ').take(3).collect();
            if shown.len() < 3 && shown.insert(kind) {
                eprintln!("    e.g. {}: {aspect}", label(&case.request));
            }
        }
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
