"""The deployable module exports only what the ABI needs and the callbacks the
filter implements: Envoy enters the VM for every exported callback, so an
export the filter does not use is paid on every request."""

from support import wasm_module
from support.envoy_runner import ROOT

# Written out here, not read from src/host/exports.txt, so that a change to
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
    assert wasm_module.listed(ROOT / "src/host/exports.txt") == DEPLOYABLE_EXPORTS

