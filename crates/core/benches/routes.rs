//! Nanoseconds per policy selection in the native core, for the last of
//! 10, 1,000 and 10,000 tenants' rules, keyed by Envoy's route name, by a
//! literal host, by a `*.suffix` host and by a path with a literal head
//! (`/tenantN/**`): through the index (what the filter does) and by trying
//! every rule in order (what it did before the index). Also the configure
//! step (`Config::parse`: read, validate, compile, index) with one policy
//! per tenant. Run: `cargo bench -p envoy-cors-core --bench routes`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // benchmark code

use std::hint::black_box;
use std::time::{Duration, Instant};

use envoy_cors_core::language::Config;
use envoy_cors_core::routes::RouteInput;

/// The rule layouts: a rule's `match` for tenant `i`, and the request of
/// tenant `i` (route name, authority, path).
type Layout = (&'static str, fn(usize) -> String, fn(usize) -> (String, String, String));

const LAYOUTS: [Layout; 4] = [
    (
        "route_name",
        |i| format!(r#"{{"route_name": "route-{i}"}}"#),
        |i| (format!("route-{i}"), format!("t{i}.api.test"), "/items".to_owned()),
    ),
    (
        "host",
        |i| format!(r#"{{"host": "t{i}.api.test"}}"#),
        |i| (format!("route-{i}"), format!("t{i}.api.test"), "/items".to_owned()),
    ),
    (
        "host *.suffix",
        |i| format!(r#"{{"host": "*.t{i}.api.test"}}"#),
        |i| (format!("route-{i}"), format!("app.t{i}.api.test"), "/items".to_owned()),
    ),
    (
        "path /tenantN/**",
        |i| format!(r#"{{"path": "/tenant{i}/**"}}"#),
        |i| (format!("route-{i}"), "api.test".to_owned(), format!("/tenant{i}/items")),
    ),
];

/// A routed configuration with `tenants` policies (one origin each) and one
/// rule per tenant.
fn config(tenants: usize, matcher: fn(usize) -> String) -> String {
    let policies: Vec<String> = (0..tenants)
        .map(|i| format!(r#""t{i}": {{"allow_origins": ["https://app.t{i}.example"]}}"#))
        .collect();
    let routes: Vec<String> = (0..tenants)
        .map(|i| format!(r#"{{"match": {}, "policy": "t{i}"}}"#, matcher(i)))
        .collect();
    format!(
        r#"{{"policies": {{{}}}, "routes": [{}]}}"#,
        policies.join(","),
        routes.join(",")
    )
}

/// Median nanoseconds per call of `f` over several timed batches.
fn ns_per_call(mut f: impl FnMut()) -> f64 {
    let batch = 2_000;
    let mut samples: Vec<f64> = (0..9)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(batch)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    println!("| rules | layout | index ns/select | scan ns/select | Config::parse ms |");
    println!("|---:|---|---:|---:|---:|");
    for tenants in [10, 1_000, 10_000] {
        for (layout, matcher, request) in LAYOUTS {
            let text = config(tenants, matcher);
            let parse = median(
                (0..5)
                    .map(|_| {
                        let start = Instant::now();
                        black_box(Config::parse(black_box(text.as_bytes())).unwrap());
                        start.elapsed()
                    })
                    .collect(),
            );
            let config = Config::parse(text.as_bytes()).unwrap();
            let last = tenants - 1;
            let (name, authority, path) = request(last);
            let input = RouteInput {
                route_name: Some(name.as_bytes()),
                authority: authority.as_bytes(),
                path: path.as_bytes(),
            };
            assert_eq!(config.routes.select(&input), Some(last), "{layout}");
            let index = ns_per_call(|| {
                black_box(config.routes.select(black_box(&input)));
            });
            let scan = ns_per_call(|| {
                black_box(config.routes.first_match_by_scan(black_box(&input)));
            });
            println!(
                "| {tenants} | {layout} | {index:.0} | {scan:.0} | {:.1} |",
                parse.as_secs_f64() * 1e3
            );
        }
    }
}
