//! The root context: parses, validates and compiles the policy in
//! `on_configure`, and hands the compiled result to every HTTP context.

use std::rc::Rc;
use std::time::Duration;

use log::{error, info};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, MetricType};

use super::http::CorsHttp;
use crate::config::Config;
use crate::filter::{PolicyCounters, Runtime};

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
        let config = match Config::parse(&text) {
            Ok(config) => config,
            Err(problems) => {
                for problem in &problems {
                    error!("cors: policy refused: {problem}");
                }
                error!(
                    "cors: policy refused with {} problem(s); keeping the previous configuration",
                    problems.len()
                );
                return false;
            }
        };
        let counters = config
            .policies
            .iter()
            .map(|p| PolicyCounters::define(&p.name, |name| hostcalls::define_metric(MetricType::Counter, name)))
            .collect();
        let counters = match counters {
            Ok(counters) => counters,
            Err(status) => {
                error!("cors: policy refused: cannot define counters: {status:?}");
                return false;
            }
        };
        // Whole microseconds: no float formatting in the plugin.
        let took_us = started
            .and_then(|t| hostcalls::get_current_time().ok()?.duration_since(t).ok())
            .map_or(0, |d| d.as_micros());
        info!(
            "cors: policy loaded in {took_us} us: {} polic{}, {} route rule(s), default {}",
            config.policies.len(),
            if config.policies.len() == 1 { "y" } else { "ies" },
            config.routes.rules.len(),
            config
                .routes
                .default
                .and_then(|i| config.policy(i))
                .map_or("none (untouched)", |p| p.name.as_str()),
        );
        self.runtime = Some(Rc::new(Runtime::new(config, counters)));
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
