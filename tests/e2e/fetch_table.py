"""The Fetch standard case table (tests/cases/fetch.json), for the e2e runner.

Mirrors what crates/core/tests/fetch_cases.rs does natively: the same routed policy (one
rule per policy, by path), the same request paths, the same checks, and the
browser's verdict computed with fetch_browser from the actual response.
"""

from __future__ import annotations

import json
from pathlib import Path

import fetch_browser as browser

TABLE_PATH = Path(__file__).resolve().parents[1] / "cases" / "fetch.json"
TABLE = json.loads(TABLE_PATH.read_text())
CASES = TABLE["cases"]


def policy_name(index: int, case: dict) -> str:
    return case["policy"] if isinstance(case["policy"], str) else f"inline-{index}"


def policies() -> dict:
    """Named policies plus every inline one (named inline-<case index>)."""
    out = dict(TABLE["policies"])
    for i, case in enumerate(CASES):
        if isinstance(case["policy"], dict):
            out[f"inline-{i}"] = case["policy"]
    return out


def routed_config() -> dict:
    routes = []
    for name in sorted(policies()):
        routes.append({"match": {"path": f"/unavailable/{name}/**"}, "policy": name})
        routes.append({"match": {"path": f"/{name}/**"}, "policy": name})
    return {"policies": policies(), "routes": routes}


def _tokens(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def check(case: dict, request_headers: list[tuple[str, str]], status: int,
          headers: list[tuple[str, str]], reached: bool | None, counter) -> list[str]:
    """Every way the response fails the case (empty when it passes).

    reached: whether the upstream saw the request (None: not checked).
    counter: the counter that moved, None for none, ... when not observed."""
    expect = case["expect"]
    fails = []
    if "status" in expect and status != expect["status"]:
        fails.append(f"status {status} (expected {expect['status']})")
    if reached is not None and "reached_upstream" in expect and reached != expect["reached_upstream"]:
        fails.append(f"reached_upstream {reached} (expected {expect['reached_upstream']})")
    if counter is not ... and "counter" in expect and counter != expect["counter"]:
        fails.append(f"counter {counter!r} (expected {expect['counter']!r})")
    for name, want in expect.get("headers", {}).items():
        have = browser.get(headers, name)
        if have != want:
            fails.append(f"{name}: {have!r} (expected {want!r})")
    for name, want in expect.get("tokens", {}).items():
        fold = (lambda t: t) if name == "access-control-allow-methods" else str.lower
        have = sorted(fold(t) for t in _tokens(browser.get(headers, name)))
        if have != sorted(fold(t) for t in want):
            fails.append(f"{name} tokens {have} (expected {sorted(want)})")
    for name in expect.get("absent", []):
        if browser.get(headers, name) is not None:
            fails.append(f"{name} present (expected absent)")
    vary = [t.lower() for t in _tokens(browser.get(headers, "vary"))]
    for token in expect.get("vary", []):
        if token.lower() not in vary:
            fails.append(f"Vary {vary} lacks {token}")
    for token in expect.get("not_vary", []):
        if token.lower() in vary:
            fails.append(f"Vary {vary} has {token}")
    if "browser" in expect:
        fails += _check_browser(case, expect["browser"], request_headers, status, headers)
    return fails


def _check_browser(case, want, request_headers, status, headers) -> list[str]:
    fails = []
    credentials = bool(case.get("credentials", False))
    sent = {}
    for n, v in request_headers:
        sent.setdefault(n.lower(), v)
    origin = sent.get("origin", "")
    if "preflight_ok" in want:
        intent = browser.Intent(
            method=sent.get("access-control-request-method", ""),
            unsafe_headers=[t.lower() for t in _tokens(sent.get("access-control-request-headers"))],
            credentials=credentials,
            private_network=sent.get("access-control-request-private-network") == "true",
        )
        ok, why = browser.verdict(browser.preflight_check, status, headers, origin, intent)
        if ok != want["preflight_ok"]:
            fails.append(f"browser preflight_ok {ok} (expected {want['preflight_ok']}): {why}")
    if "cache_max_age" in want:
        have = browser.max_age(headers)
        if have != want["cache_max_age"]:
            fails.append(f"browser cache_max_age {have} (expected {want['cache_max_age']})")
    if "cors_ok" in want:
        ok, why = browser.verdict(browser.cors_check, headers, origin, credentials)
        if ok != want["cors_ok"]:
            fails.append(f"browser cors_ok {ok} (expected {want['cors_ok']}): {why}")
    for key, expected in (("readable", True), ("unreadable", False)):
        for name in want.get(key, []):
            if browser.readable(headers, name, credentials) != expected:
                fails.append(f"browser: {name} readable is {not expected} (expected {expected})")
    return fails
