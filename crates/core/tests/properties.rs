//! Properties that must hold for every input, not just the cases we thought
//! of: the CORS answer invariants on whole exchanges, origin parsing, origin
//! patterns and configuration errors. The generators and the invariants are
//! shared with the fuzz targets (`envoy-cors-testing`), which run the same
//! checks under libFuzzer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // test code

use envoy_cors_core::language::Config;
use envoy_cors_core::origin::Origin;
use envoy_cors_core::origin_matcher::{OriginEntry, OriginMatcher};
use envoy_cors_core::simulation::simulate;
use envoy_cors_testing::invariants::{self, Bytes, ConfigFacts};
use proptest::prelude::*;

fn config_for(r: &mut Bytes<'_>) -> (Vec<u8>, Config) {
    let choice = r.u8();
    if let Some(text) = invariants::FIXED_CONFIGS.get(usize::from(choice % 4)) {
        return (text.as_bytes().to_vec(), Config::parse(text.as_bytes()).unwrap());
    }
    // Generated policies, until one is accepted (or fall back to the example).
    for _ in 0..4 {
        let text = invariants::config_text(r);
        if let Ok(config) = Config::parse(&text) {
            return (text, config);
        }
    }
    let text = invariants::FIXED_CONFIGS[0].as_bytes();
    (text.to_vec(), Config::parse(text).unwrap())
}

/// Bytes that origins are made of, with the separators that matter.
fn origin_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}://[a-z0-9._\\-\\[\\]:]{0,20}(:[0-9]{0,6})?",
        "[ -~]{0,30}",
        any::<Vec<u8>>().prop_map(|b| invariants::origin_like(&mut Bytes::new(&b))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn every_exchange_holds_the_cors_invariants(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut r = Bytes::new(&data);
        let (text, config) = config_for(&mut r);
        let facts = ConfigFacts::from_json(&text).unwrap();
        for _ in 0..4 {
            let request = invariants::request(&mut r);
            let route_name = invariants::route_name(&mut r);
            let (status, upstream) = invariants::upstream(&mut r);
            let out = simulate(&config, &request, route_name, status, &upstream);
            if let Err(broken) = invariants::check_exchange(&facts, &request, status, &upstream, &out) {
                panic!("{broken}\nconfig: {}\nrequest: {request:?}\nupstream: {upstream:?}\noutcome: {out:?}",
                    String::from_utf8_lossy(&text));
            }
            if r.is_empty() {
                break;
            }
        }
    }

    #[test]
    fn near_valid_policies_are_accepted_only_when_safe_and_refused_with_a_path(
        data in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let text = invariants::config_text(&mut Bytes::new(&data));
        let result = Config::parse(&text);
        if let Err(broken) = invariants::check_config(&text, &result) {
            panic!("{broken}\nconfig: {}", String::from_utf8_lossy(&text));
        }
    }

    #[test]
    fn config_errors_always_carry_a_json_path(text in prop_oneof![
        any::<Vec<u8>>(),
        "\\{\"allow_origins\": \\[\"[ -~]{0,20}\"\\][ -~]{0,20}\\}".prop_map(String::into_bytes),
        "\\{\"policies\": \\{\"[a-z.]{0,4}\": \\{[ -~]{0,30}\\}\\}[ -~]{0,30}\\}".prop_map(String::into_bytes),
    ]) {
        if let Err(errors) = Config::parse(&text) {
            prop_assert!(!errors.is_empty());
            for e in &errors {
                prop_assert!(!e.path.is_empty(), "no path: {e}");
                prop_assert!(e.to_string().starts_with(&e.path));
            }
        }
    }

    #[test]
    fn an_accepted_origin_serializes_back_byte_identical(text in origin_text()) {
        if let Ok(origin) = Origin::parse(text.as_bytes()) {
            prop_assert_eq!(origin.as_str(), text.as_str());
            let port = origin.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rebuilt = format!("{}://{}{}", origin.scheme(), origin.host(), port);
            prop_assert_eq!(rebuilt, text);
        }
    }

    #[test]
    fn a_pattern_never_allows_a_host_outside_its_literal_suffix(
        pattern in prop_oneof![
            "(https|http)://([a-z]{1,3}-?)?\\*\\.([a-z0-9-]{1,6}\\.){1,3}[a-z]{2,4}(:\\*|:[1-9][0-9]{1,3})?",
            "http://(localhost|[a-z]{1,5}\\.example\\.com):\\*",
            any::<Vec<u8>>().prop_map(|b| invariants::origin_like(&mut Bytes::new(&b))),
        ],
        others in proptest::collection::vec(origin_text(), 0..8),
        fills in proptest::collection::vec("[a-z0-9.\\-]{0,12}|[0-9]{1,5}", 1..16),
    ) {
        let Ok(entry @ OriginEntry::Pattern(_)) = OriginEntry::parse(&pattern) else {
            return Ok(());
        };
        let matcher = OriginMatcher::new([entry]);
        // Origins made from the pattern itself, the wildcard filled with
        // anything (dots, nothing, digits), hit the matcher far more often.
        let origins: Vec<String> =
            fills.iter().map(|f| pattern.replacen('*', f, 1).replace('*', "8080")).chain(others).collect();
        let (scheme, rest) = pattern.split_once("://").unwrap();
        let host = match rest.rfind(':') {
            Some(colon) if !rest.ends_with(']') => &rest[..colon],
            _ => rest,
        };
        for text in &origins {
            let Ok(origin) = Origin::parse(text.as_bytes()) else { continue };
            if !matcher.allows(&origin) {
                continue;
            }
            prop_assert_eq!(origin.scheme(), scheme, "{} allowed {}", pattern, text);
            match host.split_once('*') {
                Some((prefix, suffix)) => {
                    prop_assert!(origin.host().ends_with(suffix), "{} allowed {}", pattern, text);
                    prop_assert!(origin.host().starts_with(prefix), "{} allowed {}", pattern, text);
                    prop_assert!(origin.host().len() > prefix.len() + suffix.len(), "{} allowed {}", pattern, text);
                }
                None => prop_assert_eq!(origin.host(), host, "{} allowed {}", pattern, text),
            }
        }
    }
}

/// Patterns drawn from the generator's vocabulary rarely hit a matching
/// origin by chance; pin the suffix property on origins built to be close.
#[test]
fn a_pattern_never_allows_a_look_alike_of_its_suffix() {
    let matcher = OriginMatcher::new(
        [
            "https://*.example.org",
            "https://pr-*.preview.example.com",
            "http://localhost:*",
        ]
        .into_iter()
        .map(|e| OriginEntry::parse(e).unwrap()),
    );
    for look_alike in [
        "https://example.org",
        "https://evilexample.org",
        "https://example.org.evil.com",
        "https://a.example.org.evil.com",
        "https://preview.example.com",
        "https://pr-.preview.example.com",
        "https://x.pr-1.preview.example.com",
        "http://localhost.evil.com",
        "http://evillocalhost:3000",
    ] {
        let origin = Origin::parse(look_alike.as_bytes()).unwrap();
        assert!(!matcher.allows(&origin), "{look_alike}");
    }
}
