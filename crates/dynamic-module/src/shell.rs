//! The module's shell: the core's [`Host`] port over one stream's [`Envoy`],
//! and the configure step with Envoy's log levels. The per-stream logic is
//! the core's [`envoy_cors_core::stream::Stream`], the same as in the
//! proxy-wasm plugin.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use envoy_cors_core::configure::{self, Loaded};
use envoy_cors_core::language::PerRouteConfig;
use envoy_cors_core::policy::LocalReply;
use envoy_cors_core::record::FILTER_STATE_KEY;
use envoy_cors_core::request::RequestHead;
use envoy_cors_core::response::HeaderWriter;
use envoy_cors_core::selection::{Attached, MetadataLevel, METADATA_KEY};
use envoy_cors_core::stream::{Host, Runtime};

use crate::envoy::{read_head, Envoy};
use crate::FILTER_NAME;

/// The response code details Envoy records for the filter's local replies
/// (`%RESPONSE_CODE_DETAILS%`).
pub fn reply_details(reply: &LocalReply<'_>) -> &'static str {
    match (reply.refused, reply.status) {
        (true, 403) => "cors_refused",
        (true, _) => "cors_preflight_refused",
        (false, _) => "cors_preflight_allowed",
    }
}

/// The filter's [`Host`] port over one stream's [`Envoy`].
pub struct Shell<E>(pub E);

impl<'h, E: Envoy<'h>> Host for Shell<E> {
    fn read_request<R>(&mut self, route_name: bool, f: impl FnOnce(&mut Self, &RequestHead<'_>) -> R) -> Option<R> {
        let head = read_head(&self.0, route_name);
        Some(f(self, &head))
    }

    fn per_route_config(&mut self) -> Option<Arc<PerRouteConfig>> {
        self.0.per_route_config()
    }

    /// The route's metadata only: Envoy 1.40 gives a module no way to read
    /// a virtual host's (its metadata getter has no such source), and a
    /// `null` there reads as absent (with an error in Envoy's log). The
    /// module's per-route configuration covers both: `{"policy": null}`, and
    /// one on the virtual host.
    fn metadata_policy(&mut self, namespace: &str, level: MetadataLevel) -> Attached<'_> {
        match level {
            MetadataLevel::Route => self
                .0
                .route_metadata_string(namespace, METADATA_KEY)
                .map_or(Attached::Absent, |name| Attached::Name(Cow::Borrowed(name))),
            MetadataLevel::VirtualHost => Attached::Absent,
        }
    }

    fn send_reply(&mut self, reply: &LocalReply<'_>) -> bool {
        self.0.send_response(reply.status, &reply.headers, reply_details(reply));
        true
    }

    fn increment(&mut self, counter: u32) {
        self.0.increment_counter(counter);
    }

    /// Never asked: Envoy defines a module's counters only while it makes
    /// the filter config, so the module defines them all at load.
    fn define_counter(&mut self, _name: &str) -> Option<u32> {
        None
    }

    fn increment_labelled(&mut self, counter: u32, label: &str) {
        self.0.increment_labelled_counter(counter, label);
    }

    fn log_warning(&mut self, line: &str) {
        self.0.log_warning(line);
    }

    fn write_record(&mut self, record: &str) {
        self.0.set_filter_state(FILTER_STATE_KEY, record.as_bytes());
    }

    fn log_debug(&mut self, line: &str) {
        self.0.log_debug(line);
    }

    fn debug_enabled(&self) -> bool {
        self.0.debug_enabled()
    }
}

impl<'h, E: Envoy<'h>> HeaderWriter for Shell<E> {
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

/// A filter config as the module keeps it: the compiled policy and the id
/// of its panic counter (`cors.panics`; `None` if Envoy could not define it).
#[derive(Debug)]
pub struct FilterConfig {
    /// The compiled policy and its counters.
    pub runtime: Runtime,
    /// The counter of panics caught in this config's streams.
    pub panics: Option<u32>,
}

/// A log line's level, as the configure step needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A refused configuration.
    Error,
    /// A loaded one.
    Info,
}

/// The refusal of a `filter_name` other than ours, or `None` for ours.
fn foreign_name(name: &[u8], what: &str) -> Option<String> {
    (name != FILTER_NAME.as_bytes()).then(|| {
        format!(
            "cors: {what} refused: filter_name {:?} is not {FILTER_NAME:?}, the only filter this module implements",
            String::from_utf8_lossy(name)
        )
    })
}

/// Compiles a filter config: the policy in `filter_config`, with its
/// counters defined through `define(name, label_names)`. `None` when Envoy
/// must refuse the config; every problem is then logged on its own line,
/// with the same wording as the proxy-wasm shell.
pub fn configure(
    name: &[u8],
    policy: &[u8],
    mut define: impl FnMut(&str, &[&str]) -> Result<u32, String>,
    mut log: impl FnMut(Level, &str),
) -> Option<Runtime> {
    if let Some(line) = foreign_name(name, "policy") {
        log(Level::Error, &line);
        return None;
    }
    let started = Instant::now();
    let loaded = configure::load(policy, |counter| define(counter, &[])).and_then(|mut runtime| {
        configure::define_per_route_counters(&mut runtime, |counter, label| define(counter, label.as_slice()))
            .map(|()| runtime)
    });
    match loaded {
        Ok(runtime) => {
            let took_us = started.elapsed().as_micros();
            log(
                Level::Info,
                &Loaded {
                    runtime: &runtime,
                    took_us,
                }
                .to_string(),
            );
            Some(runtime)
        }
        Err(lines) => {
            for line in &lines {
                log(Level::Error, line);
            }
            None
        }
    }
}

/// Compiles a per-route config (`DynamicModuleFilterPerRoute`'s
/// `filter_config`). `None` when Envoy must refuse the route configuration:
/// every problem is then logged on its own line, as Envoy's own message
/// ("Failed to initialize per-route dynamic module") names none.
pub fn configure_per_route(name: &[u8], config: &[u8], mut log: impl FnMut(Level, &str)) -> Option<PerRouteConfig> {
    if let Some(line) = foreign_name(name, "per-route policy") {
        log(Level::Error, &line);
        return None;
    }
    match configure::load_per_route(config) {
        Ok(per_route) => Some(per_route),
        Err(lines) => {
            for line in &lines {
                log(Level::Error, line);
            }
            None
        }
    }
}
