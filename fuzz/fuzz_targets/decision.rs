//! The decision engine on hostile exchanges: arbitrary bytes in every request
//! header the filter reads (repeated or not) and arbitrary upstream response
//! headers, against the example policies and generated ones. Each exchange
//! runs through `simulation::simulate` (the filter's own code path) and must hold
//! every CORS invariant in `envoy_cors_testing::invariants`.
#![no_main]

use std::sync::OnceLock;

use envoy_cors_core::language::Config;
use envoy_cors_core::simulation::simulate;
use envoy_cors_testing::invariants::{Bytes, ConfigFacts, FIXED_CONFIGS};
use libfuzzer_sys::fuzz_target;

struct Fixed {
    text: &'static str,
    config: Config,
    facts: ConfigFacts,
}

fn fixed() -> &'static [Fixed] {
    static FIXED: OnceLock<Vec<Fixed>> = OnceLock::new();
    FIXED.get_or_init(|| {
        FIXED_CONFIGS
            .iter()
            .map(|text| Fixed {
                text,
                config: Config::parse(text.as_bytes()).expect("fixed config"),
                facts: ConfigFacts::from_json(text.as_bytes()).expect("fixed facts"),
            })
            .collect()
    })
}

fn run(r: &mut Bytes<'_>, text: &[u8], config: &Config, facts: &ConfigFacts) {
    for _ in 0..4 {
        let request = envoy_cors_testing::invariants::request(r);
        let route_name = envoy_cors_testing::invariants::route_name(r);
        let (status, upstream) = envoy_cors_testing::invariants::upstream(r);
        let out = simulate(config, &request, route_name, status, &upstream);
        if let Err(broken) = envoy_cors_testing::invariants::check_exchange(facts, &request, status, &upstream, &out) {
            panic!(
                "{broken}\nconfig: {}\nrequest: {request:?}\nupstream: {upstream:?}\noutcome: {out:?}",
                String::from_utf8_lossy(text)
            );
        }
        if r.is_empty() {
            return;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut r = Bytes::new(data);
    let choice = usize::from(r.u8() % 4);
    if let Some(f) = fixed().get(choice) {
        run(&mut r, f.text.as_bytes(), &f.config, &f.facts);
        return;
    }
    let text = envoy_cors_testing::invariants::config_text(&mut r);
    if let Ok(config) = Config::parse(&text) {
        let facts = ConfigFacts::from_json(&text).expect("facts of an accepted config");
        run(&mut r, &text, &config, &facts);
    }
});
