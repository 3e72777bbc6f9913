"""Hostile requests against the real Envoy, over HTTP/1.1 (raw sockets) and HTTP/2.

Each case sends one request that no browser would send: bytes that are not
UTF-8, control bytes, 64 KiB values, thousands of list items, repeated
headers, empty and whitespace-only values, mixed case, very long method
tokens. Envoy's codec may refuse some of them itself (400, or a reset HTTP/2
stream): that is fine. What must never happen is a 503, a CORS header that
grants anything, a VM crash, or a worker that answers wrongly afterwards.

After every case the same worker (Envoy runs with --concurrency 1) must still
answer an allowed preflight, an allowed request and a refused request exactly
right, and the new part of Envoy's log must show no panic or wasm trap.

Both shells run every case. With the dynamic module a crash is not one VM but
the whole proxy: the same Envoy process must still be running at the end, and
its log must show neither a fatal signal nor a panic the module's hooks caught.
"""

from __future__ import annotations

import re
import socket
import uuid

import fetch_browser
import h2.config
import h2.connection
import h2.events
import pytest
from envoy_cors_testing import envoy_runner
from envoy_cors_testing.http import raw_exchange, request
from policies import APP, EVIL, EXAMPLE

pytestmark = pytest.mark.wire

KIB64 = 64 * 1024
# What a crashed or trapped VM leaves in Envoy's log.
CRASH = re.compile(rb"panicked|wasm trap|unreachable|Function: proxy_on_\w+ failed|Plugin configured to fail"
                   rb"|cors: panic in|Caught Segmentation fault|Caught Aborted|Backtrace \(use tools")


def hostile_limits(config: dict) -> None:
    """Room for 64 KiB values and thousands of list items; a direct-response
    route, so that huge headers are judged by the filter, not by the test
    upstream's own header limit."""
    hcm = envoy_runner.http_connection_manager(config)
    hcm["max_request_headers_kb"] = 1024
    # Connections the codec refuses are closed after this delay; the default
    # (1 s) only slows the suite down.
    hcm["delayed_close_timeout"] = "0.1s"
    hcm.setdefault("common_http_protocol_options", {})["max_headers_count"] = 200
    envoy_runner.routes(config).insert(0, {
        "name": "direct",
        "match": {"prefix": "/direct/"},
        "direct_response": {"status": 200, "body": {"inline_string": "direct\n"}},
    })


@pytest.fixture(scope="module")
def hostile(envoy):
    e = envoy(EXAMPLE, mutate=hostile_limits)
    e.vm_stats_at_start = vm_stats(e)
    return e


def vm_stats(envoy) -> dict[str, int]:
    """VMs created so far and VM reloads (failure_policy): both move only when
    a VM crashed and was replaced. The dynamic module has no VM: what must not
    move is the Envoy process itself (and its server.uptime keeps counting)."""
    if envoy.shell == "dynamic":
        alive = envoy.proc.poll() is None
        return {"envoy.pid": envoy.proc.pid if alive else -1}
    stats = envoy.stats("wasm.")
    return {k: v for k, v in stats.items() if k.endswith(".created") or ".vm_reload" in k}


# -- the two wire protocols ---------------------------------------------------

class Answer:
    """A response, or the codec's refusal (status None, reset or closed)."""

    def __init__(self, status: int | None, headers: list[tuple[bytes, bytes]], note: str = ""):
        self.status = status
        self.headers = [(n.lower(), v) for n, v in headers]
        self.note = note

    def all(self, name: str) -> list[bytes]:
        return [v for n, v in self.headers if n == name.encode()]

    def cors(self) -> list[bytes]:
        return [n for n, _ in self.headers if n.startswith(b"access-control-")]

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.headers[:12]}, {self.note!r})"


def http1(port: int, method: bytes, path: bytes, headers: list[tuple[bytes, bytes]]) -> Answer:
    raw = b"%s %s HTTP/1.1\r\nHost: api.test\r\n" % (method, path)
    raw += b"".join(n + b": " + v + b"\r\n" for n, v in headers)
    raw += b"Connection: close\r\n\r\n"
    answer = raw_exchange("127.0.0.1", port, raw, timeout=10)
    if not answer:
        return Answer(None, [], "closed without an answer")
    head, _, _ = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.1 (\d{3})", lines[0])
    assert m, answer[:300]
    pairs = [tuple(p.strip() for p in line.split(b":", 1)) for line in lines[1:] if b":" in line]
    return Answer(int(m.group(1)), pairs)


