"""Preflights: answered by the filter, never forwarded (issue 2, "Behaviour on the wire")."""

import uuid

import pytest
from envoy_cors_testing.http import request
from policies import APP, EVIL, EXAMPLE, SINGLE

pytestmark = pytest.mark.wire


def unique(prefix="/pf"):
    return f"{prefix}/{uuid.uuid4().hex}"


def preflight(envoy, path, origin, method="GET", req_headers=None, extra=None):
    headers = [("origin", origin), ("access-control-request-method", method)]
    if req_headers is not None:
        headers.append(("access-control-request-headers", req_headers))
    headers += list(extra or [])
    return request(envoy.url, "OPTIONS", path, headers)


def methods(resp):
    """Allow-Methods as the browser reads it: case-sensitive tokens."""
    return [t.strip() for v in resp.all("access-control-allow-methods") for t in v.split(",") if t.strip()]


@pytest.fixture
def example(envoy):
    return envoy(EXAMPLE)


def test_allowed_preflight_is_answered_with_every_header_the_policy_grants(example, upstream):
    path = unique()
    r = preflight(example, path, APP, "PUT", "content-type,x-api-key")
    assert r.status == 204
    assert r.all("access-control-allow-origin") == [APP]
    assert r.get("access-control-allow-credentials") == "true"
    assert "PUT" in methods(r)
    assert {"content-type", "x-api-key"} <= set(r.tokens("access-control-allow-headers"))
    assert r.get("access-control-max-age") == "600"
    assert r.get("access-control-allow-private-network") is None
    assert upstream.requests(path) == []


def test_allowed_preflight_varies_on_origin_request_method_and_request_headers(example):
    r = preflight(example, unique(), APP, "PUT", "content-type")
    assert {"origin", "access-control-request-method", "access-control-request-headers"} <= set(r.vary())


def test_refused_preflight_still_varies_on_origin_request_method_and_request_headers(example):
    r = preflight(example, unique(), EVIL, "PUT", "content-type")
    assert r.status == 403
    assert {"origin", "access-control-request-method", "access-control-request-headers"} <= set(r.vary())


def test_refused_preflight_reason_is_logged_at_debug_level(example):
    origin = f"https://{uuid.uuid4().hex}.example"
    method = "PURGE" + uuid.uuid4().hex[:8].upper()
    assert preflight(example, unique(), APP, method).status == 204  # allowed origin: the precise answer
    assert preflight(example, unique(), origin, "GET").status == 403
    debug = example.filter_log_lines("debug")
    assert any(method in line for line in debug), debug[-5:]
    assert any(origin in line for line in debug), debug[-5:]


def test_preflight_from_unlisted_origin_gets_403_without_cors_headers(example, upstream):
    path = unique()
    r = preflight(example, path, EVIL, "GET")
    assert r.status == 403
    assert r.cors() == {}
    assert upstream.requests(path) == []


def test_preflight_for_unlisted_method_gets_the_allowed_answer_without_it(example, upstream):
    """The origin is allowed: the answer is the one an allowed preflight gets,
    whose Allow-Methods lacks DELETE, so the browser blocks the request and
    names the method (not the origin)."""
    path = unique()
    r = preflight(example, path, APP, "DELETE")
    assert r.status == 204
    assert r.all("access-control-allow-origin") == [APP]
    assert r.get("access-control-allow-credentials") == "true"
    assert "DELETE" not in methods(r) and "PUT" in methods(r)
    assert upstream.requests(path) == []
    assert example.stats("wasmcustom.cors.strict.preflight_denied")["wasmcustom.cors.strict.preflight_denied"] >= 1


def test_preflight_methods_compare_case_sensitively(example):
    r = preflight(example, unique(), APP, "put")
    assert "put" not in methods(r)
    assert any(line.endswith("reason=method_not_allowed:put") for line in example.access_log(
        lambda lines: any("method_not_allowed:put" in line for line in lines)))


def test_preflight_for_unlisted_header_gets_the_allowed_answer_without_it(example, upstream):
    path = unique()
    r = preflight(example, path, APP, "POST", "content-type,x-secret")
    assert r.status == 204
    assert r.all("access-control-allow-origin") == [APP]
    assert "x-secret" not in r.tokens("access-control-allow-headers")
    assert "content-type" in r.tokens("access-control-allow-headers")
    assert upstream.requests(path) == []


def test_preflight_that_a_star_policy_refuses_echoes_the_other_headers_on_two_lines(example):
    """`*` never covers authorization: the echo leaves it out. What came before
    and after it go on two Access-Control-Allow-Headers lines of the reply,
    which a browser reads as one list (Envoy may join them with a comma)."""
    r = preflight(example, unique("/public"), EVIL, "GET", "x-a, authorization, x-b")
    assert r.status == 204
    assert r.tokens("access-control-allow-headers") == ["x-a", "x-b"]
    assert r.all("access-control-allow-origin") == ["*"]


