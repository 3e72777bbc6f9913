//! [`ProxyWasm`] over the real proxy-wasm host (wasm32 only): the SDK's host
//! calls, and the raw ones of `raw` where the SDK's copy or panic is in the
//! way.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, MetricType};

use crate::host::{Property, ProxyWasm};
use crate::raw;

/// The proxy-wasm host of the current stream (the host knows which stream a
/// call is for: the one whose callback is running).
#[derive(Debug, Default, Clone, Copy)]
pub struct HostCalls;

impl ProxyWasm for HostCalls {
    fn request_header_map(&mut self) -> Option<Vec<u8>> {
        raw::header_map(MapType::HttpRequestHeaders)
    }

    fn route_name(&mut self) -> Option<Vec<u8>> {
        hostcalls::get_property(vec!["xds", "route_name"]).ok().flatten()
    }

    fn property(&mut self, path: &[&str]) -> Property {
        match hostcalls::get_property(path.to_vec()) {
            Ok(Some(value)) => Property::Value(value),
            Ok(None) => Property::Absent,
            Err(_) => Property::Unserializable,
        }
    }

    fn send_local_response(&mut self, status: u32, headers: &[(&str, &str)]) -> bool {
        raw::send_local_response(status, headers)
    }

    fn define_metric(&mut self, name: &str) -> Option<u32> {
        hostcalls::define_metric(MetricType::Counter, name).ok()
    }

    fn increment_metric(&mut self, id: u32) {
        // A failed increment must never fail the request.
        let _ = hostcalls::increment_metric(id, 1);
    }

    fn set_decision_property(&mut self, value: &[u8]) {
        // A record the host refuses must never fail the request.
        let _ = raw::set_property(envoy_cors_core::record::PROPERTY, value);
    }

    fn set_response_header(&mut self, name: &str, value: &[u8]) {
        let _ = hostcalls::set_map_value_bytes(MapType::HttpResponseHeaders, name, Some(value));
    }

    fn add_response_header(&mut self, name: &str, value: &[u8]) {
        let _ = hostcalls::add_map_value_bytes(MapType::HttpResponseHeaders, name, value);
    }

    fn remove_response_header(&mut self, name: &str) {
        let _ = hostcalls::remove_map_value(MapType::HttpResponseHeaders, name);
    }

    fn debug_enabled(&self) -> bool {
        log::log_enabled!(log::Level::Debug)
    }

    fn log_debug(&mut self, line: &str) {
        log::debug!("{line}");
    }

    fn log_warning(&mut self, line: &str) {
        log::warn!("{line}");
    }
}
