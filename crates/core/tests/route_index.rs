//! The route index answers exactly what the routed form means: the first
//! rule, in order, whose every key matches (`Routes::first_match_by_scan`),
//! on generated rule lists that mix every key shape, indexed or not, and on
//! requests made of the same pieces, so that near-misses are common.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // test code

use envoy_cors_core::routes::{Glob, RouteInput, Routes, Rule};
use proptest::prelude::*;

const ROUTE_NAMES: [&str; 4] = ["r0", "r1", "r2", "tenant-7"];

/// Host globs: literals, `*.suffix` and other tails, and shapes the index
/// cannot narrow.
const HOSTS: [&str; 17] = [
    "a.example.com",
    "b.example.com",
    "example.com",
    "A.Example.COM",
    "*.example.com",
    "*.b.example.com",
    "api-*.example.com",
    "[ab].example.com",
    "*.com",
    "*",
    "a.*",
    "*.example.*",
    "api-*",
    "x?.example.com",
    "*.",
    "[::1]",
    "**",
];

/// Path globs: literals, literal heads (whole and partial segments), and
/// heads of `/` alone.
const PATHS: [&str; 20] = [
    "/",
    "/a",
    "/a/b",
    "/api/v1/items",
    "/a/**",
    "/a/*",
    "/a*",
    "/a*/**",
    "/api/v1/*",
    "/api/*/items",
    "/**",
    "/*",
    "/*/b",
    "/a/b*",
    "//x*",
    "/a/[bc]/**",
    "/a/b/**",
    "/ab?",
    "/A/**",
    "/a//*",
];

fn glob(text: &str, lowercase: bool) -> Option<Glob> {
    let text = if lowercase {
        text.to_ascii_lowercase()
    } else {
        text.to_owned()
    };
    Glob::new(&text).ok()
}

fn rule_strategy() -> impl Strategy<Value = Rule> {
    let name = prop::option::weighted(0.3, prop::sample::select(&ROUTE_NAMES[..]));
    let host = prop::option::weighted(
        0.5,
        prop_oneof![
            prop::sample::select(&HOSTS[..]).prop_map(str::to_owned),
            "[ab*.?]{0,6}(com)?"
        ],
    );
    let path = prop::option::weighted(
        0.6,
        prop_oneof![
            prop::sample::select(&PATHS[..]).prop_map(str::to_owned),
            "/[ab/*?]{0,7}"
        ],
    );
    let policy = prop::option::of(0usize..4);
    (name, host, path, policy).prop_map(|(name, host, path, policy)| Rule {
        route_name: name.map(str::to_owned),
        // The compiler lowercases host globs; the index must not rely on it.
        host: host.and_then(|h| glob(&h, false)),
        path: path.and_then(|p| glob(&p, false)),
        policy,
    })
}

fn authority_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&HOSTS[..]).prop_map(str::to_owned),
        "[abAB]{1,2}(\\.[ab]{1,2}){0,2}\\.(example\\.)?(com|COM)\\.?(:[0-9]{1,4})?",
        "[ -~]{0,12}",
    ]
}

fn path_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&PATHS[..]).prop_map(str::to_owned),
        "/[abAx/]{0,9}(\\?[a/]{0,3})?",
        "(/api|/a)(/v1|/b|/c)?(/items|/x)?/?",
        "[ -~]{0,10}",
    ]
}

fn request_strategy() -> impl Strategy<Value = (Option<&'static str>, String, String)> {
    (
        prop::option::of(prop::sample::select(&["r0", "r1", "r3", "tenant-7"][..])),
        authority_strategy(),
        path_strategy(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn the_index_answers_what_the_ordered_scan_answers(
        rules in prop::collection::vec(rule_strategy(), 0..24),
        requests in prop::collection::vec(request_strategy(), 1..12),
    ) {
        let routes = Routes::new(rules, Some(9));
        for (name, authority, path) in &requests {
            let input = RouteInput {
                route_name: name.map(str::as_bytes),
                authority: authority.as_bytes(),
                path: path.as_bytes(),
            };
            prop_assert_eq!(
                routes.first_match(&input),
                routes.first_match_by_scan(&input),
                "{:?} {:?} {:?} over {:#?}", name, authority, path, routes.rules()
            );
        }
    }
}

#[test]
fn many_tenants_each_get_their_own_rule_whatever_the_key() {
    let n = 2_000;
    type Layout = (&'static str, fn(usize) -> Rule);
    let layouts: [Layout; 4] = [
        ("route_name", |i| Rule {
            route_name: Some(format!("route-{i}")),
            host: None,
            path: None,
            policy: Some(i),
        }),
        ("host", |i| Rule {
            route_name: None,
            host: Some(Glob::new(&format!("t{i}.api.test")).unwrap()),
            path: None,
            policy: Some(i),
        }),
        ("host suffix", |i| Rule {
            route_name: None,
            host: Some(Glob::new(&format!("*.t{i}.api.test")).unwrap()),
            path: None,
            policy: Some(i),
        }),
        ("path", |i| Rule {
            route_name: None,
            host: None,
            path: Some(Glob::new(&format!("/tenant{i}/**")).unwrap()),
            policy: Some(i),
        }),
    ];
    for (layout, make) in layouts {
        let routes = Routes::new((0..n).map(make).collect(), None);
        for i in [0, 1, n / 2, n - 1] {
            let name = format!("route-{i}");
            let authority = format!("x.t{i}.api.test");
            let authority = if layout == "host" {
                format!("T{i}.api.test:443")
            } else {
                authority
            };
            let path = format!("/tenant{i}/items?q=1");
            let input = RouteInput {
                route_name: Some(name.as_bytes()),
                authority: authority.as_bytes(),
                path: path.as_bytes(),
            };
            assert_eq!(routes.select(&input), Some(i), "{layout} {i}");
        }
        let stranger = RouteInput {
            route_name: Some(b"route-x"),
            authority: b"t1.other.test",
            path: b"/tenantx/items",
        };
        assert_eq!(routes.select(&stranger), None, "{layout}");
    }
}
