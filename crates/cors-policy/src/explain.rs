//! `cors-policy explain`: one request through the filter's own code — the
//! rule and policy that apply (`Routes::select`), the decision and its reason
//! (`Policy::decide`, in the words of the reason table, with what the
//! browsers' consoles print for it), what the access log records
//! (`record::Record`), and what the client gets (`simulation::simulate`,
//! which is what the filter does in Envoy).

use std::process::ExitCode;

use envoy_cors_core::language::Config;
use envoy_cors_core::policy::Decision;
use envoy_cors_core::reasons::Reason;
use envoy_cors_core::record::{Record, ACCESS_LOG_COMMAND};
use envoy_cors_core::request::{self, RequestHead};
use envoy_cors_core::routes::{RouteInput, Routes};
use envoy_cors_core::simulation::{self, Outcome};
use serde_json::{json, Value};

use super::args::ExplainArgs;
use super::locate::{self, LocateError};
use super::reasons::{console_for, Said};
use super::style::Style;
use super::{fail, OK, PROBLEMS};

/// Which rule chose the policy.
enum Selection {
    /// `routes[index]` matched.
    Rule { index: usize, matcher: Value },
    /// No rule matched; the default applied.
    Default,
}

/// Everything `explain` reports, in the shape of its `--json` output.
struct Explanation {
    source: String,
    selection: Selection,
    policy: Option<String>,
    mode: Option<&'static str>,
    decision: &'static str,
    allowed: Option<bool>,
    reason: String,
    /// For a refusal: its row of the reason table.
    refusal: Option<&'static Reason>,
    /// What the access log prints (`%FILTER_STATE(wasm.cors.decision:PLAIN)%`), or `-`.
    access_log: String,
    outcome: Outcome,
    request: Vec<(String, Vec<u8>)>,
    /// Some rule matches on `route_name`.
    uses_route_name: bool,
}

/// Explains the request described by `args`.
pub fn run(args: &ExplainArgs, style: Style) -> ExitCode {
    let found = match locate::policies_in(&args.file) {
        // Per-route configs are checked by `check`; `explain` runs the filter's.
        Ok(found) => found
            .into_iter()
            .filter(|f| f.kind == locate::Kind::Filter)
            .collect::<Vec<_>>(),
        Err(LocateError::Io(message)) => return fail(&message),
        Err(LocateError::Content(message)) => {
            eprintln!("cors-policy: {}: {message}", args.file.display());
            return ExitCode::from(PROBLEMS);
        }
    };
    let Some(source) = args.source.checked_sub(1).and_then(|i| found.get(i)) else {
        return fail(&format!(
            "--source {}: the file holds {} policies",
            args.source,
            found.len()
        ));
    };
    let config = match Config::parse(source.text.as_bytes()) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("cors-policy: the policy is refused; the filter would not load it:");
            for error in errors {
                eprintln!("  {error}");
            }
            return ExitCode::from(PROBLEMS);
        }
    };
    let request = request_headers(args);
    let upstream = match upstream_headers(&args.upstream_header) {
        Ok(headers) => headers,
        Err(message) => return fail(&message),
    };
    let explanation = explain(&config, &source.text, &source.location, request, args, &upstream);
    if args.json {
        println!("{}", to_json(&explanation, args));
    } else {
        print_text(&explanation, args, style);
    }
    ExitCode::from(OK)
}

/// The request headers a browser sends for this request (Fetch, "CORS-preflight request").
fn request_headers(args: &ExplainArgs) -> Vec<(String, Vec<u8>)> {
    let mut headers = Vec::new();
    let mut push = |name: &str, value: &str| headers.push((name.to_owned(), value.as_bytes().to_vec()));
    push(":method", if args.preflight { "OPTIONS" } else { &args.method });
    push(":path", &args.path);
    if let Some(host) = &args.host {
        push(":authority", host);
    }
    push("origin", &args.origin);
    if args.preflight {
        push("access-control-request-method", &args.method);
        // Browsers send the names lowercased, sorted and without duplicates.
        let mut names: Vec<String> = args.headers.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
        names.sort();
        names.dedup();
        if !names.is_empty() {
            push("access-control-request-headers", &names.join(","));
        }
        if args.private_network {
            push("access-control-request-private-network", "true");
        }
    }
    headers
}

