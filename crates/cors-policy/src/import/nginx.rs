//! ingress-nginx: `networking.k8s.io/v1` Ingresses with its `cors`
//! annotations, converted as nginx answers on the wire (kubernetes/ingress-nginx
//! at controller-v1.15.1, commit 0a5901f3c64f; the same CORS code since
//! v1.0.5, and annotation validation on by default since v1.12):
//!
//! - the annotations are read as `Parse` in
//!   `internal/ingress/annotations/cors/main.go` reads them: its defaults,
//!   its regexes (a value that fails one falls back to the default), origins
//!   split on `,` and trimmed, an item that fails `corsOriginRegex` skipped,
//!   a list that fails `corsOriginRegexValidator` replaced by `*`;
//! - the `CORS` template (`rootfs/etc/nginx/template/nginx.tmpl`) sends the
//!   methods, headers and max-age verbatim, and for `*` a literal
//!   `Access-Control-Allow-Origin: *` next to `-Allow-Credentials: true`
//!   (`buildCorsOriginRegex` sets `$http_origin` to `*`): no browser accepts
//!   that for a credentialed request, so `*` converts to `*` without
//!   credentials, with a note. Listed origins are matched case-insensitively
//!   (`~*`), a `*` standing for one label of `[A-Za-z0-9-]`
//!   (`buildOriginRegex`), which this filter's `*.` (one or more labels) only
//!   approaches. nginx anchors the list at its end only: `(https://a.example.com)$`
//!   also matches a custom scheme such as `xhttps://a.example.com`, no
//!   website's origin, and `(null)$` any host ending in `null`
//!   (`http://xnull`). The model ([`NginxCors`]) matches as nginx does; the
//!   conversion reads each entry anchored at both ends, so it leaves those
//!   look-alikes out (a `null` entry is refused anyway).
//! - paths as `internal/ingress/controller/location.go` and `buildLocation`
//!   (template.go) make nginx locations: `Exact` is `= path`, `Prefix` (and
//!   `ImplementationSpecific`, which ingress-nginx treats as `Prefix`) is
//!   `path/` plus `= path`, so element-wise; when a location of a host has
//!   `use-regex` or a `rewrite-target` other than its path, every location is
//!   `~* "^path"`, a case-insensitive string prefix, longest first. A host's
//!   other paths get the CORS of the oldest Ingress that names the host (its
//!   implicit root location, `createServers` in controller.go), oldest by
//!   `creationTimestamp`, ties (every Ingress of a file written by hand,
//!   which has none) by namespace/name descending (`sortIngressSlice`), with
//!   a note where a tie decides; the catch-all server's other paths go to
//!   the oldest Ingress with a `defaultBackend` and no rules (its CORS), else
//!   to the default backend, without CORS, and its `/healthz` and
//!   `/nginx_status` are the controller's, without CORS. A path whose
//!   backend is a `resource` makes no location. nginx answers `/p` with a
//!   301 to a location `/p/` (a path written with its `/`) unless `= /p`
//!   exists, before any CORS header: CORS off there.
//!
//! Read from that code, and run: tests/e2e/test_nginx_model.py renders each
//! imported location's `CORS` template into nginx 1.22 with headers-more and
//! requires the model to predict every answer of the `--matrix` requests,
//! and tests/fixtures/ingress-nginx-origins.json (this module's test) holds
//! the origins where nginx's regex is loosest, also checked there. It also
//! renders the servers and locations ingress-nginx makes of each fixture's
//! Ingresses (a transcription of the controller's code), sends every matrix
//! request by its own host and path, and probes the paths around each
//! location: nginx must reach the Ingress whose policy the imported rules
//! apply. The annotations' parsing (`cors/main.go`) is read, not run: the
//! test renders the settings this module parsed.

use std::collections::{BTreeMap, BTreeSet};

use itertools::Itertools;
use regex_syntax::escape;
use serde::Deserialize;

use super::automata::{BrowserOrigins, Language};
use super::convert::{self, Draft, Names, Star};
use super::fields::{comma_list, split, Object, ObjectMeta};
use super::model::{NginxCors, SourceCors};
use super::origins::StringMatch;
use super::paths::{host_rank, regex_path, PathMatch};
use super::{objects, Cors, Doc, Issues, Scope};
use crate::args::SourceFormat;
use crate::document::within;

/// The annotations' prefix (the controller's default `--annotations-prefix`).
const PREFIX: &str = "nginx.ingress.kubernetes.io/";
/// ingress-nginx's defaults (cors/main.go).
const DEFAULT_METHODS: &str = "GET, PUT, POST, DELETE, PATCH, OPTIONS";
const DEFAULT_HEADERS: &str =
    "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization";
