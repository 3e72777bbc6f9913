//! The filter as a proxy-wasm plugin: `envoy_cors.wasm`, for Envoy's wasm
//! filter with the V8 runtime, an Istio `WasmPlugin` or Envoy Gateway.
//!
//! A thin shell over the core (`envoy-cors-core`). The root context
//! (`root`) compiles the policy once per configure; each HTTP context
//! (`http`) drives the core's `Stream` through [`Shell`], which implements
//! the core's `Host` port over the [`ProxyWasm`] trait: the host calls the
//! plugin makes, one method each. On wasm32, `host_calls` implements that
//! trait over the proxy-wasm host; natively, the tests implement it with a
//! recorder (`tests/host_calls.rs`), so they drive this very shell.
//!
//! `unsafe` lives in `raw` alone (the host calls the SDK does not expose as
//! we need them), and `entry` exports the module's entry point.

pub mod header_map;
mod host;
mod shell;

pub use host::{Property, ProxyWasm};
pub use shell::Shell;

// The plugin itself: wasm32 only, and only with its entry point.
#[cfg(all(target_arch = "wasm32", feature = "entry-point"))]
mod entry;
#[cfg(all(target_arch = "wasm32", feature = "entry-point"))]
mod fault;
#[cfg(all(target_arch = "wasm32", feature = "entry-point"))]
mod host_calls;
#[cfg(all(target_arch = "wasm32", feature = "entry-point"))]
mod http;
#[cfg(all(target_arch = "wasm32", feature = "entry-point"))]
mod root;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)] // the raw host calls: the plugin's only unsafe code
pub mod raw;
