//! The module's entry point: `proxy_wasm::main!` exports `_initialize` (the
//! WASI reactor's start, with `#[no_mangle]`, hence the `unsafe_code`
//! allowance), which sets the log level and the root context. Behind the
//! default `entry-point` feature, so that bench/empty-filter can link the
//! shell's raw host calls into a module with an entry point of its own.
#![allow(unsafe_code)]

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(crate::root::CorsRoot::default()) });
}}
