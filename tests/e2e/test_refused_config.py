"""Refused at configure time: Envoy must not start, and its log names the JSON path."""

import re

import pytest

pytestmark = pytest.mark.wire

OK = {"allow_origins": ["https://app.example.com"]}


def routed(**fields):
    """A routed policy whose policy "p" has these fields on top of a valid one."""
    return {"policies": {"p": dict(OK, **fields)}, "default": "p"}


def refusal_lines(log):
    return [line for line in log.splitlines() if "policy refused" in line]


# (id, policy, strings that must appear together on one refusal line)
CASES = [
    ("unknown-field-in-policy", routed(allowed_methods=["GET"]), ["allowed_methods"]),
    ("unknown-top-level-field", {"policies": {"p": OK}, "default": "p", "rutes": []}, ["rutes"]),
    ("unknown-field-in-match", {"policies": {"p": OK}, "routes": [{"match": {"paht": "/x"}, "policy": "p"}]}, ["paht"]),
    ("unknown-field-in-single-form", dict(OK, allow_orgins=["https://b.example.com"]), ["allow_orgins"]),
    ("empty-allow-origins", routed(allow_origins=[]), ["policies.p.allow_origins"]),
    ("star-mixed-with-origins", routed(allow_origins=["*", "https://a.example.com"]), ["policies.p.allow_origins"]),
    ("star-origin-with-credentials", routed(allow_origins=["*"], allow_credentials=True),
     ["policies.p.allow_origins[0]", "would let every website read"]),
    ("star-expose-with-credentials", routed(expose_headers=["*"], allow_credentials=True),
     ["policies.p.expose_headers[0]", "would expose nothing"]),
    ("wildcard-over-a-public-suffix", routed(allow_origins=["https://*.github.io"]),
     ["policies.p.allow_origins[0]", "https://*.github.io", "public suffix"]),
    ("wildcard-over-an-icann-suffix", routed(allow_origins=["https://a.example.com", "https://*.co.uk"]),
     ["policies.p.allow_origins[1]", "public suffix"]),
    ("http-origin-with-credentials", routed(allow_origins=["http://intranet.example.com"], allow_credentials=True),
     ["policies.p.allow_origins[0]", "anyone on the network path", "dangerously_allow_http_origins_with_credentials"]),
    ("forbidden-request-header", routed(allow_headers=["x-ok", "sec-fetch-mode"]),
     ["policies.p.allow_headers[1]", "forbidden request-header name"]),
    ("cookie-as-allowed-header", routed(allow_headers=["cookie"]), ["policies.p.allow_headers[0]", "allow_credentials"]),
    ("response-header-as-allowed-header", routed(allow_headers=["access-control-allow-origin"]),
     ["policies.p.allow_headers[0]", "a CORS response header"]),
    ("set-cookie-exposed", routed(expose_headers=["set-cookie"]), ["policies.p.expose_headers[0]", "Set-Cookie"]),
    ("duplicate-key", '{"policies": {"p": {"allow_origins": ["https://a.example.com"], "max_age": 1, "max_age": 2}}}',
     ["policies.p.max_age", "duplicate key"]),
    ("null-origin", routed(allow_origins=["https://a.example.com", "null"]), ["policies.p.allow_origins[1]", '"null"']),
    ("origin-with-path", routed(allow_origins=["https://a.example.com/api"]), ["policies.p.allow_origins[0]", "https://a.example.com/api"]),
    ("origin-with-trailing-slash", routed(allow_origins=["https://a.example.com/"]), ["policies.p.allow_origins[0]"]),
    ("origin-with-query", routed(allow_origins=["https://a.example.com?x=1"]), ["policies.p.allow_origins[0]"]),
    ("origin-with-fragment", routed(allow_origins=["https://a.example.com#top"]), ["policies.p.allow_origins[0]"]),
    ("origin-with-userinfo", routed(allow_origins=["https://user@a.example.com"]), ["policies.p.allow_origins[0]"]),
    ("origin-with-default-https-port", routed(allow_origins=["https://a.example.com:443"]), ["policies.p.allow_origins[0]"]),
    ("origin-with-default-http-port", routed(allow_origins=["http://a.example.com:80"]), ["policies.p.allow_origins[0]"]),
    ("wildcard-in-scheme", routed(allow_origins=["*://a.example.com"]), ["policies.p.allow_origins[0]"]),
    ("wildcard-not-on-label-boundary", routed(allow_origins=["https://a.example.com", "https://*.x.com", "https://*example.com"]),
     ["policies.p.allow_origins[2]", '"https://*example.com"']),
    ("wildcard-over-one-label", routed(allow_origins=["https://*.com"]), ["policies.p.allow_origins[0]"]),
    ("wildcard-as-tld", routed(allow_origins=["https://example.*"]), ["policies.p.allow_origins[0]"]),
    ("invalid-method-token", routed(allow_methods=["GET", "PO ST"]), ["policies.p.allow_methods[1]"]),
    ("forbidden-method-connect", routed(allow_methods=["CONNECT"]), ["policies.p.allow_methods[0]"]),
    ("forbidden-method-trace", routed(allow_methods=["GET", "TRACE"]), ["policies.p.allow_methods[1]"]),
    ("forbidden-method-track", routed(allow_methods=["TRACK"]), ["policies.p.allow_methods[0]"]),
    ("invalid-header-token", routed(allow_headers=["x-ok", "x bad"]), ["policies.p.allow_headers[1]"]),
    ("invalid-expose-header-token", routed(expose_headers=["x(bad)"]), ["policies.p.expose_headers[0]"]),
    ("max-age-too-large", routed(max_age=86401), ["policies.p.max_age"]),
    ("max-age-negative", routed(max_age=-1), ["policies.p.max_age"]),
    ("rule-names-missing-policy", {"policies": {"p": OK}, "routes": [{"match": {"path": "/x"}, "policy": "nope"}]},
     ["routes[0].policy", "nope"]),
    ("default-names-missing-policy", {"policies": {"p": OK}, "default": "nope"}, ["default", "nope"]),
    ("preflight-status-not-200-or-204", routed(preflight_status=201), ["policies.p.preflight_status"]),
    ("unknown-mode", routed(mode="block"), ["policies.p.mode"]),
]


