"""Actual (non-preflight) requests: decoration, what an upstream's own CORS
headers can and cannot do, Vary, local replies."""

import uuid

import fetch_browser as browser
import pytest
from envoy_cors_testing.http import request
from policies import APP, EVIL, EXAMPLE

pytestmark = pytest.mark.wire

LEAKY_UPSTREAM = [
    ("x-test-response-header", "Access-Control-Allow-Origin: https://evil.example"),
    ("x-test-response-header", "Access-Control-Allow-Credentials: true"),
    ("x-test-response-header", "Access-Control-Allow-Methods: DELETE"),
    ("x-test-response-header", "Access-Control-Expose-Headers: x-secret"),
    ("x-test-response-header", "Access-Control-Max-Age: 99999"),
]


def unique(prefix="/api"):
    return f"{prefix}/{uuid.uuid4().hex}"


@pytest.fixture
def example(envoy):
    return envoy(EXAMPLE)


def test_allowed_origin_gets_allow_origin_credentials_and_expose_headers(example, upstream):
    path = unique()
    r = request(example.url, "GET", path, [("origin", APP)])
    assert r.status == 200
    assert r.all("access-control-allow-origin") == [APP]
    assert r.get("access-control-allow-credentials") == "true"
    assert "x-request-id" in r.tokens("access-control-expose-headers")
    assert "origin" in r.vary()
    assert len(upstream.requests(path)) == 1


def test_request_headers_reach_the_upstream_unchanged(example, upstream):
    path = unique()
    request(example.url, "POST", path, [("origin", APP), ("x-api-key", "k1"), ("content-type", "text/plain")], b"hi")
    [got] = upstream.wait_for(path)
    assert got.header_values("origin") == [APP.encode()]
    assert got.header_values("x-api-key") == [b"k1"]
    assert got.body == b"hi"


def test_refused_origin_reaches_the_upstream_but_gets_no_cors_headers(example, upstream):
    path = unique()
    r = request(example.url, "GET", path, [("origin", EVIL)])
    assert r.status == 200
    assert r.cors() == {}
    assert "origin" in r.vary()
    assert len(upstream.requests(path)) == 1


def test_upstream_cors_headers_never_let_a_refused_origin_read_the_response(example):
    r = request(example.url, "GET", unique(), [("origin", EVIL), *LEAKY_UPSTREAM])
    assert r.status == 200
    assert "access-control-allow-origin" not in r.cors()
    for credentials in (False, True):
        ok, reason = browser.verdict(browser.cors_check, r.headers, EVIL, credentials)
        assert not ok and reason == "no Access-Control-Allow-Origin"


def test_upstream_cors_headers_are_replaced_by_the_policy_for_an_allowed_origin(example):
    r = request(example.url, "GET", unique(), [("origin", APP), *LEAKY_UPSTREAM, ("x-test-response-header", "x-secret: s")])
    assert r.all("access-control-allow-origin") == [APP]
    assert r.all("access-control-allow-credentials") == ["true"]
    assert r.tokens("access-control-expose-headers") == ["x-request-id"]
    assert not browser.readable(r.headers, "x-secret", credentials=True)
    # Read only on a preflight answer, which the filter always gives itself:
    # the upstream's copies on an actual response pass, inert.
    assert r.all("access-control-max-age") == ["99999"]


def test_request_without_origin_gets_vary_origin_and_no_cors_headers(example, upstream):
    path = unique()
    r = request(example.url, "GET", path, [*LEAKY_UPSTREAM[:1]])
    assert r.status == 200
    assert "origin" in r.vary()
    assert "access-control-allow-origin" not in r.cors()
    assert len(upstream.requests(path)) == 1


def test_upstream_vary_is_merged_not_clobbered(example):
    r = request(example.url, "GET", unique(), [
        ("origin", APP), ("x-test-response-header", "Vary: Accept-Encoding, Accept-Language"),
    ])
    assert {"accept-encoding", "accept-language", "origin"} <= set(r.vary())


