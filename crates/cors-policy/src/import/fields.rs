//! Reading the fields of a source's documents (JSON values, most read from
//! YAML), where a field that is absent or of another type counts as absent:
//! the readers check the shapes they convert, not the whole schema.

use serde_json::Value;

/// The items of an array field; none when it is absent or not an array.
pub fn items(field: Option<&Value>) -> impl Iterator<Item = &Value> {
    field.and_then(Value::as_array).into_iter().flatten()
}

/// The strings of an array field; items that are not strings are skipped.
pub fn strings(field: Option<&Value>) -> impl Iterator<Item = &str> {
    items(field).filter_map(Value::as_str)
}

/// The strings of an array field, owned.
pub fn string_list(field: Option<&Value>) -> Vec<String> {
    strings(field).map(str::to_owned).collect()
}

/// The items of a comma-separated list (Envoy's `allow_methods`, a header
/// value), trimmed, empty ones skipped.
pub fn comma_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_field_that_is_absent_or_not_an_array_has_no_items() {
        let doc = json!({"list": ["a", 1, "b"], "text": "a"});
        assert_eq!(string_list(doc.get("list")), ["a", "b"]);
        assert_eq!(items(doc.get("text")).count(), 0);
        assert_eq!(items(doc.get("absent")).count(), 0);
    }

    #[test]
    fn a_comma_list_is_trimmed_and_skips_empty_items() {
        assert_eq!(comma_list(" GET,, PUT ,").collect::<Vec<_>>(), ["GET", "PUT"]);
    }
}
