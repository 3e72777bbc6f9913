//! The module's shell: the core's [`Host`] port over one stream's [`Envoy`],
//! and the configure step with Envoy's log levels. The per-stream logic is
//! the core's [`envoy_cors_core::stream::Stream`], the same as in the
//! proxy-wasm plugin.

use std::time::Instant;

use envoy_cors_core::configure::{self, Loaded};
use envoy_cors_core::policy::LocalReply;
use envoy_cors_core::record::FILTER_STATE_KEY;
use envoy_cors_core::request::RequestHead;
use envoy_cors_core::response::HeaderWriter;
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

    fn send_reply(&mut self, reply: &LocalReply<'_>) -> bool {
        self.0.send_response(reply.status, &reply.headers, reply_details(reply));
        true
    }

    fn increment(&mut self, counter: u32) {
        self.0.increment_counter(counter);
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

/// Compiles a filter config: the policy in `filter_config`, with its
/// counters defined through `define`. `None` when Envoy must refuse the
/// config; every problem is then logged on its own line, with the same
/// wording as the proxy-wasm shell.
pub fn configure(
    name: &[u8],
    policy: &[u8],
    define: impl FnMut(&str) -> Result<u32, String>,
    mut log: impl FnMut(Level, &str),
) -> Option<Runtime> {
    if name != FILTER_NAME.as_bytes() {
        log(
            Level::Error,
            &format!(
                "cors: policy refused: filter_name {:?} is not {FILTER_NAME:?}, the only filter this module implements",
                String::from_utf8_lossy(name)
            ),
        );
        return None;
    }
    let started = Instant::now();
    match configure::load(policy, define) {
        Ok(runtime) => {
            let took_us = started.elapsed().as_micros();
            log(
                Level::Info,
                &Loaded {
                    config: &runtime.config,
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
