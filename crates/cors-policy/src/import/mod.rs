//! `cors-policy import FILE...`: the CORS policies of Envoy's built-in filter,
//! Istio VirtualServices, Gateway API HTTPRoutes, ingress-nginx Ingresses or
//! Envoy Gateway SecurityPolicies, as one routed policy of this filter that
//! reproduces where each applied, printed on stdout.
//!
//! Each source is read into serde types that name its fields (one module
//! each); its CORS settings become a `PolicySpec`, the core's own type,
//! checked by the core's own rules ([`convert`]); the scopes become a
//! `RoutedSpec` ([`output`]). What cannot be converted exactly stops the
//! import (exit status 1) with the file, the path in it and the reason;
//! `--lossy` writes the nearest rule or entry instead, with a warning. Then
//! every request of a matrix generated from each imported policy
//! ([`matrix`]) goes through a model of the source ([`model`]) and through
//! this filter (`simulation::simulate`); each difference is named by a row of
//! docs/differences.md ([`differences`]), and what a browser would notice is
//! summed up on stderr, outcome changes first ([`report`]).

mod automata;
mod convert;
mod differences;
mod envoy;
mod envoy_gateway;
mod fields;
mod gateway;
mod istio;
mod matrix;
mod model;
mod nginx;
mod origins;
mod output;
mod paths;
mod report;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use envoy_cors_core::language::PolicySpec;
use itertools::Itertools;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::args::{ImportArgs, SourceFormat};
use super::document::{within, yaml_documents, YamlError};
use super::{fail, OK, PROBLEMS};
use automata::BrowserOrigins;
pub use differences::run as differences;
use model::SourceCors;
use paths::{host_glob, rule_paths, sample_host, PathMatch};

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
    /// Paths are written in camelCase, but for these keys, which are names:
    /// the document is a protobuf JSON dump (`istioctl`, `egctl`), read with
    /// its field names in snake_case.
    camel: Option<BTreeSet<String>>,
    /// Lossy issues raised so far, repeats included (see [`Issues::converting`]).
    lossy_raised: usize,
}

impl Issues {
    /// Records an issue once.
    pub fn push(&mut self, severity: Severity, path: &str, reason: impl Into<String>) {
        let path = match &self.camel {
            Some(names) => envoy::camel_path(path, names),
            None => path.to_owned(),
        };
        let reason = reason.into();
        self.lossy_raised += usize::from(severity == Severity::Lossy);
        let issue = Issue { severity, path, reason };
        if !self.list.contains(&issue) {
            self.list.push(issue);
        }
    }

    /// Runs a source's CORS conversion; its `Cors` is lossy when the
    /// conversion raised a lossy issue. An issue raised again counts, though
    /// the list holds it once (a virtual host's policy, converted per route).
    pub fn converting(&mut self, convert: impl FnOnce(&mut Self) -> Cors) -> Cors {
        let (mut cors, lossy) = self.raising(convert);
        cors.lossy |= lossy;
        cors
    }

    /// Runs `f`, and says whether it raised a lossy issue.
    pub fn raising<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> (T, bool) {
        let before = self.lossy_raised;
        let out = f(self);
        (out, self.lossy_raised > before)
    }

    /// A field's name as the document spells it (camelCase in a dump).
    pub fn field_name(&self, name: &str) -> String {
        match &self.camel {
            Some(_) => envoy::camel_path(name, &BTreeSet::new()),
            None => name.to_owned(),
        }
    }

    /// Something worth knowing.
    pub fn note(&mut self, path: &str, reason: impl Into<String>) {
        self.push(Severity::Note, path, reason);
    }

    /// No exact conversion.
    pub fn lossy(&mut self, path: &str, reason: impl Into<String>) {
        self.push(Severity::Lossy, path, reason);
    }

    /// No conversion.
    pub fn fatal(&mut self, path: &str, reason: impl Into<String>) {
        self.push(Severity::Fatal, path, reason);
    }
}

