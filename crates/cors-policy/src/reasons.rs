//! `cors-policy reasons`: the reason table of the filter (the core's
//! `reasons::REASONS`: code, meaning, fix) with what each browser's console
//! prints for it, as the browser suite captured it (docs/correctness.json,
//! `browser.primary`, compiled in). The same rows feed `explain` and the
//! table of docs/operators.md (`--markdown`, checked by tests/reasons.rs).

use std::process::ExitCode;

use envoy_cors_core::reasons::{Reason, REASONS};
use envoy_cors_core::record::{Verdict, ACCESS_LOG_COMMAND};
use serde_json::{json, Value};

use super::OK;

/// The browser suite's figures, with each refusal scenario's console line
/// per engine (written by tests/e2e/test_browser.py).
const CORRECTNESS: &str = include_str!("../../../docs/correctness.json");

/// What one engine's console printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// The engine and its version, e.g. `Chromium 156`.
    pub engine: String,
    /// The line, with `URL` and `ORIGIN` for the request's URL and the page's origin.
    pub text: String,
}

/// The captured console lines of a browser scenario, one per engine.
pub fn console(scenario: &str) -> Vec<Said> {
    let data: Value = serde_json::from_str(CORRECTNESS).unwrap_or(Value::Null);
    let get = |path: &[&str]| path.iter().try_fold(&data, |v, key| v.get(key));
    let Some(engines) = get(&["browser", "engines"]).and_then(Value::as_array) else {
        return Vec::new();
    };
    engines
        .iter()
        .filter_map(|e| {
            let field = |key: &str| e.get(key).and_then(Value::as_str);
            let text = get(&["browser", "primary", scenario, field("kind")?])?.as_str()?;
            Some(Said {
                engine: format!("{} {}", field("name")?, field("version")?),
                text: text.to_owned(),
            })
        })
        .collect()
}

/// The console lines for a reason: on a preflight, or on an actual request.
pub fn console_for(reason: &Reason, preflight: bool) -> Vec<Said> {
    let scenario = if preflight {
        reason.preflight_scenario
    } else {
        reason.actual_scenario
    };
    scenario.map(console).unwrap_or_default()
}

/// How to print the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For a terminal.
    Text,
    /// The tables of docs/operators.md.
    Markdown,
    /// One JSON object.
    Json,
}

/// Prints the table.
pub fn run(format: Format) -> ExitCode {
    match format {
        Format::Text => print!("{}", text()),
        Format::Markdown => print!("{}", markdown()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&to_json()).unwrap_or_default()),
    }
    ExitCode::from(OK)
}

/// The code as the access log shows it, with a placeholder for its value.
fn shown(reason: &Reason) -> String {
    match reason.value {
        Some(value) => format!("{}:<{value}>", reason.code),
        None => reason.code.to_owned(),
    }
}

fn text() -> String {
    let mut out =
        format!("The access log prints {ACCESS_LOG_COMMAND} as `policy=P verdict=V reason=R`.\n\nVerdicts:\n");
    for verdict in Verdict::ALL {
        out += &format!("  {:<18} {}\n", verdict.as_str(), verdict.meaning());
    }
    out += "\nReasons:\n";
    for reason in &REASONS {
        out += &format!(
            "\n{}\n  meaning  {}\n  fix      {}\n",
            shown(reason),
            reason.meaning,
            reason.fix
        );
        for (kind, preflight) in [("preflight", true), ("request", false)] {
            for said in console_for(reason, preflight) {
                out += &format!("  console  {kind}, {}: {}\n", said.engine, said.text);
            }
        }
    }
    out
}

fn to_json() -> Value {
    let console = |reason: &Reason, preflight| -> Vec<Value> {
        console_for(reason, preflight)
            .into_iter()
            .map(|s| json!({ "engine": s.engine, "text": s.text }))
            .collect()
    };
    json!({
        "access_log": ACCESS_LOG_COMMAND,
        "verdicts": Verdict::ALL.iter().map(|v| json!({ "verdict": v.as_str(), "meaning": v.meaning() })).collect::<Vec<_>>(),
        "reasons": REASONS.iter().map(|r| json!({
            "code": r.code, "value": r.value, "meaning": r.meaning, "fix": r.fix,
            "console": { "preflight": console(r, true), "request": console(r, false) },
        })).collect::<Vec<_>>(),
    })
}

/// A Markdown table cell: no line breaks, no unescaped `|`.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The two tables of docs/operators.md, between their markers.
pub fn markdown() -> String {
    let mut out = String::from("| verdict | meaning |\n| --- | --- |\n");
    for verdict in Verdict::ALL {
        out += &format!("| `{}` | {} |\n", verdict.as_str(), cell(verdict.meaning()));
    }
    out += "\n| reason | meaning | what the browser console says | fix |\n| --- | --- | --- | --- |\n";
    for reason in &REASONS {
        let mut said = Vec::new();
        for (kind, preflight) in [("on the preflight", true), ("on the request", false)] {
            for s in console_for(reason, preflight) {
                said.push(format!("{}, {kind}: `{}`", s.engine, cell(&s.text).replace('`', "'")));
            }
        }
        let said = if said.is_empty() {
            "(not captured by the browser suite: browsers never send it, or the suite cannot make it)".to_owned()
        } else {
            said.join("<br>")
        };
        out += &format!(
            "| `{}` | {} | {said} | {} |\n",
            shown(reason),
            cell(reason.meaning),
            cell(reason.fix)
        );
    }
    out
}