def test_preflight_header_names_compare_case_insensitively(example):
    r = preflight(example, unique(), APP, "POST", "Content-Type, X-API-Key")
    assert r.status == 204
    assert {"content-type", "x-api-key"} <= set(r.tokens("access-control-allow-headers"))


@pytest.mark.parametrize("origin", [
    "https://a.example.org",
    "https://a.b.example.org",
    "http://localhost",
    "http://localhost:3000",
])
def test_preflight_from_origin_matching_a_pattern_is_allowed(example, origin):
    r = preflight(example, unique(), origin, "GET")
    assert r.status == 204
    assert r.all("access-control-allow-origin") == [origin]


@pytest.mark.parametrize("origin", [
    "https://example.org",            # the wildcard needs at least one label
    "http://a.example.org",           # other scheme
    "https://a.example.org.evil.example",
    "https://evilexample.org",
    "https://app.example.com/",       # trailing slash
    "https://app.example.com/path",
    "https://App.example.com",        # browsers serialize lowercase
    "https://app.example.com:443",    # explicit default port
    "https://a..example.org",         # empty label
    "https://app.example.com, https://app.example.com",
    "null",
    "",
])
def test_preflight_from_origin_that_is_not_an_exact_serialized_allowed_origin_is_refused(example, origin):
    r = preflight(example, unique(), origin, "GET")
    assert r.status == 403
    assert r.cors() == {}


def test_preflight_with_two_origin_headers_is_refused(example):
    r = request(example.url, "OPTIONS", unique(), [
        ("origin", APP), ("origin", APP), ("access-control-request-method", "GET"),
    ])
    assert r.status == 403
    assert r.cors() == {}


def test_preflight_to_any_origin_policy_gets_a_star_without_credentials(example, upstream):
    path = unique("/public")
    r = preflight(example, path, EVIL, "POST", "x-anything")
    assert r.status == 204
    assert r.all("access-control-allow-origin") == ["*"]
    assert r.get("access-control-allow-credentials") is None
    toks = r.tokens("access-control-allow-headers")
    assert "*" in toks or "x-anything" in toks
    assert upstream.requests(path) == []


def test_preflight_to_any_origin_policy_still_checks_the_default_methods(example):
    r = preflight(example, unique("/public"), EVIL, "DELETE")
    assert r.all("access-control-allow-origin") == ["*"]
    assert "DELETE" not in methods(r)


def test_preflight_asking_for_private_network_gets_it_when_the_policy_allows(envoy):
    single = envoy(SINGLE)
    r = preflight(single, unique(), APP, "PATCH", "x-api-key",
                  [("access-control-request-private-network", "true")])
    assert r.status == 200  # preflight_status
    assert r.get("access-control-allow-private-network") == "true"
    assert r.get("access-control-max-age") == "120"
    assert r.get("access-control-allow-credentials") is None
    assert r.all("access-control-allow-origin") == [APP]


def test_preflight_asking_for_private_network_does_not_get_it_when_the_policy_does_not_allow(example):
    r = preflight(example, unique(), APP, "GET", None, [("access-control-request-private-network", "true")])
    assert r.status == 204
    assert r.get("access-control-allow-private-network") is None
    assert r.all("access-control-allow-origin") == [APP]


def test_options_without_request_method_is_an_ordinary_request_for_the_upstream(example, upstream):
    path = unique()
    r = request(example.url, "OPTIONS", path, [("origin", APP)])
    assert r.status == 200
    assert len(upstream.requests(path)) == 1
    assert r.all("access-control-allow-origin") == [APP]


def test_options_without_origin_is_an_ordinary_request_for_the_upstream(example, upstream):
    path = unique()
    r = request(example.url, "OPTIONS", path, [("access-control-request-method", "GET")])
    assert r.status == 200
    assert len(upstream.requests(path)) == 1
    assert "access-control-allow-origin" not in r.cors()


def test_preflight_to_a_route_whose_cluster_is_down_is_still_answered_by_the_filter(example):
    r = preflight(example, unique("/unavailable"), APP, "GET")
    assert r.status == 204
    assert r.all("access-control-allow-origin") == [APP]


def test_preflight_over_http2_is_answered_like_over_http1(example):
    import httpx

    with httpx.Client(http1=False, http2=True) as client:
        r = client.options(example.url + unique(), headers={
            "origin": APP, "access-control-request-method": "PUT",
            "access-control-request-headers": "x-api-key",
        })
    assert r.http_version == "HTTP/2"
    assert r.status_code == 204
    assert r.headers.get_list("access-control-allow-origin") == [APP]
    assert "x-api-key" in r.headers["access-control-allow-headers"].lower()