/// A request that lands in a scope in the source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    /// `:authority`.
    pub authority: String,
    /// `:path` (the route name is the scope's `route_name`).
    pub path: String,
    /// The route answers itself with this status (`direct_response`, `redirect`).
    pub direct_status: Option<u32>,
    /// Request headers the source's route also matches on (so the sample selects it).
    pub headers: Vec<(String, String)>,
}

/// A source's CORS where a scope applies, and this filter's policy for it.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    /// The policy (`None`: CORS off).
    pub policy: Option<PolicySpec>,
    /// The source's model (`None`: no CORS).
    pub source: Option<SourceCors>,
    /// The policy is the nearest one `--lossy` wrote: what the warnings say
    /// is left out changes requests here.
    pub lossy: bool,
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
    /// The source's CORS there, and the policy.
    pub cors: Cors,
    /// A name for the policy, from the source.
    pub policy_hint: String,
    /// A request that lands here.
    pub sample: Sample,
    /// `--lossy` wrote the nearest rule for the source's match (a condition
    /// ignored, a regex path widened): requests the source sends to other
    /// scopes may land here.
    pub widened: bool,
    /// Where in the file.
    pub at: String,
}

impl Scope {
    /// The scopes of a host (a name or wildcard) and a path match, one per
    /// path glob, each with a request to a name the host covers and a path
    /// the match selects (and nothing else a route could match on).
    pub fn each_glob(
        host: &str,
        path: &PathMatch,
        case_sensitive: bool,
        cors: &Cors,
        hint: &str,
        at: &str,
    ) -> Vec<Self> {
        rule_paths(path.globs(case_sensitive))
            .into_iter()
            .map(|glob| Self {
                route_name: None,
                host: host_glob(host),
                path: glob,
                cors: cors.clone(),
                policy_hint: hint.to_owned(),
                sample: Sample {
                    authority: sample_host(host),
                    path: path.sample(),
                    ..Sample::default()
                },
                widened: false,
                at: at.to_owned(),
            })
            .collect()
    }

    /// The policy allows any origin (`*`).
    pub fn any_origin(&self) -> bool {
        self.cors
            .policy
            .as_ref()
            .is_some_and(|p| p.allow_origins.iter().any(|e| e == "*"))
    }
}

/// A name for the policy of a source's rule: its object's name and the
/// rule's (`unnamed` and its index when it has none).
pub fn policy_hint(object: &str, rule: Option<&str>, unnamed: &str, index: usize) -> String {
    match rule {
        Some(name) => format!("{object}-{name}"),
        None => format!("{object}-{unnamed}{index}"),
    }
}

/// One document of the files: where it is (for messages) and its content.
#[derive(Debug)]
pub struct Doc {
    /// The file when several are read, `document N` in a multi-document file.
    pub part: String,
    /// The document.
    pub value: Value,
}

/// The documents of a source's `kind`, each read into its type `T` with the
/// part it is in; one of the wrong shape is an error, and left out.
pub fn objects<'a, T: DeserializeOwned>(docs: &'a [Doc], kind: SourceFormat, issues: &mut Issues) -> Vec<(&'a str, T)> {
    docs.iter()
        .filter(|d| kind_of(&d.value) == Some(kind))
        .filter_map(|d| fields::typed(&d.value, &d.part, "", issues).map(|object| (d.part.as_str(), object)))
        .collect()
}

