//! The HTTP context: the proxy-wasm callbacks that drive the core's
//! [`Stream`] through the [`Shell`] over the real host.

use std::rc::Rc;

use envoy_cors_core::stream::{Runtime, Stream, Verdict};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use crate::host_calls::HostCalls;
use crate::shell::Shell;

/// One HTTP stream.
pub struct CorsHttp {
    stream: Stream,
}

impl CorsHttp {
    pub fn new(runtime: Option<Rc<Runtime>>) -> Self {
        Self {
            stream: Stream::new(runtime),
        }
    }
}

impl Context for CorsHttp {}

impl HttpContext for CorsHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        crate::fault::inject();
        match self.stream.on_request_headers(&mut Shell(HostCalls)) {
            Verdict::Continue => Action::Continue,
            Verdict::Stop => Action::Pause,
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.stream.on_response_headers(&mut Shell(HostCalls));
        Action::Continue
    }
}