const DEFAULT_MAX_AGE: i64 = 1_728_000;
/// Its validators (cors/main.go; `HeadersVariable` in parser/validators.go).
const ORIGINS_VALIDATOR: &str = r"^((((([a-z]+://)?(\*\.)?[A-Za-z0-9\-.]*(:\d+)?,?)|null)+)|\*)?$";
const ORIGIN: &str = r"^([a-z]+://(\*\.)?[A-Za-z0-9\-.]*(:\d+)?|\*|null)?$";
const METHODS: &str = r"^([A-Za-z]+,?\s?)+$";
const HEADERS: &str = r"^[A-Za-z0-9-_, ]*$";
const EXPOSE: &str = r"^(([A-Za-z0-9\-\_]+|\*),?\s?)+$";
/// What a `*` in a listed origin stands for (`buildOriginRegex`).
const ONE_LABEL: &str = "[A-Za-z0-9-]+";

/// The annotations' names, for messages.
const NAMES: Names = Names {
    source: "ingress-nginx",
    origins: "nginx.ingress.kubernetes.io/cors-allow-origin",
    methods: "nginx.ingress.kubernetes.io/cors-allow-methods",
    headers: "nginx.ingress.kubernetes.io/cors-allow-headers",
    expose: "nginx.ingress.kubernetes.io/cors-expose-headers",
    max_age: "nginx.ingress.kubernetes.io/cors-max-age",
};

/// An `Ingress`.
type Ingress = Object<IngressSpec>;

/// Its `spec`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
struct IngressSpec {
    rules: Vec<IngressRule>,
    default_backend: Option<Backend>,
}

/// An `IngressRule`: a host (none: every host) and its HTTP paths.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IngressRule {
    host: Option<String>,
    http: Option<HttpPaths>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HttpPaths {
    paths: Vec<HttpPath>,
}

/// An `HTTPIngressPath`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct HttpPath {
    path: Option<String>,
    path_type: Option<String>,
    backend: Backend,
}

/// Its `backend` (or the Ingress's `defaultBackend`): a Service, or a
/// `resource`, which makes no location (a path written without one, which
/// the API server refuses, is read as a Service's).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Backend {
    service: Option<serde_json::Value>,
    resource: Option<serde_json::Value>,
}

/// An Ingress, where it is, and what its CORS converts to.
struct Read<'a> {
    part: &'a str,
    ingress: Ingress,
    cors: Cors,
}

/// Imports every Ingress.
pub fn import(docs: &[Doc], browser: &BrowserOrigins, issues: &mut Issues) -> Vec<Scope> {
    let mut read: Vec<Read> = Vec::new();
    for (part, mut ingress) in objects::<Ingress>(docs, SourceFormat::IngressNginx, issues) {
        let at = within(part, "metadata.annotations");
        if flag(&ingress.metadata, "canary", false) {
            issues.note(
                &at,
                "a canary Ingress: ingress-nginx makes no location of its own for it; left out",
            );
            continue;
        }
        // `host: ""` is the catch-all server's, as no host (controller.go:747-749, 1365-1367).
        for rule in &mut ingress.spec.rules {
            rule.host = rule.host.take().filter(|h| !h.is_empty());
        }
        unmodelled(&ingress.metadata, &at, issues);
        let cors = issues.converting(|issues| cors(&ingress.metadata, &at, browser, issues).unwrap_or_default());
        read.push(Read { part, ingress, cors });
    }
    // Oldest first, ties by namespace/name descending (`sortIngressSlice`,
    // store.go); no timestamp is Go's zero time, the oldest.
    read.sort_by(|a, b| {
        let (a, b) = (&a.ingress.metadata, &b.ingress.metadata);
        (a.creation_timestamp.cmp(&b.creation_timestamp)).then_with(|| b.key().cmp(&a.key()))
    });
    // The oldest Ingress with a Service `defaultBackend` and no rules gives
    // the catch-all server's `/` its annotations but not its rewrite
    // (createServers, controller.go:1335-1357).
    let mut defaults = read.iter().filter(|r| {
        let spec = &r.ingress.spec;
        spec.rules.is_empty() && spec.default_backend.as_ref().is_some_and(|b| b.service.is_some())
    });
    let default = defaults.next();
    if let Some(first) = default {
        tie(first, defaults.next(), "the catch-all server's `/`", issues);
    }
    // nginx's server selection: exact names, wildcards, then the catch-all.
    let hosts = read
        .iter()
        .flat_map(|r| r.ingress.spec.rules.iter().map(|rule| rule.host.clone()))
        .chain(default.map(|_| None))
        .unique()
        .sorted_by_key(|h| host_rank(h.as_deref().unwrap_or("*")));
    // A host without CORS needs rules only to keep the catch-all's off it.
    let catch_all = |r: &&Read| r.ingress.spec.rules.iter().any(|x| x.host.is_none());
    let catch_all_cors = read
        .iter()
        .filter(catch_all)
        .chain(default)
        .any(|r| r.cors.source.is_some());
    hosts
        .flat_map(|host| host_scopes(host.as_deref(), &read, default, catch_all_cors, issues))
        .collect()
}

