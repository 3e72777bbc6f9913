"""What a browser does with a response, per the WHATWG Fetch standard.

The same model as crates/fetch-model (Rust), written separately from the
standard's wording: the CORS check, the checks of a CORS-preflight fetch, the
CORS-exposed header names and the preflight cache lifetime. The Fetch case
table's browser expectations are computed with it from the response Envoy sent.
Header lists are [(name, value)] with any name case; values are str.
"""

from __future__ import annotations

import dataclasses
import re

# Fetch "CORS-safelisted response-header name".
SAFELISTED_RESPONSE_HEADERS = {
    "cache-control", "content-language", "content-length", "content-type",
    "expires", "last-modified", "pragma",
}
# Fetch "forbidden response-header name": never exposed to a page.
FORBIDDEN_RESPONSE_HEADERS = {"set-cookie", "set-cookie2"}
# Fetch "CORS-safelisted method".
SAFELISTED_METHODS = {"GET", "HEAD", "POST"}
# Fetch "CORS non-wildcard request-header name".
NON_WILDCARD_REQUEST_HEADER = "authorization"

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class NetworkError(Exception):
    """The browser refuses the response; the message says which step failed."""


def get(headers, name: str) -> str | None:
    """Fetch "get": every value of the header combined with ', ', or None."""
    values = [v for n, v in headers if n.lower() == name]
    return ", ".join(values) if values else None


def extract_list(headers, name: str) -> list[str] | None:
    """Fetch "extract header list values" for a #token list header; None when absent."""
    found = None
    for n, value in headers:
        if n.lower() != name:
            continue
        found = found if found is not None else []
        for item in value.split(","):
            item = item.strip(" \t")
            if not item:
                continue  # #rule lists allow empty elements
            if not _TOKEN.match(item):
                raise NetworkError(f"{name}: {item!r} is not a token")
            found.append(item)
    return found


def cors_check(headers, origin: str, credentials: bool) -> None:
    """Fetch "CORS check"; raises NetworkError on failure."""
    allow = get(headers, "access-control-allow-origin")
    if allow is None:  # steps 1-2
        raise NetworkError("no Access-Control-Allow-Origin")
    if not credentials and allow == "*":  # step 3
        return
    if allow != origin:  # step 4: byte-for-byte the request's serialized origin
        raise NetworkError(f"Access-Control-Allow-Origin {allow!r} is not the request's origin")
    if credentials and get(headers, "access-control-allow-credentials") != "true":  # steps 5-7
        raise NetworkError("credentials requested but no Access-Control-Allow-Credentials: true")


@dataclasses.dataclass
class Intent:
    """The request a page wants to make, which a preflight asks about."""

    method: str
    unsafe_headers: list[str]  # what Access-Control-Request-Headers lists
    credentials: bool = False
    private_network: bool = False


def preflight_check(status: int, headers, origin: str, intent: Intent) -> None:
    """Fetch "CORS-preflight fetch" step 7; raises NetworkError on failure."""
    cors_check(headers, origin, intent.credentials)
    if not 200 <= status <= 299:
        raise NetworkError(f"preflight status {status} is not ok")
    methods = extract_list(headers, "access-control-allow-methods") or []  # 7.1
    names = extract_list(headers, "access-control-allow-headers") or []  # 7.2
    # 7.5: listed (bytes), safelisted, or `*` when credentials mode is not "include".
    star = not intent.credentials and "*" in methods
    if intent.method not in methods and intent.method not in SAFELISTED_METHODS and not star:
        raise NetworkError(f"method {intent.method} not allowed by {methods}")
    lowered = {n.lower() for n in names}
    # 7.6: Authorization must be listed by name; `*` never covers it.
    if any(h.lower() == NON_WILDCARD_REQUEST_HEADER for h in intent.unsafe_headers) \
            and NON_WILDCARD_REQUEST_HEADER not in lowered:
        raise NetworkError("authorization not listed by name")
    # 7.7: every CORS-unsafe request-header name listed, or `*` without credentials.
    header_star = not intent.credentials and "*" in names
    for h in intent.unsafe_headers:
        if h.lower() not in lowered and not header_star:
            raise NetworkError(f"header {h} not allowed by {names}")
    # Private Network Access: the preflight must opt in explicitly.
    if intent.private_network and get(headers, "access-control-allow-private-network") != "true":
        raise NetworkError("private network access asked for but not granted")


def max_age(headers) -> int | None:
    """Access-Control-Max-Age in seconds; None when absent or unparsable."""
    value = get(headers, "access-control-max-age")
    if value is None or not value.isdigit() or not value.isascii():
        return None
    return int(value)


def readable(headers, name: str, credentials: bool) -> bool:
    """Can the page read this response header (after a CORS check that passed)?"""
    name = name.lower()
    if name in FORBIDDEN_RESPONSE_HEADERS or not any(n.lower() == name for n, _ in headers):
        return False
    if name in SAFELISTED_RESPONSE_HEADERS:
        return True
    try:
        exposed = extract_list(headers, "access-control-expose-headers") or []
    except NetworkError:
        exposed = []
    return name in {e.lower() for e in exposed} or (not credentials and "*" in exposed)


def verdict(fn, *args) -> tuple[bool, str]:
    """(passed, reason) of one of the checks above."""
    try:
        fn(*args)
        return True, "ok"
    except NetworkError as e:
        return False, str(e)
