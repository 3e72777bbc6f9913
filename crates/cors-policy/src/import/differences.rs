//! Why two answers to one request differ, field by field, named by the rows
//! of docs/differences.md: one table ([`DIFFERENCES`]) serves the importer's
//! change summary and the end-to-end tests, which send Envoy's real answers
//! through `cors-policy differences` (a hidden subcommand: JSON in, JSON out)
//! instead of repeating these rules.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use envoy_cors_core::origin::Origin;
use itertools::Itertools;
use serde::Deserialize;
use serde_json::json;

use super::convert::BROWSER_MAX_AGE;
use super::fields::comma_list;
use super::model::{Request, Response};
use crate::{fail, OK};

/// A difference no row of docs/differences.md explains.
pub const UNEXPLAINED: &str = "unexplained";

/// An outcome change no row explains, where `--lossy` wrote the nearest
/// policy (the row of docs/differences.md for what `--lossy` changes).
pub const LOSSY: &str = "lossy";

/// A response as compared: the status, `Access-Control-*` and `Vary`, with
/// spelling and order normalised (names lowercased, repeated lines joined,
/// list headers as sorted, unique tokens: methods keep their case, since
/// they compare case-sensitively; an empty list is absent, as Fetch reads it).
pub type Fields = BTreeMap<String, String>;

const LIST_HEADERS: [&str; 4] = [
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "vary",
];
const PREFLIGHT_VARY: [&str; 4] = [
    "origin",
    "access-control-request-method",
    "access-control-request-headers",
    "access-control-request-private-network",
];
const ACAO: &str = "access-control-allow-origin";

/// A response's fields.
pub fn normalise(r: &Response) -> Fields {
    let mut out = BTreeMap::new();
    out.insert("status".to_owned(), r.status.to_string());
    let grouped = r
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .filter(|(name, _)| name.starts_with("access-control-") || name == "vary")
        .into_group_map();
    for (name, values) in grouped {
        if LIST_HEADERS.contains(&name.as_str()) {
            let methods = name == "access-control-allow-methods";
            let tokens: BTreeSet<String> = values
                .iter()
                .flat_map(|v| comma_list(v))
                .map(|t| if methods { t.to_owned() } else { t.to_ascii_lowercase() })
                .collect();
            if !tokens.is_empty() {
                out.insert(name, tokens.iter().join(","));
            }
        } else {
            out.insert(name, values.join(", "));
        }
    }
    out
}

/// What the rules read about a request.
pub struct Facts<'a> {
    /// A CORS preflight: `OPTIONS` with `Origin` and a non-empty `Access-Control-Request-Method`.
    pub preflight: bool,
    /// Any `OPTIONS`.
    pub options: bool,
    /// `Origin`.
    pub origin: Option<&'a str>,
    /// This filter's policy there allows any origin (`*`).
    pub ours_any: bool,
    /// The upstream's own fields.
    pub upstream: Fields,
}

impl<'a> Facts<'a> {
    /// The facts of a request, this filter's policy and the upstream's answer.
    pub fn new(request: &'a Request, ours_any: bool, upstream: &Response) -> Self {
        let origin = request.header("origin");
        Self {
            preflight: request.is_preflight() && origin.is_some(),
            options: request.method == "OPTIONS",
            origin,
            ours_any,
            upstream: normalise(upstream),
        }
    }

    /// The source granted this origin itself: it echoed it, or answered
    /// `*` of its own (not the upstream's `*` passed through).
    fn granted(&self, source: &Fields) -> bool {
        let acao = source.get(ACAO);
        let own = acao != self.upstream.get(ACAO) || source.get("status") != self.upstream.get("status");
        acao.is_some() && (acao.map(String::as_str) == self.origin || (acao.is_some_and(|a| a == "*") && own))
    }
}