/// Notes where a tie in ingress-nginx's order (equal or no
/// `creationTimestamp`) gave `what` to `first` over `other`.
fn tie(first: &Read, other: Option<&Read>, what: &str, issues: &mut Issues) {
    let (a, b) = (&first.ingress.metadata, other.map(|o| &o.ingress.metadata));
    if let Some(b) = b.filter(|b| b.creation_timestamp == a.creation_timestamp) {
        issues.note(
            &within(first.part, "metadata"),
            format!(
                "{what} is {}'s, not {}'s: with equal (or no) creationTimestamp ingress-nginx orders Ingresses by \
                 namespace/name descending (sortIngressSlice, store.go:1102-1115)",
                a.key(),
                b.key()
            ),
        );
    }
}

/// Notes the annotations that change which locations answer, not modelled.
fn unmodelled(meta: &ObjectMeta, at: &str, issues: &mut Issues) {
    let effects = [
        (
            "server-alias",
            "also serves this Ingress's hosts' locations, CORS included, under these names (server_name, \
             nginx.tmpl:639; controller.go:1416-1420): not imported, add their rules by hand",
        ),
        (
            "app-root",
            "answers `/` of this Ingress's hosts with a 302 there, without CORS headers (nginx.tmpl:1000-1004): \
             not modelled, the imported rules give `/` the host's CORS",
        ),
    ];
    for (name, effect) in effects {
        if let Some(value) = annotation(meta, name) {
            issues.note(
                &format!("{at}.{PREFIX}{name}"),
                format!("{value:?}: ingress-nginx {effect}"),
            );
        }
    }
}

/// Whether a location of `read`'s path `value` (`Exact` or not) makes its
/// server's locations regexes (`enforceRegexModifier`, template.go:497-519):
/// `use-regex`, or a `rewrite-target` other than the location's path, which
/// for a Prefix path is `value/` (updateServerLocations, location.go:34-108).
fn regex_location(read: &Read, value: &str, exact: bool) -> bool {
    let meta = &read.ingress.metadata;
    let slash_added = !exact && value != "/" && !value.ends_with('/');
    flag(meta, "use-regex", false) || annotation(meta, "rewrite-target").is_some_and(|t| t != value || slash_added)
}

/// An annotation's value, trimmed; `None` when absent or blank.
fn annotation<'a>(meta: &'a ObjectMeta, name: &str) -> Option<&'a str> {
    meta.annotations
        .get(&format!("{PREFIX}{name}"))
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// Go's `strconv.ParseBool`, `default` for anything else (as ingress-nginx falls back).
fn flag(meta: &ObjectMeta, name: &str, default: bool) -> bool {
    match annotation(meta, name) {
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => true,
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => false,
        _ => default,
    }
}

/// Reports whether the whole of `text` matches one of ingress-nginx's validators.
fn valid(pattern: &str, text: &str) -> bool {
    Language::new(pattern, false).is_ok_and(|l| l.matches(text.as_bytes()))
}

/// An annotation that must match `pattern`, or the default ingress-nginx falls back to.
fn checked(meta: &ObjectMeta, name: &str, pattern: &str, default: &str, at: &str, issues: &mut Issues) -> String {
    match annotation(meta, name) {
        Some(v) if !valid(pattern, v) => {
            let path = format!("{at}.{PREFIX}{name}");
            issues.note(
                &path,
                format!("{v:?} is refused by ingress-nginx's parser, which uses {default:?} instead"),
            );
            default.to_owned()
        }
        found => found.unwrap_or(default).to_owned(),
    }
}

