//! A recording [`ProxyWasm`] host for the plugin's shell: the request
//! headers serialized as a proxy-wasm host hands them over, and every host
//! call the shell makes recorded by name, in order, for `tests/host_calls.rs`.

use std::collections::BTreeMap;

use envoy_cors_wasm::{header_map, Property, ProxyWasm};

/// A proxy-wasm host that records the calls made to it.
#[derive(Debug, Default)]
pub struct WasmRecorder {
    /// The request headers the host holds.
    pub request: Vec<(String, Vec<u8>)>,
    /// Envoy's route name, if the route has one.
    pub route: Option<Vec<u8>>,
    /// Properties by their dotted path; absent ones read as absent.
    pub properties: BTreeMap<String, Property>,
    /// Every host call, in order: `get request headers`, `get route name`,
    /// `get property <path>`, `send reply`, `increment`, `set property`,
    /// `set <name>`, `add <name>`, `remove <name>`, `log`, `warn`.
    pub calls: Vec<String>,
    /// The values set on response headers, in order.
    pub set: Vec<(String, Vec<u8>)>,
    /// The local reply sent, if any: status and headers.
    pub reply: Option<(u32, Vec<(String, String)>)>,
    /// Whether the host logs at debug level.
    pub debug: bool,
    /// Debug lines logged.
    pub logged: Vec<String>,
    /// The decision record the plugin wrote for the access log, if any.
    pub record: Option<String>,
}

impl ProxyWasm for WasmRecorder {
    fn request_header_map(&mut self) -> Option<Vec<u8>> {
        self.calls.push("get request headers".into());
        Some(header_map::serialize(&self.request))
    }

    fn route_name(&mut self) -> Option<Vec<u8>> {
        self.calls.push("get route name".into());
        self.route.clone()
    }

    fn property(&mut self, path: &[&str]) -> Property {
        let path = path.join(".");
        self.calls.push(format!("get property {path}"));
        self.properties.get(&path).cloned().unwrap_or(Property::Absent)
    }

    fn send_local_response(&mut self, status: u32, headers: &[(&str, &str)]) -> bool {
        self.calls.push("send reply".into());
        self.reply = Some((
            status,
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        ));
        true
    }

    fn define_metric(&mut self, name: &str) -> Option<u32> {
        self.calls.push(format!("define {name}"));
        u32::try_from(self.calls.len()).ok()
    }

    fn increment_metric(&mut self, _id: u32) {
        self.calls.push("increment".into());
    }

    fn set_decision_property(&mut self, value: &[u8]) {
        self.calls.push("set property".into());
        self.record = Some(String::from_utf8_lossy(value).into_owned());
    }

    fn set_response_header(&mut self, name: &str, value: &[u8]) {
        self.calls.push(format!("set {name}"));
        self.set.push((name.to_owned(), value.to_vec()));
    }

    fn add_response_header(&mut self, name: &str, _value: &[u8]) {
        self.calls.push(format!("add {name}"));
    }

    fn remove_response_header(&mut self, name: &str) {
        self.calls.push(format!("remove {name}"));
    }

    fn debug_enabled(&self) -> bool {
        self.debug
    }

    fn log_debug(&mut self, line: &str) {
        self.calls.push("log".into());
        self.logged.push(line.to_owned());
    }

    fn log_warning(&mut self, line: &str) {
        self.calls.push("warn".into());
        self.logged.push(line.to_owned());
    }
}
