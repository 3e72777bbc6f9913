//! The invariants and generators shared with `tests/properties.rs`: one
//! definition, two drivers (proptest in `cargo test`, libFuzzer here).

#[path = "../../tests/invariants/mod.rs"]
mod invariants;

pub use invariants::*;