/// When a row explains why `field` differs between the source's answer and ours.
type Applies = fn(&Facts<'_>, &str, &Fields, &Fields) -> bool;

fn status(m: &Fields) -> &str {
    m.get("status").map_or("", String::as_str)
}

/// The tokens of a list field (none when absent).
fn tokens(m: &Fields, field: &str) -> BTreeSet<String> {
    m.get(field)
        .map(|v| comma_list(v).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The rows of docs/differences.md that requests can show, each with when it
/// applies, tried in order: the first that applies names the difference. The
/// built-in filter's rows come first, in the order of its table.
pub const DIFFERENCES: [(&str, Applies); 13] = [
    ("non-canonical-origin", |f, _, source, ours| {
        f.origin
            .is_some_and(|o| o != "null" && Origin::parse(o.as_bytes()).is_err())
            && source.get(ACAO).map(String::as_str) == f.origin
            && !ours.contains_key(ACAO)
    }),
    // The source did not grant the origin, so it forwarded the preflight.
    ("refused-preflight-answered-locally", |f, _, source, ours| {
        f.preflight && status(ours) == "403" && !f.granted(source)
    }),
    // The filter checks the requested method and headers. A preflight from an
    // allowed origin is answered with the policy's lists, without what was
    // refused, where the source's `*` echoes `authorization` too (Fetch never
    // lets `*` cover it); a 403 where the source grants is the same check.
    ("preflight-checks-method-and-headers", |f, field, source, ours| {
        if !f.preflight {
            return false;
        }
        if status(ours) == "403" {
            return matches!(status(source), "200" | "204") && f.granted(source);
        }
        let (theirs, have) = (tokens(source, field), tokens(ours, field));
        field == "access-control-allow-headers"
            && ours.contains_key("access-control-allow-origin")
            && have.is_subset(&theirs)
            && theirs.difference(&have).eq(["authorization".to_owned()].iter())
    }),
    ("preflight-status-204", |f, field, source, ours| {
        field == "status" && f.preflight && status(source) == "200" && status(ours) == "204"
    }),
    ("preflight-expose-headers", |f, field, source, ours| {
        field == "access-control-expose-headers" && f.preflight && !ours.contains_key(field) && f.granted(source)
    }),
    ("vary-origin", |_, field, source, ours| {
        let (have, theirs) = (tokens(ours, "vary"), tokens(source, "vary"));
        let added: Vec<&String> = have.difference(&theirs).collect();
        field == "vary"
            && theirs.is_subset(&have)
            && !added.is_empty()
            && added.iter().all(|a| PREFLIGHT_VARY.contains(&a.as_str()))
    }),
    ("any-origin-star", |f, field, source, ours| {
        field == ACAO
            && f.ours_any
            && f.origin.is_some()
            && ours.get(ACAO).map(String::as_str) == Some("*")
            && source.get(ACAO).map(String::as_str) == f.origin
    }),
    // The any-origin answer (`*` and the exposed headers) goes on every
    // response, replacing whatever the upstream sent.
    ("any-origin-without-origin", |f, field, source, ours| {
        (field == ACAO || field == "access-control-expose-headers")
            && f.ours_any
            && f.origin.is_none()
            && ours.get(ACAO).map(String::as_str) == Some("*")
            && ours.contains_key(field)
            && (source.get(field).is_none() || source.get(field) == f.upstream.get(field))
    }),
    ("upstream-cors-stripped", |f, field, source, ours| {
        field.starts_with("access-control-")
            && !ours.contains_key(field)
            && source.get(field).is_some()
            && source.get(field) == f.upstream.get(field)
    }),
    // ingress-nginx answers every `OPTIONS` of a CORS location itself (`204`).
    ("every-options-is-a-preflight", |f, _, source, _| {
        f.options && !f.preflight && status(source) == "204"
    }),
    // `-Allow-Credentials: true` next to `-Allow-Origin: *`, which a browser
    // refuses for a credentialed request and ignores otherwise.
    ("credentials-with-star", |_, field, source, ours| {
        field == "access-control-allow-credentials"
            && !ours.contains_key(field)
            && source.get(ACAO).map(String::as_str) == Some("*")
    }),
    // A preflight's headers on an actual response, where no browser reads them
    // (this filter leaves the upstream's).
    ("preflight-headers-on-actual-responses", |f, field, _, ours| {
        let preflight_only = [
            "access-control-allow-methods",
            "access-control-allow-headers",
            "access-control-max-age",
        ];
        !f.preflight
            && preflight_only.contains(&field)
            && (!ours.contains_key(field) || ours.get(field) == f.upstream.get(field))
    }),
    // A value the importer dropped or capped, saying so: a name no page can
    // set, a max-age over the browsers' cap. Our list is part of the source's.
    ("dropped-with-a-note", |_, field, source, ours| {
        let age = |m: &Fields| m.get(field).and_then(|v| v.parse::<i64>().ok());
        match field {
            "access-control-max-age" => {
                age(ours) == Some(BROWSER_MAX_AGE) && age(source).is_some_and(|a| a > BROWSER_MAX_AGE)
            }
            "access-control-allow-methods" | "access-control-allow-headers" | "access-control-expose-headers" => {
                ours.contains_key(field) && tokens(ours, field).is_subset(&tokens(source, field))
            }
            _ => false,
        }
    }),
];

/// Reports whether a browser reads `field` on this kind of response (the
/// rest cannot change what a page can do).
pub fn read_by_browser(preflight: bool, field: &str) -> bool {
    match field {
        "status" | ACAO | "access-control-allow-credentials" => true,
        "access-control-expose-headers" => !preflight,
        "vary" => false,
        _ => preflight,
    }
}

/// Every differing field with the row that explains it (or [`UNEXPLAINED`]).
pub fn explain(f: &Facts<'_>, source: &Fields, ours: &Fields) -> BTreeMap<String, &'static str> {
    let fields: BTreeSet<&String> = source.keys().chain(ours.keys()).collect();
    fields
        .into_iter()
        .filter(|field| source.get(*field) != ours.get(*field))
        .map(|field| {
            let id = DIFFERENCES
                .iter()
                .find(|(_, applies)| applies(f, field, source, ours))
                .map_or(UNEXPLAINED, |(id, _)| *id);
            (field.clone(), id)
        })
        .collect()
}

/// One pair of answers to explain: the request (its method and headers),
/// whether this filter's policy allows any origin, the upstream's answer,
/// and both answers.
#[derive(Debug, Deserialize)]
struct Pair {
    #[serde(flatten)]
    request: Request,
    #[serde(default)]
    any_origin: bool,
    #[serde(default)]
    upstream: Vec<(String, String)>,
    #[serde(default = "ok")]
    upstream_status: u32,
    source: Response,
    ours: Response,
}

/// An upstream's status when the pair does not say.
fn ok() -> u32 {
    200
}

/// `cors-policy differences`: reads `[{method, headers, any_origin, upstream,
/// upstream_status, source: {status, headers}, ours: {...}}, ...]` on stdin, and writes
/// `{"ids": [...], "cases": [{field: id}, ...]}`.
pub fn run() -> ExitCode {
    let pairs: Vec<Pair> = match serde_json::from_reader(std::io::stdin().lock()) {
        Ok(pairs) => pairs,
        Err(e) => return fail(&format!("stdin: {e}")),
    };
    let cases: Vec<BTreeMap<String, &str>> = pairs
        .into_iter()
        .map(|p| {
            let upstream = Response {
                status: p.upstream_status,
                headers: p.upstream,
                reached_upstream: true,
            };
            let facts = Facts::new(&p.request, p.any_origin, &upstream);
            explain(&facts, &normalise(&p.source), &normalise(&p.ours))
        })
        .collect();
    let ids: Vec<&str> = DIFFERENCES.iter().map(|(id, _)| *id).collect();
    println!("{}", json!({ "ids": ids, "cases": cases }));
    ExitCode::from(OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_is_a_row_of_docs_differences_in_order() {
        let doc = include_str!("../../../../docs/differences.md");
        let rows: Vec<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| `").and_then(|l| l.split('`').next()))
            .collect();
        let ids: Vec<&str> = DIFFERENCES.iter().map(|(id, _)| *id).collect();
        let known: Vec<&str> = rows.iter().copied().filter(|r| ids.contains(r)).collect();
        assert_eq!(known, ids);
    }
}
