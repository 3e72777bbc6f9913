//! `cors-policy import FILE...`: the CORS policies of Envoy's built-in filter,
//! Istio VirtualServices or Gateway API HTTPRoutes, as one routed policy of
//! this filter that reproduces where each applied, printed on stdout.
//!
//! What cannot be converted exactly stops the import (exit status 1) with the
//! file, the path in it and the reason; `--lossy` writes the nearest rule or
//! entry instead, with a warning. Then every request of a matrix generated
//! from each imported policy goes through a model of the source
//! ([`model`]) and through this filter (`simulation::simulate`); each
//! difference is classified by the ids of docs/differences.md, and the ones a
//! browser would notice (by the Fetch model of the `fetch-model` crate) are
//! listed on stderr ([`changes`]).

mod automata;
mod changes;
mod convert;
mod envoy;
mod fields;
mod gateway;
mod istio;
mod model;
mod origins;
mod paths;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use envoy_cors_core::language::Config;
use serde_json::{json, Map, Value};

use super::args::{ImportArgs, SourceFormat};
use super::document::{within, yaml_documents, YamlError};
use super::{fail, OK, PROBLEMS};
use automata::BrowserOrigins;
use model::SourceCors;

/// How serious an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing; the conversion is exact.
    Note,
    /// No exact conversion; `--lossy` writes the nearest one.
    Lossy,
    /// Cannot be converted at all.
    Fatal,
}

/// One thing the importer has to say about a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// How serious.
    pub severity: Severity,
    /// The path in the file (`spec.http[0].corsPolicy`).
    pub path: String,
    /// What and why.
    pub reason: String,
}

/// The issues of one import.
#[derive(Debug, Default)]
pub struct Issues {
    list: Vec<Issue>,
}

impl Issues {
    fn push(&mut self, severity: Severity, path: &str, reason: String) {
        let issue = Issue {
            severity,
            path: path.to_owned(),
            reason,
        };
        if !self.list.contains(&issue) {
            self.list.push(issue);
        }
    }

    /// Something worth knowing.
    pub fn note(&mut self, path: &str, reason: String) {
        self.push(Severity::Note, path, reason);
    }

    /// No exact conversion.
    pub fn lossy(&mut self, path: &str, reason: String) {
        self.push(Severity::Lossy, path, reason);
    }

    /// No conversion.
    pub fn fatal(&mut self, path: &str, reason: String) {
        self.push(Severity::Fatal, path, reason);
    }
}

/// A request that lands in a scope in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// `:authority`.
    pub authority: String,
    /// `:path`.
    pub path: String,
    /// Envoy's route name.
    pub route_name: Option<String>,
    /// The route answers itself with this status (`direct_response`, `redirect`).
    pub direct_status: Option<u32>,
    /// Request headers the source's route also matches on (so the sample selects it).
    pub headers: Vec<(String, String)>,
}

impl Sample {
    /// A request to `host` (a name it covers, for a wildcard) and `path`,
    /// with nothing else a route could match on.
    pub fn new(host: &str, path: String) -> Self {
        Self {
            authority: paths::sample_host(host),
            path,
            route_name: None,
            direct_status: None,
            headers: Vec::new(),
        }
    }
}

/// One rule of the output, with the source's behaviour there.
#[derive(Debug, Clone)]
pub struct Scope {
    /// `match.route_name`.
    pub route_name: Option<String>,
    /// `match.host`.
    pub host: Option<String>,
    /// `match.path`.
    pub path: Option<String>,
    /// The policy (a `PolicySpec` as JSON), or `None` for CORS off.
    pub policy: Option<Value>,
    /// A name for the policy, from the source.
    pub policy_hint: String,
    /// The source's CORS there (`None`: none).
    pub source: Option<SourceCors>,
    /// A request that lands here.
    pub sample: Sample,
    /// Where in the file.
    pub at: String,
}

/// What a reader found.
#[derive(Debug, Default)]
pub struct Imported {
    /// The rules, in the order the source tries them.
    pub scopes: Vec<Scope>,
}

/// The routed policy built from the scopes.
#[derive(Debug)]
struct Output {
    policy: Value,
    /// The policy name of each scope.
    names: Vec<Option<String>>,
}

