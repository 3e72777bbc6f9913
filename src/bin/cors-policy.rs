//! `cors-policy`: check and explain CORS policies offline, with the filter's
//! own validation and decision code, and print the policy's JSON Schema.
//! The code lives in `src/cli/`.
//!
//! A native tool: building the plugin for `wasm32-wasip1` also builds every
//! binary target, so there this one is an empty program.

#[cfg(not(target_arch = "wasm32"))]
#[path = "../cli/mod.rs"]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
