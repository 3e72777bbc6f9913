"""gRPC-Web from a real browser page (Chromium, Firefox, WebKit), through the
CORS filter and `envoy.filters.http.grpc_web` to a grpcio server: the setup of
tests/e2e/test_grpc_web.py, with the page's own fetch() instead of a model.
The page frames the gRPC-Web messages itself, as a client library does, and
reads what the browser lets it read: the answer, the status of a
trailers-only error (`grpc-status`, `grpc-message`) and the custom metadata
the policy exposes. A policy without `x-grpc-web` is blocked by the browser.
"""

from __future__ import annotations

import http.server
import os
import threading
import uuid

import pytest
import test_grpc_web as grpc_web
from envoy_cors_testing import browsers

pytestmark = pytest.mark.browser

if os.environ.get("CORS_SKIP_BROWSER") == "1":
    pytest.skip("CORS_SKIP_BROWSER=1", allow_module_level=True)

ENGINES = ("chromium", "firefox", "webkit")

# Runs in the page: two unary calls, as a gRPC-Web client sends them.
CALLS = """async (url) => {
  const frame = (text) => {
    const message = new TextEncoder().encode(text);
    const out = new Uint8Array(5 + message.length);
    new DataView(out.buffer).setUint32(1, message.length);
    out.set(message, 5);
    return out;
  };
  const call = async (text) => {
    try {
      const r = await fetch(url, {method: 'POST', body: frame(text), headers: {
        'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1',
        'x-user-agent': 'grpc-web-javascript/0.1', 'grpc-timeout': '5S'}});
      const body = new Uint8Array(await r.arrayBuffer());
      const length = body.length >= 5 ? new DataView(body.buffer).getUint32(1) : 0;
      return {status: r.status, grpcStatus: r.headers.get('grpc-status'),
              grpcMessage: r.headers.get('grpc-message'), greetingId: r.headers.get('x-greeting-id'),
              message: new TextDecoder().decode(body.slice(5, 5 + length))};
    } catch (e) { return {blocked: e.name}; }
  };
  return {ok: await call('world'), fail: await call('fail')};
}"""


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = b"<!doctype html><meta charset=utf-8><title>gRPC-Web client</title>"
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def api(envoy, greeter, page):
    policy = {**grpc_web.POLICY, "policies": {
        name: {**p, "allow_origins": [page]} for name, p in grpc_web.POLICY["policies"].items()}}
    running = envoy(policy, mutate=grpc_web.with_grpc_web(greeter.port))
    return running.url.replace("127.0.0.1", "localhost")


greeter = grpc_web.greeter


@pytest.mark.parametrize("kind", ENGINES)
def test_a_page_calls_grpc_web_and_reads_the_status_of_an_error(kind, api, page, greeter):
    why = browsers.missing(kind)
    if why:
        pytest.fail(f"{kind}: {why} is missing: run scripts/setup.sh", pytrace=False)
    before = greeter.calls
    with browsers.launch(kind) as engine:
        tab = engine.open(page + "/")
        got = tab.run(CALLS, api + grpc_web.PATH)
        forgot = tab.run(CALLS, f"{api}/forgot/{uuid.uuid4().hex}{grpc_web.PATH}")
    assert got["ok"] == {"status": 200, "grpcStatus": None, "grpcMessage": None, "greetingId": "g-1",
                         "message": "hello world"}, got
    # Trailers-only: the status is in the headers, and the page reads it.
    assert got["fail"] == {"status": 200, "grpcStatus": "5", "grpcMessage": "no such greeting", "greetingId": None,
                           "message": ""}, got
    assert greeter.calls == before + 2, "each call once; the preflights never reach the server"
    # Without x-grpc-web in allow_headers the browser refuses the preflight's answer.
    assert forgot == {"ok": {"blocked": "TypeError"}, "fail": {"blocked": "TypeError"}}, forgot
