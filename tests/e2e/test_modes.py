"""Report mode and reject_disallowed."""

import uuid

import pytest
from envoy_cors_testing.http import request
from policies import APP, EVIL

pytestmark = pytest.mark.wire

REPORT = {"allow_origins": [APP], "allow_methods": ["GET", "PUT"], "mode": "report"}
REJECT = {"allow_origins": [APP], "reject_disallowed": True}
UPSTREAM_CORS = ("x-test-response-header", "Access-Control-Allow-Origin: https://upstream.example")


def unique(prefix="/m"):
    return f"{prefix}/{uuid.uuid4().hex}"


def delta(envoy, before):
    after = envoy.stats()
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


@pytest.fixture
def report(envoy):
    return envoy(REPORT)


@pytest.fixture
def reject(envoy):
    return envoy(REJECT)


def test_report_mode_forwards_a_refused_preflight_unchanged_and_counts_it(report, upstream):
    path = unique()
    before = report.stats()
    r = request(report.url, "OPTIONS", path, [
        ("origin", EVIL), ("access-control-request-method", "DELETE"), UPSTREAM_CORS,
    ])
    assert r.status == 200  # the upstream's answer
    assert len(upstream.requests(path)) == 1
    assert r.all("access-control-allow-origin") == ["https://upstream.example"]
    assert delta(report, before) == {"wasmcustom.cors.default.preflight_denied": 1}


def test_report_mode_forwards_an_allowed_preflight_unchanged_and_counts_it(report, upstream):
    path = unique()
    before = report.stats()
    r = request(report.url, "OPTIONS", path, [("origin", APP), ("access-control-request-method", "PUT")])
    assert r.status == 200
    assert len(upstream.requests(path)) == 1
    assert r.cors() == {}
    assert delta(report, before) == {"wasmcustom.cors.default.preflight_allowed": 1}


def test_report_mode_leaves_actual_responses_untouched_and_counts_them(report):
    before = report.stats()
    refused = request(report.url, "GET", unique(), [("origin", EVIL), UPSTREAM_CORS])
    allowed = request(report.url, "GET", unique(), [("origin", APP), ("x-test-response-header", "Vary: Accept")])
    assert refused.all("access-control-allow-origin") == ["https://upstream.example"]
    assert allowed.cors() == {}
    assert allowed.vary() == ["accept"]
    assert delta(report, before) == {
        "wasmcustom.cors.default.actual_denied": 1,
        "wasmcustom.cors.default.actual_allowed": 1,
    }


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_reject_disallowed_answers_403_to_a_cross_origin_refused_request_without_reaching_upstream(reject, upstream, method):
    path = unique()
    r = request(reject.url, method, path, [("origin", EVIL)])
    assert r.status == 403
    assert r.cors() == {}
    assert "origin" in r.vary()
    assert upstream.requests(path) == []


def test_reject_disallowed_lets_same_origin_requests_pass(reject, upstream):
    path = unique()
    r = request(reject.url, "POST", path, [("origin", reject.url)], b"{}")
    assert r.status == 200
    assert len(upstream.requests(path)) == 1


def test_reject_disallowed_same_origin_is_judged_against_the_request_authority(reject, upstream):
    path = unique()
    r = request(reject.url, "GET", path, [("host", "api.internal.test"), ("origin", "http://api.internal.test")])
    assert r.status == 200
    assert len(upstream.requests(path)) == 1
    other = request(reject.url, "GET", unique(), [("host", "api.internal.test"), ("origin", "https://api.internal.test")])
    assert other.status == 403  # the scheme differs: cross-origin


def test_reject_disallowed_lets_requests_without_origin_pass(reject, upstream):
    path = unique()
    r = request(reject.url, "GET", path)
    assert r.status == 200
    assert len(upstream.requests(path)) == 1


def test_reject_disallowed_serves_allowed_origins_normally(reject, upstream):
    path = unique()
    r = request(reject.url, "GET", path, [("origin", APP)])
    assert r.status == 200
    assert r.all("access-control-allow-origin") == [APP]
    assert len(upstream.requests(path)) == 1


def test_reject_disallowed_counts_the_rejection_as_actual_denied(reject):
    before = reject.stats()
    request(reject.url, "GET", unique(), [("origin", EVIL)])
    assert delta(reject, before) == {"wasmcustom.cors.default.actual_denied": 1}
