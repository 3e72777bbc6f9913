//! The spec types written back as JSON (what `cors-policy import` prints):
//! what an operator would write, read back as the same spec.

#![allow(clippy::unwrap_used)] // test helpers

use envoy_cors_core::language::{Config, MatchSpec, PolicySpec, RouteSpec, RoutedSpec};
use envoy_cors_core::policy::Mode;

#[test]
fn a_written_spec_leaves_out_defaults_and_reads_back_as_itself() {
    let strict: PolicySpec = serde_json::from_str(r#"{"allow_origins": ["https://app.example.com"]}"#).unwrap();
    let report = PolicySpec {
        allow_methods: Some(Vec::new()),
        max_age: Some(600),
        mode: Mode::Report,
        ..strict.clone()
    };
    let spec = RoutedSpec {
        policies: [("strict".to_owned(), strict), ("report".to_owned(), report)].into(),
        routes: vec![
            RouteSpec {
                matcher: MatchSpec {
                    path: Some("/health".into()),
                    ..MatchSpec::default()
                },
                policy: None,
            },
            RouteSpec {
                matcher: MatchSpec {
                    host: Some("*.example.com".into()),
                    ..MatchSpec::default()
                },
                policy: Some("report".into()),
            },
        ],
        default: Some("strict".into()),
        metadata_namespace: None,
    };
    let text = serde_json::to_string(&spec).unwrap();
    assert_eq!(
        text,
        r#"{"policies":{"report":{"allow_origins":["https://app.example.com"],"allow_methods":[],"max_age":600,"mode":"report"},"strict":{"allow_origins":["https://app.example.com"]}},"routes":[{"match":{"path":"/health"},"policy":null},{"match":{"host":"*.example.com"},"policy":"report"}],"default":"strict"}"#
    );
    assert_eq!(serde_json::from_str::<RoutedSpec>(&text).unwrap(), spec);
    assert!(Config::parse(text.as_bytes()).is_ok());
}
