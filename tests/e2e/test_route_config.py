"""The policy where Envoy keeps per-route configuration: route metadata (the
routed form's `metadata_namespace`, both shells), virtual-host metadata (the
plugin only: Envoy 1.40 gives a dynamic module no getter for it), and the
dynamic module's per-route config (`DynamicModuleFilterPerRoute` on a route or
a virtual host; Envoy has no per-route config for the wasm filter,
envoyproxy/envoy#26440). Most specific first: per-route config, route
metadata, virtual-host metadata, `routes`, `default`.
"""

import uuid

import pytest
from envoy_cors_testing import envoy_runner
from envoy_cors_testing.http import request
from envoy_cors_testing.route_config import WatchedRoutes, metadata, per_route

pytestmark = pytest.mark.wire

ORIGINS = {name: f"https://{name}.test" for name in ("a", "b", "c", "vh", "rt")}
POLICY = {
    "policies": {name: {"allow_origins": [ORIGINS[name]]} for name in ("a", "b", "c")},
    "default": "c",
    "metadata_namespace": "envoy-cors",
}
WITHOUT_OPT_IN = {k: v for k, v in POLICY.items() if k != "metadata_namespace"}
UPSTREAM_CORS = ("x-test-response-header", "Access-Control-Allow-Origin: https://upstream.example")
MODULE_ONLY = "Envoy has no per-route configuration for the wasm filter (envoyproxy/envoy#26440)"


def route(prefix: str, **extra) -> dict:
    return {"name": prefix.strip("/"), "match": {"prefix": prefix}, "route": {"cluster": "upstream"}, **extra}


def with_route_config(config: dict) -> None:
    """Two virtual hosts in front of envoy.yaml's own: `meta.test` (metadata
    naming `b` on the virtual host, and per route) and `per-route.test` (the
    module's per-route configs; left out for the plugin, which has none)."""
    hcm = envoy_runner.http_connection_manager(config)
    dynamic = envoy_runner.shell_of(config) == "dynamic"
    meta_routes = [
        route("/route/", metadata=metadata("a")),
        route("/vhost/"),
        route("/null/", metadata=metadata(None)),
        route("/unknown/", metadata=metadata("nope")),
    ]
    hosts = [{"name": "meta", "domains": ["meta.test"], "metadata": metadata("b"), "routes": meta_routes}]
    if dynamic:
        meta_routes.append(route("/both/", metadata=metadata("b"), typed_per_filter_config=per_route({"policy": "a"})))
        hosts.append({
            "name": "per-route", "domains": ["per-route.test"],
            "typed_per_filter_config": per_route({"name": "vh", "allow_origins": [ORIGINS["vh"]]}),
            "routes": [
                route("/route-level/", typed_per_filter_config=per_route({"name": "rt", "allow_origins": [ORIGINS["rt"]]})),
                route("/named/", typed_per_filter_config=per_route({"policy": "a"})),
                route("/off/", typed_per_filter_config=per_route({"policy": None})),
                route("/unknown/", typed_per_filter_config=per_route({"policy": "nope"})),
                route("/vhost-level/"),
            ],
        })
    hcm["route_config"]["virtual_hosts"] = hosts + hcm["route_config"]["virtual_hosts"]


def policy_of(envoy, host: str, path: str) -> str | None:
    """Which policy answers: the name whose origin gets Allow-Origin, else None."""
    hits = []
    for name, origin in ORIGINS.items():
        r = request(envoy.url, "GET", f"{path}{uuid.uuid4().hex}", [("host", host), ("origin", origin), UPSTREAM_CORS])
        if r.all("access-control-allow-origin") == [origin]:
            hits.append(name)
    assert len(hits) <= 1, hits
    return hits[0] if hits else None


def untouched(envoy, host: str, path: str) -> bool:
    """CORS is off: the upstream's own Allow-Origin passes, and no Vary: Origin."""
    r = request(envoy.url, "GET", f"{path}{uuid.uuid4().hex}", [("host", host), ("origin", ORIGINS["a"]), UPSTREAM_CORS])
    return r.all("access-control-allow-origin") == ["https://upstream.example"] and "origin" not in r.vary()