/// Parses `--upstream-header name: value` options.
fn upstream_headers(options: &[String]) -> Result<Vec<(String, Vec<u8>)>, String> {
    options
        .iter()
        .map(|option| match option.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_ascii_lowercase(), value.trim().as_bytes().to_vec()))
            }
            _ => Err(format!("--upstream-header {option:?}: expected \"name: value\"")),
        })
        .collect()
}

/// Runs the request through the configuration.
fn explain(
    config: &Config,
    text: &str,
    location: &str,
    request: Vec<(String, Vec<u8>)>,
    args: &ExplainArgs,
    upstream: &[(String, Vec<u8>)],
) -> Explanation {
    let route_name = args.route_name.as_deref().map(str::as_bytes);
    let outcome = simulation::simulate(config, &request, route_name, 200, upstream);
    let head = RequestHead {
        route_name,
        ..request::read_request(&request)
    };
    let input = RouteInput {
        route_name,
        authority: head.request.authority,
        path: head.path,
    };
    let selection = matching_rule(&config.routes, &input, text);
    let decided = request::decide(config, &head);
    let policy = decided.as_ref().map(|(_, p, _)| *p);
    let record = decided.as_ref().and_then(|(_, p, d)| Record::of(p, d));
    let refusal = record.as_ref().map(|r| r.reason.code.reason());
    let record = record.map_or_else(|| "-".to_owned(), |r| r.to_string());
    let (decision, allowed, reason) = match decided.map(|(_, _, d)| d) {
        None => match selection {
            Selection::Rule { .. } => (
                "no_policy",
                None,
                "the rule says \"policy\": null: CORS is off here".into(),
            ),
            Selection::Default => ("no_policy", None, "no rule matched and there is no default".into()),
        },
        Some(decision) => describe(&decision),
    };
    Explanation {
        source: location.to_owned(),
        selection,
        policy: policy.map(|p| p.name.clone()),
        mode: policy.map(|p| if p.is_report_only() { "report" } else { "enforce" }),
        decision,
        allowed,
        reason,
        refusal,
        access_log: record,
        outcome,
        request,
        uses_route_name: config.routes.uses_route_name(),
    }
}

/// The first rule that matches, found with the filter's own index (so
/// `"policy": null` rules show too), with its `match` as written.
fn matching_rule(routes: &Routes, input: &RouteInput<'_>, text: &str) -> Selection {
    let Some(index) = routes.first_match(input) else {
        return Selection::Default;
    };
    let raw: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let matcher = raw
        .get("routes")
        .and_then(|r| r.get(index))
        .and_then(|r| r.get("match"))
        .cloned()
        .unwrap_or(Value::Null);
    Selection::Rule { index, matcher }
}

/// The decision's name, whether the browser may proceed, and why.
fn describe(decision: &Decision<'_>) -> (&'static str, Option<bool>, String) {
    match decision {
        Decision::NotCors => ("not_cors", None, "no Origin header: not a CORS request".into()),
        Decision::SameOrigin => (
            "same_origin",
            Some(true),
            "the Origin is the request's own host and port: a same-origin request needs no CORS headers".into(),
        ),
        Decision::PreflightAllowed(grant) => (
            "preflight_allowed",
            Some(true),
            format!(
                "origin, method and headers are allowed{}",
                if grant.private_network {
                    ", and private network access"
                } else {
                    ""
                }
            ),
        ),
        Decision::PreflightDenied { refusal, .. } => ("preflight_denied", Some(false), refusal.to_string()),
        Decision::ActualAllowed(_) => ("actual_allowed", Some(true), "origin allowed".into()),
        Decision::ActualDenied(refusal) => ("actual_denied", Some(false), refusal.to_string()),
    }
}

/// What the browser does with the response.
fn browser_verdict(e: &Explanation, args: &ExplainArgs) -> String {
    if e.mode == Some("report") {
        return "report mode: the response is untouched, so the browser sees the upstream's own CORS headers".into();
    }
    match e.decision {
        "preflight_allowed" => format!(
            "the preflight passes; the browser then sends the {} request",
            args.method
        ),
        "preflight_denied" => "the preflight fails: the browser never sends the request; its console says:".into(),
        "actual_allowed" => "the page can read the response".into(),
        "actual_denied" => "the page cannot read the response; the browser's console says:".into(),
        "same_origin" => "a same-origin request: the browser applies no CORS check".into(),
        _ => "CORS is not applied: whatever the upstream sends reaches the browser".into(),
    }
}

