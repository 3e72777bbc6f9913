//! Envoy Gateway: `SecurityPolicy` `spec.cors`, on the HTTPRoutes of the same
//! files, as Envoy Gateway translates it (envoyproxy/gateway at
//! d32f28294245, after v1.9.0):
//!
//! - Precedence (`internal/gatewayapi/securitypolicy.go`, "A Policy
//!   targeting the most specific scope wins"): a policy on a route rule
//!   (`sectionName`) beats one on the route, which beats one on a Gateway
//!   listener, which beats one on the Gateway; the winner replaces the others
//!   whole, so a more specific policy without `cors` turns CORS off; among
//!   policies on one level the oldest wins. A rule's own `CORS` filter beats
//!   every SecurityPolicy (`internal/xds/translator/cors.go`), and is read as
//!   the Gateway API specifies it ([`super::gateway`]).
//! - `buildCORS` makes a `CorsPolicy` of Envoy's built-in filter
//!   (`forward_not_matching_preflights: false`), so the source model is
//!   Envoy's: an origin with a `*` becomes a `safe_regex`, `regexp.QuoteMeta`
//!   of it with each `\*` replaced by `.*` (`wildcard2regex`). A reviewer
//!   there noted that metacharacters were not escaped: in every release the
//!   dots were (before v1.9.0 by `strings.ReplaceAll(".", "\\.")`, when the
//!   CRD's pattern allowed no other metacharacter in an origin), so
//!   `https://*.example.com` is `https://.*\.example\.com`, never
//!   `https://a.exampleXcom`. What the conversion must take from the regex is
//!   that `.*` spans labels: it is this filter's `https://*.example.com`
//!   exactly (one or more labels), which the automata prove
//!   ([`super::origins`]); `https://*` spans every host and port of the
//!   scheme, which no entry here allows; `*` is every origin, echoed.
//! - `*` in `allowMethods` or `allowHeaders` is Envoy's `*`, which echoes
//!   what the preflight asks for; `maxAge` is a Go duration, truncated to
//!   whole seconds.

use std::collections::BTreeMap;

use regex_syntax::escape;
use serde::Deserialize;
use serde_json::Value;

use super::automata::BrowserOrigins;
use super::convert;
use super::fields::Object;
use super::gateway::{self, Found, HttpRoute};
use super::istio::max_age;
use super::model::EnvoyCors;
use super::origins::StringMatch;
use super::{objects, Cors, Doc, Issues, Scope};
use crate::args::SourceFormat;
use crate::document::within;

/// A `SecurityPolicy`.
type SecurityPolicy = Object<Spec>;

/// Its `spec`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    target_ref: Option<TargetRef>,
    target_refs: Vec<TargetRef>,
    target_selectors: Vec<TargetSelector>,
    cors: Option<CorsSpec>,
    merge_type: Option<String>,
}

/// A `LocalPolicyTargetReferenceWithSectionName`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct TargetRef {
    kind: String,
    name: String,
    section_name: Option<String>,
}

/// A `TargetSelector`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct TargetSelector {
    kind: String,
    match_labels: BTreeMap<String, String>,
    match_expressions: Vec<Value>,
}

/// `spec.cors`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CorsSpec {
    allow_origins: Vec<String>,
    allow_methods: Vec<String>,
    allow_headers: Vec<String>,
    expose_headers: Vec<String>,
    max_age: Option<String>,
    allow_credentials: Option<bool>,
}

/// A policy, where it is, and what its CORS converts to (`None`: no `cors`).
struct Read<'a> {
    part: &'a str,
    policy: SecurityPolicy,
    cors: Option<Cors>,
}

/// The levels of a policy's targets, most specific first.
const RULE: u8 = 0;
const ROUTE: u8 = 1;
const LISTENER: u8 = 2;
const GATEWAY: u8 = 3;

/// Imports every SecurityPolicy with the HTTPRoutes it targets.
pub fn import(docs: &[Doc], browser: &BrowserOrigins, issues: &mut Issues) -> Vec<Scope> {
    let mut policies: Vec<Read> = Vec::new();
    let names = convert::camel("Envoy Gateway");
    for (part, policy) in objects::<SecurityPolicy>(docs, SourceFormat::EnvoyGateway, issues) {
        let at = within(part, "spec.cors");
        let cors =
            policy.spec.cors.as_ref().map(|c| {
                issues.converting(|issues| convert::envoy(model(c, &at, issues), &at, &names, browser, issues))
            });
        policies.push(Read { part, policy, cors });
    }
    // Oldest first, then by namespace/name: the order that breaks ties.
    policies.sort_by_key(|p| (p.policy.metadata.creation_timestamp.clone(), p.policy.metadata.key()));
    let routes = objects(docs, SourceFormat::GatewayApi, issues);
    gateway::scopes(&routes, issues, |found, r, issues| {
        gateway::filter_cors(found, r, browser, issues).unwrap_or_else(|| winner(&policies, found, r, issues))
    })
}

