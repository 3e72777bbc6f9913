"""gRPC-Web through the CORS filter (docs/operators.md, "gRPC-Web"): the
recipe's policy, the filter before `envoy.filters.http.grpc_web`, and a real
gRPC server (grpcio) behind Envoy, in both shells.

A browser's gRPC-Web client (grpc-web, connect-web's gRPC-Web transport)
sends `POST` with `content-type: application/grpc-web+proto` and the headers
`x-grpc-web`, `x-user-agent` and `grpc-timeout`, so every call is preflighted.
A call that fails before any message comes back "trailers-only": the
grpc_web filter puts `grpc-status` and `grpc-message` in the response
headers, which a page reads only if the policy exposes them. What the page
can read is decided by the Fetch model (tests/e2e/fetch_browser.py).
"""

from __future__ import annotations

import struct
import uuid
from concurrent import futures

import fetch_browser
import grpc
import pytest
from envoy_cors_testing import envoy_runner
from envoy_cors_testing.http import request
from policies import APP

pytestmark = pytest.mark.wire

# The recipe of docs/operators.md.
GRPC_WEB_POLICY = {
    "allow_origins": [APP],
    "allow_methods": ["POST"],
    "allow_headers": ["content-type", "x-grpc-web", "x-user-agent", "grpc-timeout"],
    "expose_headers": ["grpc-status", "grpc-message", "grpc-status-details-bin", "x-greeting-id"],
    "max_age": 600,
}
# The same without x-grpc-web: the report.
WITHOUT_X_GRPC_WEB = {**GRPC_WEB_POLICY, "allow_headers": ["content-type", "x-user-agent", "grpc-timeout"]}
POLICY = {
    "policies": {"grpc": GRPC_WEB_POLICY, "forgot": WITHOUT_X_GRPC_WEB},
    "routes": [{"match": {"path": "/forgot/**"}, "policy": "forgot"}],
    "default": "grpc",
}
SERVICE, METHOD = "demo.Greeter", "Say"
PATH = f"/{SERVICE}/{METHOD}"
# What a gRPC-Web client sends; browsers list the preflight's names sorted.
CALL_HEADERS = [("content-type", "application/grpc-web+proto"), ("x-grpc-web", "1"),
                ("x-user-agent", "grpc-web-javascript/0.1"), ("grpc-timeout", "5S")]
ASKED = "content-type,grpc-timeout,x-grpc-web,x-user-agent"


class Greeter:
    """A gRPC server with one unary method over raw bytes (no generated code):
    `fail` aborts with NOT_FOUND before any message (a trailers-only answer)."""

    def __init__(self):
        self.calls = 0
        handler = grpc.method_handlers_generic_handler(SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(self.say)})
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def say(self, message: bytes, context) -> bytes:
        self.calls += 1
        if message == b"fail":
            context.abort(grpc.StatusCode.NOT_FOUND, "no such greeting")
        context.send_initial_metadata((("x-greeting-id", "g-1"),))
        return b"hello " + message


@pytest.fixture(scope="module")
def greeter():
    g = Greeter()
    g.server.start()
    yield g
    g.server.stop(None)


