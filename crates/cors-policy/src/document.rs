//! The documents of a JSON or YAML file as JSON values, and the paths inside
//! them as messages name them (`static_resources.listeners[0].name`): what
//! `check`, `explain` and `import` read files with.

use serde_json::Value;

/// Why YAML text has no documents to read.
#[derive(Debug)]
pub enum YamlError {
    /// Not YAML.
    Invalid(serde_yaml_ng::Error),
    /// YAML that JSON cannot hold (a non-string key, say).
    NotJson(serde_json::Error),
}

/// Every non-empty document of YAML text, as a JSON value, in file order.
pub fn yaml_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let yaml = <serde_yaml_ng::Value as serde::Deserialize>::deserialize(doc).map_err(YamlError::Invalid)?;
        let json = serde_json::to_value(&yaml).map_err(YamlError::NotJson)?;
        if !json.is_null() {
            docs.push(json);
        }
    }
    Ok(docs)
}

/// Joins a path and a key.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A path inside a named part of a file (`document 2: spec.hosts[0]`); the
/// part's name alone for an empty path, the path alone for an unnamed part.
pub fn within(part: &str, path: &str) -> String {
    match (part.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (false, true) => part.to_owned(),
        (false, false) => format!("{part}: {path}"),
    }
}

/// Calls `visit` on every object under `value` (itself included), depth
/// first in key order, with its path (`path` for `value`) and the state
/// its nearest visited ancestor passed down. `visit` returns the state for
/// the object's children, or `None` to skip them (it found what it wanted).
pub fn walk_objects<'a, S: Copy>(
    value: &'a Value,
    path: &str,
    state: S,
    visit: &mut impl FnMut(&'a Value, &str, S) -> Option<S>,
) {
    match value {
        Value::Object(map) => {
            let Some(state) = visit(value, path, state) else {
                return;
            };
            for (key, child) in map {
                walk_objects(child, &join(path, key), state, visit);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk_objects(child, &format!("{path}[{i}]"), state, visit);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_visited_with_their_paths_and_a_visit_can_stop_the_descent() {
        let doc = serde_json::json!({"a": [{"b": {"stop": {"c": {}}}}, 1], "d": {}});
        let mut seen = Vec::new();
        walk_objects(&doc, "", 0, &mut |object, path, depth| {
            seen.push(format!("{path}@{depth}"));
            object.get("stop").is_none().then_some(depth + 1)
        });
        assert_eq!(seen, ["@0", "a[0]@1", "a[0].b@2", "d@1"]);
    }

    #[test]
    fn empty_yaml_documents_are_left_out() {
        let docs = yaml_documents("a: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(docs, [serde_json::json!({"a": 1}), serde_json::json!({"b": 2})]);
    }
}
