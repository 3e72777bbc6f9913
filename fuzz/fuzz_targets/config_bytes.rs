//! The policy parser and validator on arbitrary bytes: never a panic, and
//! every answer well-formed (an accepted policy holds none of the refused
//! combinations; every refusal names a JSON path that leads to the value it
//! shows).
#![no_main]

use envoy_cors_core::language::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let result = Config::parse(data);
    if let Err(broken) = envoy_cors_testing::invariants::check_config(data, &result) {
        panic!("{broken}\nconfig: {:?}", String::from_utf8_lossy(data));
    }
});
