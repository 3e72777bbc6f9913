//! Test support for the envoy-cors crates: the invariants every CORS answer
//! must hold and the byte-driven generators that feed them ([`invariants`],
//! shared by the property tests and the fuzz targets), and hosts that record
//! what each shell asks of Envoy ([`module_host`], [`wasm_host`]). A
//! dev-dependency of the crates it tests; never part of a product.

// Test code: a broken expectation panics, as in any test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub mod invariants;
#[cfg(not(target_arch = "wasm32"))]
pub mod module_host;
pub mod wasm_host;
