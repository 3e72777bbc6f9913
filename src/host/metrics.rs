//! The filter's counters, defined once per policy at configure time.
//! Envoy shows `cors.<policy>.<name>` as `wasmcustom.cors.<policy>.<name>`.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MetricType, Status};

use crate::policy::Decision;

/// Counter ids of one policy.
#[derive(Debug, Clone, Copy)]
pub struct PolicyMetrics {
    preflight_allowed: u32,
    preflight_denied: u32,
    actual_allowed: u32,
    actual_denied: u32,
}

impl PolicyMetrics {
    /// Defines (or finds again, on reconfigure) the counters of `policy`.
    pub fn define(policy: &str) -> Result<Self, Status> {
        let counter = |name: &str| hostcalls::define_metric(MetricType::Counter, &format!("cors.{policy}.{name}"));
        Ok(Self {
            preflight_allowed: counter("preflight_allowed")?,
            preflight_denied: counter("preflight_denied")?,
            actual_allowed: counter("actual_allowed")?,
            actual_denied: counter("actual_denied")?,
        })
    }

    /// Counts a decision (non-CORS and same-origin requests are not counted).
    pub fn count(&self, decision: &Decision<'_>) {
        let id = match decision {
            Decision::PreflightAllowed { .. } => self.preflight_allowed,
            Decision::PreflightDenied(_) => self.preflight_denied,
            Decision::ActualAllowed(_) => self.actual_allowed,
            Decision::ActualDenied(_) => self.actual_denied,
            Decision::NotCors | Decision::SameOrigin => return,
        };
        // A failed increment must never fail the request.
        let _ = hostcalls::increment_metric(id, 1);
    }
}
