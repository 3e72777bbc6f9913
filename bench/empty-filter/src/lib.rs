//! A proxy-wasm HTTP filter that lets every request and response through.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;

impl Context for Root {}

impl RootContext for Root {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Pass))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Pass;

impl Context for Pass {}

// The default callbacks continue; overriding the header callbacks makes the
// floor pay the same VM crossings per request as a real header filter.
impl HttpContext for Pass {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> proxy_wasm::types::Action {
        proxy_wasm::types::Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> proxy_wasm::types::Action {
        proxy_wasm::types::Action::Continue
    }
}
