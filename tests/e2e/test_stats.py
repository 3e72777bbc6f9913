"""Per-policy counters, visible in Envoy's admin /stats as wasmcustom.cors.<policy>.<name>
(the wasm plugin) or dynamicmodulescustom.cors.<policy>.<name> (the dynamic module), and in
/stats/prometheus as cors_<policy>_<name> or envoy_dynamicmodulescustom_cors_<policy>_<name>.

envoy.stats() answers the proxy-wasm names for both shells; the tests that pin the names
ask the Envoy for its shell's real ones (counter_name, prometheus_name)."""

import re
import uuid

import pytest
from envoy_cors_testing.http import request
from policies import APP, EVIL, EXAMPLE, SINGLE

pytestmark = pytest.mark.wire

NAMES = ("preflight_allowed", "preflight_denied", "actual_allowed", "actual_denied")


def delta(envoy, before):
    after = envoy.stats()
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def real_stats(e) -> dict[str, int]:
    return e.stats(e.counter_name("cors."))


def test_every_policy_has_its_four_counters_from_the_start(envoy):
    e = envoy(EXAMPLE)
    stats = real_stats(e)
    for policy in ("strict", "public"):
        for name in NAMES:
            assert e.counter_name(f"cors.{policy}.{name}") in stats, sorted(stats)


def test_single_policy_form_counts_under_the_name_default(envoy):
    e = envoy(SINGLE)
    stats = real_stats(e)
    for name in NAMES:
        assert e.counter_name(f"cors.default.{name}") in stats, sorted(stats)


def test_each_decision_increments_exactly_its_counter(envoy):
    e = envoy(EXAMPLE)
    p = f"/stats/{uuid.uuid4().hex}"
    cases = [
        ([("origin", APP), ("access-control-request-method", "PUT")], "OPTIONS", p, "strict.preflight_allowed"),
        ([("origin", EVIL), ("access-control-request-method", "PUT")], "OPTIONS", p, "strict.preflight_denied"),
        ([("origin", APP)], "GET", p, "strict.actual_allowed"),
        ([("origin", EVIL)], "GET", p, "strict.actual_denied"),
        ([("origin", EVIL)], "GET", "/public" + p, "public.actual_allowed"),
        ([("origin", EVIL), ("access-control-request-method", "DELETE")], "OPTIONS", "/public" + p, "public.preflight_denied"),
    ]
    for headers, method, path, counter in cases:
        before = e.stats()
        request(e.url, method, path, headers)
        assert delta(e, before) == {f"wasmcustom.cors.{counter}": 1}, (method, path, headers)


def test_requests_without_origin_and_untouched_routes_count_nothing(envoy):
    e = envoy(EXAMPLE)
    before = e.stats()
    request(e.url, "GET", f"/stats/{uuid.uuid4().hex}")
    request(e.url, "GET", f"/legacy/{uuid.uuid4().hex}", [("host", "api.example.com"), ("origin", APP)])
    assert delta(e, before) == {}


def test_counters_are_exported_in_prometheus_format(envoy):
    e = envoy(EXAMPLE)
    request(e.url, "GET", f"/stats/{uuid.uuid4().hex}", [("origin", APP)])
    _, text = e.admin("/stats/prometheus")
    name = e.prometheus_name("cors.strict.actual_allowed")
    assert re.search(rf"^{name}(\{{\}})? [1-9]", text, re.M), [line for line in text.splitlines() if "cors" in line]
