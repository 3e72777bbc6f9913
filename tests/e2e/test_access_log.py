"""The decision in Envoy's access log (issue 21): every reason code produced by
a real request and read back from the access log envoy/envoy.yaml ships (a
file sink), in both shells; values from the request bounded and clean under
hostile input; nothing written for allowed requests.

The codes come from the reason table as docs/operators.md renders it (a Rust
test keeps that block equal to crates/core/src/reasons.rs): a code the filter
can write must either have a request below that produces it, or be named in
ELSEWHERE with the test that produces it.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from envoy_cors_testing import envoy_runner
from envoy_cors_testing.http import raw_exchange, request
from policies import APP, EVIL

pytestmark = pytest.mark.wire

ROOT = Path(__file__).resolve().parents[2]

POLICY = {
    "policies": {
        "strict": {"allow_origins": [APP], "allow_methods": ["GET", "PUT"], "allow_headers": ["content-type"],
                   "allow_credentials": True},
        "public": {"allow_origins": ["*"], "allow_headers": ["*"]},
        "guarded": {"allow_origins": [APP], "reject_disallowed": True},
        "report": {"allow_origins": [APP], "mode": "report"},
    },
    "routes": [
        {"match": {"path": "/public/**"}, "policy": "public"},
        {"match": {"path": "/guarded/**"}, "policy": "guarded"},
        {"match": {"path": "/report/**"}, "policy": "report"},
        {"match": {"path": "/off/**"}, "policy": None},
    ],
    "default": "strict",
}


def preflight(method: str, *extra: tuple[str, str], origin: str = APP) -> tuple[str, list[tuple[str, str]]]:
    return "OPTIONS", [("origin", origin), ("access-control-request-method", method), *extra]


# reason code -> (method, headers, path prefix, the record's expected verdict and reason)
PRODUCED = {
    "origin_not_allowed": ("GET", [("origin", EVIL)], "/a", "actual_denied", "origin_not_allowed"),
    "origin_null": ("GET", [("origin", "null")], "/a", "actual_denied", "origin_null"),
    # Envoy joins two Origin lines into one value, "a,b": a list.
    "origin_multiple": ("GET", [("origin", APP), ("origin", APP)], "/a", "actual_denied", "origin_multiple"),
    "origin_malformed": ("GET", [("origin", "https://App.example.com")], "/a", "actual_denied", "origin_malformed"),
    "method_not_allowed": (*preflight("DELETE"), "/a", "preflight_denied", "method_not_allowed:DELETE"),
    "header_not_allowed": (*preflight("PUT", ("access-control-request-headers", "content-type,x-secret")), "/a",
                           "preflight_denied", "header_not_allowed:x-secret"),
    "private_network_not_allowed": (*preflight("GET", ("access-control-request-private-network", "true")), "/a",
                                    "preflight_denied", "private_network_not_allowed"),
    "request_method_malformed": (*preflight("GE T"), "/a", "preflight_denied", "request_method_malformed"),
    "request_headers_malformed": (*preflight("GET", ("access-control-request-headers", "x a")), "/a",
                                  "preflight_denied", "request_headers_malformed"),
}
# Codes produced elsewhere: by what, and where.
ELSEWHERE = {
    "internal_error": "a panic injected into the dynamic module (tests/e2e/test_fail_closed.py)",
    "unknown_policy": "a route naming an undefined policy in its metadata (tests/e2e/test_route_config.py)",
}

VALUE = r"[!#$%&'*+\-.^_`|~0-9A-Za-z?]{1,64}(\.\.\.)?"
RECORD = re.compile(r"policy=([A-Za-z0-9_-]{1,64}) verdict=(preflight_denied|actual_denied|rejected|report_would_deny)"
                    r" reason=([a-z_]+)(:" + VALUE + r")?")


def table_codes() -> list[str]:
    """The reason codes of docs/operators.md's generated table."""
    text = (ROOT / "docs/operators.md").read_text()
    block = text.split("<!-- BEGIN reason-table", 1)[1].split("<!-- END reason-table", 1)[0]
    block = block.split("| reason | meaning |", 1)[1]
    return re.findall(r"^\| `([a-z_]+)(?::<[^>]*>)?` \|", block, flags=re.M)


def record_of(line: str) -> str:
    """What the filter recorded, as the shipped format prints it: the end of
    the line after the quoted origin (`-` when nothing was written)."""
    return line.rsplit('" ', 1)[1].strip()


@pytest.fixture(scope="module")
def logged(envoy):
    e = envoy(POLICY, extra_args=("--file-flush-interval-msec", "20"))

    def send(method: str, path: str, headers) -> str:
        """Sends a request and returns the record its access-log line holds."""
        request(e.url, method, path, headers)
        return line_for(e, path)
    send.envoy = e
    return send


def line_for(e, path: str) -> str:
    lines = e.access_log(lambda lines: any(f" {path} " in line for line in lines))
    mine = [line for line in lines if f" {path} " in line]
    assert len(mine) == 1, f"{path}: {mine}"
    return record_of(mine[0])


