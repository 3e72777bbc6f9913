"""Per-route policy selection: path glob, host glob, route_name, null, default."""

import uuid

import pytest
from envoy_cors_testing.http import request
from policies import APP, EXAMPLE

pytestmark = pytest.mark.wire

ORIGINS = {"a": "https://a.test", "b": "https://b.test", "c": "https://c.test"}

ROUTED = {
    "policies": {name: {"allow_origins": [origin]} for name, origin in ORIGINS.items()},
    "routes": [
        {"match": {"path": "/first/**"}, "policy": "a"},
        {"match": {"path": "/first/**"}, "policy": "b"},
        {"match": {"path": "/one/*"}, "policy": "a"},
        {"match": {"path": "/deep/**"}, "policy": "b"},
        {"match": {"host": "*.partner.test"}, "policy": "b"},
        {"match": {"route_name": "legacy"}, "policy": "c"},
        {"match": {"path": "/both/**", "host": "api.test"}, "policy": "a"},
        {"match": {"path": "/off/**"}, "policy": None},
    ],
}
WITH_DEFAULT = dict(ROUTED, default="c")
UPSTREAM_CORS = ("x-test-response-header", "Access-Control-Allow-Origin: https://upstream.example")


def policy_of(envoy, path, host=None):
    """Which policy answers a request: the name whose origin gets Allow-Origin, else None."""
    hits = []
    for name, origin in ORIGINS.items():
        headers = [("origin", origin)] + ([("host", host)] if host else [])
        r = request(envoy.url, "GET", path, headers)
        if r.all("access-control-allow-origin") == [origin]:
            hits.append(name)
    assert len(hits) <= 1, hits
    return hits[0] if hits else None


def unique():
    return uuid.uuid4().hex


@pytest.fixture
def routed(envoy):
    return envoy(ROUTED)


def test_first_matching_rule_wins(routed):
    assert policy_of(routed, f"/first/{unique()}") == "a"


def test_single_star_in_a_path_glob_stays_inside_one_segment(routed):
    assert policy_of(routed, f"/one/{unique()}") == "a"
    assert policy_of(routed, f"/one/{unique()}/more") is None


def test_double_star_in_a_path_glob_crosses_segments(routed):
    assert policy_of(routed, f"/deep/{unique()}/x/y/z") == "b"


def test_path_glob_ignores_the_query_string(routed):
    assert policy_of(routed, f"/one/{unique()}?next=/a/b") == "a"


def test_path_glob_does_not_match_a_longer_sibling(routed):
    assert policy_of(routed, f"/deeper/{unique()}") is None


@pytest.mark.parametrize("host", ["x.partner.test", "X.Partner.TEST", "x.partner.test:8443"])
def test_host_glob_matches_the_authority_host_case_insensitively_without_port(routed, host):
    assert policy_of(routed, f"/h/{unique()}", host=host) == "b"


def test_host_glob_does_not_match_another_host(routed):
    assert policy_of(routed, f"/h/{unique()}", host="partner.test.evil") is None


def test_route_name_selects_envoys_named_route(routed):
    assert policy_of(routed, f"/legacy/{unique()}") == "c"


def test_every_key_of_a_match_must_match(routed):
    assert policy_of(routed, f"/both/{unique()}", host="api.test") == "a"
    assert policy_of(routed, f"/both/{unique()}", host="other.test") is None


def test_request_matching_no_rule_without_default_is_untouched(routed, upstream):
    path = f"/nothing/{unique()}"
    r = request(routed.url, "OPTIONS", path, [("origin", ORIGINS["a"]), ("access-control-request-method", "GET"), UPSTREAM_CORS])
    assert r.status == 200
    assert len(upstream.requests(path)) == 1
    assert r.all("access-control-allow-origin") == ["https://upstream.example"]
    assert "origin" not in r.vary()


def test_default_policy_applies_to_requests_matching_no_rule(envoy):
    assert policy_of(envoy(WITH_DEFAULT), f"/nothing/{unique()}") == "c"


def test_null_policy_rule_leaves_preflight_and_response_untouched(envoy, upstream):
    e = envoy(WITH_DEFAULT)
    path = f"/off/{unique()}"
    r = request(e.url, "OPTIONS", path, [
        ("origin", ORIGINS["c"]), ("access-control-request-method", "GET"),
        UPSTREAM_CORS, ("x-test-response-header", "Vary: Accept"),
    ])
    assert r.status == 200
    assert len(upstream.requests(path)) == 1
    assert r.all("access-control-allow-origin") == ["https://upstream.example"]
    assert r.vary() == ["accept"]


def test_example_policy_turns_cors_off_only_for_the_legacy_route_on_api_example_com(envoy, upstream):
    e = envoy(EXAMPLE)
    path = f"/legacy/{unique()}"
    off = request(e.url, "GET", path, [("host", "api.example.com"), ("origin", APP), UPSTREAM_CORS])
    assert off.all("access-control-allow-origin") == ["https://upstream.example"]
    assert "origin" not in off.vary()
    on = request(e.url, "GET", path, [("host", "www.example.com"), ("origin", APP), UPSTREAM_CORS])
    assert on.all("access-control-allow-origin") == [APP]
