"""`cors-policy import` against the real thing.

Every fixture of tests/fixtures/import/ is imported (`--matrix` writes every
request of the importer's matrix, with both predicted answers) and each
request goes to one Envoy in front of the test upstream:

- 'api' runs this filter with the imported policy: `simulation::simulate`
  must have predicted its every answer.
- 'builtin', where the source is Envoy's built-in CORS filter (Envoy, and the
  Istio and Envoy Gateway configurations that become it), runs that filter
  with the source's CorsPolicies: an Envoy fixture's own route configuration,
  else each scope's CorsPolicy as the importer read it, on a route of its own
  (selected by an `x-import-scope` header; a rule with its own Gateway API
  CORS filter is left to 'api'). The importer's model must have
  predicted the built-in filter's every answer, and every difference between
  the two real answers must be named by the importer's own classifiers
  (`cors-policy differences`, the rows of docs/differences.md) as it named the
  predicted one.
"""

from __future__ import annotations

import copy
import http.client
import json
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import test_differential as differential
import yaml
from envoy_cors_testing import envoy_runner

pytestmark = pytest.mark.wire

ROOT = envoy_runner.ROOT
IMPORT = ROOT / "tests/fixtures/import"
FIXTURES = sorted((IMPORT / "envoy").glob("*.yaml"))
OTHERS = sorted(p for p in IMPORT.glob("*/*") if p.parent.name != "envoy" and p.suffix in (".yaml", ".json"))
SCOPE_HEADER = "x-import-scope"
CORS_FILTER = {"name": "envoy.filters.http.cors",
               "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"}}
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def imported(cors_policy: str, fixture: Path, tmp_path: Path) -> tuple[dict, dict]:
    out = tmp_path / "matrix.json"
    proc = subprocess.run([cors_policy, "import", str(fixture), "--matrix", str(out)],
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


def direct_statuses(report: dict) -> dict[int, int]:
    """The status each scope that answers itself answers with (a route's
    `direct_response`, nginx's redirect to a path with `/`), by scope."""
    return {c["scope"]: c["upstream"]["status"] for c in report["cases"] if c["upstream"]["kind"] == "direct"}


def scoped_routes(report: dict, keep_cors: bool) -> dict:
    """One route per scope of the matrix, selected by SCOPE_HEADER, named as
    the source's route (for `route_name` rules), with the scope's CorsPolicy;
    to the upstream, or answering itself."""
    routes = []
    direct = direct_statuses(report)
    for i, scope in enumerate(report["scopes"]):
        action = {"direct_response": {"status": direct[i]}} if i in direct else {"route": {"cluster": "upstream"}}
        route = {"match": {"prefix": "/", "headers": [{"name": SCOPE_HEADER, "string_match": {"exact": str(i)}}]},
                 **action}
        if scope["route_name"]:
            route["name"] = scope["route_name"]
        if keep_cors and isinstance(scope["envoy"], dict):
            route["typed_per_filter_config"] = {CORS_FILTER["name"]: scope["envoy"]}
        routes.append(route)
    return {"name": "scoped", "virtual_hosts": [{"name": "scoped", "domains": ["*"], "routes": routes}]}


def with_builtin(config: dict, ours: dict, theirs: dict | None, hcm_source: dict | None = None) -> None:
    """The 'api' listener with route configuration `ours`, and a 'builtin' one
    with Envoy's CORS filter and `theirs`, when there is one."""
    api = config["static_resources"]["listeners"][0]
    hcm = api["filter_chains"][0]["filters"][0]["typed_config"]
    for key in ("strip_any_host_port", "strip_matching_host_port"):
        if hcm_source and key in hcm_source:
            hcm[key] = hcm_source[key]
    hcm["route_config"] = ours
    if theirs is None:
        return
    builtin = copy.deepcopy(api)
    builtin["name"] = "builtin"
    bhcm = builtin["filter_chains"][0]["filters"][0]["typed_config"]
    bhcm["stat_prefix"] = "builtin"
    bhcm["http_filters"] = [CORS_FILTER, ROUTER]
    bhcm["route_config"] = theirs
    config["static_resources"]["listeners"].append(builtin)


def send(port: int, case: dict, scoped: bool) -> tuple[int, list[tuple[str, str]]]:
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
        if scoped:
            conn.putheader(SCOPE_HEADER, str(case["scope"]))
        conn.endheaders()
        r = conn.getresponse()
        r.read()
        return r.status, r.getheaders()
    finally:
        conn.close()


def predicted(side: dict) -> dict:
    return differential.normalise(side["status"], [(n, v) for n, v in side["headers"]])


def check(cors_policy: str, running, report: dict, scoped: bool) -> None:
    """Every case against both listeners (see the module's docstring)."""
    _, body = running.admin("/listeners?format=json")
    ports = {s["name"]: int(s["local_address"]["socket_address"]["port_value"])
             for s in json.loads(body)["listener_statuses"]}
    cases = report["cases"]
    assert len(cases) >= 100
    model_wrong, simulate_wrong, pairs = [], [], []
    for i, case in enumerate(cases):
        label = f"#{i} {case['rule']} {case['request']} upstream={case['upstream']['kind']}"
        ours = send(ports["api"], case, scoped)
        if predicted(case["ours"]) != differential.normalise(*ours):
            simulate_wrong.append(f"{label}\n    simulate={predicted(case['ours'])}\n    wasm={differential.normalise(*ours)}")
        if "builtin" not in ports or isinstance(report["scopes"][case["scope"]]["envoy"], str):
            continue
        builtin = send(ports["builtin"], case, scoped)
        if predicted(case["source"]) != differential.normalise(*builtin):
            model_wrong.append(f"{label}\n    model={predicted(case['source'])}\n    envoy={differential.normalise(*builtin)}")
        request = case["request"]
        any_origin = report["scopes"][case["scope"]]["any_origin"]
        pairs.append((label, case, differential.pair(request["method"], request["headers"], any_origin,
                                                     case["upstream"]["headers"], case["upstream"]["status"],
                                                     builtin, ours)))
    assert not simulate_wrong, f"{len(simulate_wrong)} answers of this filter simulate did not predict:\n" + \
        "\n".join(simulate_wrong[:10])
    assert not model_wrong, f"{len(model_wrong)} answers of the built-in filter the model did not predict:\n" + \
        "\n".join(model_wrong[:10])
    _, named = differential.classify(cors_policy, [p for _, _, p in pairs]) if pairs else ([], [])
    unexplained, ids_disagree = [], []
    for (label, case, _), fields in zip(pairs, named):
        if differential.UNEXPLAINED in fields.values():
            unexplained.append(f"{label}\n    {fields}")
        if fields != case["differences"]:
            ids_disagree.append(f"{label}\n    real={fields}\n    predicted={case['differences']}")
    assert not unexplained, f"{len(unexplained)} differences docs/differences.md does not explain:\n" + \
        "\n".join(unexplained[:10])
    assert not ids_disagree, f"{len(ids_disagree)} real differences named otherwise than predicted:\n" + \
        "\n".join(ids_disagree[:10])


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_imported_policy_differs_from_the_builtin_filter_only_as_documented(fixture, cors_policy, envoy, tmp_path):
    policy, report = imported(cors_policy, fixture, tmp_path)
    hcm = fixture_hcm(fixture)

    def mutate(config: dict) -> None:
        with_builtin(config, to_upstream(hcm["route_config"], keep_cors=False),
                     to_upstream(hcm["route_config"], keep_cors=True), hcm)
    mutate.__qualname__ = f"import_mutate_{fixture.stem}"
    check(cors_policy, envoy(policy, mutate=mutate, component_log_level=None), report, scoped=False)


@pytest.mark.parametrize("fixture", OTHERS, ids=[f"{f.parent.name}/{f.stem}" for f in OTHERS])
def test_imported_policy_answers_in_envoy_as_the_importer_predicted(fixture, cors_policy, envoy, tmp_path):
    policy, report = imported(cors_policy, fixture, tmp_path)
    envoy_source = any(isinstance(scope["envoy"], dict) for scope in report["scopes"])

    def mutate(config: dict) -> None:
        with_builtin(config, scoped_routes(report, keep_cors=False),
                     scoped_routes(report, keep_cors=True) if envoy_source else None)
    mutate.__qualname__ = f"import_mutate_{fixture.parent.name}_{fixture.stem}"
    check(cors_policy, envoy(policy, mutate=mutate, component_log_level=None), report, scoped=True)
