//! A strict, observable CORS filter for Envoy, as a proxy-wasm plugin.
//!
//! The core (configuration, origin matching, route selection, the CORS
//! decision and the response plan) is plain Rust with no host calls; the
//! `host` module is the only code that talks to Envoy, and is built for
//! `wasm32` only.

pub mod config;
pub mod configure;
pub mod exchange;
pub mod filter;
pub mod header_map;
pub mod origin;
pub mod origin_matcher;
pub mod policy;
pub mod response;
pub mod routes;
pub mod tokens;

#[cfg(not(target_arch = "wasm32"))]
pub mod dynamic;
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)] // `proxy_wasm::main!` exports `_initialize` with `#[no_mangle]`.
mod host;