/// Runs `cors-policy import`.
pub fn run(args: &ImportArgs) -> ExitCode {
    let docs = match read_all(&args.files) {
        Ok(docs) => docs,
        Err(code) => return code,
    };
    let format = match args.format.map_or_else(|| detect(&docs), |format| Ok(Some(format))) {
        Ok(Some(format)) => format,
        Err(kinds) => {
            return fail(&format!(
                "the files hold {}: say which to import with --format {}",
                kinds.join(" and "),
                SourceFormat::NAMES
            ))
        }
        Ok(None) => {
            return problem(&format!(
                "{}: no Envoy configuration, Istio VirtualService, Gateway API HTTPRoute, Ingress or Envoy Gateway \
                 SecurityPolicy found",
                args.files.iter().map(|f| f.display()).join(", ")
            ))
        }
    };
    let browser = match BrowserOrigins::new() {
        Ok(b) => b,
        Err(e) => return fail(&format!("internal error: {e}")),
    };
    let mut issues = Issues::default();
    let docs: Vec<Doc> = docs.into_iter().filter(|d| reads(format, kind_of(&d.value))).collect();
    let scopes = match format {
        SourceFormat::Envoy => envoy::import(&docs, args.route_config.as_deref(), &browser, &mut issues),
        SourceFormat::Istio => istio::import(&docs, &browser, &mut issues),
        SourceFormat::GatewayApi => gateway::import(&docs, &browser, &mut issues),
        SourceFormat::IngressNginx => nginx::import(&docs, &browser, &mut issues),
        SourceFormat::EnvoyGateway => envoy_gateway::import(&docs, &browser, &mut issues),
    };
    // Each issue's path names its file where there are several.
    let label = match args.files.as_slice() {
        [one] => one.display().to_string(),
        files => format!("{} files", files.len()),
    };
    if !print_issues(&issues, &label, args.lossy) {
        return ExitCode::from(PROBLEMS);
    }
    finish(&scopes, format, &label, args)
}

/// Prints the issues; false when they stop the import.
fn print_issues(issues: &Issues, label: &str, lossy: bool) -> bool {
    for issue in &issues.list {
        let kind = match issue.severity {
            Severity::Note => "note",
            Severity::Lossy if lossy => "warning",
            Severity::Lossy | Severity::Fatal => "error",
        };
        // `path: reason`, or the reason alone where there is no path.
        eprintln!("cors-policy: {label}: {kind}: {}", within(&issue.path, &issue.reason));
    }
    let worst = issues.list.iter().map(|i| i.severity).max();
    if worst == Some(Severity::Lossy) && !lossy {
        eprintln!(
            "cors-policy: nothing imported: the errors above have no exact equivalent (--lossy writes the nearest)"
        );
    }
    !(worst == Some(Severity::Fatal) || (worst == Some(Severity::Lossy) && !lossy))
}

/// Writes the routed policy, checked by the core, after the change summary.
fn finish(scopes: &[Scope], format: SourceFormat, label: &str, args: &ImportArgs) -> ExitCode {
    if scopes.is_empty() {
        return problem(&format!("{label}: no CORS policy found"));
    }
    let output = output::assemble(scopes);
    if output.spec.policies.is_empty() {
        return problem(&format!(
            "{label}: every route has CORS off: there is no policy to import"
        ));
    }
    let (text, config) = match output::check(&output.spec) {
        Ok(checked) => checked,
        Err(errors) => {
            eprintln!("cors-policy: internal error: the imported policy does not pass check:");
            for e in errors {
                eprintln!("  {e}");
            }
            return ExitCode::from(PROBLEMS);
        }
    };
    // Without it (a rule no request meets that the core refuses), each
    // scope's requests are compared with its own source.
    let by_scope = output::by_scope(&output).ok();
    let report = report::compute(scopes, &output.names, &config, by_scope.as_ref());
    report.print(format);
    if let Some(path) = &args.matrix {
        if let Err(e) = std::fs::write(path, report.to_json(format).to_string()) {
            return fail(&format!("{}: {e}", path.display()));
        }
    }
    if report.unexplained_noticed() > 0 && !args.lossy {
        return problem(&format!(
            "nothing imported: {} requests would change in a way docs/differences.md does not explain (listed \
             above as `unexplained`); --lossy accepts them",
            report.unexplained_noticed()
        ));
    }
    println!("{text}");
    ExitCode::from(OK)
}

/// Says why nothing is imported, with the exit status for it.
fn problem(message: &str) -> ExitCode {
    eprintln!("cors-policy: {message}");
    ExitCode::from(PROBLEMS)
}

