//! The plugin's shell: the core's [`Host`] port over the [`ProxyWasm`] host
//! calls. Header values are read as bytes, in place in the host's buffer
//! (never as `String`: the SDK's string getters panic on invalid UTF-8 and
//! would take the VM down).

use std::borrow::Cow;
use std::sync::Arc;

use envoy_cors_core::language::PerRouteConfig;
use envoy_cors_core::policy::LocalReply;
use envoy_cors_core::request::{read_pairs, RequestHead};
use envoy_cors_core::response::HeaderWriter;
use envoy_cors_core::selection::{Attached, MetadataLevel, METADATA_KEY};
use envoy_cors_core::stream::Host;

use crate::header_map;
use crate::host::{Property, ProxyWasm};

/// The core's [`Host`] port over a proxy-wasm host.
#[derive(Debug, Default)]
pub struct Shell<P>(pub P);

impl<P: ProxyWasm> Host for Shell<P> {
    fn read_request<R>(&mut self, route_name: bool, f: impl FnOnce(&mut Self, &RequestHead<'_>) -> R) -> Option<R> {
        let buffer = self.0.request_header_map()?;
        let mut pairs = header_map::pairs(&buffer)?;
        // Envoy 1.40 answers `xds.route_name`; the bare `route_name` is empty.
        let name = if route_name { self.0.route_name() } else { None };
        let head = RequestHead {
            route_name: name.as_deref(),
            ..read_pairs(pairs.by_ref())
        };
        // A map the host sent malformed is not trusted, even in part.
        pairs.is_whole().then(|| f(self, &head))
    }

    /// Envoy has no per-route configuration for the wasm filter
    /// (envoyproxy/envoy#26440).
    fn per_route_config(&mut self) -> Option<Arc<PerRouteConfig>> {
        None
    }

    /// One property read: a string is the name, `null` (which Envoy cannot
    /// serialize) turns CORS off.
    fn metadata_policy(&mut self, namespace: &str, level: MetadataLevel) -> Attached<'_> {
        let source = match level {
            MetadataLevel::Route => "route_metadata",
            MetadataLevel::VirtualHost => "virtual_host_metadata",
        };
        match self
            .0
            .property(&["xds", source, "filter_metadata", namespace, METADATA_KEY])
        {
            Property::Absent => Attached::Absent,
            Property::Value(name) => Attached::Name(Cow::Owned(name)),
            Property::Unserializable => Attached::Off,
        }
    }

    fn send_reply(&mut self, reply: &LocalReply<'_>) -> bool {
        self.0.send_local_response(reply.status, &reply.headers)
    }

    fn increment(&mut self, counter: u32) {
        self.0.increment_metric(counter);
    }

    fn define_counter(&mut self, name: &str) -> Option<u32> {
        self.0.define_metric(name)
    }

    /// Never called: labelled counters count per-route policies, which only
    /// the dynamic module has.
    fn increment_labelled(&mut self, counter: u32, _label: &str) {
        self.0.increment_metric(counter);
    }

    fn log_warning(&mut self, line: &str) {
        self.0.log_warning(line);
    }

    fn write_record(&mut self, record: &str) {
        self.0.set_decision_property(record.as_bytes());
    }

    fn debug_enabled(&self) -> bool {
        self.0.debug_enabled()
    }

    fn log_debug(&mut self, line: &str) {
        self.0.log_debug(line);
    }
}

impl<P: ProxyWasm> HeaderWriter for Shell<P> {
    fn remove(&mut self, name: &str) {
        self.0.remove_response_header(name);
    }

    fn set(&mut self, name: &str, value: &[u8]) {
        self.0.set_response_header(name, value);
    }

    fn add(&mut self, name: &str, value: &[u8]) {
        self.0.add_response_header(name, value);
    }
}
