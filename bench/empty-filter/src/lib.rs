//! A proxy-wasm HTTP filter that lets every request and response through:
//! the floor any wasm filter pays per request.
//!
//! Its plugin configuration can name host calls to make on every request, so
//! `bench/callgrind.py` can price each one alone and show the least work any
//! proxy-wasm CORS filter must do. An empty configuration makes no host call.
//! Names, comma-separated:
//! - `read-origin`: read the request's `origin` header (one value);
//! - `read-request-map`: read every request header in one call (the host's
//!   serialized map, not parsed: the least a reader of the whole map pays);
//! - `count`: increment a counter;
//! - `reply`: answer locally with 204 and six CORS headers, as a preflight;
//! - `read-response-map`: read every response header in one call;
//! - `add-acao`, `add-acac`, `add-aceh`, `add-vary`: add one response header
//!   (`access-control-allow-origin` is the origin read, or `*`).

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

#[derive(Clone, Copy, Default)]
struct Probe {
    read_origin: bool,
    read_request_map: bool,
    count: Option<u32>,
    reply: bool,
    read_response_map: bool,
    add_acao: bool,
    add_acac: bool,
    add_aceh: bool,
    add_vary: bool,
}

#[derive(Default)]
struct Root {
    probe: Probe,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        let mut probe = Probe::default();
        for name in String::from_utf8_lossy(&config).split(',').map(str::trim) {
            match name {
                "" => {}
                "read-origin" => probe.read_origin = true,
                "read-request-map" => probe.read_request_map = true,
                "count" => match proxy_wasm::hostcalls::define_metric(MetricType::Counter, "probe.requests") {
                    Ok(id) => probe.count = Some(id),
                    Err(_) => return false,
                },
                "reply" => probe.reply = true,
                "read-response-map" => probe.read_response_map = true,
                "add-acao" => probe.add_acao = true,
                "add-acac" => probe.add_acac = true,
                "add-aceh" => probe.add_aceh = true,
                "add-vary" => probe.add_vary = true,
                other => {
                    proxy_wasm::hostcalls::log(proxy_wasm::types::LogLevel::Error, &format!("unknown probe {other:?}"))
                        .ok();
                    return false;
                }
            }
        }
        self.probe = probe;
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Pass {
            probe: self.probe,
            origin: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Pass {
    probe: Probe,
    origin: Option<Vec<u8>>,
}

impl Context for Pass {}

// Overriding both header callbacks makes the floor pay the same VM crossings
// per request as a real header filter.
impl HttpContext for Pass {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        if self.probe.read_origin {
            self.origin = self.get_http_request_header_bytes("origin");
        }
        if self.probe.read_request_map {
            drop(raw::header_map(MapType::HttpRequestHeaders));
        }
        if let Some(id) = self.probe.count {
            proxy_wasm::hostcalls::increment_metric(id, 1).ok();
        }
        if self.probe.reply {
            let origin = self
                .origin
                .as_deref()
                .map_or("*", |o| std::str::from_utf8(o).unwrap_or("*"));
            let headers = vec![
                ("access-control-allow-origin", origin),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", "PUT"),
                ("access-control-allow-headers", "content-type"),
                ("access-control-max-age", "600"),
                (
                    "vary",
                    "origin, access-control-request-method, access-control-request-headers",
                ),
            ];
            proxy_wasm::hostcalls::send_http_response(204, headers, None).ok();
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        if self.probe.reply {
            return Action::Continue;
        }
        if self.probe.read_response_map {
            drop(raw::header_map(MapType::HttpResponseHeaders));
        }
        if self.probe.add_acao {
            let value = self.origin.as_deref().unwrap_or(b"*");
            self.add_http_response_header_bytes("access-control-allow-origin", value);
        }
        if self.probe.add_acac {
            self.add_http_response_header_bytes("access-control-allow-credentials", b"true");
        }
        if self.probe.add_aceh {
            self.add_http_response_header_bytes("access-control-expose-headers", b"x-request-id");
        }
        if self.probe.add_vary {
            self.add_http_response_header_bytes("vary", b"origin");
        }
        Action::Continue
    }
}

/// A header map as the host serialized it: the filter's own reader.
#[path = "../../../src/host/raw.rs"]
mod raw;
