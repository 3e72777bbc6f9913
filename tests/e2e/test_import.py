"""`cors-policy import` against the real thing.

For each Envoy fixture (tests/fixtures/import/envoy/*.yaml) one Envoy runs two
listeners in front of the same upstream, with the fixture's own route
configuration: 'builtin' with Envoy's built-in CORS filter and the fixture's
CorsPolicies, 'api' with this filter and the policy `cors-policy import`
wrote. Every request of the importer's matrix (`--matrix`) goes to both, and:

- the importer's model of the built-in filter predicted the built-in filter's
  real answer (so the model behind the change list cannot drift from Envoy);
- `simulation::simulate` predicted the wasm filter's real answer;
- every difference between the two real answers is one of docs/differences.md
  (the classifiers of test_differential.py), and is the id the importer gave.
"""

from __future__ import annotations

import copy
import http.client
import json
import subprocess
import urllib.parse
from pathlib import Path

import differential_matrix as matrix
import pytest
import test_differential as differential
import yaml
from envoy_cors_testing import envoy_runner

pytestmark = pytest.mark.wire

ROOT = envoy_runner.ROOT
FIXTURES = sorted((ROOT / "tests/fixtures/import/envoy").glob("*.yaml"))
CORS_FILTER = {"name": "envoy.filters.http.cors",
               "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"}}
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


@pytest.fixture(scope="module")
def cors_policy() -> Path:
    subprocess.run(["cargo", "build", "--quiet", "-p", "cors-policy"], cwd=ROOT, check=True)
    return ROOT / "target/debug/cors-policy"


def imported(cors_policy: Path, fixture: Path, tmp_path: Path) -> tuple[dict, dict]:
    out = tmp_path / "matrix.json"
    proc = subprocess.run([str(cors_policy), "import", str(fixture), "--matrix", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), json.loads(out.read_text())


def fixture_hcm(fixture: Path) -> dict:
    doc = yaml.safe_load(fixture.read_text())
    for listener in doc["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for f in chain["filters"]:
                if f["name"] == envoy_runner.HCM:
                    return f["typed_config"]
    raise KeyError("no connection manager in the fixture")


def to_upstream(route_config: dict, keep_cors: bool) -> dict:
    """The fixture's routes, sent to the test upstream; without CorsPolicies for this filter's listener."""
    rc = copy.deepcopy(route_config)
    levels = [rc] + rc["virtual_hosts"] + [r for v in rc["virtual_hosts"] for r in v["routes"]]
    for level in levels:
        if not keep_cors:
            level.pop("typed_per_filter_config", None)
        if "route" in level:
            level["route"]["cluster"] = "upstream"
    return rc


def mutate_for(hcm_source: dict):
    def mutate(config: dict) -> None:
        api = config["static_resources"]["listeners"][0]
        hcm = api["filter_chains"][0]["filters"][0]["typed_config"]
        for key in ("strip_any_host_port", "strip_matching_host_port"):
            if key in hcm_source:
                hcm[key] = hcm_source[key]
        hcm["route_config"] = to_upstream(hcm_source["route_config"], keep_cors=False)
        builtin = copy.deepcopy(api)
        builtin["name"] = "builtin"
        bhcm = builtin["filter_chains"][0]["filters"][0]["typed_config"]
        bhcm["stat_prefix"] = "builtin"
        bhcm["http_filters"] = [CORS_FILTER, ROUTER]
        bhcm["route_config"] = to_upstream(hcm_source["route_config"], keep_cors=True)
        config["static_resources"]["listeners"].append(builtin)
    mutate.__qualname__ = f"import_mutate_{id(hcm_source)}"
    return mutate


def send(port: int, case: dict) -> dict:
    request, upstream = case["request"], case["upstream"]
    path = request["path"]
    if upstream["headers"]:
        path += "?" + "&".join("response_header=" + urllib.parse.quote(f"{n}: {v}") for n, v in upstream["headers"])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(request["method"], path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("host", request["authority"])
        for n, v in request["headers"]:
            conn.putheader(n, v)
        conn.endheaders()
        r = conn.getresponse()
        r.read()
        return differential.normalise(r.status, r.getheaders())
    finally:
        conn.close()


def predicted(side: dict) -> dict:
    return differential.normalise(side["status"], [(n, v) for n, v in side["headers"]])


def as_case(i: int, case: dict, policy: dict) -> matrix.Case:
    """The importer's case as the differential suite's Case, for its classifiers."""
    headers = case["request"]["headers"]
    origin = next((v for n, v in headers if n == "origin"), None)
    rest = tuple((n, v) for n, v in headers if n != "origin")
    ours_any = case["ours"]["headers"] and any(
        n == "access-control-allow-origin" and v == "*" for n, v in case["ours"]["headers"])
    upstream = "own-cors" if case["upstream"]["headers"] else "plain"
    return matrix.Case(i, "any" if ours_any else "imported", origin, matrix.Kind("imported", case["request"]["method"], rest),
                       upstream)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_imported_policy_differs_from_the_builtin_filter_only_as_documented(fixture, cors_policy, envoy, tmp_path):
    policy, report = imported(cors_policy, fixture, tmp_path)
    running = envoy(policy, mutate=mutate_for(fixture_hcm(fixture)), component_log_level=None)
    _, body = running.admin("/listeners?format=json")
    ports = {s["name"]: int(s["local_address"]["socket_address"]["port_value"])
             for s in json.loads(body)["listener_statuses"]}
    model_wrong, simulate_wrong, unexplained, ids_disagree = [], [], [], []
    cases = report["cases"]
    assert len(cases) >= 100
    for i, case in enumerate(cases):
        builtin, ours = send(ports["builtin"], case), send(ports["api"], case)
        label = f"#{i} {case['rule']} {case['request']} upstream={case['upstream']['kind']}"
        if predicted(case["source"]) != builtin:
            model_wrong.append(f"{label}\n    model={predicted(case['source'])}\n    envoy={builtin}")
        if predicted(case["ours"]) != ours:
            simulate_wrong.append(f"{label}\n    simulate={predicted(case['ours'])}\n    wasm={ours}")
        explained, problems = differential.explain(as_case(i, case, policy), builtin, ours)
        if problems:
            unexplained.append(f"{label}\n    " + "\n    ".join(problems))
        if explained != case["differences"]:
            ids_disagree.append(f"{label}\n    python={explained}\n    rust={case['differences']}")
    assert not model_wrong, f"{len(model_wrong)} answers of the built-in filter the model did not predict:\n" + \
        "\n".join(model_wrong[:10])
    assert not simulate_wrong, f"{len(simulate_wrong)} answers of the wasm filter simulate did not predict:\n" + \
        "\n".join(simulate_wrong[:10])
    assert not unexplained, f"{len(unexplained)} differences docs/differences.md does not explain:\n" + \
        "\n".join(unexplained[:10])
    assert not ids_disagree, f"{len(ids_disagree)} cases the importer classified otherwise:\n" + "\n".join(ids_disagree[:10])
