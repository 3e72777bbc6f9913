//! The filter as an Envoy dynamic module: a shared library
//! (`target/release/libenvoy_cors.so`) that Envoy 1.40 loads into its own
//! process and calls through a C ABI (version `v0.2.0`), with no VM in
//! between.
//!
//! Layering, as in Envoy's own Rust SDK: `abi` holds the raw declarations,
//! the exported entry points and the crate's only `unsafe` code; `unwind`
//! keeps a panic from crossing into Envoy, and [`fail_closed`] leaves the
//! stream refused after one; everything else is safe Rust over the
//! [`Envoy`] trait, the ABI's calls for one stream in safe form. `fault`
//! injects panics in a test-only build.
//! [`Shell`] implements the core's `Host` port on top of it, so the
//! per-stream logic is the core's `Stream`, the same as in the proxy-wasm
//! plugin; the tests and the `dynamic_shell` fuzz target drive this code over
//! a recorder instead of Envoy.

#[cfg(target_arch = "wasm32")]
compile_error!("the dynamic module is a native library; the proxy-wasm plugin is the root package (`make build`)");

#[allow(unsafe_code)] // the one module that talks C to Envoy
mod abi;
mod envoy;
pub mod fail_closed;
mod fault;
mod shell;
mod unwind;

pub use envoy::{names, read_head, Envoy};
pub use shell::{configure, configure_per_route, reply_details, FilterConfig, Level, Shell};

/// The `filter_name` the module answers to in Envoy's config.
pub const FILTER_NAME: &str = "cors";
