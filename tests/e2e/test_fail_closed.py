"""The dynamic module fails closed after a panic its hooks catch (issue 21):
the stream is left as a refused CORS request is, never untouched. Shown in
Envoy with a build that panics on demand (the `fault-injection` feature: a
request carrying `x-envoy-cors-test-panic: request` or `response` panics in
that hook), which lives in target/fault-injection/ and never ships
(test_module_exports.py checks the released .so lacks the marker).

- the upstream's `Access-Control-Allow-Origin` is removed, in either hook;
- a preflight whose request hook panicked is answered 403;
- the panic is counted (`cors.panics`), logged once at error level (later
  ones at debug), and the access log records `reason=internal_error`;
- the same Envoy process goes on answering correctly.
"""

from __future__ import annotations

import uuid

import pytest
from envoy_cors_testing import envoy_runner
from envoy_cors_testing.http import request
from policies import APP, EXAMPLE

pytestmark = pytest.mark.wire

PANICS = "dynamicmodulescustom.cors.panics"
UPSTREAM_ACAO = "?response_header=Access-Control-Allow-Origin:%20*"


@pytest.fixture(scope="module")
def module_envoy(fault_injection, upstream, shell):
    if shell != "dynamic":
        pytest.skip("a wasm panic is a trap: see test_failure_policy.py")
    config = envoy_runner.render(EXAMPLE, upstream=(upstream.host, upstream.port), shell="dynamic")
    with envoy_runner.Envoy(config, module=fault_injection["dynamic"]) as envoy:
        yield envoy


def panics(envoy) -> int:
    return envoy.stats(PANICS).get(PANICS, 0)


def recorded(envoy, path: str) -> str:
    lines = envoy.access_log(lambda lines: any(f" {path} " in line for line in lines))
    mine = [line for line in lines if f" {path} " in line]
    assert len(mine) == 1, mine
    return mine[0].rsplit('" ', 1)[1]


def test_a_panic_in_the_request_hook_removes_the_upstreams_allow_origin(module_envoy, upstream):
    before = panics(module_envoy)
    path = f"/p/{uuid.uuid4().hex}"
    r = request(module_envoy.url, "GET", path + UPSTREAM_ACAO, [("origin", APP), ("x-envoy-cors-test-panic", "request")])
    assert r.status == 200
    assert r.all("access-control-allow-origin") == [], r.headers
    assert len(upstream.requests(path)) == 1
    assert panics(module_envoy) == before + 1
    assert recorded(module_envoy, path + UPSTREAM_ACAO) == "policy=- verdict=actual_denied reason=internal_error"


def test_a_preflight_whose_request_hook_panicked_is_answered_403(module_envoy, upstream):
    path = f"/p/{uuid.uuid4().hex}"
    r = request(module_envoy.url, "OPTIONS", path, [("origin", APP), ("access-control-request-method", "PUT"),
                                                    ("x-envoy-cors-test-panic", "request")])
    assert r.status == 403
    assert r.cors() == {}
    assert upstream.requests(path) == []
    assert recorded(module_envoy, path) == "policy=- verdict=preflight_denied reason=internal_error"


def test_a_panic_in_the_response_hook_removes_the_upstreams_allow_origin(module_envoy, upstream):
    before = panics(module_envoy)
    path = f"/p/{uuid.uuid4().hex}"
    # A refused origin, so that without the filter the upstream's `*` would reach the page.
    r = request(module_envoy.url, "GET", path + UPSTREAM_ACAO,
                [("origin", "https://evil.example"), ("x-envoy-cors-test-panic", "response")])
    assert r.status == 200
    assert r.all("access-control-allow-origin") == [], r.headers
    assert panics(module_envoy) == before + 1
    assert recorded(module_envoy, path + UPSTREAM_ACAO) == "policy=- verdict=actual_denied reason=internal_error"


def test_panics_are_logged_once_at_error_level_and_envoy_goes_on(module_envoy):
    for _ in range(3):
        request(module_envoy.url, "GET", f"/p/{uuid.uuid4().hex}", [("origin", APP), ("x-envoy-cors-test-panic", "request")])
    errors = [line for line in module_envoy.log().splitlines() if "[error]" in line and "cors: panic in" in line]
    assert len(errors) == 1, errors
    assert "later panics are counted in cors.panics" in errors[0]
    debug = module_envoy.filter_log_lines("debug")
    assert sum("cors: panic in" in line for line in debug) == panics(module_envoy) - 1
    # The same process still answers exactly right.
    assert module_envoy.proc.poll() is None
    path = f"/p/{uuid.uuid4().hex}"
    r = request(module_envoy.url, "OPTIONS", path, [("origin", APP), ("access-control-request-method", "PUT")])
    assert (r.status, r.all("access-control-allow-origin")) == (204, [APP])
    r = request(module_envoy.url, "GET", path + UPSTREAM_ACAO, [("origin", APP)])
    assert r.all("access-control-allow-origin") == [APP]