@pytest.fixture
def routed(envoy):
    return envoy(POLICY, mutate=with_route_config)


def test_route_metadata_names_the_policy_before_the_virtual_host_and_the_default(routed):
    assert policy_of(routed, "meta.test", "/route/") == "a"


def test_virtual_host_metadata_is_the_fallback_in_the_plugin_only(routed, shell):
    # Envoy 1.40's metadata getter for modules has no virtual-host source:
    # the module falls through to the default (per-route config on the
    # virtual host is its way, tested below).
    assert policy_of(routed, "meta.test", "/vhost/") == ("b" if shell == "wasm" else "c")


def test_null_in_route_metadata_turns_cors_off_in_the_plugin(routed, shell):
    if shell == "wasm":
        assert untouched(routed, "meta.test", "/null/")
    else:
        # A module reads a null as absent, and Envoy logs an error each time:
        # `{"policy": null}` in per-route config is the module's way.
        since = routed.log_path.stat().st_size
        assert policy_of(routed, "meta.test", "/null/") == "c"
        assert "key policy is not a string" in routed.log_path.read_bytes()[since:].decode(errors="replace")


def test_an_unknown_name_is_refused_counted_and_logged_once(routed):
    before = routed.stats("wasmcustom.cors.unknown_policy").get("wasmcustom.cors.unknown_policy", 0)
    path = f"/unknown/{uuid.uuid4().hex}"
    preflight = request(routed.url, "OPTIONS", path, [
        ("host", "meta.test"), ("origin", ORIGINS["b"]), ("access-control-request-method", "GET")])
    assert preflight.status == 403
    assert preflight.cors() == {}
    # The access log names the reason (issue 21's reason table).
    lines = routed.access_log(lambda lines: any(f" {path} " in line for line in lines))
    (line,) = [line for line in lines if f" {path} " in line]
    assert line.rsplit('" ', 1)[1].strip() == "policy=nope verdict=preflight_denied reason=unknown_policy:nope"
    actual = request(routed.url, "GET", f"/unknown/{uuid.uuid4().hex}", [("host", "meta.test"), ("origin", ORIGINS["b"]), UPSTREAM_CORS])
    assert actual.status == 200
    assert actual.cors() == {}, "the upstream's Allow-Origin never reaches a refused origin"
    assert policy_of(routed, "meta.test", "/unknown/") is None
    assert routed.stats("wasmcustom.cors.unknown_policy")["wasmcustom.cors.unknown_policy"] == before + 2 + len(ORIGINS)
    warned = [line for line in routed.filter_log_lines("warning") if '"nope"' in line]
    assert len(warned) == 1, warned
    assert "which this filter's configuration does not define" in warned[0]


def test_without_the_opt_in_route_metadata_is_not_read(envoy):
    e = envoy(WITHOUT_OPT_IN, mutate=with_route_config)
    assert policy_of(e, "meta.test", "/route/") == "c"
    assert policy_of(e, "meta.test", "/unknown/") == "c"


def test_the_module_per_route_config_most_specific_wins(routed, shell):
    if shell == "wasm":
        pytest.skip(MODULE_ONLY)
    assert policy_of(routed, "per-route.test", "/route-level/") == "rt"
    assert policy_of(routed, "per-route.test", "/vhost-level/") == "vh"
    assert policy_of(routed, "per-route.test", "/named/") == "a"
    assert untouched(routed, "per-route.test", "/off/")
    assert policy_of(routed, "per-route.test", "/unknown/") is None
    # Per-route config wins over route metadata.
    assert policy_of(routed, "meta.test", "/both/") == "a"


def test_per_route_policies_count_under_their_name_in_one_labelled_family(routed, shell):
    if shell == "wasm":
        pytest.skip(MODULE_ONLY)
    name = "dynamicmodulescustom.cors.per_route.actual_allowed.policy.rt"
    before = routed.stats(name).get(name, 0)
    assert policy_of(routed, "per-route.test", "/route-level/") == "rt"
    assert routed.stats(name)[name] == before + 1
    _, text = routed.admin("/stats/prometheus")
    assert 'envoy_dynamicmodulescustom_cors_per_route_actual_allowed{policy="rt"}' in text