def test_upstream_vary_on_origin_is_kept_as_its_own_line(example):
    r = request(example.url, "GET", unique(), [("origin", APP), ("x-test-response-header", "Vary: Accept, Origin")])
    # The filter adds Origin without reading the upstream's Vary (Envoy
    # appends it to the same line: RFC 9110 section 5.3 makes the two forms
    # equal); a member named twice in a list changes nothing.
    assert r.vary() == ["accept", "origin", "origin"]


def test_upstream_vary_without_origin_request_is_merged(example):
    r = request(example.url, "GET", unique(), [("x-test-response-header", "Vary: Accept-Encoding")])
    assert {"accept-encoding", "origin"} <= set(r.vary())


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_upstream_error_responses_get_cors_headers_for_an_allowed_origin(example, status):
    r = request(example.url, "GET", unique(), [("origin", APP), ("x-test-status", str(status))])
    assert r.status == status
    assert r.all("access-control-allow-origin") == [APP]
    assert r.get("access-control-allow-credentials") == "true"


def test_envoy_local_reply_503_gets_cors_headers_for_an_allowed_origin(example):
    r = request(example.url, "GET", unique("/unavailable"), [("origin", APP)])
    assert r.status == 503
    assert r.all("access-control-allow-origin") == [APP]
    assert r.get("access-control-allow-credentials") == "true"
    assert "origin" in r.vary()


def test_envoy_local_reply_503_gets_no_cors_headers_for_a_refused_origin(example):
    r = request(example.url, "GET", unique("/unavailable"), [("origin", EVIL)])
    assert r.status == 503
    assert r.cors() == {}
    assert "origin" in r.vary()


def test_any_origin_policy_answers_star_to_an_actual_request(example):
    r = request(example.url, "GET", unique("/public"), [("origin", EVIL), *LEAKY_UPSTREAM])
    assert r.all("access-control-allow-origin") == ["*"]
    assert r.get("access-control-allow-credentials") is None


def test_actual_request_with_two_origin_headers_gets_no_allow_origin(example):
    r = request(example.url, "GET", unique(), [("origin", APP), ("origin", APP)])
    assert "access-control-allow-origin" not in r.cors()


def test_filter_preflight_reply_is_not_decorated_twice(example):
    r = request(example.url, "OPTIONS", unique(), [
        ("origin", APP), ("access-control-request-method", "PUT"), ("access-control-request-headers", "x-api-key"),
    ])
    assert r.status == 204
    for name in ("access-control-allow-origin", "access-control-allow-credentials",
                 "access-control-allow-methods", "access-control-allow-headers", "access-control-max-age"):
        assert len(r.all(name)) == 1, name
    for token in set(r.vary()):
        assert r.vary().count(token) == 1, r.all("vary")


def test_upstream_vary_sent_as_several_lines_is_all_kept(example):
    r = request(example.url, "GET", unique(), [
        ("origin", APP),
        ("x-test-response-header", "Vary: Accept-Encoding"),
        ("x-test-response-header", "Vary: Accept-Language"),
    ])
    assert {"accept-encoding", "accept-language", "origin"} <= set(r.vary())


def test_every_line_of_a_repeated_upstream_allow_origin_is_removed(example):
    r = request(example.url, "GET", unique(), [
        ("origin", EVIL),
        ("x-test-response-header", "Access-Control-Allow-Origin: https://evil.example"),
        ("x-test-response-header", "Access-Control-Allow-Origin: *"),
    ])
    assert "access-control-allow-origin" not in r.cors()


def test_every_line_of_repeated_upstream_cors_headers_is_replaced_for_an_allowed_origin(example):
    r = request(example.url, "GET", unique("/public"), [
        ("origin", APP),
        ("x-test-response-header", "Access-Control-Allow-Origin: https://evil.example"),
        ("x-test-response-header", "Access-Control-Allow-Origin: https://app.example.com"),
        ("x-test-response-header", "access-control-allow-credentials: true"),
        ("x-test-response-header", "access-control-allow-credentials: true"),
        ("x-test-response-header", "access-control-expose-headers: x-a"),
        ("x-test-response-header", "access-control-expose-headers: x-b"),
    ])
    assert r.all("access-control-allow-origin") == ["*"]
    assert r.all("access-control-allow-credentials") == []
    assert r.all("access-control-expose-headers") == []
