"""The plugin's failure modes (docs/operations.md, "When the VM fails"), shown
in Envoy with a build that traps on demand: the `fault-injection` feature
turns a request carrying `x-envoy-cors-test-panic: request` into a panic,
which aborts the wasm module (a trap). That build lives in
target/fault-injection/ and never ships (test_module_exports.py checks the
deployable .wasm lacks the marker).

- FAIL_RELOAD: the trapping request fails, so do requests during the reload
  backoff, then the next requests get the same policy's answers from a fresh
  VM, and `wasm.<vm_id>.vm_reload_*` counts it;
- FAIL_CLOSED: every request through the plugin on that worker gets a 503;
- FAIL_OPEN: the filter is skipped: preflights reach the upstream and no
  CORS header is added or removed.
"""

from __future__ import annotations

import time
import uuid

import pytest
from envoy_cors_testing import envoy_runner
from envoy_cors_testing.http import request
from policies import APP, EXAMPLE

pytestmark = pytest.mark.wire

TRAP = ("x-envoy-cors-test-panic", "request")
BACKOFF = {"base_interval": "0.2s", "max_interval": "1s"}


@pytest.fixture(scope="module")
def start(fault_injection, upstream, shell):
    if shell != "wasm":
        pytest.skip("failure_policy belongs to the wasm filter; the module fails closed (test_fail_closed.py)")
    running = []

    def run(policy: str) -> envoy_runner.Envoy:
        def mutate(config: dict) -> None:
            plugin = envoy_runner.wasm_filter(config)["config"]
            plugin["failure_policy"] = policy
            if policy == "FAIL_RELOAD":
                plugin["reload_config"] = {"backoff": BACKOFF}
        config = envoy_runner.render(EXAMPLE, upstream=(upstream.host, upstream.port),
                                     wasm=fault_injection["wasm"], mutate=mutate)
        envoy = envoy_runner.Envoy(config).start()
        running.append(envoy)
        return envoy

    yield run
    for envoy in running:
        envoy.cleanup()


def preflight(envoy, path: str, *extra: tuple[str, str]):
    return request(envoy.url, "OPTIONS", path, [("origin", APP), ("access-control-request-method", "PUT"), *extra])


def reloads(envoy) -> dict[str, int]:
    return {k: v for k, v in envoy.stats("wasm.cors.vm_reload").items()}


def trap(envoy) -> None:
    """One request that traps the VM; Envoy answers it 503."""
    path = f"/t/{uuid.uuid4().hex}"
    assert preflight(envoy, path).status == 204, "the policy answers before the trap"
    assert preflight(envoy, path, TRAP).status == 503
    assert "panicked at" in envoy.log() or "wasm trap" in envoy.log() or "Function: proxy_on_request_headers failed" \
        in envoy.log(), envoy.log()[-3000:]


def test_fail_reload_restores_the_same_policy_after_a_trap(start, upstream):
    envoy = start("FAIL_RELOAD")
    trap(envoy)
    deadline = time.monotonic() + 10
    answers = []
    while time.monotonic() < deadline:
        path = f"/after/{uuid.uuid4().hex}"
        r = preflight(envoy, path)
        answers.append(r.status)
        if r.status == 204:
            assert r.all("access-control-allow-origin") == [APP]
            assert r.get("access-control-allow-credentials") == "true"
            assert upstream.requests(path) == [], "answered by the filter, as before the trap"
            break
        assert r.status == 503, r  # during the reload backoff
        time.sleep(0.1)
    assert answers[-1] == 204, f"no answer from a reloaded VM within 10 s: {answers}"
    # And the VM keeps answering: an allowed request, a refused origin.
    path = f"/after/{uuid.uuid4().hex}"
    r = request(envoy.url, "GET", path, [("origin", APP)])
    assert (r.status, r.all("access-control-allow-origin")) == (200, [APP])
    counted = reloads(envoy)
    assert counted.get("wasm.cors.vm_reload_success", 0) >= 1, counted
    assert counted.get("wasm.cors.vm_reload_failure", 0) == 0, counted


def test_fail_closed_answers_503_after_a_trap(start, upstream):
    envoy = start("FAIL_CLOSED")
    trap(envoy)
    for _ in range(3):
        path = f"/after/{uuid.uuid4().hex}"
        assert preflight(envoy, path).status == 503
        assert request(envoy.url, "GET", path, [("origin", APP)]).status == 503
        assert upstream.requests(path) == []
    assert reloads(envoy).get("wasm.cors.vm_reload_success", 0) == 0


def test_fail_open_skips_the_filter_after_a_trap(start, upstream):
    envoy = start("FAIL_OPEN")
    trap(envoy)
    path = f"/after/{uuid.uuid4().hex}"
    # The preflight reaches the upstream, which answers it itself.
    r = preflight(envoy, path)
    assert r.status == 200 and r.cors() == {}
    assert [q.method for q in upstream.requests(path)] == ["OPTIONS"]
    # The upstream's own CORS headers are no longer replaced or removed,
    # even for an origin the policy refuses.
    r = request(envoy.url, "GET", path + "?response_header=Access-Control-Allow-Origin:%20*",
                [("origin", "https://evil.example")])
    assert r.all("access-control-allow-origin") == ["*"]