/// The Ingress's CORS: the policy and the model; `None` when `enable-cors`
/// is not true.
fn cors(meta: &ObjectMeta, at: &str, browser: &BrowserOrigins, issues: &mut Issues) -> Option<Cors> {
    if !flag(meta, "enable-cors", false) {
        return None;
    }
    let (any, origins) = origins(meta, at, issues);
    let pattern = origins.iter().map(|o| format!("({})", origin_regex(o))).join("|");
    let compiled = (!origins.is_empty()).then(|| Language::new(&format!("(?s-u:.)*(?:{pattern})"), true));
    let model = NginxCors {
        any,
        origins: compiled.and_then(Result::ok).map(Box::new),
        written: origins.clone(),
        credentials: flag(meta, "cors-allow-credentials", true),
        methods: checked(meta, "cors-allow-methods", METHODS, DEFAULT_METHODS, at, issues),
        headers: checked(meta, "cors-allow-headers", HEADERS, DEFAULT_HEADERS, at, issues),
        expose: checked(meta, "cors-expose-headers", EXPOSE, "", at, issues),
        max_age: annotation(meta, "cors-max-age")
            .and_then(|m| m.parse().ok())
            .unwrap_or(DEFAULT_MAX_AGE),
    };
    let label = |o: &String| match o.contains('*') {
        true => format!("{o:?} (ingress-nginx reads its * as one label of letters, digits and '-')"),
        false => format!("{o:?}"),
    };
    let draft = Draft {
        origins: if any {
            vec![StringMatch::written_as("(?s-u:.)*", false, "\"*\"".to_owned())]
        } else {
            origins
                .iter()
                .map(|o| StringMatch::written_as(&origin_regex(o), true, label(o)))
                .collect()
        },
        star: Star::Literal,
        methods: split(&model.methods),
        headers: split(&model.headers),
        expose: split(&model.expose),
        max_age: Some(model.max_age.to_string()),
        credentials: model.credentials,
        // nginx answers preflights `return 204`, as this filter does.
        ..Draft::default()
    };
    Some(Cors {
        policy: convert::policy(&draft, at, &NAMES, browser, issues),
        source: Some(SourceCors::Nginx(model)),
        lossy: false,
    })
}

/// `cors-allow-origin`: `*`, or the origins ingress-nginx keeps.
fn origins(meta: &ObjectMeta, at: &str, issues: &mut Issues) -> (bool, Vec<String>) {
    let path = format!("{at}.{}", NAMES.origins);
    let Some(value) = annotation(meta, "cors-allow-origin") else {
        return (true, Vec::new());
    };
    if !valid(ORIGINS_VALIDATOR, &value.replace(' ', "")) {
        issues.lossy(
            &path,
            format!(
                "{value:?} fails ingress-nginx's validation, and since v1.12 (annotation validation on) it then \
                 allows every origin; --lossy writes \"*\" as it does"
            ),
        );
        return (true, Vec::new());
    }
    let mut kept = Vec::new();
    for item in comma_list(value) {
        if item == "*" {
            return (true, Vec::new());
        }
        if valid(ORIGIN, item) {
            kept.push(item.to_owned());
        } else {
            issues.note(
                &path,
                format!("{item:?} is skipped by ingress-nginx's parser (not scheme://host[:port]); left out"),
            );
        }
    }
    (false, kept)
}

/// One listed origin as `buildOriginRegex` writes it: nginx matches the list
/// with `~* ((o1)|(o2))$`, anchored at the end only; a matcher over the whole
/// origin (the conversion's) reads it anchored at both.
fn origin_regex(origin: &str) -> String {
    escape(origin).replacen(r"\*", ONE_LABEL, 1)
}

/// A location of a host: its path match, its Ingress, where it is; with
/// `direct`, a path nginx answers itself without CORS (a redirect to a
/// location of the Ingress, the controller's own locations).
struct Location<'a> {
    path: PathMatch,
    /// A regex path `--lossy` widened to a prefix.
    widened: bool,
    read: &'a Read<'a>,
    at: String,
    direct: Option<u32>,
}

/// A path an Ingress gives a host: its value, `Exact` or not, its Ingress.
struct Entry<'a> {
    value: String,
    exact: bool,
    read: &'a Read<'a>,
    at: String,
}