/// Runs `cors-policy import`.
pub fn run(args: &ImportArgs) -> ExitCode {
    let mut docs: Vec<(PathBuf, String, Value)> = Vec::new();
    for file in &args.files {
        match documents(file) {
            Ok(found) => docs.extend(found.into_iter().map(|(p, d)| (file.clone(), p, d))),
            Err(Failure::Usage(message)) => return fail(&message),
            Err(Failure::Content(message)) => {
                eprintln!("cors-policy: {}: {message}", file.display());
                return ExitCode::from(PROBLEMS);
            }
        }
    }
    let format = match args.format.map_or_else(|| detect(&docs), |format| Ok(Some(format))) {
        Ok(Some(format)) => format,
        Err(kinds) => {
            return fail(&format!(
                "the files hold {}: say which to import with --format envoy|istio|gateway-api",
                kinds.join(" and ")
            ))
        }
        Ok(None) => {
            let names: Vec<String> = args.files.iter().map(|f| f.display().to_string()).collect();
            eprintln!(
                "cors-policy: {}: no Envoy configuration, Istio VirtualService or Gateway API HTTPRoute found",
                names.join(", ")
            );
            return ExitCode::from(PROBLEMS);
        }
    };
    let browser = match BrowserOrigins::new() {
        Ok(b) => b,
        Err(e) => return fail(&format!("internal error: {e}")),
    };
    let mut issues = Issues::default();
    let located: Vec<(String, Value)> = docs
        .iter()
        .filter(|(_, _, d)| kind_of(d) == Some(format))
        .map(|(file, prefix, d)| (located_prefix(file, prefix, args.files.len() > 1), d.clone()))
        .collect();
    let imported = match format {
        SourceFormat::Envoy => envoy::import(&located, args.route_config.as_deref(), &browser, &mut issues),
        SourceFormat::Istio => istio::import(&located, &browser, &mut issues),
        SourceFormat::GatewayApi => gateway::import(&located, &mut issues),
    };
    let label = args.files.first().map(|f| f.display().to_string()).unwrap_or_default();
    let worst = issues.list.iter().map(|i| i.severity).max();
    for issue in &issues.list {
        let kind = match issue.severity {
            Severity::Note => "note",
            Severity::Lossy if args.lossy => "warning",
            Severity::Lossy | Severity::Fatal => "error",
        };
        let at = if issue.path.is_empty() {
            String::new()
        } else {
            format!("{}: ", issue.path)
        };
        eprintln!("cors-policy: {label}: {kind}: {at}{}", issue.reason);
    }
    if worst == Some(Severity::Fatal) || (worst == Some(Severity::Lossy) && !args.lossy) {
        if worst == Some(Severity::Lossy) {
            eprintln!(
                "cors-policy: nothing imported: the errors above have no exact equivalent (--lossy writes the nearest)"
            );
        }
        return ExitCode::from(PROBLEMS);
    }
    if imported.scopes.is_empty() {
        eprintln!("cors-policy: {label}: no CORS policy found");
        return ExitCode::from(PROBLEMS);
    }
    let output = assemble(&imported.scopes);
    if output
        .policy
        .get("policies")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty)
    {
        eprintln!("cors-policy: {label}: every route has CORS off: there is no policy to import");
        return ExitCode::from(PROBLEMS);
    }
    let text = match serde_json::to_string_pretty(&output.policy) {
        Ok(text) => text,
        Err(e) => return fail(&format!("internal error: {e}")),
    };
    let config = match Config::parse(text.as_bytes()) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("cors-policy: internal error: the imported policy does not pass check:");
            for e in errors {
                eprintln!("  {e}");
            }
            return ExitCode::from(PROBLEMS);
        }
    };
    let report = changes::compute(&imported.scopes, &output.names, &config);
    report.print(format);
    if let Some(path) = &args.matrix {
        if let Err(e) = std::fs::write(path, report.to_json(format).to_string()) {
            return fail(&format!("{}: {e}", path.display()));
        }
    }
    if report.unexplained_noticed() > 0 && !args.lossy {
        eprintln!(
            "cors-policy: nothing imported: {} requests would change in a way docs/differences.md does not explain \
             (listed above as `unexplained`); --lossy accepts them",
            report.unexplained_noticed()
        );
        return ExitCode::from(PROBLEMS);
    }
    println!("{text}");
    ExitCode::from(OK)
}

/// Where a document sits, for messages: the file when several are read, and
/// `document N` in a multi-document file.
fn located_prefix(file: &std::path::Path, prefix: &str, many_files: bool) -> String {
    if many_files {
        within(&file.display().to_string(), prefix)
    } else {
        prefix.to_owned()
    }
}

/// Why a file cannot be read.
enum Failure {
    Usage(String),
    Content(String),
}