def test_invalid_json_stops_envoy_with_a_refusal(envoy_refuses):
    log = envoy_refuses('{"allow_origins": ["https://app.example.com"')
    assert refusal_lines(log), log[-3000:]


def test_empty_configuration_stops_envoy_with_a_refusal(envoy_refuses):
    log = envoy_refuses("")
    assert refusal_lines(log), log[-3000:]


@pytest.mark.parametrize("policy, needles", [pytest.param(p, n, id=i) for i, p, n in CASES])
def test_refused_policy_stops_envoy_naming_the_json_path(envoy_refuses, policy, needles):
    log = envoy_refuses(policy)
    lines = refusal_lines(log)
    assert any(all(n in line for n in needles) for line in lines), (
        f"no refusal line containing {needles}; refusal lines:\n" + "\n".join(lines) + "\n---\n" + log[-2000:]
    )


def test_every_problem_gets_its_own_refusal_line(envoy_refuses):
    log = envoy_refuses(routed(allow_origins=["https://*example.com", "null"], max_age=100000))
    lines = refusal_lines(log)
    for needle in ("policies.p.allow_origins[0]", "policies.p.allow_origins[1]", "policies.p.max_age"):
        assert any(needle in line for line in lines), (needle, lines)


def test_loosened_wildcards_with_credentials_load(envoy):
    """GEP-1767: with credentials, "*" methods and headers mean "echo what the preflight asked for"."""
    envoy(routed(allow_methods=["*"], allow_headers=["*"], allow_credentials=True))


# What Envoy 1.40 says when the filter refuses its configuration at startup.
STARTUP_ERROR = {
    "wasm": r"Unable to create Wasm plugin cors",
    "dynamic": r"Failed to create filter config: Failed to initialize dynamic module",
}


def test_refusal_reports_the_plugin_failure_as_envoys_startup_error(envoy_refuses, shell):
    log = envoy_refuses(routed(allow_origins=[]))
    assert re.search(STARTUP_ERROR[shell], log), log[-2000:]