/// The CORS of the policy that wins on a rule: lossy when its conversion,
/// its targeting of the rule or its `mergeType` is (not another policy's).
fn winner(policies: &[Read], (part, route): &Found, r: usize, issues: &mut Issues) -> Cors {
    let rule_name = route.spec.rules.get(r).and_then(|rule| rule.name.as_deref());
    let at = within(part, &format!("spec.rules[{r}]"));
    let found = policies
        .iter()
        .filter_map(
            |p| match issues.raising(|issues| level(p, route, rule_name, &at, issues)) {
                (Some(l), targeting) => Some((l, targeting, p)),
                (None, _) => None,
            },
        )
        .min_by_key(|(l, ..)| *l);
    let Some((_, targeting, read)) = found else {
        return Cors::default();
    };
    let merged = read.policy.spec.merge_type.is_some();
    if merged {
        issues.lossy(
            &within(read.part, "spec.mergeType"),
            "merges into the policy of the route's Gateway, which this tool does not do; --lossy takes this policy alone",
        );
    }
    let cors = read.cors.clone().unwrap_or_default();
    Cors {
        lossy: cors.lossy || targeting || merged,
        ..cors
    }
}

/// The most specific level at which a policy targets a route's rule.
fn level(read: &Read, route: &HttpRoute, rule: Option<&str>, at: &str, issues: &mut Issues) -> Option<u8> {
    let spec = &read.policy.spec;
    // A policy targets what is in its own namespace only.
    if read.policy.metadata.namespace != route.metadata.namespace {
        return None;
    }
    let mut levels = Vec::new();
    for target in spec.target_ref.iter().chain(&spec.target_refs) {
        match target.kind.as_str() {
            "HTTPRoute" if target.name == route.metadata.name => match &target.section_name {
                None => levels.push(ROUTE),
                Some(section) if Some(section.as_str()) == rule => levels.push(RULE),
                Some(_) => {}
            },
            "Gateway" => {
                for parent in route.spec.parent_refs.iter().filter(|p| p.name == target.name) {
                    match (&target.section_name, &parent.section_name) {
                        (None, _) => levels.push(GATEWAY),
                        (Some(l), Some(p)) if l == p => levels.push(LISTENER),
                        (Some(_), Some(_)) => {}
                        (Some(l), None) => {
                            issues.lossy(
                                at,
                                format!(
                                    "a SecurityPolicy applies on listener {l:?} of Gateway {:?}, and the route is \
                                     served on all its listeners; --lossy applies it on every listener",
                                    target.name
                                ),
                            );
                            levels.push(LISTENER);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for selector in &spec.target_selectors {
        let labels = &route.metadata.labels;
        if selector.kind != "HTTPRoute" || !selector.match_expressions.is_empty() {
            issues.lossy(
                &within(read.part, "spec.targetSelectors"),
                "selects Gateways or by expressions, which this tool does not resolve; --lossy ignores the selector",
            );
        } else if selector.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            levels.push(ROUTE);
        }
    }
    levels.into_iter().min()
}

/// The CorsPolicy Envoy Gateway writes for `spec.cors` (`buildCORS`, `patchRoute`).
fn model(c: &CorsSpec, at: &str, issues: &mut Issues) -> EnvoyCors {
    let origins = c
        .allow_origins
        .iter()
        .map(|o| match o.contains('*') {
            true => {
                let regex = escape(o).replace(r"\*", ".*");
                StringMatch::written_as(&regex, false, format!("{o:?} (Envoy Gateway's regex {regex:?})"))
            }
            false => StringMatch::exact(o),
        })
        .collect();
    let list = |items: &[String]| match items.iter().any(|i| i == "*") {
        true => "*".to_owned(),
        false => items.join(", "),
    };
    let max_age = max_age(c.max_age.as_deref()).unwrap_or_else(|d| {
        let reason = format!("{d:?} is not a duration: Envoy Gateway leaves it out");
        issues.note(&format!("{at}.maxAge"), reason);
        String::new()
    });
    EnvoyCors {
        origins,
        allow_methods: list(&c.allow_methods),
        allow_headers: list(&c.allow_headers),
        expose_headers: c.expose_headers.join(", "),
        max_age,
        allow_credentials: c.allow_credentials.unwrap_or(false),
        // The rest as `buildCORS` leaves it: `forward_not_matching_preflights: false`.
        ..EnvoyCors::default()
    }
}