/// The documents of a file (`document N` prefixes when there are several).
fn documents(path: &std::path::Path) -> Result<Vec<(String, Value)>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    if text.trim_start().starts_with('{') {
        let doc = serde_json::from_str(&text).map_err(|e| Failure::Content(format!("invalid JSON: {e}")))?;
        return Ok(vec![(String::new(), doc)]);
    }
    let docs = yaml_documents(&text).map_err(|e| {
        Failure::Content(match e {
            YamlError::Invalid(e) => format!("invalid YAML: {e}"),
            YamlError::NotJson(e) => format!("YAML without a JSON equivalent: {e}"),
        })
    })?;
    let many = docs.len() > 1;
    Ok(docs
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            (
                if many {
                    format!("document {}", i + 1)
                } else {
                    String::new()
                },
                d,
            )
        })
        .collect())
}

/// The source a document belongs to.
fn kind_of(doc: &Value) -> Option<SourceFormat> {
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    match doc.get("kind").and_then(Value::as_str) {
        Some("VirtualService") if api.starts_with("networking.istio.io/") => Some(SourceFormat::Istio),
        Some("HTTPRoute") if api.starts_with("gateway.networking.k8s.io/") => Some(SourceFormat::GatewayApi),
        Some(_) => None,
        None if envoy::detect(doc) => Some(SourceFormat::Envoy),
        None => None,
    }
}

/// The one source the documents hold, or the names of several.
fn detect(docs: &[(PathBuf, String, Value)]) -> Result<Option<SourceFormat>, Vec<&'static str>> {
    let mut kinds: Vec<SourceFormat> = docs.iter().filter_map(|(_, _, d)| kind_of(d)).collect();
    kinds.sort_by_key(|k| *k as u8);
    kinds.dedup();
    match kinds.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(many.iter().map(|k| k.describe()).collect()),
    }
}

/// A policy name usable in metric names: `[A-Za-z0-9_-]{1,64}`, at most 56
/// characters here so that `assemble` can add a `-N` to tell two apart.
fn policy_name(hint: &str) -> String {
    let mut name: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(56)
        .collect();
    if name.is_empty() {
        name.push_str("policy");
    }
    name
}

/// The routed policy: one policy per distinct spec, one rule per scope;
/// a last rule that matches everything becomes the default.
fn assemble(scopes: &[Scope]) -> Output {
    let mut policies: BTreeMap<String, Value> = BTreeMap::new();
    let mut names = Vec::with_capacity(scopes.len());
    let mut routes: Vec<Value> = Vec::new();
    for scope in scopes {
        let name = scope.policy.as_ref().map(|spec| {
            if let Some((name, _)) = policies.iter().find(|(_, v)| *v == spec) {
                return name.clone();
            }
            let base = policy_name(&scope.policy_hint);
            let mut name = base.clone();
            let mut n = 2;
            while policies.contains_key(&name) {
                name = format!("{base}-{n}");
                n += 1;
            }
            policies.insert(name.clone(), spec.clone());
            name
        });
        names.push(name.clone());
        let mut matcher = Map::new();
        if let Some(r) = &scope.route_name {
            matcher.insert("route_name".into(), json!(r));
        }
        if let Some(h) = &scope.host {
            matcher.insert("host".into(), json!(h));
        }
        if let Some(p) = &scope.path {
            matcher.insert("path".into(), json!(p));
        }
        let rule = json!({ "match": matcher, "policy": name });
        if !routes.contains(&rule) {
            routes.push(rule);
        }
    }
    // Rules after one that matches everything are never tried.
    if let Some(all) = routes
        .iter()
        .position(|r| r.get("match").and_then(Value::as_object).is_some_and(Map::is_empty))
    {
        routes.truncate(all + 1);
    }
    let mut default = None;
    if routes
        .last()
        .is_some_and(|r| r.get("match").and_then(Value::as_object).is_some_and(Map::is_empty))
    {
        default = routes
            .pop()
            .and_then(|r| r.get("policy").and_then(Value::as_str).map(str::to_owned));
    }
    if default.is_none() {
        while routes
            .last()
            .is_some_and(|r| r.get("policy").is_some_and(Value::is_null))
        {
            routes.pop();
        }
    }
    let mut out = Map::new();
    out.insert("policies".into(), json!(policies));
    out.insert("routes".into(), json!(routes));
    if let Some(d) = default {
        out.insert("default".into(), json!(d));
    }
    Output {
        policy: Value::Object(out),
        names,
    }
}
