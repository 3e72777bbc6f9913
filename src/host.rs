//! What the plugin needs from its proxy-wasm host for one stream: one method
//! per host call, implemented over the real host in `host_calls` (wasm32
//! only) and by a recorder in the tests.

/// What a property read (`get_property`) answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Property {
    /// Not there (`Ok(None)`).
    Absent,
    /// Its bytes: a string's raw bytes (an 8-byte float for a number).
    Value(Vec<u8>),
    /// There, but the host cannot serialize it: Envoy 1.40 answers a
    /// metadata `null` with a `SerializationFailure` status.
    Unserializable,
}

/// The host calls the plugin makes while handling a stream.
pub trait ProxyWasm {
    /// The request headers as the host serialized them (`header_map`), in
    /// one call: each call into the host that returns data also calls back
    /// into the VM to allocate it, so one map read costs less than two header
    /// reads (`make bench-callgrind`). `None` when the host refuses.
    fn request_header_map(&mut self) -> Option<Vec<u8>>;
    /// Envoy's route name (the `xds.route_name` property).
    fn route_name(&mut self) -> Option<Vec<u8>>;
    /// A property by its path, e.g. `xds.route_metadata.filter_metadata.<ns>.policy`.
    fn property(&mut self, path: &[&str]) -> Property;
    /// Sends a local reply with no body; true when the host took it.
    fn send_local_response(&mut self, status: u32, headers: &[(&str, &str)]) -> bool;
    /// Adds one to a counter.
    fn increment_metric(&mut self, id: u32);
    /// Defines a counter; `None` when the host refuses.
    fn define_metric(&mut self, name: &str) -> Option<u32>;
    /// Sets the `cors.decision` property (`envoy_cors_core::record::PROPERTY`),
    /// which Envoy keeps in the stream's filter state as `wasm.cors.decision`.
    fn set_decision_property(&mut self, value: &[u8]);
    /// Replaces every value of a response header.
    fn set_response_header(&mut self, name: &str, value: &[u8]);
    /// Adds a value to a response header.
    fn add_response_header(&mut self, name: &str, value: &[u8]);
    /// Removes every value of a response header.
    fn remove_response_header(&mut self, name: &str);
    /// Reports whether the plugin logs at debug level (no host call: the
    /// level is kept in the VM).
    fn debug_enabled(&self) -> bool;
    /// Logs a line at debug level.
    fn log_debug(&mut self, line: &str);
    /// Logs a line at warning level.
    fn log_warning(&mut self, line: &str);
}
