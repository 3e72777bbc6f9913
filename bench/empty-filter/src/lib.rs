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
//! - `read-route-name`: read Envoy's route name (`xds.route_name`), which the
//!   filter reads only when a route rule names a route;
//! - `count`: increment a counter;
//! - `reply`: answer locally with 204 and six CORS headers, as a preflight;
//! - `read-response-map`: read every response header in one call;
//! - `add-X`, `set-X`, `remove-X` with X one of `acao`, `acac`, `aceh`,
//!   `vary`: add, replace or remove one response header
//!   (`access-control-allow-origin` is the origin read, or `*`).

use envoy_cors_wasm::raw;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

#[derive(Clone, Default)]
struct Probe {
    read_origin: bool,
    read_request_map: bool,
    read_route_name: bool,
    count: Option<u32>,
    reply: bool,
    read_response_map: bool,
    edits: Vec<(Edit, Header)>,
}

/// One response-header call.
#[derive(Clone, Copy)]
enum Edit {
    Add,
    Set,
    Remove,
}

/// The response header an edit touches.
#[derive(Clone, Copy)]
enum Header {
    AllowOrigin,
    AllowCredentials,
    ExposeHeaders,
    Vary,
}

impl Header {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "acao" => Self::AllowOrigin,
            "acac" => Self::AllowCredentials,
            "aceh" => Self::ExposeHeaders,
            "vary" => Self::Vary,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::AllowOrigin => "access-control-allow-origin",
            Self::AllowCredentials => "access-control-allow-credentials",
            Self::ExposeHeaders => "access-control-expose-headers",
            Self::Vary => "vary",
        }
    }
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
                "read-route-name" => probe.read_route_name = true,
                "count" => match proxy_wasm::hostcalls::define_metric(MetricType::Counter, "probe.requests") {
                    Ok(id) => probe.count = Some(id),
                    Err(_) => return false,
                },
                "reply" => probe.reply = true,
                "read-response-map" => probe.read_response_map = true,
                other if edit(other).is_some() => probe.edits.extend(edit(other)),
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
            probe: self.probe.clone(),
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
        if self.probe.read_route_name {
            // As the filter reads it when a route rule names a route.
            drop(proxy_wasm::hostcalls::get_property(vec!["xds", "route_name"]));
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
            let headers = [
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
            // The filter's own reply call (envoy_cors_wasm::raw), not the SDK's.
            raw::send_local_response(204, &headers);
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
        for &(edit, header) in &self.probe.edits {
            let value: &[u8] = match header {
                Header::AllowOrigin => self.origin.as_deref().unwrap_or(b"*"),
                Header::AllowCredentials => b"true",
                Header::ExposeHeaders => b"x-request-id",
                Header::Vary => b"origin",
            };
            match edit {
                Edit::Add => self.add_http_response_header_bytes(header.name(), value),
                Edit::Set => self.set_http_response_header_bytes(header.name(), Some(value)),
                Edit::Remove => {
                    proxy_wasm::hostcalls::remove_map_value(MapType::HttpResponseHeaders, header.name()).ok();
                }
            }
        }
        Action::Continue
    }
}

/// `add-acao`, `set-vary`, `remove-acac`, ...
fn edit(text: &str) -> Option<(Edit, Header)> {
    let (edit, header) = text.split_once('-')?;
    let edit = match edit {
        "add" => Edit::Add,
        "set" => Edit::Set,
        "remove" => Edit::Remove,
        _ => return None,
    };
    Some((edit, Header::parse(header)?))
}