/// What the browsers' consoles print for this refusal (as captured by the
/// browser suite for a request of the same kind).
fn console(e: &Explanation, args: &ExplainArgs) -> Vec<Said> {
    if e.mode == Some("report") {
        return Vec::new();
    }
    e.refusal.map_or_else(Vec::new, |r| console_for(r, args.preflight))
}

/// The counter the decision increments, as the filter names it.
fn counter(e: &Explanation) -> Option<String> {
    Some(format!("cors.{}.{}", e.policy.as_deref()?, e.outcome.counter?))
}

fn to_json(e: &Explanation, args: &ExplainArgs) -> String {
    let pairs = |headers: &[(String, Vec<u8>)]| -> Vec<Value> {
        headers
            .iter()
            .map(|(n, v)| json!([n, String::from_utf8_lossy(v)]))
            .collect()
    };
    let rule = match &e.selection {
        Selection::Rule { index, matcher } => json!({ "index": index, "match": matcher }),
        Selection::Default => Value::Null,
    };
    let value = json!({
        "source": e.source,
        "request": pairs(&e.request),
        "rule": rule,
        "policy": e.policy,
        "mode": e.mode,
        "decision": e.decision,
        "allowed": e.allowed,
        "reason": e.reason,
        "meaning": e.refusal.map(|r| r.meaning),
        "fix": e.refusal.map(|r| r.fix),
        "console": console(e, args).iter().map(|s| json!({ "engine": s.engine, "text": s.text })).collect::<Vec<_>>(),
        "access_log": e.access_log,
        "counter": counter(e),
        "reached_upstream": e.outcome.reached_upstream,
        "status": e.outcome.status,
        "response_headers": pairs(&e.outcome.headers),
        "browser": browser_verdict(e, args),
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

fn print_text(e: &Explanation, args: &ExplainArgs, style: Style) {
    let label = |name: &str| style.dim(&format!("{name:<10}"));
    let kind = if args.preflight {
        format!("preflight (OPTIONS) for a {} request", args.method)
    } else {
        format!("actual {} request", args.method)
    };
    println!("{}{kind}", label("request"));
    for (name, value) in &e.request {
        println!("{}  {}: {}", label(""), name, String::from_utf8_lossy(value));
    }
    if !e.source.is_empty() {
        println!("{}{}", label("source"), e.source);
    }
    let rule = match &e.selection {
        Selection::Rule { index, matcher } => format!("routes[{index}] (match {matcher})"),
        Selection::Default => "no rule matched: the default applies".into(),
    };
    println!("{}{rule}", label("rule"));
    let policy = match (&e.policy, e.mode) {
        (Some(name), Some(mode)) => format!("{} ({mode} mode)", style.strong(name)),
        _ => "none: request and response pass untouched".into(),
    };
    println!("{}{policy}", label("policy"));
    let decision = match e.allowed {
        Some(true) => style.good(e.decision),
        Some(false) => style.bad(e.decision),
        None => e.decision.to_owned(),
    };
    println!("{}{decision}: {}", label("decision"), e.reason);
    if let Some(reason) = e.refusal {
        println!("{}{}", label("meaning"), reason.meaning);
        println!("{}{}", label("fix"), reason.fix);
    }
    println!("{}{} ({ACCESS_LOG_COMMAND})", label("recorded"), e.access_log);
    if let Some(counter) = counter(e) {
        println!("{}{counter}", label("counter"));
    }
    let upstream = if e.outcome.reached_upstream {
        "reached: the response below is the upstream's, as the filter changes it".to_owned()
    } else {
        "not reached: the filter answers itself".to_owned()
    };
    println!("{}{upstream}", label("upstream"));
    println!("{}{}", label("response"), e.outcome.status);
    if e.outcome.headers.is_empty() {
        println!("{}  (no headers)", label(""));
    }
    for (name, value) in &e.outcome.headers {
        println!(
            "{}  {}: {}",
            label(""),
            style.strong(name),
            String::from_utf8_lossy(value)
        );
    }
    println!("{}{}", label("browser"), browser_verdict(e, args));
    for said in console(e, args) {
        println!("{}  {}: {}", label(""), said.engine, said.text);
    }
    let safelisted = ["GET", "HEAD", "POST"].contains(&args.method.as_str());
    if !args.preflight && (!safelisted || !args.headers.is_empty()) {
        println!(
            "{}a browser sends a preflight before this request: add --preflight",
            label("note")
        );
    }
    if args.route_name.is_none() && e.uses_route_name {
        println!(
            "{}rules match on route_name: pass --route-name to see them",
            label("note")
        );
    }
}
