"""No input may crash the VM: a panic would turn every later request into a 503."""

import uuid

import pytest
from envoy_cors_testing.http import raw_exchange, request
from policies import APP, EXAMPLE

pytestmark = pytest.mark.wire

HOSTILE = [
    pytest.param(b"Origin: https://app.example.com\xff\r\n", id="origin-invalid-utf8"),
    pytest.param(b"Origin: https://\xc3\x28.example.org\r\n", id="origin-bad-continuation"),
    pytest.param(b"Origin: http://localhost:\xf0\x9f\x92\xa9\r\n", id="origin-emoji-port"),
    pytest.param(b"Origin: https://app.example.com\r\nAccess-Control-Request-Method: G\xe9T\r\n", id="method-latin1"),
    pytest.param(b"Origin: https://app.example.com\r\nAccess-Control-Request-Method: PUT\r\n"
                 b"Access-Control-Request-Headers: x-api-key, \xff\xfe, content-type\r\n", id="request-headers-invalid-utf8"),
    pytest.param(b"Origin: https://app.example.com\r\nAccess-Control-Request-Private-Network: tr\x80ue\r\n", id="pna-invalid-utf8"),
    pytest.param(b"Origin: https://app.example.com\r\nX-Test-Response-Header: Vary: \xff\xfe\r\n"
                 b"X-Test-Response-Header: Access-Control-Allow-Origin: \xc0\xaf\r\n", id="upstream-response-invalid-utf8"),
    pytest.param(b"Origin: " + b"a" * 8000 + b"\r\n", id="origin-very-long"),
    pytest.param(b"Origin: https://" + b"a." * 3000 + b"example.org\r\n", id="origin-many-labels"),
]


def healthy(envoy):
    r = request(envoy.url, "GET", f"/health/{uuid.uuid4().hex}", [("origin", APP)])
    return r.status, r.all("access-control-allow-origin")


@pytest.mark.parametrize("method", [b"GET", b"OPTIONS"])
@pytest.mark.parametrize("headers", HOSTILE)
def test_hostile_header_bytes_do_not_crash_the_vm(envoy, method, headers):
    e = envoy(EXAMPLE)
    if method == b"OPTIONS" and b"Request-Method" not in headers:
        headers += b"Access-Control-Request-Method: GET\r\n"
    raw = (b"%s /hostile/%s HTTP/1.1\r\nHost: api.test\r\n" % (method, uuid.uuid4().hex.encode())
           + headers + b"Connection: close\r\n\r\n")
    answer = raw_exchange("127.0.0.1", e.port, raw)
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    assert not answer.startswith(b"HTTP/1.1 503"), answer[:400]
    assert healthy(e) == (200, [APP])
    assert "panicked" not in e.log()


def test_hostile_path_bytes_do_not_crash_the_vm(envoy):
    e = envoy(EXAMPLE)
    for path in (b"/public/\xff\xfe", b"/legacy/\xc3\x28", b"/" + b"%2F" * 2000, b"/a/" + b"*" * 500):
        raw = (b"OPTIONS " + path + b" HTTP/1.1\r\nHost: api.example.com\r\nOrigin: https://app.example.com\r\n"
               b"Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n")
        raw_exchange("127.0.0.1", e.port, raw)
    assert healthy(e) == (200, [APP])
    assert "panicked" not in e.log()


def test_hostile_host_bytes_do_not_crash_the_vm(envoy):
    e = envoy(EXAMPLE)
    for host in (b"api.example.com:\xff", b"\xc3\x28", b"[::1", b"a:b:c", b""):
        raw = (b"GET /h HTTP/1.1\r\nHost: " + host + b"\r\nOrigin: https://app.example.com\r\n"
               b"Connection: close\r\n\r\n")
        raw_exchange("127.0.0.1", e.port, raw)
    assert healthy(e) == (200, [APP])
    assert "panicked" not in e.log()
