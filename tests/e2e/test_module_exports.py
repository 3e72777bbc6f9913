"""The deployable module exports only what the ABI needs and the callbacks the
filter implements: Envoy enters the VM for every exported callback, so an
export the filter does not use is paid on every request.

The dynamic module exports exactly the hooks Envoy 1.40 requires, and needs
from Envoy exactly the callbacks crates/dynamic-module/src/abi.rs binds."""

import pytest
from envoy_cors_testing import native_module, wasm_module
from envoy_cors_testing.envoy_runner import ROOT

pytestmark = pytest.mark.packaging

# Written out here, not read from src/exports.txt, so that a change to
# the list has to be made on purpose in both places.
DEPLOYABLE_EXPORTS = {
    "memory",
    "_initialize",
    "proxy_abi_version_0_2_1",
    "proxy_on_memory_allocate",
    "proxy_on_context_create",
    "proxy_on_delete",
    "proxy_on_vm_start",
    "proxy_on_configure",
    "proxy_on_tick",
    "proxy_on_request_headers",
    "proxy_on_response_headers",
}


def test_the_deployable_module_exports_only_the_abi_and_the_callbacks_the_filter_implements(wasm):
    assert wasm_module.exports(wasm) == DEPLOYABLE_EXPORTS


def test_the_export_list_of_the_build_step_is_the_deployable_one():
    assert wasm_module.listed(ROOT / "src/exports.txt") == DEPLOYABLE_EXPORTS



# The callbacks crates/dynamic-module/src/abi.rs declares; a new one must be bound, and
# checked against the binary, on purpose.
MODULE_CALLBACKS = {f"envoy_dynamic_module_callback_{c}" for c in (
    "http_get_header", "http_set_header", "http_add_header", "http_send_response",
    "http_filter_get_attribute_string", "http_filter_config_define_counter", "http_filter_increment_counter",
    "log", "log_enabled", "http_get_metadata_string", "http_set_filter_state_bytes",
)} | {"envoy_dynamic_module_callback_get_most_specific_route_config"}


def test_the_dynamic_module_exports_exactly_the_hooks_envoy_requires_and_the_per_route_ones(module):
    assert native_module.exports(module) == native_module.REQUIRED_HOOKS | native_module.PER_ROUTE_HOOKS


def test_the_dynamic_module_calls_only_the_bound_callbacks(module):
    assert native_module.imports(module) == MODULE_CALLBACKS


def test_every_callback_the_module_calls_is_exported_by_the_envoy_binary(module):
    import subprocess

    from envoy_cors_testing.envoy_runner import envoy_binary
    out = subprocess.run(["nm", "-D", "--defined-only", envoy_binary()], capture_output=True, text=True, check=True)
    exported = {line.split()[-1].split("@")[0] for line in out.stdout.splitlines()}
    assert MODULE_CALLBACKS <= exported, sorted(MODULE_CALLBACKS - exported)


def test_the_native_build_unwinds_so_the_hooks_can_catch_a_panic():
    # With panic = "abort" a panic in the module would abort Envoy, whatever
    # the hooks' catch_unwind; wasm32-wasip1 aborts by default anyway.
    import tomllib

    profile = tomllib.loads((ROOT / "Cargo.toml").read_text())["profile"]["release"]
    assert profile.get("panic", "unwind") == "unwind", profile


# The request header that makes the test-only `fault-injection` builds panic
# or trap (crates/dynamic-module/src/fault.rs, src/fault.rs).
FAULT_MARKER = b"x-envoy-cors-test-panic"


def test_the_released_artifacts_cannot_be_made_to_panic_on_demand(wasm, module, fault_injection):
    """The fault-injection feature is off in every release build: the
    deployable .wasm and .so lack its marker, while the test builds (to
    target/fault-injection/, never over the deployable paths) carry it."""
    for released in (wasm, module):
        assert FAULT_MARKER not in released.read_bytes(), released
    for built in fault_injection.values():
        assert FAULT_MARKER in built.read_bytes(), built
        assert "fault-injection" in str(built) and built not in (wasm, module)