BAD_INLINE = {"name": "bad", "allow_origins": ["https://*.com"], "max_age": -1}


def refused_lines(log: str) -> list[str]:
    return [line.split("] ", 2)[-1].split("[:] ", 1)[-1] for line in log.splitlines() if "cors: per-route policy refused" in line]


def test_a_refused_inline_policy_stops_envoy_at_startup_with_one_line_per_problem(shell, artifact, upstream):
    if shell == "wasm":
        pytest.skip(MODULE_ONLY)

    def bad(config):
        with_route_config(config)
        hosts = envoy_runner.http_connection_manager(config)["route_config"]["virtual_hosts"]
        hosts[0]["routes"].insert(0, route("/bad/", typed_per_filter_config=per_route(BAD_INLINE)))

    config = envoy_runner.render(POLICY, shell=shell, upstream=(upstream.host, upstream.port), mutate=bad)
    code, log = envoy_runner.refuses(config, module=artifact)
    assert code not in (None, 0), log[-3000:]
    assert refused_lines(log) == [
        'cors: per-route policy refused: allow_origins[0]: "https://*.com": a wildcard needs at least two literal '
        "DNS labels to its right (e.g. `*.example.com`)",
        "cors: per-route policy refused: max_age: -1: max_age must be between 0 and 86400 seconds",
        "cors: per-route policy refused with 2 problem(s); Envoy refuses the route configuration and keeps the one it has",
    ], log[-3000:]
    assert "Failed to initialize per-route dynamic module" in log


@pytest.fixture
def watched(shell, artifact, upstream):
    config = envoy_runner.render(POLICY, shell=shell, upstream=(upstream.host, upstream.port), mutate=with_route_config,
                                 **({"wasm": artifact} if shell == "wasm" else {}))
    with WatchedRoutes(config, module=artifact if shell == "dynamic" else None) as w:
        yield w


def moved(config_route: dict, shell: str, policy: str) -> dict:
    """A route of `meta.test` naming `policy`: by per-route config in the
    module, by route metadata in the plugin."""
    key = "typed_per_filter_config" if shell == "dynamic" else "metadata"
    return {**config_route, key: per_route({"policy": policy}) if shell == "dynamic" else metadata(policy)}


def route_table(w: WatchedRoutes, shell: str, policy: str, extra: list[dict] = ()) -> dict:
    """The watched route table with `/route/` naming `policy`."""
    config = envoy_runner.render(POLICY, shell=shell, mutate=with_route_config)
    table = envoy_runner.http_connection_manager(config)["route_config"]
    table["virtual_hosts"][0]["routes"][0] = moved(table["virtual_hosts"][0]["routes"][0], shell, policy)
    table["virtual_hosts"][0]["routes"][:0] = list(extra)
    return table


def test_an_rds_update_moves_a_route_to_another_policy(watched, shell):
    assert policy_of(watched.envoy, "meta.test", "/route/") == "a"
    success = watched.counter("update_success")
    watched.push(route_table(watched, shell, "b"))
    watched.wait_counter("update_success", success)
    assert policy_of(watched.envoy, "meta.test", "/route/") == "b"


def test_a_refused_inline_policy_over_rds_keeps_the_old_routes(watched, shell):
    if shell == "wasm":
        pytest.skip(MODULE_ONLY)
    rejected = watched.counter("update_rejected")
    since = watched.envoy.log_path.stat().st_size
    bad = route("/bad/", typed_per_filter_config=per_route(BAD_INLINE))
    watched.push(route_table(watched, shell, "b", extra=[bad]))
    watched.wait_counter("update_rejected", rejected)
    log = watched.envoy.log_path.read_bytes()[since:].decode(errors="replace")
    assert len(refused_lines(log)) == 3, log[-3000:]
    assert "Failed to initialize per-route dynamic module" in log
    # The old route table still answers: /route/ is still `a`, /bad/ unknown to it.
    assert policy_of(watched.envoy, "meta.test", "/route/") == "a"
    # A good update after the refused one is taken.
    success = watched.counter("update_success")
    watched.push(route_table(watched, shell, "b"))
    watched.wait_counter("update_success", success)
    assert policy_of(watched.envoy, "meta.test", "/route/") == "b"
