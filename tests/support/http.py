"""Small HTTP/1.1 client helpers with full control over what goes on the wire."""

from __future__ import annotations

import dataclasses
import http.client
import socket
import time


@dataclasses.dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]  # lowercased names, in order, duplicates kept
    body: bytes

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    def get(self, name: str) -> str | None:
        """The header's values joined with ', ' (as a browser combines them)."""
        values = self.all(name)
        return ", ".join(values) if values else None

    def tokens(self, name: str) -> list[str]:
        """Comma-separated tokens over every line of the header, lowercased."""
        out = []
        for v in self.all(name):
            out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    def cors(self) -> dict[str, str]:
        """Every Access-Control-* response header."""
        return {n: self.get(n) for n, _ in self.headers if n.startswith("access-control-")}

    def vary(self) -> list[str]:
        return self.tokens("vary")


def request(
    url: str,
    method: str,
    path: str,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> Response:
    """One request on a fresh connection. A "host" entry replaces the default Host."""
    assert url.startswith("http://")
    hostport = url[len("http://"):]
    host, _, port = hostport.partition(":")
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        has_host = any(n.lower() == "host" for n, _ in items)
        conn.putrequest(method, path, skip_host=has_host, skip_accept_encoding=True)
        for n, v in items:
            conn.putheader(n, v)
        if body is not None:
            conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, [(n.lower(), v) for n, v in r.getheaders()], data)
    finally:
        conn.close()


def raw_exchange(host: str, port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the peer closes or goes quiet; returns what came back."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout
        s.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                if chunks:
                    break
                continue
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def free_port() -> int:
    """A loopback port that was free a moment ago, for a server that needs a
    fixed one (another process may take it before the server binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