/// The rules of one host (`None`: the catch-all server): its locations in
/// nginx's order, then the host's root with the oldest Ingress's CORS; none
/// for a host without CORS unless the catch-all server has some.
fn host_scopes(
    host: Option<&str>,
    read: &[Read],
    default: Option<&Read>,
    catch_all_cors: bool,
    issues: &mut Issues,
) -> Vec<Scope> {
    let members: Vec<&Read> = read
        .iter()
        .filter(|r| r.ingress.spec.rules.iter().any(|x| x.host.as_deref() == host))
        .collect();
    // The root location createServers makes: a host's has the oldest
    // Ingress's annotations, the catch-all's `default`'s (or none).
    let root = if host.is_some() {
        members.first().copied()
    } else {
        default
    };
    let with_cors = members.iter().copied().chain(root).any(|r| r.cors.source.is_some());
    if !(with_cors || catch_all_cors && host.is_some()) {
        return Vec::new();
    }
    let mut entries = entries(host, &members, default.filter(|_| host.is_none()), issues);
    // An Ingress's `/` Prefix path takes a host's root location over.
    let own_root = entries.iter().find(|e| e.value == "/" && !e.exact).map(|e| e.read);
    let implicit_root = root.filter(|_| own_root.is_none());
    let regex_mode = entries.iter().any(|e| regex_location(e.read, &e.value, e.exact))
        || implicit_root.is_some_and(|r| host.is_some() && regex_location(r, "/", false));
    if regex_mode {
        // nginx tries regexes in the controller's order: the longest written
        // path first, ties by path descending (controller.go:996-1003).
        entries.sort_by(|a, b| (b.value.len(), &b.value).cmp(&(a.value.len(), &a.value)));
    }
    let mut locations = locations(&entries, regex_mode, issues);
    let root_read = own_root.or(implicit_root);
    if host.is_none() && !regex_mode {
        locations.extend(
            root_read
                .filter(|r| r.cors.source.is_some())
                .map(controller_locations)
                .into_iter()
                .flatten(),
        );
    }
    locations.sort_by_key(|l| match &l.path {
        _ if regex_mode => (0, 0),
        PathMatch::Exact(_) => (0, 0),
        PathMatch::StringPrefix(p) | PathMatch::SegmentPrefix(p) => (1, usize::MAX - p.len()),
        PathMatch::Any => (2, 0),
    });
    let name = host.unwrap_or("*");
    host_notes(name, &members, implicit_root.filter(|_| host.is_some()), issues);
    locations.extend(implicit_root.map(|r| Location {
        path: PathMatch::Any,
        widened: false,
        read: r,
        at: within(r.part, "spec"),
        direct: None,
    }));
    location_scopes(name, &locations, regex_mode)
}

/// What a host's rules cannot say: a one-label wildcard, and the tie that
/// gave `root` (the Ingress whose annotations its root location has) the
/// host's other paths.
fn host_notes(name: &str, members: &[&Read], root: Option<&Read>, issues: &mut Issues) {
    if name.starts_with("*.") {
        issues.lossy(
            &members
                .first()
                .map(|r| within(r.part, "spec.rules"))
                .unwrap_or_default(),
            format!("nginx's {name:?} covers one label, a host rule any number; --lossy matches any number"),
        );
    }
    if let Some(first) = root {
        tie(
            first,
            members.get(1).copied(),
            &format!("the root of host {name:?} (its other paths)"),
            issues,
        );
    }
}

/// The rules of a host's locations, in nginx's order: a location nginx
/// answers itself (`direct`) has CORS off.
fn location_scopes(name: &str, locations: &[Location], regex_mode: bool) -> Vec<Scope> {
    let off = Cors::default();
    locations
        .iter()
        .flat_map(|l| {
            let hint = &l.read.ingress.metadata.name;
            let cors = if l.direct.is_some() { &off } else { &l.read.cors };
            let mut scopes = Scope::each_glob(name, &l.path, !regex_mode, cors, hint, &l.at);
            for scope in &mut scopes {
                scope.widened = l.widened || name.starts_with("*.");
                scope.sample.direct_status = l.direct;
            }
            scopes
        })
        .collect()
}

/// The catch-all server's own prefix locations `/healthz` (`return 200`)
/// and `/nginx_status` (`deny all` but for 127.0.0.1), without CORS
/// (nginx.tmpl:1455-1488), which a `/` with CORS does not cover.
fn controller_locations<'a>(root: &'a Read<'a>) -> [Location<'a>; 2] {
    [("/healthz", 200), ("/nginx_status", 403)].map(|(path, status)| Location {
        path: PathMatch::StringPrefix(path.to_owned()),
        widened: false,
        read: root,
        at: "the catch-all server's own location".to_owned(),
        direct: Some(status),
    })
}

/// The paths the host's Ingresses give it; a path given twice (Prefix and
/// ImplementationSpecific are one kind, `SetDefaultNGINXPathType` in
/// k8s/main.go:176-182) belongs to the oldest Ingress, or to `root_owner`
/// for `/` (controller.go:817-830: "Location already configured").
fn entries<'a>(
    host: Option<&str>,
    members: &[&'a Read],
    root_owner: Option<&'a Read<'a>>,
    issues: &mut Issues,
) -> Vec<Entry<'a>> {
    let mut seen: BTreeMap<(String, bool), &Read> = BTreeMap::new();
    seen.extend(root_owner.map(|r| (("/".to_owned(), false), r)));
    let mut out = Vec::new();
    for read in members {
        let rules = read.ingress.spec.rules.iter().enumerate();
        for (r, rule) in rules.filter(|(_, x)| x.host.as_deref() == host) {
            for (p, path) in rule.http.iter().flat_map(|h| h.paths.iter()).enumerate() {
                let at = within(read.part, &format!("spec.rules[{r}].http.paths[{p}]"));
                if path.backend.resource.is_some() {
                    issues.note(
                        &at,
                        "its backend is a resource, not a Service: ingress-nginx makes no location of it; left out",
                    );
                    continue;
                }
                let value = path.path.clone().unwrap_or_else(|| "/".to_owned());
                let exact = path.path_type.as_deref() == Some("Exact");
                if let Some(owner) = seen.get(&(value.clone(), exact)) {
                    let key = owner.ingress.metadata.key();
                    issues.note(
                        &at,
                        format!("{value:?} is also a path of {key} on this host, whose location nginx keeps"),
                    );
                    if !root_owner.is_some_and(|r| std::ptr::eq(r, *owner)) {
                        tie(owner, Some(read), &format!("path {value:?}"), issues);
                    }
                    continue;
                }
                seen.insert((value.clone(), exact), read);
                out.push(Entry { value, exact, read, at });
            }
        }
    }
    out
}