def with_grpc_web(port: int):
    def mutate(config: dict) -> None:
        config["static_resources"]["clusters"].append({
            "name": "grpc", "type": "STATIC", "connect_timeout": "2s",
            "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}}},
            "load_assignment": {"cluster_name": "grpc", "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
        })
        envoy_runner.routes(config).insert(0, {"match": {"prefix": f"/{SERVICE}/"}, "route": {"cluster": "grpc"}})
        filters = envoy_runner.http_connection_manager(config)["http_filters"]
        # CORS first: it answers every preflight before anything else sees it.
        at = filters.index(envoy_runner.cors_filter(filters)) + 1
        filters.insert(at, {"name": "envoy.filters.http.grpc_web", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb"}})
    mutate.__qualname__ = f"with_grpc_web_{port}"
    return mutate


@pytest.fixture(scope="module")
def api(envoy, greeter):
    return envoy(POLICY, mutate=with_grpc_web(greeter.port))


def frame(message: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(message)) + message


def frames(body: bytes) -> list[tuple[int, bytes]]:
    out = []
    while body:
        flags, length = struct.unpack(">BI", body[:5])
        out.append((flags, body[5:5 + length]))
        body = body[5 + length:]
    return out


def page_can_read(response, name: str) -> bool:
    """What a page on APP reads of a response, by the Fetch model."""
    headers = [(n, v) for n, v in response.headers]
    ok, why = fetch_browser.verdict(fetch_browser.cors_check, headers, APP, False)
    assert ok, why
    return fetch_browser.readable(headers, name, False)


def test_the_filter_runs_before_grpc_web(api):
    names = [f["name"] for f in envoy_runner.http_connection_manager(api.config)["http_filters"]]
    assert names.index(envoy_runner.cors_filter(envoy_runner.http_connection_manager(api.config)["http_filters"])
                       ["name"]) < names.index("envoy.filters.http.grpc_web")


def test_the_preflight_of_a_grpc_web_call_is_answered_by_the_filter(api, greeter):
    before = greeter.calls
    r = request(api.url, "OPTIONS", PATH, [("origin", APP), ("access-control-request-method", "POST"),
                                           ("access-control-request-headers", ASKED)])
    assert r.status == 204
    assert r.all("access-control-allow-origin") == [APP]
    assert set(ASKED.split(",")) <= set(r.tokens("access-control-allow-headers"))
    ok, why = fetch_browser.verdict(fetch_browser.preflight_check, r.status, r.headers, APP, fetch_browser.Intent(
        method="POST", unsafe_headers=ASKED.split(",")))
    assert ok, why
    assert greeter.calls == before, "a preflight never reaches the gRPC server"


def test_a_grpc_web_call_is_answered_and_readable_cross_origin(api, greeter):
    r = request(api.url, "POST", PATH, [("origin", APP), *CALL_HEADERS], body=frame(b"world"))
    assert r.status == 200
    assert r.get("content-type") == "application/grpc-web+proto"
    assert r.all("access-control-allow-origin") == [APP]
    (data_flags, data), (trailer_flags, trailers) = frames(r.body)
    assert (data_flags, data) == (0, b"hello world")
    assert trailer_flags == 0x80 and b"grpc-status:0" in trailers
    assert page_can_read(r, "x-greeting-id"), "custom metadata the policy exposes"


def test_a_trailers_only_error_has_grpc_status_and_message_readable_cross_origin(api, greeter):
    r = request(api.url, "POST", PATH, [("origin", APP), *CALL_HEADERS], body=frame(b"fail"))
    assert r.status == 200  # gRPC-Web carries the error in grpc-status
    assert r.get("grpc-status") == "5"
    assert r.get("grpc-message") == "no such greeting"
    assert r.all("access-control-allow-origin") == [APP]
    assert page_can_read(r, "grpc-status") and page_can_read(r, "grpc-message")


def test_a_policy_without_x_grpc_web_names_it_to_the_browser_and_in_the_access_log(api):
    path = f"/forgot/{uuid.uuid4().hex}"
    r = request(api.url, "OPTIONS", path, [("origin", APP), ("access-control-request-method", "POST"),
                                           ("access-control-request-headers", ASKED)])
    # Answered as an allowed preflight, without x-grpc-web: the browser says
    # "Request header field x-grpc-web is not allowed by Access-Control-Allow-Headers".
    assert r.status == 204 and r.all("access-control-allow-origin") == [APP]
    assert "x-grpc-web" not in r.tokens("access-control-allow-headers")
    ok, why = fetch_browser.verdict(fetch_browser.preflight_check, r.status, r.headers, APP, fetch_browser.Intent(
        method="POST", unsafe_headers=ASKED.split(",")))
    assert not ok and "x-grpc-web" in why, why
    lines = api.access_log(lambda lines: any(path in line for line in lines))
    assert [line.rsplit('" ', 1)[1] for line in lines if path in line] == [
        "policy=forgot verdict=preflight_denied reason=header_not_allowed:x-grpc-web"]
