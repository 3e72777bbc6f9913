//! The refusals that JSON Schema can express, added to the generated schema
//! (`cors-policy schema`) from the same lists the filter checks against, so
//! that an editor flags them as it is typed. The Public Suffix List and the
//! origin syntax stay with `cors-policy check`.

use schemars::Schema;
use serde_json::{json, Value};

use crate::tokens;

/// `allow_headers` items: no forbidden request-header name, and no CORS
/// response header.
pub(super) fn request_header_names(schema: &mut Schema) {
    let mut names: Vec<String> = tokens::FORBIDDEN_REQUEST_HEADERS
        .iter()
        .chain(&tokens::CORS_RESPONSE_HEADERS)
        .map(|name| any_case(name))
        .collect();
    names.extend(
        tokens::FORBIDDEN_REQUEST_HEADER_PREFIXES
            .iter()
            .map(|prefix| format!("{}.*", any_case(prefix))),
    );
    forbid_items(schema, &names);
}

/// `expose_headers` items: no forbidden response-header name.
pub(super) fn response_header_names(schema: &mut Schema) {
    let names: Vec<String> = tokens::FORBIDDEN_RESPONSE_HEADERS.iter().map(|n| any_case(n)).collect();
    forbid_items(schema, &names);
}

/// What `allow_credentials: true` rules out: `"*"` origins and exposed
/// headers, and `http://` origins other than loopback unless the policy opts in.
pub(super) fn credentials(schema: &mut Schema) {
    let credentials =
        json!({ "properties": { "allow_credentials": { "const": true } }, "required": ["allow_credentials"] });
    let opted_in = json!({
        "properties": { "dangerously_allow_http_origins_with_credentials": { "const": true } },
        "required": ["dangerously_allow_http_origins_with_credentials"]
    });
    let loopback =
        r"^http://(localhost|[^/:]*\.localhost|127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|\[::1\])\.?(:([0-9]+|\*))?$";
    let rules = json!([
        {
            "if": credentials,
            "then": { "properties": {
                "allow_origins": { "items": { "not": { "const": "*" } } },
                "expose_headers": { "items": { "not": { "const": "*" } } }
            } }
        },
        {
            "if": { "allOf": [credentials, { "not": opted_in }] },
            "then": { "properties": { "allow_origins": { "items": {
                "anyOf": [{ "not": { "pattern": "^http://" } }, { "pattern": loopback }]
            } } } }
        }
    ]);
    schema.insert("allOf".to_owned(), rules);
}

/// Refuses array items that match one of `names` (regular expressions).
fn forbid_items(schema: &mut Schema, names: &[String]) {
    let pattern = format!("^({})$", names.join("|"));
    if let Some(Value::Object(items)) = schema.get_mut("items") {
        items.insert("not".to_owned(), json!({ "pattern": pattern }));
    }
}

/// A header name as a regular expression that matches it in any case
/// (JSON Schema patterns have no case-insensitive flag).
fn any_case(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
            } else {
                c.to_string()
            }
        })
        .collect()
}
