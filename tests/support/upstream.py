"""An httpbin-style upstream that the tests control and can inspect.

It speaks plain HTTP/1.1 (keep-alive, Content-Length and chunked bodies) on
127.0.0.1, records every request exactly as received (header names and values
as raw bytes, duplicates kept, in order), and answers with a JSON echo of the
request. The test steers the response with request headers (or the same names
as query parameters, for browsers and curl one-liners):

    x-test-status: 503                       response status (also /status/503)
    x-test-response-header: Name: value      add a response header; repeatable
    x-test-delay-ms: 50                      sleep before answering

Query form: ?status=503&response_header=Vary:%20Accept-Encoding (repeatable).

The parser is hand-written on purpose: http.server decodes header bytes, and
the tests need to see exactly which bytes Envoy forwarded.

Standalone: python tests/support/upstream.py [--port N]; it prints
"listening on http://127.0.0.1:N" once it accepts connections.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import socketserver
import sys
import threading
import time
import urllib.parse

MAX_HEADER_BYTES = 64 * 1024
REASONS = {
    200: b"OK", 201: b"Created", 204: b"No Content", 301: b"Moved Permanently",
    302: b"Found", 304: b"Not Modified", 400: b"Bad Request", 401: b"Unauthorized",
    403: b"Forbidden", 404: b"Not Found", 405: b"Method Not Allowed",
    418: b"I'm a teapot", 500: b"Internal Server Error", 502: b"Bad Gateway",
    503: b"Service Unavailable", 504: b"Gateway Timeout",
}


@dataclasses.dataclass(frozen=True)
class Request:
    """One request as the upstream received it."""

    method: str
    target: str  # path and query, as sent
    headers: tuple[tuple[bytes, bytes], ...]  # raw (name, value), in order
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header_values(self, name: str) -> list[bytes]:
        """All raw values of a header (name compared case-insensitively)."""
        key = name.lower().encode("latin-1")
        return [v for n, v in self.headers if n.lower() == key]

    def header(self, name: str) -> str | None:
        """The values of a header joined with ', ', decoded as latin-1."""
        values = self.header_values(name)
        if not values:
            return None
        return ", ".join(v.decode("latin-1") for v in values)


class _BadRequest(Exception):
    pass


class _Handler(socketserver.StreamRequestHandler):
    timeout = 30  # idle keep-alive connections are closed after this

    def handle(self) -> None:
        try:
            while self._one_exchange():
                pass
        except (OSError, _BadRequest):
            pass

    def _readline(self) -> bytes:
        line = self.rfile.readline(MAX_HEADER_BYTES + 1)
        if len(line) > MAX_HEADER_BYTES:
            raise _BadRequest("line too long")
        return line

    def _one_exchange(self) -> bool:
        line = self._readline()
        while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between requests
            line = self._readline()
        if not line:
            return False
        parts = line.rstrip(b"\r\n").split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise _BadRequest(line)
        method, target, version = (p.decode("latin-1") for p in parts)
        headers: list[tuple[bytes, bytes]] = []
        while True:
            h = self._readline()
            if h in (b"\r\n", b"\n", b""):
                break
            name, sep, value = h.rstrip(b"\r\n").partition(b":")
            if not sep:
                raise _BadRequest(h)
            headers.append((name, value.strip(b" \t")))
        req = Request(method, target, tuple(headers), b"")
        body = self._read_body(req)
        req = dataclasses.replace(req, body=body)
        self.server.record(req)  # type: ignore[attr-defined]

        status, extra, delay = _steering(req)
        if delay:
            time.sleep(delay)
        payload = b"" if method == "HEAD" or status in (204, 304) else _echo(req)
        out = [b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b"Status"))]
        out.append(b"content-type: application/json\r\n")
        if status not in (204, 304):
            out.append(b"content-length: %d\r\n" % (0 if method == "HEAD" else len(payload)))
        for name, value in extra:
            out.append(name + b": " + value + b"\r\n")
        keep = not (
            version == "HTTP/1.0"
            or any(v.lower() == b"close" for v in req.header_values("connection"))
        )
        if not keep:
            out.append(b"connection: close\r\n")
        out.append(b"\r\n")
        self.wfile.write(b"".join(out) + payload)
        self.wfile.flush()
        return keep

    def _read_body(self, req: Request) -> bytes:
        if any(b"chunked" in v.lower() for v in req.header_values("transfer-encoding")):
            chunks = []
            while True:
                size = int(self._readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self._readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self._readline()
        lengths = req.header_values("content-length")
        if lengths:
            return self.rfile.read(int(lengths[0]))
        return b""


def _steering(req: Request) -> tuple[int, list[tuple[bytes, bytes]], float]:
    """Status, extra response headers and delay the request asked for."""
    query = urllib.parse.parse_qs(req.target.partition("?")[2], keep_blank_values=True)
    status = 200
    path = req.path
    if path.startswith("/status/") and path[len("/status/"):].isdigit():
        status = int(path[len("/status/"):])
    for v in query.get("status", []) + [v.decode("latin-1") for v in req.header_values("x-test-status")]:
        if v.strip().isdigit():
            status = int(v.strip())
    extra: list[tuple[bytes, bytes]] = []
    raw = [v.encode("latin-1") for v in query.get("response_header", [])]
    raw += req.header_values("x-test-response-header")
    for item in raw:
        name, sep, value = item.partition(b":")
        if sep and name.strip():
            extra.append((name.strip(), value.strip()))
    delay = 0.0
    for v in query.get("delay_ms", []) + [v.decode("latin-1") for v in req.header_values("x-test-delay-ms")]:
        if v.strip().isdigit():
            delay = int(v.strip()) / 1000
    return status, extra, delay


def _echo(req: Request) -> bytes:
    doc = {
        "method": req.method,
        "url": req.target,
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in req.headers],
        "body": req.body.decode("latin-1"),
    }
    return json.dumps(doc, indent=1).encode() + b"\n"


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog. socketserver's default of 5 overflows when Envoy
    # opens tens of upstream connections at once (the soak's 70 clients): the
    # kernel drops the SYNs, Envoy's connect times out, and the client gets a
    # 503 the filter never wrote (TcpExtListenOverflows counts them).
    request_queue_size = 1024

    def __init__(self, addr):
        super().__init__(addr, _Handler)
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._changed = threading.Condition(self._lock)

    def record(self, req: Request) -> None:
        with self._changed:
            self._requests.append(req)
            self._changed.notify_all()


class Upstream:
    """A running upstream on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        self._server = _Server((host, port))
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "Upstream":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "Upstream":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def requests(self, path: str | None = None) -> list[Request]:
        """Everything received so far, optionally only those for one path (no query)."""
        with self._server._lock:
            got = list(self._server._requests)
        return [r for r in got if path is None or r.path == path]

    def clear(self) -> None:
        with self._server._lock:
            self._server._requests.clear()

    def wait_for(self, path: str, count: int = 1, timeout: float = 5.0) -> list[Request]:
        """Block until `count` requests for `path` arrived; returns them."""
        deadline = time.monotonic() + timeout
        with self._server._changed:
            while True:
                got = [r for r in self._server._requests if r.path == path]
                left = deadline - time.monotonic()
                if len(got) >= count or left <= 0:
                    return got
                self._server._changed.wait(left)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--quiet", action="store_true", help="do not log requests")
    args = ap.parse_args(argv)
    up = Upstream(args.port, args.host)
    if not args.quiet:
        orig = up._server.record

        def record(req: Request) -> None:
            orig(req)
            print(f"{req.method} {req.target}", flush=True)
            with up._server._lock:  # keep memory flat in long runs
                up._server._requests.clear()

        up._server.record = record  # type: ignore[method-assign]
    else:
        up._server.record = lambda req: None  # type: ignore[method-assign]
    print(f"listening on {up.url}", flush=True)
    try:
        up._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        up._server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