/// The locations the paths make.
fn locations<'a>(entries: &[Entry<'a>], regex_mode: bool, issues: &mut Issues) -> Vec<Location<'a>> {
    let mut out: Vec<Location> = entries
        .iter()
        .map(|e| {
            let (value, at) = (e.value.clone(), e.at.clone());
            let literal = !value.contains(|c: char| "^$.*+?()[]{}|\\".contains(c));
            let path = match () {
                _ if regex_mode && literal => PathMatch::StringPrefix(value),
                _ if regex_mode => regex_path("regex path", &value, &at, issues),
                _ if e.exact => PathMatch::Exact(value),
                _ if value == "/" => PathMatch::Any,
                _ if value.ends_with('/') => PathMatch::StringPrefix(value),
                _ => PathMatch::SegmentPrefix(value),
            };
            let widened = regex_mode && !literal;
            Location {
                path,
                widened,
                read: e.read,
                at,
                direct: None,
            }
        })
        .collect();
    if !regex_mode {
        out.extend(redirects(&out, issues));
        duplicate_locations(entries, issues);
    }
    out
}

/// Refuses Prefix paths `/p` and `/p/` of a host: both make `location /p/`
/// (updateServerLocations, location.go:34-88), a duplicate nginx refuses,
/// so ingress-nginx never serves these Ingresses together.
fn duplicate_locations(entries: &[Entry], issues: &mut Issues) {
    let mut made = BTreeMap::new();
    for e in entries.iter().filter(|e| !e.exact && e.value != "/") {
        let location = format!("{}/", e.value.strip_suffix('/').unwrap_or(&e.value));
        if let Some(first) = made.insert(location.clone(), e) {
            issues.fatal(
                &e.at,
                format!(
                    "{:?} here and {:?} at {} both make nginx's `location {location}`, a duplicate nginx refuses: \
                     ingress-nginx cannot load them together (its admission webhook refuses the later Ingress), so \
                     there is no behaviour to import; keep one of the two paths",
                    e.value, first.value, first.at
                ),
            );
        }
    }
}

