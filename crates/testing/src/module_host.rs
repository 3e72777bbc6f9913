//! A recording [`Envoy`] for the dynamic module's shell: the request headers
//! as Envoy would answer the module's getters, and everything the shell does
//! recorded, for the module's tests and the `dynamic_shell` fuzz target.

use std::sync::Arc;

use envoy_cors::Envoy;
use envoy_cors_core::language::PerRouteConfig;
use envoy_cors_core::response::HeaderWriter;
use envoy_cors_core::simulation::VecHeaders;

/// A local reply as [`ModuleRecorder`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentReply {
    /// HTTP status.
    pub status: u32,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The response code details.
    pub details: String,
}

/// An [`Envoy`] over a request header list, recording what the filter does:
/// for tests and the fuzz target (no Envoy needed). Header lookups follow
/// Envoy's: names compare exactly (Envoy lowercases them), the first value
/// is returned with the count of values.
#[derive(Debug, Default)]
pub struct ModuleRecorder<'h> {
    /// The request headers.
    pub request: &'h [(Vec<u8>, Vec<u8>)],
    /// The route name attribute.
    pub route: Option<&'h [u8]>,
    /// The per-route config Envoy picked for the route, if any.
    pub per_route: Option<Arc<PerRouteConfig>>,
    /// The route's metadata strings: `(namespace, key, value)`.
    pub route_metadata: Vec<(&'h str, &'h str, &'h [u8])>,
    /// The response headers, edited in place.
    pub response: VecHeaders,
    /// The local reply sent, if any.
    pub reply: Option<SentReply>,
    /// Counter increments, by id.
    pub increments: Vec<u32>,
    /// Labelled counter increments: id and label value.
    pub labelled_increments: Vec<(u32, String)>,
    /// Filter-state values written, in order.
    pub filter_state: Vec<(String, String)>,
    /// Request headers read, in order.
    pub reads: std::cell::RefCell<Vec<String>>,
    /// Debug lines logged.
    pub logged: std::cell::RefCell<Vec<String>>,
    /// Warning lines logged.
    pub warned: std::cell::RefCell<Vec<String>>,
    /// Error lines logged.
    pub errors: std::cell::RefCell<Vec<String>>,
}

impl<'h> Envoy<'h> for ModuleRecorder<'h> {
    fn request_header(&self, name: &str) -> (Option<&'h [u8]>, usize) {
        self.reads.borrow_mut().push(name.to_owned());
        let mut values = self
            .request
            .iter()
            .filter(|(n, _)| n.as_slice() == name.as_bytes())
            .map(|(_, v)| v.as_slice());
        let first = values.next();
        (first, first.map_or(0, |_| 1 + values.count()))
    }

    fn route_name(&self) -> Option<&'h [u8]> {
        self.route
    }

    fn per_route_config(&self) -> Option<Arc<PerRouteConfig>> {
        self.per_route.clone()
    }

    fn route_metadata_string(&self, namespace: &str, key: &str) -> Option<&[u8]> {
        self.route_metadata
            .iter()
            .find(|(n, k, _)| *n == namespace && *k == key)
            .map(|(_, _, v)| *v)
    }

    fn set_response_header(&mut self, name: &str, value: &[u8]) {
        self.response.set(name, value);
    }

    fn add_response_header(&mut self, name: &str, value: &[u8]) {
        self.response.add(name, value);
    }

    fn remove_response_header(&mut self, name: &str) {
        self.response.remove(name);
    }

    fn send_response(&mut self, status: u32, headers: &[(&str, &str)], details: &str) {
        self.reply = Some(SentReply {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            details: details.to_owned(),
        });
    }

    fn increment_counter(&mut self, id: u32) {
        self.increments.push(id);
    }

    fn increment_labelled_counter(&mut self, id: u32, label: &str) {
        self.labelled_increments.push((id, label.to_owned()));
    }

    fn set_filter_state(&mut self, key: &str, value: &[u8]) {
        self.filter_state
            .push((key.to_owned(), String::from_utf8_lossy(value).into_owned()));
    }

    fn debug_enabled(&self) -> bool {
        true
    }

    fn log_debug(&self, message: &str) {
        self.logged.borrow_mut().push(message.to_owned());
    }

    fn log_warning(&self, message: &str) {
        self.warned.borrow_mut().push(message.to_owned());
    }

    fn log_error(&self, message: &str) {
        self.errors.borrow_mut().push(message.to_owned());
    }
}