def test_every_code_of_the_table_is_produced_by_a_request_here_or_named_elsewhere():
    codes = table_codes()
    assert len(codes) >= 11, codes
    assert sorted(codes) == sorted([*PRODUCED, *ELSEWHERE]), (
        "a reason code needs a request that produces it (PRODUCED) or the test that does (ELSEWHERE)")


@pytest.mark.parametrize("code", list(PRODUCED))
def test_each_reason_code_is_read_back_from_the_access_log(logged, code):
    method, headers, prefix, verdict, reason = PRODUCED[code]
    path = f"{prefix}/{uuid.uuid4().hex}"
    assert logged(method, path, headers) == f"policy=strict verdict={verdict} reason={reason}"


@pytest.mark.parametrize("prefix, verdict", [
    ("/guarded", "policy=guarded verdict=rejected reason=origin_not_allowed"),
    ("/report", "policy=report verdict=report_would_deny reason=origin_not_allowed"),
])
def test_the_verdict_names_what_the_filter_did(logged, prefix, verdict):
    assert logged("GET", f"{prefix}/{uuid.uuid4().hex}", [("origin", EVIL)]) == verdict


def test_a_preflight_a_star_policy_refuses_names_authorization(logged):
    method, headers = preflight("GET", ("access-control-request-headers", "authorization,x-a"), origin=EVIL)
    assert logged(method, f"/public/{uuid.uuid4().hex}", headers) == \
        "policy=public verdict=preflight_denied reason=header_not_allowed:authorization"


@pytest.mark.parametrize("method, headers, prefix", [
    ("GET", [("origin", APP)], "/a"),
    (*preflight("PUT", ("access-control-request-headers", "content-type")), "/a"),
    ("GET", [], "/a"),
    ("GET", [("origin", EVIL)], "/off"),
    ("GET", [("origin", EVIL)], "/public"),
], ids=["allowed request", "allowed preflight", "no origin", "no policy", "any origin"])
def test_requests_allowed_as_asked_leave_the_field_empty(logged, method, headers, prefix):
    assert logged(method, f"{prefix}/{uuid.uuid4().hex}", headers) == "-"


HOSTILE = [
    ("a 10,000-byte method", *preflight("P" * 10_000)),
    ("a 5,000-byte header name", *preflight("PUT", ("access-control-request-headers", "x" * 5_000))),
    ("a header name of token punctuation", *preflight("PUT", ("access-control-request-headers", "x-a|b`c~d^e"))),
    # Control bytes never get this far: Envoy's codecs refuse them (400).
    ("quotes, spaces and = in the method", *preflight('GE"T x=y')),
    ("quotes, spaces and = in the header list", *preflight("PUT", ("access-control-request-headers", 'x-a, "b c=d"'))),
    ("quotes, spaces and = in the origin", "GET", [("origin", 'https://a.example" x=y')]),
    ("bytes that are not UTF-8 in the header list", *preflight("PUT", ("access-control-request-headers", "x-\udcff"))),
    ("5,000 header names", *preflight("PUT", ("access-control-request-headers", ",".join(f"x-h{i}" for i in range(5000))))),
]


@pytest.mark.parametrize("what, method, headers", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_values_from_hostile_requests_are_bounded_and_clean(logged, what, method, headers):
    e = logged.envoy
    path = f"/a/{uuid.uuid4().hex}"
    raw = f"{method} {path} HTTP/1.1\r\nhost: api.example.com\r\n".encode("latin-1")
    for name, value in headers:
        raw += name.encode() + b": " + value.encode("utf-8", "surrogateescape") + b"\r\n"
    answer = raw_exchange("127.0.0.1", e.port, raw + b"connection: close\r\n\r\n")
    status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/1.1 ") else None
    assert status not in (None, b"400", b"503"), f"{what}: {answer[:200]!r}"
    recorded = line_for(e, path)
    match = RECORD.fullmatch(recorded)
    assert match, f"{what}: {recorded!r}"
    assert len(recorded) <= 256
    assert all(0x21 <= ord(c) <= 0x7e or c == " " for c in recorded), recorded


def only_refusals(config: dict) -> None:
    """The shipped access log, with the CEL filter of docs/operators.md."""
    logger = envoy_runner.file_access_logs(config)[0]
    logger["filter"] = {"extension_filter": {
        "name": "envoy.access_loggers.extension_filters.cel",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter",
                         "expression": "'wasm.cors.decision' in filter_state"}}}


def test_a_cel_filter_on_the_key_logs_only_what_the_filter_refused(envoy):
    e = envoy(POLICY, mutate=only_refusals)
    run = uuid.uuid4().hex
    request(e.url, "GET", f"/a/{run}/allowed", [("origin", APP)])
    request(e.url, "GET", f"/a/{run}/no-origin", [])
    request(e.url, "GET", f"/a/{run}/refused", [("origin", EVIL)])
    request(e.url, "OPTIONS", f"/a/{run}/preflight", [("origin", APP), ("access-control-request-method", "DELETE")])
    lines = e.access_log(lambda lines: sum(run in line for line in lines) >= 2)
    mine = sorted(line.split(f"/a/{run}/", 1)[1].split(" ", 1)[0] for line in lines if run in line)
    assert mine == ["preflight", "refused"], lines