/// nginx answers `/p` with a 301 to `/p/` when a location is `/p/` (a Prefix
/// or Exact path with its `/`) and none is `= /p`: it finds the location
/// (`auto_redirect` of `ngx_http_core_find_static_location`) before the
/// `CORS` block runs, so the redirect has no CORS header.
fn redirects<'a>(locations: &[Location<'a>], issues: &mut Issues) -> Vec<Location<'a>> {
    let exact: BTreeSet<&str> = locations
        .iter()
        .filter_map(|l| match &l.path {
            PathMatch::Exact(p) | PathMatch::SegmentPrefix(p) => Some(p.as_str()),
            _ => None,
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for l in locations {
        let (PathMatch::Exact(p) | PathMatch::StringPrefix(p)) = &l.path else {
            continue;
        };
        let Some(bare) = p.strip_suffix('/').filter(|b| !b.is_empty() && !exact.contains(b)) else {
            continue;
        };
        if seen.insert(bare) {
            issues.note(
                &l.at,
                format!("nginx redirects {bare:?} to {p:?} (301, no CORS headers); imported with CORS off there"),
            );
            let path = PathMatch::Exact(bare.to_owned());
            out.push(Location {
                path,
                widened: false,
                read: l.read,
                at: l.at.clone(),
                direct: Some(301),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::import::model::{Request, Response};

    /// tests/fixtures/import/ingress-nginx/routes.yaml, whose routing
    /// tests/e2e/test_nginx_model.py checks against a real nginx.
    const ROUTES: &str = include_str!("../../../../tests/fixtures/import/ingress-nginx/routes.yaml");

    /// A rule: host, path, policy hint (`-` for CORS off) and the status of
    /// an answer of nginx's own.
    type Rule = (Option<String>, Option<String>, String, Option<u32>);

    /// The rules imported from ROUTES.
    fn routes() -> Vec<Rule> {
        imported(ROUTES, &mut Issues::default())
    }

    /// The rules imported from `yaml`.
    fn imported(yaml: &str, issues: &mut Issues) -> Vec<Rule> {
        let docs: Vec<Doc> = crate::document::yaml_documents(yaml)
            .unwrap()
            .into_iter()
            .enumerate()
            .map(|(i, value)| Doc {
                part: format!("document {}", i + 1),
                value,
            })
            .collect();
        let scopes = import(&docs, &BrowserOrigins::new().unwrap(), issues);
        scopes
            .into_iter()
            .map(|s| {
                let hint = if s.cors.policy.is_some() {
                    s.policy_hint
                } else {
                    "-".to_owned()
                };
                (s.host, s.path, hint, s.sample.direct_status)
            })
            .collect()
    }

    fn rule(host: Option<&str>, path: Option<&str>, hint: &str) -> Rule {
        (host.map(str::to_owned), path.map(str::to_owned), hint.to_owned(), None)
    }

    #[test]
    fn ingresses_without_timestamps_are_ordered_by_namespace_and_name_descending_so_the_root_is_the_last_named() {
        let routes = routes();
        assert_eq!(
            routes.iter().rfind(|r| r.0.as_deref() == Some("app.example.com")),
            Some(&rule(Some("app.example.com"), None, "app-b"))
        );
    }

    #[test]
    fn the_catch_all_servers_other_paths_go_to_the_default_backend_without_cors() {
        let routes = routes();
        let catch_all: Vec<_> = routes.iter().filter(|r| r.0.is_none()).collect();
        assert_eq!(
            catch_all,
            [
                &rule(None, Some("/public"), "fallback"),
                &rule(None, Some("/public/**"), "fallback")
            ]
        );
    }

    #[test]
    fn a_path_nginx_redirects_to_its_location_with_a_slash_has_cors_off_and_a_301() {
        let routes = routes();
        let api = routes.iter().find(|r| r.1.as_deref() == Some("/api"));
        assert_eq!(
            api,
            Some(&(
                Some("app.example.com".to_owned()),
                Some("/api".to_owned()),
                "-".to_owned(),
                Some(301)
            ))
        );
        // An Exact path of the same name keeps nginx from redirecting: `/login` is app-a's.
        let login = routes.iter().find(|r| r.1.as_deref() == Some("/login"));
        assert_eq!(login, Some(&rule(Some("app.example.com"), Some("/login"), "app-a")));
    }

    #[test]
    fn a_path_with_a_resource_backend_makes_no_rule_as_it_makes_no_location() {
        assert!(routes()
            .iter()
            .all(|r| !r.1.as_deref().is_some_and(|p| p.starts_with("/static"))));
    }

    /// An Ingress of `host` (none: `host: ""`) with CORS, `annotations` and Prefix `paths`.
    fn ingress(name: &str, host: &str, annotations: &str, paths: &[&str]) -> String {
        let paths: String = paths
            .iter()
            .map(|p| format!("      - {{path: {p}, pathType: Prefix, backend: {{service: {{name: s}}}}}}\n"))
            .collect();
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  annotations:\n    {PREFIX}enable-cors: 'true'\n{annotations}\
             spec:\n  rules:\n  - host: '{host}'\n    http:\n      paths:\n{paths}---\n"
        )
    }

    /// Whether a note's reason says `text`.
    fn noted(issues: &Issues, text: &str) -> bool {
        issues.list.iter().any(|i| i.reason.contains(text))
    }

    #[test]
    fn a_rewrite_target_equal_to_the_path_keeps_the_host_in_prefix_mode_but_not_on_a_prefix_path_then_ended_by_a_slash()
    {
        let root = format!("    {PREFIX}rewrite-target: /\n");
        let yaml = ingress("a", "app.example.com", &root, &["/"]) + &ingress("b", "app.example.com", "", &["/api"]);
        let rules = imported(&yaml, &mut Issues::default());
        assert!(
            rules.contains(&rule(Some("app.example.com"), Some("/api"), "b")),
            "{rules:?}"
        );
        let v1 = format!("    {PREFIX}rewrite-target: /v1\n");
        let rules = imported(&ingress("a", "app.example.com", &v1, &["/v1"]), &mut Issues::default());
        assert!(
            rules.contains(&rule(Some("app.example.com"), Some("/[vV]1*"), "a")),
            "{rules:?}"
        );
    }

    #[test]
    fn in_regex_mode_an_ingress_root_path_is_the_hosts_root_and_no_other_is_added() {
        let regex = format!("    {PREFIX}use-regex: 'true'\n");
        let rules = imported(
            &ingress("a", "app.example.com", &regex, &["/", "/api"]),
            &mut Issues::default(),
        );
        assert_eq!(rules.iter().filter(|r| r.1.is_none()).count(), 1, "{rules:?}");
    }

    #[test]
    fn a_blank_host_is_the_catch_all_server_and_a_tie_that_decides_an_owner_is_noted() {
        let mut issues = Issues::default();
        let yaml = ingress("a", "", "", &["/x"]) + &ingress("b", "", "", &["/x"]);
        let rules = imported(&yaml, &mut issues);
        assert!(rules.contains(&rule(None, Some("/x"), "b")), "{rules:?}");
        assert!(noted(&issues, "default/b's, not default/a's"));
    }

    #[test]
    fn an_ingress_with_only_a_default_backend_gives_the_catch_all_its_cors_and_a_host_without_cors_none() {
        let fallback = format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: fallback\n  annotations:\n    \
             {PREFIX}enable-cors: 'true'\nspec:\n  defaultBackend: {{service: {{name: s}}}}\n---\n"
        );
        let plain = ingress("plain", "plain.example.com", "", &["/x"]).replace("'true'", "'false'");
        let rules = imported(&(fallback + &plain), &mut Issues::default());
        assert!(rules.contains(&rule(None, None, "fallback")), "{rules:?}");
        assert!(rules.contains(&rule(Some("plain.example.com"), None, "-")), "{rules:?}");
        assert!(
            rules.contains(&(None, Some("/healthz*".to_owned()), "-".to_owned(), Some(200))),
            "{rules:?}"
        );
    }

    #[test]
    fn regex_locations_go_in_the_controllers_order_longest_written_path_first_not_by_their_converted_prefix() {
        let regex = format!("    {PREFIX}use-regex: 'true'\n");
        let yaml =
            ingress("a", "app.example.com", &regex, &["/api.*"]) + &ingress("b", "app.example.com", "", &["/api"]);
        let rules = imported(&yaml, &mut Issues::default());
        assert_eq!(
            rules.first(),
            Some(&rule(Some("app.example.com"), Some("/[aA][pP][iI]*"), "a"))
        );
    }

    #[test]
    fn prefix_paths_p_and_p_slash_are_noted_as_one_nginx_location_nginx_refuses() {
        let mut issues = Issues::default();
        imported(&ingress("a", "app.example.com", "", &["/api", "/api/"]), &mut issues);
        assert!(noted(&issues, "both make nginx's `location /api/`"));
    }

    #[test]
    fn server_alias_and_app_root_are_noted_as_not_modelled() {
        let mut issues = Issues::default();
        let both = format!("    {PREFIX}server-alias: www.example.com\n    {PREFIX}app-root: /app\n");
        imported(&ingress("a", "app.example.com", &both, &["/"]), &mut issues);
        for name in ["server-alias", "app-root"] {
            assert!(issues.list.iter().any(|i| i.path.ends_with(name)), "{name}");
        }
    }

    /// tests/fixtures/ingress-nginx-origins.json, which
    /// tests/e2e/test_nginx_model.py checks against a real nginx.
    const ORIGINS: &str = include_str!("../../../../tests/fixtures/ingress-nginx-origins.json");

    #[derive(Deserialize)]
    struct Table {
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        entries: Vec<String>,
        origin: String,
        allowed: bool,
    }

    #[test]
    fn the_model_allows_what_nginx_allows_unanchored_start_included_and_echoes_the_origin_as_sent() {
        let table: Table = serde_json::from_str(ORIGINS).unwrap();
        let browser = BrowserOrigins::new().unwrap();
        for case in table.cases {
            let mut meta = ObjectMeta::default();
            for (name, value) in [("enable-cors", "true"), ("cors-allow-origin", &case.entries.join(", "))] {
                meta.annotations.insert(format!("{PREFIX}{name}"), value.to_owned());
            }
            let cors = cors(&meta, "", &browser, &mut Issues::default()).unwrap();
            let Some(SourceCors::Nginx(model)) = cors.source else {
                panic!("no model for {:?}", case.entries)
            };
            let request = Request {
                method: "GET".to_owned(),
                authority: String::new(),
                path: String::new(),
                route_name: None,
                headers: vec![("origin".to_owned(), case.origin.clone())],
            };
            let response = model.respond(&request, &Response::local(200));
            let echoed = response
                .headers
                .contains(&("access-control-allow-origin".to_owned(), case.origin.clone()));
            assert_eq!(echoed, case.allowed, "{:?} from {}", case.entries, case.origin);
        }
    }
}