/// The documents of every file; an exit status when one cannot be read.
fn read_all(files: &[PathBuf]) -> Result<Vec<Doc>, ExitCode> {
    let mut docs = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|e| fail(&format!("{name}: {e}")))?;
        let values = documents(&text).map_err(|message| problem(&format!("{name}: {message}")))?;
        let many = values.len() > 1;
        for (i, value) in values.into_iter().enumerate() {
            // `document N` when the file has several; the file when several are read.
            let part = if many {
                format!("document {}", i + 1)
            } else {
                String::new()
            };
            let part = if files.len() > 1 { within(&name, &part) } else { part };
            docs.extend(config_map(Doc { part, value }));
        }
    }
    Ok(docs)
}

/// A ConfigMap that carries an Envoy configuration as text (`data."envoy.yaml"`,
/// as many projects deploy Envoy) stands for that configuration.
fn config_map(doc: Doc) -> Vec<Doc> {
    let is_config_map = doc.value.get("kind").and_then(Value::as_str) == Some("ConfigMap");
    let data = doc.value.get("data").and_then(Value::as_object);
    let (true, Some(data)) = (is_config_map, data) else {
        return vec![doc];
    };
    let mut out = Vec::new();
    for (key, text) in data {
        let part = within(&doc.part, &format!("data.{key:?}"));
        let inner = text.as_str().and_then(|t| yaml_documents(t).ok()).unwrap_or_default();
        for value in inner.into_iter().filter(|v| kind_of(v) == Some(SourceFormat::Envoy)) {
            out.push(Doc {
                part: part.clone(),
                value,
            });
        }
    }
    if out.is_empty() {
        vec![doc]
    } else {
        out
    }
}

/// The documents of a file's text: a JSON value, or every YAML document.
fn documents(text: &str) -> Result<Vec<Value>, String> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text)
            .map(|doc| vec![doc])
            .map_err(|e| format!("invalid JSON: {e}"));
    }
    yaml_documents(text).map_err(|e| match e {
        YamlError::Invalid(e) => format!("invalid YAML: {e}"),
        YamlError::NotJson(e) => format!("YAML without a JSON equivalent: {e}"),
    })
}

/// What a document is, if the importer reads it: the source it belongs to
/// (an HTTPRoute is the Gateway API's, and what a SecurityPolicy targets).
pub fn kind_of(doc: &Value) -> Option<SourceFormat> {
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let group = api.split('/').next().unwrap_or_default();
    match (doc.get("kind").and_then(Value::as_str), group) {
        (Some("VirtualService"), "networking.istio.io") => Some(SourceFormat::Istio),
        (Some("HTTPRoute"), "gateway.networking.k8s.io") => Some(SourceFormat::GatewayApi),
        (Some("Ingress"), "networking.k8s.io") => Some(SourceFormat::IngressNginx),
        (Some("SecurityPolicy"), "gateway.envoyproxy.io") => Some(SourceFormat::EnvoyGateway),
        (Some(_), _) => None,
        // An Envoy configuration, or a route dump (camelCase), anywhere.
        (None, _) => envoy::has_key(
            doc,
            &["virtual_hosts", "virtualHosts", "static_resources", "route_config"],
        )
        .then_some(SourceFormat::Envoy),
    }
}

/// The one source the documents hold, or the names of several.
fn detect(docs: &[Doc]) -> Result<Option<SourceFormat>, Vec<&'static str>> {
    let kinds: Vec<SourceFormat> = docs.iter().filter_map(|d| kind_of(&d.value)).sorted().dedup().collect();
    // A kind another source reads too (the HTTPRoutes a SecurityPolicy targets) is that source's.
    let others_read = |k: SourceFormat| kinds.iter().any(|f| *f != k && reads(*f, Some(k)));
    let formats: Vec<SourceFormat> = kinds.iter().copied().filter(|k| !others_read(*k)).collect();
    match formats.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(many.iter().map(|k| k.describe()).collect()),
    }
}

/// Reports whether a source reads a document of `kind` (Envoy Gateway reads
/// the HTTPRoutes its SecurityPolicies target, too).
fn reads(format: SourceFormat, kind: Option<SourceFormat>) -> bool {
    kind == Some(format) || (format == SourceFormat::EnvoyGateway && kind == Some(SourceFormat::GatewayApi))
}
