//! What the readers share: a document read into a source's serde types,
//! with a shape error reported at its path in the source's own terms, a
//! Kubernetes object (its metadata and spec), and comma-separated lists.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::Issues;
use crate::document::{join, within};

/// Reads `value`, found at `path` in the part of a file named `part`, into a
/// source type; a field of the wrong shape is an error at its own path
/// (`document 2: spec.http[0].corsPolicy.maxAge: invalid type ...`).
pub fn typed<T: DeserializeOwned>(value: &Value, part: &str, path: &str, issues: &mut Issues) -> Option<T> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| {
            let inner = match e.path().to_string() {
                inner if inner == "." => path.to_owned(),
                // An index follows its list without a `.` (`http_filters[0]`).
                inner if inner.starts_with('[') => format!("{path}{inner}"),
                inner => join(path, &inner),
            };
            issues.fatal(&within(part, &inner), e.into_inner().to_string());
        })
        .ok()
}

/// A Kubernetes object of the sources (a VirtualService, an HTTPRoute, an
/// Ingress, a SecurityPolicy): `metadata`, and a `spec` of the source's type.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Object<S> {
    /// Its name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// What the source reads of it.
    pub spec: S,
}

/// A Kubernetes object's `metadata`: what the readers name, order and select by.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `name`.
    pub name: String,
    /// `namespace` (`default` when absent).
    pub namespace: Option<String>,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `creationTimestamp` (RFC 3339, so its text orders by time); absent in
    /// a file written by hand, where every object ties and a reader orders
    /// as its source breaks ties (ingress-nginx: namespace/name descending).
    pub creation_timestamp: Option<String>,
}

impl ObjectMeta {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace.as_deref().unwrap_or("default"), self.name)
    }
}

/// The items of a comma-separated list (Envoy's `allow_methods`, a header
/// value, an annotation), trimmed, empty ones skipped.
pub fn comma_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|item| !item.is_empty())
}

/// A comma-separated list, owned.
pub fn split(list: &str) -> Vec<String> {
    comma_list(list).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Shape {
        #[allow(dead_code)]
        list: Vec<String>,
    }

    #[test]
    fn a_shape_error_names_the_path_inside_the_document() {
        let mut issues = Issues::default();
        let doc = serde_json::json!({"list": ["a", 1]});
        assert!(typed::<Shape>(&doc, "document 2", "spec", &mut issues).is_none());
        let issue = issues.list.first().unwrap();
        assert_eq!(issue.path, "document 2: spec.list[1]");
        assert!(issue.reason.contains("invalid type"), "{}", issue.reason);
    }

    #[test]
    fn a_shape_error_in_a_list_names_the_index_after_the_list() {
        let mut issues = Issues::default();
        let doc = serde_json::json!([{"list": []}, {"list": [5]}]);
        assert!(typed::<Vec<Shape>>(&doc, "", "spec.items", &mut issues).is_none());
        assert_eq!(issues.list.first().unwrap().path, "spec.items[1].list[0]");
    }

    #[test]
    fn a_comma_list_is_trimmed_and_skips_empty_items() {
        assert_eq!(comma_list(" GET,, PUT ,").collect::<Vec<_>>(), ["GET", "PUT"]);
    }
}
