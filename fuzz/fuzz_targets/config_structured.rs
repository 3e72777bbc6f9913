//! The policy parser and validator on near-valid policies: the input bytes
//! choose fields and values from what operators write (and get wrong), so
//! most inputs reach the semantic checks instead of dying in the JSON parser.
#![no_main]

use envoy_cors_core::language::Config;
use envoy_cors_testing::invariants::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = envoy_cors_testing::invariants::config_text(&mut Bytes::new(data));
    let result = Config::parse(&text);
    if let Err(broken) = envoy_cors_testing::invariants::check_config(&text, &result) {
        panic!("{broken}\nconfig: {}", String::from_utf8_lossy(&text));
    }
});
