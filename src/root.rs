//! The root context: parses, validates and compiles the policy in
//! `on_configure`, and hands the compiled result to every HTTP context.

use std::rc::Rc;
use std::time::Duration;

use envoy_cors_core::configure::{self, Loaded};
use envoy_cors_core::stream::Runtime;
use log::{error, info};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, MetricType};

use crate::http::CorsHttp;

/// How often the root re-reads Envoy's log level, so that
/// `/logging?wasm=debug` turns on the refusal reasons without a reload.
const LOG_LEVEL_REFRESH: Duration = Duration::from_secs(5);

/// The plugin's root context.
#[derive(Default)]
pub struct CorsRoot {
    runtime: Option<Rc<Runtime>>,
}

impl Context for CorsRoot {}

impl RootContext for CorsRoot {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        refresh_log_level();
        true
    }

    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        refresh_log_level();
        let started = hostcalls::get_current_time().ok();
        let text = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, plugin_configuration_size)
            .ok()
            .flatten()
            .unwrap_or_default();
        let define =
            |name: &str| hostcalls::define_metric(MetricType::Counter, name).map_err(|status| format!("{status:?}"));
        let runtime = match configure::load_deferring_counters(&text, define) {
            Ok(runtime) => runtime,
            Err(lines) => {
                for line in &lines {
                    error!("{line}");
                }
                return false;
            }
        };
        let took_us = started
            .and_then(|t| hostcalls::get_current_time().ok()?.duration_since(t).ok())
            .map_or(0, |d| d.as_micros());
        info!(
            "{}",
            Loaded {
                runtime: &runtime,
                took_us,
            }
        );
        self.runtime = Some(Rc::new(runtime));
        let _ = hostcalls::set_tick_period(LOG_LEVEL_REFRESH);
        true
    }

    fn on_tick(&mut self) {
        refresh_log_level();
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(CorsHttp::new(self.runtime.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Filters log lines inside the VM at Envoy's current level, so a disabled
/// debug line costs neither formatting nor a host call.
fn refresh_log_level() {
    if let Ok(level) = hostcalls::get_log_level() {
        proxy_wasm::set_log_level(level);
    }
}
