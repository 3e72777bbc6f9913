"""The dynamic module's exports, as Envoy 1.40 resolves them (crates/dynamic-module/src/abi.rs)."""

from __future__ import annotations

import subprocess
from pathlib import Path

# Envoy 1.40 refuses the module, or the filter config, without any of these
# (found by loading a stub module lacking each in turn; see crates/dynamic-module/src/abi.rs).
REQUIRED_HOOKS = frozenset(
    ["envoy_dynamic_module_on_program_init"]
    + [f"envoy_dynamic_module_on_http_filter_{h}" for h in (
        "config_new", "config_destroy", "new", "request_headers", "request_body", "request_trailers",
        "response_headers", "response_body", "response_trailers", "stream_complete", "destroy",
        "http_callout_done", "http_stream_headers", "http_stream_data", "http_stream_trailers",
        "http_stream_complete", "http_stream_reset", "scheduled",
        "downstream_above_write_buffer_high_watermark", "downstream_below_write_buffer_low_watermark",
    )]
)

# Optional until a route table holds a DynamicModuleFilterPerRoute, then both
# required (Envoy 1.40 names the first missing one); the module implements them.
PER_ROUTE_HOOKS = frozenset(
    f"envoy_dynamic_module_on_http_filter_per_route_config_{h}" for h in ("new", "destroy")
)


def exports(path: Path) -> set[str]:
    """The envoy_dynamic_module_on_* symbols the shared library defines."""
    out = subprocess.run(["nm", "-D", "--defined-only", str(path)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if "envoy_dynamic_module_on_" in line}


def imports(path: Path) -> set[str]:
    """The envoy_dynamic_module_callback_* symbols it needs from Envoy."""
    out = subprocess.run(["nm", "-D", "--undefined-only", str(path)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if "envoy_dynamic_module_callback_" in line}
