//! Nanoseconds per CORS decision in the native core, for a small policy and
//! for one with 10,000 exact origins and 100 patterns: the cost must not grow
//! with the number of exact origins. Also times compiling the large policy
//! (what `on_configure` does). Run: `cargo bench --bench decision`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // benchmark code

use std::hint::black_box;
use std::time::{Duration, Instant};

use envoy_cors_core::language::Config;
use envoy_cors_core::request::read_request;

/// A policy with `exact` exact origins and `patterns` wildcard patterns.
fn policy(exact: usize, patterns: usize) -> String {
    let mut origins: Vec<String> = (0..exact).map(|i| format!("\"https://app{i}.example.com\"")).collect();
    origins.extend((0..patterns).map(|i| format!("\"https://*.tenant{i}.example.net\"")));
    format!(
        r#"{{"allow_origins": [{}], "allow_methods": ["GET", "PUT"], "allow_headers": ["content-type", "x-api-key"],
            "expose_headers": ["x-request-id"], "max_age": 600, "allow_credentials": true}}"#,
        origins.join(",")
    )
}

fn headers(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
        .collect()
}

/// Median nanoseconds per decision over several timed batches.
fn ns_per_decision(config: &Config, request: &[(String, Vec<u8>)]) -> f64 {
    let policy = &config.policies[0];
    let batch = 200_000;
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                let head = read_request(black_box(request));
                black_box(policy.decide(&head.request));
            }
            start.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let scenarios = [
        ("allowed exact origin", "GET", "https://app7.example.com", None),
        ("allowed pattern origin", "GET", "https://x.tenant42.example.net", None),
        ("refused origin", "GET", "https://evil.example", None),
        ("preflight", "OPTIONS", "https://app7.example.com", Some("PUT")),
    ];
    println!("| policy | scenario | ns/decision |");
    println!("|---|---|---:|");
    for (label, exact, patterns) in [
        ("10 origins + 100 patterns", 10, 100),
        ("10,000 origins + 100 patterns", 10_000, 100),
    ] {
        let text = policy(exact, patterns);
        let config = Config::parse(text.as_bytes()).unwrap();
        for (name, method, origin, acrm) in scenarios {
            let mut list = vec![
                (":method", method),
                (":authority", "api.example.com"),
                (":path", "/items"),
                ("origin", origin),
            ];
            if let Some(m) = acrm {
                list.push(("access-control-request-method", m));
                list.push(("access-control-request-headers", "content-type"));
            }
            let ns = ns_per_decision(&config, &headers(&list));
            println!("| {label} | {name} | {ns:.0} |");
        }
    }
    let large = policy(1_000, 100);
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let start = Instant::now();
            black_box(Config::parse(black_box(large.as_bytes())).unwrap());
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "\nConfig::parse, 1,000 origins + 100 patterns: {:.2} ms (median of 5)",
        times[2].as_secs_f64() * 1e3
    );
}
