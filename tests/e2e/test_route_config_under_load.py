"""A route moved to another policy by an RDS update, under sustained load:
route metadata in the plugin, the module's per-route config in the module.
Every request is answered by the old policy or the new one, never failed,
and once the update is in, by the new one only."""

import time

import pytest
from envoy_cors_testing import envoy_runner
from envoy_cors_testing.http import request
from envoy_cors_testing.load import Load
from envoy_cors_testing.route_config import WatchedRoutes
from test_route_config import ORIGINS, POLICY, route_table, with_route_config

pytestmark = pytest.mark.load


def one_request(url: str, i: int) -> str | None:
    """From `a` or `b` on /route/: Allow-Origin for exactly the policy in force."""
    origin = ORIGINS["a" if i % 2 else "b"]
    r = request(url, "GET", f"/route/{i}", [("host", "meta.test"), ("origin", origin)])
    granted = r.all("access-control-allow-origin")
    if r.status != 200 or granted not in ([], [origin]) or "origin" not in r.vary():
        return f"{origin}: {r.status} {r.cors()} vary={r.vary()}"
    return None


def answered_by(url: str) -> str | None:
    for name in ("a", "b"):
        r = request(url, "GET", "/route/check", [("host", "meta.test"), ("origin", ORIGINS[name])])
        if r.all("access-control-allow-origin") == [ORIGINS[name]]:
            return name
    return None


def test_an_rds_update_under_load_moves_the_route_with_no_failed_request(shell, artifact, upstream):
    config = envoy_runner.render(POLICY, shell=shell, upstream=(upstream.host, upstream.port), mutate=with_route_config,
                                 **({"wasm": artifact} if shell == "wasm" else {}))
    with WatchedRoutes(config, module=artifact if shell == "dynamic" else None) as watched:
        url = watched.envoy.url
        assert answered_by(url) == "a"
        with Load(lambda i: one_request(url, i)) as load:
            time.sleep(1.0)
            success = watched.counter("update_success")
            watched.push(route_table(watched, shell, "b"))
            watched.wait_counter("update_success", success)
            deadline = time.monotonic() + 10
            while answered_by(url) != "b":
                assert time.monotonic() < deadline, "the update never applied"
                time.sleep(0.05)
            sent = load.sent
            time.sleep(1.0)
        assert load.failures == [], f"{len(load.failures)} of {load.sent} requests failed: {load.failures[:5]}"
        assert load.sent > sent > 0