def http2(port: int, method: bytes, path: bytes, headers: list[tuple[bytes, bytes]]) -> Answer:
    """One request on a fresh h2c (prior knowledge) connection, headers sent
    exactly as given: no validation or normalisation on our side."""
    config = h2.config.H2Configuration(
        client_side=True, header_encoding=None, validate_outbound_headers=False,
        normalize_outbound_headers=False, validate_inbound_headers=False,
    )
    conn = h2.connection.H2Connection(config=config)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        conn.initiate_connection()
        s.sendall(conn.data_to_send())
        sid = conn.get_next_available_stream_id()
        pseudo = [(b":method", method), (b":path", path), (b":scheme", b"http"), (b":authority", b"api.test")]
        conn.send_headers(sid, pseudo + [(n.lower(), v) for n, v in headers], end_stream=True)
        s.sendall(conn.data_to_send())
        status, got = None, []
        while True:
            try:
                data = s.recv(65536)
            except ConnectionResetError:
                return Answer(None, [], "connection reset by Envoy's codec")
            if not data:
                return Answer(status, got, "connection closed")
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    got = list(ev.headers)
                    status = int(dict(got)[b":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    return Answer(status, [h for h in got if not h[0].startswith(b":")])
                elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                    return Answer(None, [], f"stream reset {ev.error_code!r}")
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    return Answer(status, got, f"connection terminated {ev.error_code!r}")
            out = conn.data_to_send()
            if out:
                s.sendall(out)


PROTOCOLS = [pytest.param(http1, id="http1"), pytest.param(http2, id="http2")]


# -- the cases ----------------------------------------------------------------

def pf(origin: bytes = APP.encode(), method: bytes = b"PUT", **more: bytes) -> list[tuple[bytes, bytes]]:
    """Preflight headers; extra keyword headers use _ for -."""
    headers = [(b"Origin", origin), (b"Access-Control-Request-Method", method)]
    return headers + [(k.replace("_", "-").encode(), v) for k, v in more.items()]


APP_B = APP.encode()
MANY_ALLOWED = b", ".join([b"content-type", b"x-api-key"] * 3000)  # 6000 items, ~78 KB
MANY_UNLISTED = b",".join(b"x-h-%05d" % i for i in range(5000))
LONG_METHOD = b"M" * 10_000

# (id, method, path prefix, headers, what the filter must answer: "refused"
# (nothing a browser could use: no CORS header that grants anything, or, to
# a preflight from the allowed origin, an answer that does not grant what it
# asked for), "allowed" (the preflight grants APP), or "any" (only the
# crash/503 checks apply)).
CASES = [
    # Non-UTF-8 and control bytes.
    ("origin-invalid-utf8", b"OPTIONS", b"/h", pf(APP_B + b"\xff"), "refused"),
    ("origin-latin1-host", b"OPTIONS", b"/h", pf(b"https://caf\xe9.example.org"), "refused"),
    ("origin-control-byte", b"OPTIONS", b"/h", pf(b"https://app\x01.example.com"), "refused"),
    ("origin-del-byte", b"GET", b"/h", [(b"Origin", APP_B + b"\x7f")], "refused"),
    ("origin-tab-inside", b"GET", b"/h", [(b"Origin", b"https://app\t.example.com")], "refused"),
    ("acrm-invalid-utf8", b"OPTIONS", b"/h", pf(method=b"P\xffT"), "refused"),
    ("acrm-control-byte", b"OPTIONS", b"/h", pf(method=b"PU\x02T"), "refused"),
    ("acrh-invalid-utf8", b"OPTIONS", b"/h", pf(Access_Control_Request_Headers=b"content-type, \xc3\x28"), "refused"),
    ("acrh-control-byte", b"OPTIONS", b"/h", pf(Access_Control_Request_Headers=b"x-api-key\x0b"), "refused"),
    ("acrpn-invalid-utf8", b"OPTIONS", b"/h", pf(Access_Control_Request_Private_Network=b"tr\xfce"), "allowed"),
    ("acrpn-control-byte", b"OPTIONS", b"/h", pf(Access_Control_Request_Private_Network=b"true\x1f"), "allowed"),
    # 64 KiB values.
    ("origin-64k", b"OPTIONS", b"/direct/h", pf(b"https://" + b"a" * KIB64 + b".example.org"), "refused"),
    ("origin-64k-actual", b"GET", b"/direct/h", [(b"Origin", b"https://" + b"a" * KIB64 + b".example.org")], "refused"),
    ("acrm-64k", b"OPTIONS", b"/direct/h", pf(method=b"P" * KIB64), "refused"),
    ("acrh-64k-token", b"OPTIONS", b"/direct/h", pf(Access_Control_Request_Headers=b"x" * KIB64), "refused"),
    ("acrpn-64k", b"OPTIONS", b"/direct/h", pf(Access_Control_Request_Private_Network=b"t" * KIB64), "allowed"),
    # Thousands of comma-separated request headers.
    ("acrh-6000-allowed", b"OPTIONS", b"/direct/h", pf(Access_Control_Request_Headers=MANY_ALLOWED), "allowed"),
    ("acrh-5000-unlisted", b"OPTIONS", b"/direct/h", pf(Access_Control_Request_Headers=MANY_UNLISTED), "refused"),
    ("acrh-5000-any-policy", b"OPTIONS", b"/public/h", pf(Access_Control_Request_Headers=MANY_UNLISTED), "any"),
    ("acrh-only-commas", b"OPTIONS", b"/h", pf(Access_Control_Request_Headers=b"," * 5000), "allowed"),
    # Repeated headers.
    ("origin-repeated-same", b"OPTIONS", b"/h", [(b"Origin", APP_B)] + pf(), "refused"),
    ("origin-repeated-other", b"GET", b"/h", [(b"Origin", APP_B), (b"Origin", EVIL.encode())], "refused"),
    ("origin-repeated-100", b"GET", b"/h", [(b"Origin", APP_B)] * 100, "refused"),
    ("acrm-repeated", b"OPTIONS", b"/h", pf() + [(b"Access-Control-Request-Method", b"PUT")], "refused"),
    ("acrh-repeated", b"OPTIONS", b"/h", pf(Access_Control_Request_Headers=b"content-type")
        + [(b"Access-Control-Request-Headers", b"x-api-key")], "any"),
    # Empty and whitespace-only values.
    ("origin-empty", b"OPTIONS", b"/h", pf(b""), "refused"),
    ("origin-spaces", b"GET", b"/h", [(b"Origin", b"   ")], "refused"),
    ("origin-tabs", b"OPTIONS", b"/h", pf(b"\t \t"), "refused"),
    ("acrm-empty", b"OPTIONS", b"/h", pf(method=b""), "refused"),
    ("acrm-spaces", b"OPTIONS", b"/h", pf(method=b"   "), "refused"),
    ("acrh-empty", b"OPTIONS", b"/h", pf(Access_Control_Request_Headers=b""), "allowed"),
    ("acrh-spaces", b"OPTIONS", b"/h", pf(Access_Control_Request_Headers=b"  \t "), "allowed"),
    # Mixed case.
    ("origin-mixed-case-value", b"OPTIONS", b"/h", pf(b"https://App.Example.com"), "refused"),
    ("origin-mixed-case-scheme", b"GET", b"/h", [(b"Origin", b"HTTPS://app.example.com")], "refused"),
    ("header-names-mixed-case", b"OPTIONS", b"/h",
        [(b"oRiGiN", APP_B), (b"ACCESS-control-REQUEST-method", b"PUT")], "allowed"),
    ("acrm-lowercase", b"OPTIONS", b"/h", pf(method=b"put"), "refused"),
    ("acrh-mixed-case", b"OPTIONS", b"/h", pf(Access_Control_Request_Headers=b"Content-Type, X-API-KEY"), "allowed"),
    ("method-lowercase-options", b"options", b"/h", pf(), "any"),
    # Very long method tokens.
    ("method-10k", LONG_METHOD, b"/h", [(b"Origin", APP_B)], "any"),
    ("acrm-10k-token", b"OPTIONS", b"/h", pf(method=LONG_METHOD), "refused"),
]


def grants_the_preflight(answer: Answer, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a browser would send the request this preflight asked for
    (the Fetch model), with or without credentials."""
    asked = {n.lower(): v.decode("latin-1") for n, v in headers}
    text = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in answer.headers]
    for credentials in (False, True):
        intent = fetch_browser.Intent(
            method=asked.get(b"access-control-request-method", ""),
            unsafe_headers=[t.strip().lower() for t in asked.get(b"access-control-request-headers", "").split(",")
                            if t.strip()],
            credentials=credentials,
            private_network=asked.get(b"access-control-request-private-network") == "true")
        ok, _ = fetch_browser.verdict(fetch_browser.preflight_check, answer.status, text, APP, intent)
        if ok:
            return True
    return False


def check_answer(answer: Answer, expect: str, via, method: bytes, headers) -> None:
    assert answer.status != 503, answer
    if answer.status is None or answer.status in (400, 413, 431):
        return  # refused by Envoy's codec before the filter saw it
    if expect == "refused":
        granting = [v for v in answer.all("access-control-allow-origin") if v != b"*"]
        if granting:
            # The precise answer to the allowed origin: it grants the rest,
            # never what was refused.
            assert method == b"OPTIONS" and granting == [APP_B], answer
            assert not grants_the_preflight(answer, headers), answer
        else:
            assert answer.all("access-control-allow-credentials") == [], answer
    elif expect == "allowed":
        assert answer.status == 204, answer
        assert answer.all("access-control-allow-origin") == [APP_B], answer
    for value in answer.all("access-control-allow-origin"):
        assert value in (APP_B, b"*"), answer


def assert_worker_healthy(envoy) -> None:
    """The one worker still answers allowed and refused requests exactly right."""
    path = f"/health/{uuid.uuid4().hex}"
    r = request(envoy.url, "OPTIONS", path, [("origin", APP), ("access-control-request-method", "PUT"),
                                             ("access-control-request-headers", "content-type")])
    assert (r.status, r.all("access-control-allow-origin"), r.get("access-control-allow-credentials")) == (204, [APP], "true")
    r = request(envoy.url, "GET", path, [("origin", APP)])
    assert (r.status, r.all("access-control-allow-origin")) == (200, [APP])
    assert "origin" in r.vary()
    r = request(envoy.url, "GET", path, [("origin", EVIL)])
    assert (r.status, r.cors()) == (200, {})


def assert_no_crash(envoy, since: int) -> None:
    log = envoy.log_path.read_bytes()[since:]
    hit = CRASH.search(log)
    assert hit is None, log[max(0, hit.start() - 500): hit.end() + 500].decode(errors="replace")


@pytest.mark.parametrize("via", PROTOCOLS)
@pytest.mark.parametrize("name,method,path,headers,expect", CASES, ids=[c[0] for c in CASES])
def test_hostile_request_is_answered_and_the_worker_stays_healthy(hostile, via, name, method, path, headers, expect):
    since = hostile.log_path.stat().st_size
    answer = via(hostile.port, method, path + b"/" + uuid.uuid4().hex.encode(), headers)
    check_answer(answer, expect, via, method, headers)
    assert_worker_healthy(hostile)
    assert_no_crash(hostile, since)


def test_thousands_of_allowed_request_headers_are_granted_once_each(hostile):
    answer = http1(hostile.port, b"OPTIONS", b"/direct/many", pf(Access_Control_Request_Headers=MANY_ALLOWED))
    assert answer.status == 204, answer
    granted = [t.strip() for v in answer.all("access-control-allow-headers") for t in v.split(b",")]
    assert sorted(granted) == [b"content-type", b"x-api-key"]


def test_any_header_policy_echoes_a_huge_request_header_list_without_crashing(hostile):
    answer = http2(hostile.port, b"OPTIONS", b"/public/many",
                   pf(EVIL.encode(), b"GET", Access_Control_Request_Headers=MANY_UNLISTED))
    assert answer.status == 204, answer
    assert answer.all("access-control-allow-origin") == [b"*"]
    assert answer.all("access-control-allow-headers") == [MANY_UNLISTED]


def test_no_vm_was_replaced_during_the_hostile_cases(hostile):
    # Runs last in this module: a crashed VM would have been replaced, which
    # shows as a new VM created (wasm.envoy.wasm.runtime.v8.created) or a
    # reload; a crashed module would have taken the Envoy process down.
    assert vm_stats(hostile) == hostile.vm_stats_at_start
    assert vm_stats(hostile), "no wasm VM stats found"
