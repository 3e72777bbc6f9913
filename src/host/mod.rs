//! The thin shell: the only code that talks to Envoy through proxy-wasm.
//! The root context compiles the policy once per configure; each HTTP
//! context reads request header bytes, asks the core for a decision, and
//! writes what the decision says.

mod http;
mod raw;
mod root;

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(root::CorsRoot::default()) });
}}
