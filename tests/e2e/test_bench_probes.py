"""The benchmark's probes make exactly the host calls they are named for.

`bench/run.py` and `bench/callgrind.py` price host calls with the floor
filter (`bench/empty-filter`) configured to make only some of them, and the
performance figures compare the filter against those probes. A probe that
silently did less (a typo in its configuration, a call that failed) would
make the comparison flattering, so each probe listener of the benchmark's own
Envoy config is checked here on the wire, in front of the test upstream.
"""

from __future__ import annotations

import http.client
import subprocess

import pytest
from envoy_cors_bench import run as bench
from envoy_cors_testing.envoy_runner import ROOT, Envoy

pytestmark = pytest.mark.wire

ORIGIN = "https://app.example.com"
# An upstream that sends its own Access-Control-Allow-Origin, so that a probe
# that removes it is seen doing so.
LEAKY = {"x-test-response-header": "Access-Control-Allow-Origin: https://upstream.example"}
PREFLIGHT = {"origin": ORIGIN, "access-control-request-method": "PUT", "access-control-request-headers": "content-type"}

# listener -> (method, request headers, response headers the probe must add, answered locally, counts)
EXPECTED = {
    "floor": ("GET", {"origin": ORIGIN}, {}, False, False),
    "floor_lean": ("GET", {"origin": ORIGIN}, {}, False, False),
    "floor_abi": ("GET", {"origin": ORIGIN}, {}, False, False),
    "probe_read_origin_allowed": ("GET", {"origin": ORIGIN}, {}, False, False),
    "probe_read_request_map_allowed": ("GET", {"origin": ORIGIN}, {}, False, False),
    "probe_count_allowed": ("GET", {"origin": ORIGIN}, {}, False, True),
    "probe_read_route_name_allowed": ("GET", {"origin": ORIGIN}, {}, False, False),
    "probe_read_response_map_allowed": ("GET", {"origin": ORIGIN}, {}, False, False),
    "probe_add_vary_allowed": ("GET", {"origin": ORIGIN}, {"vary": "origin"}, False, False),
    "probe_set_acao_allowed": ("GET", {"origin": ORIGIN}, {"access-control-allow-origin": "*"}, False, False),
    "probe_remove_acao_allowed": ("GET", {"origin": ORIGIN, **LEAKY}, {"access-control-allow-origin": None}, False, False),
    "probe_minimal_allowed": ("GET", {"origin": ORIGIN},
                              {"access-control-allow-origin": ORIGIN, "vary": "origin"}, False, False),
    "probe_our_calls_allowed": ("GET", {"origin": ORIGIN}, {
        "access-control-allow-origin": "*",
        "access-control-allow-credentials": "true",
        "access-control-expose-headers": "x-request-id",
        "vary": "origin",
    }, False, True),
    "probe_our_calls_refused": ("GET", {"origin": ORIGIN, **LEAKY}, {"access-control-allow-origin": None, "vary": "origin"},
                                False, True),
    "probe_our_calls_no": ("GET", LEAKY, {"access-control-allow-origin": None, "vary": "origin"}, False, False),
    "probe_reply_preflight": ("OPTIONS", PREFLIGHT, {
        "access-control-allow-origin": "*",
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": "PUT",
        "access-control-allow-headers": "content-type",
        "access-control-max-age": "600",
        "vary": "origin, access-control-request-method, access-control-request-headers",
    }, True, False),
    "probe_our_calls_preflight": ("OPTIONS", PREFLIGHT, {
        "access-control-allow-origin": "*",
        "access-control-max-age": "600",
    }, True, True),
}
COUNTER = "wasmcustom.probe.requests"


@pytest.fixture(scope="module")
def bench_envoy(upstream):
    build = subprocess.run([str(ROOT / "scripts/build-wasm.sh"), "--floor"], cwd=ROOT, capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail("scripts/build-wasm.sh --floor failed:\n" + build.stderr[-4000:], pytrace=False)
    cfg = bench.config_under_test(upstream.port)
    listeners = cfg["static_resources"]["listeners"]
    cfg["static_resources"]["listeners"] = [lis for lis in listeners if lis["name"] in EXPECTED]
    with Envoy(cfg, component_log_level=None) as envoy:
        yield envoy, bench.listener_ports(envoy)


def test_every_probe_of_the_benchmark_is_checked():
    names = {bench.probe_listener(s, p) for s, probes in bench.PROBES.items() for p in probes}
    assert names == set(EXPECTED) - {"floor", "floor_lean", "floor_abi"}
    for _, _, listeners in bench.SCENARIOS.values():
        assert {n for n in listeners if n.startswith("probe_")} <= names


@pytest.mark.parametrize("name", list(EXPECTED))
def test_probe_makes_its_calls(bench_envoy, upstream, name):
    envoy, ports = bench_envoy
    method, headers, added, local, counts = EXPECTED[name]
    path = f"/probe/{name}"
    before = envoy.stats(COUNTER).get(COUNTER, 0)
    conn = http.client.HTTPConnection("127.0.0.1", ports[name], timeout=10)
    conn.request(method, path, headers=headers)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    got = {k.lower(): v for k, v in resp.getheaders()}
    for header, value in added.items():
        assert got.get(header) == value, (header, resp.getheaders())
    if not added:
        assert not any(k.startswith("access-control-") or k == "vary" for k in got), resp.getheaders()
    reached = upstream.wait_for(path, timeout=0.5 if local else 5)
    assert resp.status == (204 if local else 200)
    assert (len(reached) == 0) == local
    after = envoy.stats(COUNTER).get(COUNTER, 0)
    assert after - before == (1 if counts else 0)
