"""Real browsers: Chromium, Firefox and WebKit (WebKitGTK) each load pages from
origins of their own that call the API through Envoy on another, and the test
reads back what the page saw, what reached the upstream, and what the console
said.

Every scenario of tests/e2e/browser_scenarios.py runs in every engine (one
browser per engine for the whole module; tests/support/browsers.py drives
them, kept off the network). The pages live on http://localhost:<port>, three
ports: two origins the policy allows and one it does not; the API is Envoy on
http://localhost:<envoy port>. For each refusal, the console's message in each
engine is captured; the troubleshooting tables of README.md and
docs/operators.md are made from those captures, and a test fails when the
committed tables differ from what the browsers print (CORS_UPDATE_DOCS=1
rewrites them). docs/correctness.md gets the scenario x engine matrix.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import threading
import time
from pathlib import Path

import browser_scenarios as bs
import correctness_report
import pytest
import troubleshooting
from envoy_cors_testing import browsers

pytestmark = pytest.mark.browser

# A missing browser fails the suite (scripts/setup.sh installs all three); set
# CORS_SKIP_BROWSER=1 to skip these tests on a machine without them.
if os.environ.get("CORS_SKIP_BROWSER") == "1":
    pytest.skip("CORS_SKIP_BROWSER=1", allow_module_level=True)

PAGE = b"<!doctype html><meta charset=utf-8><title>CORS client</title><p>calls the API through Envoy</p>"
# For WebKit, whose WebDriver cannot see the console: MiniBrowser started
# directly on this page sends every request of the plan, between markers, and
# logs what it could read; a request from another origin continues on that
# origin's page.
CONSOLE_PAGE = b"""<!doctype html><meta charset=utf-8><title>CORS console</title><script>
(async () => {
  const plan = await (await fetch('/plan.json')).json();
  let i = Number(new URLSearchParams(location.search).get('i') || 0);
  while (i < plan.length && plan[i].origin === location.origin) {
    const step = plan[i];
    console.log('cors-console-begin ' + step.id);
    let outcome;
    try { outcome = 'read ' + (await fetch(step.url, step.init)).status; } catch (e) { outcome = 'blocked'; }
    await new Promise(r => setTimeout(r, 200));
    console.log('cors-console-end ' + step.id + ' ' + outcome);
    i++;
  }
  if (i < plan.length) location.href = plan[i].origin + '/console?i=' + i;
  else console.log('cors-console-done');
})();
</script>"""

OBSERVED: dict[tuple[str, str], dict] = {}  # (engine, scenario) -> observation, once it passed
CONSOLE: dict[tuple[str, str], list[str]] = {}  # (engine, scenario) -> console lines, normalized
ENGINES: dict[str, tuple[str, str]] = {}  # engine -> (name, version)


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        path = self.path.split("?")[0]
        if path == "/plan.json":
            body, kind = json.dumps(self.server.plan).encode(), "application/json"
        elif path == "/console":
            body, kind = CONSOLE_PAGE, "text/html; charset=utf-8"
        else:
            body, kind = PAGE, "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def pages():
    """Page servers: two origins the policy allows ("app", "other") and one it does not ("foreign")."""
    names = ("app", "other", "foreign")
    servers = {n: http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page) for n in names}
    for s in servers.values():
        s.plan = []
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield servers
    for s in servers.values():
        s.shutdown()
        s.server_close()


@pytest.fixture(scope="module")
def origins(pages) -> dict[str, str]:
    return {n: f"http://localhost:{s.server_address[1]}" for n, s in pages.items()}


class API:
    """The Envoy in front of the API, named as the page sees it."""

    def __init__(self, running):
        self.url = running.url.replace("127.0.0.1", "localhost")
        self.access_log = bs.access_log_path(running.config)


@pytest.fixture(scope="module")
def api(envoy, origins):
    # A short access-log flush interval only saves waiting: envoy_saw() polls.
    running = envoy(bs.policy(origins), mutate=bs.envoy_additions,
                    extra_args=("--file-flush-interval-msec", "20"))
    yield API(running)
    shutil.rmtree(Path(bs.access_log_path(running.config)).parent, ignore_errors=True)


@pytest.fixture(scope="module", params=bs.ENGINES)
def engine(request):
    why = browsers.missing(request.param)
    if why:
        pytest.fail(f"{request.param}: {why} is missing: run scripts/setup.sh", pytrace=False)
    with browsers.launch(request.param) as e:
        ENGINES[e.kind] = (e.name, e.version)
        yield e


@pytest.fixture(scope="module")
def tabs(engine, origins):
    return {n: engine.open(o + "/") for n, o in origins.items()}


@pytest.fixture(scope="module")
def webkit_direct(pages, origins, api, upstream):
    """One direct MiniBrowser run: every refused request (scenario id -> its
    console lines), then a response cacheable for 600 s fetched twice from one
    origin and once from another (what the page read, what reached the API)."""
    ctx = bs.Context("webkit-direct", {}, origins, api.url, upstream, api.access_log)
    plan, urls = [], {}
    for s in bs.REFUSALS:
        url = ctx.url(ctx.path(s.refusal.path), s.refusal.query, s.refusal.page)
        plan.append({"id": s.id, "origin": origins[s.refusal.page], "url": url, "init": s.refusal.init})
        urls[s.id] = [url]
    cached = ctx.path("/b/vary-direct")
    url = ctx.url(cached, bs.CACHEABLE)
    plan += [{"id": f"cache-{n}", "origin": origins[page], "url": url, "init": {}}
             for n, page in enumerate(("app", "app", "other"))]
    for server in pages.values():
        server.plan = plan
    console: dict[str, list[str]] = {}
    outcomes: dict[str, str] = {}
    current = None
    for line in browsers.webkit_console_run(plan[0]["origin"] + "/console?i=0"):
        if "cors-console-begin " in line:
            current = line.split("cors-console-begin ", 1)[1].strip()
        elif "cors-console-end " in line:
            step, outcome = line.split("cors-console-end ", 1)[1].strip().split(" ", 1)
            outcomes[step] = outcome
            current = None
        elif current:
            console.setdefault(current, []).append(normalize(line, urls.get(current, []), origins, api.url))
    return {"console": console, "outcomes": outcomes, "cached upstream": len(upstream.requests(cached))}


def normalize(line: str, urls: list[str], origins: dict[str, str], api: str) -> str:
    """The console line without what changes between runs: the request's URL,
    the page's origin, the ports."""
    for url in sorted(urls, key=len, reverse=True):
        line = line.replace(url, "URL")
    for origin in origins.values():
        line = line.replace(origin, "ORIGIN")
    return line.replace(api, "API")


def console_of(ctx: bs.Context, tabs, refusal: bool, origins, api) -> list[str]:
    """Console lines that name one of this scenario's URLs; for a refusal, waits
    until there is one (Firefox reports it after the fetch has failed)."""
    def mine():
        return [line for t in tabs.values() for line in t.console() if any(u in line for u in ctx.urls)]
    got = mine()
    deadline = time.monotonic() + (5 if refusal else 0)
    while refusal and not got and time.monotonic() < deadline:
        time.sleep(0.05)
        got = mine()
    if refusal:
        time.sleep(0.2)
        got += mine()
    return [normalize(line, ctx.urls, origins, api) for line in got]


@pytest.mark.parametrize("scenario", bs.SCENARIOS, ids=lambda s: s.id)
def test_scenario(scenario, engine, tabs, origins, api, upstream, request):
    for t in tabs.values():
        t.console()  # drop what earlier scenarios left
    ctx = bs.Context(engine.kind, tabs, origins, api.url, upstream, api.access_log)
    observed = scenario.run(ctx)
    refusal = scenario.refusal is not None
    if engine.console_in_driver:
        lines = console_of(ctx, tabs, refusal, origins, api.url)
    else:
        direct = request.getfixturevalue("webkit_direct")
        lines = direct["console"].get(scenario.id, []) if refusal else []
        if refusal:
            assert direct["outcomes"].get(scenario.id) == "blocked", (
                f"the direct run should be refused too: {direct['outcomes']}")
    assert observed == scenario.expected(engine.kind), (
        f"{engine.name} {engine.version}: {scenario.title}\nconsole: {lines}")
    if refusal:
        assert troubleshooting.primary(engine.kind, lines), (
            f"{engine.name} printed no CORS error for a refusal: {lines}")
        CONSOLE[(engine.kind, scenario.id)] = lines
    else:
        assert not [line for line in lines if troubleshooting.is_cors_error(engine.kind, line)], lines
    OBSERVED[(engine.kind, scenario.id)] = observed


def test_webkit_with_a_profile_caches_per_origin(webkit_direct):
    """What WebDriver's ephemeral WebKit session cannot show (it keeps no HTTP
    cache): WebKit serves the second fetch from its cache, and the other
    origin's fetch from the API, because the response varies on Origin."""
    outcomes = {k: v for k, v in webkit_direct["outcomes"].items() if k.startswith("cache-")}
    assert outcomes == {"cache-0": "read 200", "cache-1": "read 200", "cache-2": "read 200"}, outcomes
    assert webkit_direct["cached upstream"] == 2, "one request per origin"


def _complete() -> str | None:
    want = len(bs.SCENARIOS) * len(bs.ENGINES)
    if len(OBSERVED) != want or len(ENGINES) != len(bs.ENGINES):
        return f"{len(OBSERVED)} of {want} scenario runs passed"
    return None


def test_troubleshooting_tables_match_what_the_browsers_print():
    """README.md and docs/operators.md carry the console's words as the browsers
    print them; CORS_UPDATE_DOCS=1 rewrites the tables from this run."""
    if why := _complete():
        pytest.skip(why)
    rows = troubleshooting.rows(bs.REFUSALS, CONSOLE, list(bs.ENGINES))
    engines = [(k, *ENGINES[k]) for k in bs.ENGINES]
    stale = troubleshooting.check(rows, engines, write=os.environ.get("CORS_UPDATE_DOCS") == "1")
    assert not stale, ("the committed tables differ from what the browsers print "
                       "(rerun with CORS_UPDATE_DOCS=1 and commit):\n" + "\n".join(stale))


def test_every_reason_scenario_is_a_refusal_of_the_suite():
    """The reason table (crates/core/src/reasons.rs) names the scenarios whose
    console texts show each reason: they must be refusal scenarios here."""
    import re

    table = (troubleshooting.ROOT / "crates/core/src/reasons.rs").read_text()
    named = set(re.findall(r'_scenario: Some\("([a-z0-9_]+)"\)', table))
    assert named, "no scenario named in the reason table"
    assert named <= {s.id for s in bs.REFUSALS}, named - {s.id for s in bs.REFUSALS}


def test_browser_matrix_is_recorded():
    """docs/correctness.md: every scenario in every engine, once all of them passed."""
    if why := _complete():
        pytest.skip(why)
    results = []
    for s in bs.SCENARIOS:
        per_engine = {}
        for k in bs.ENGINES:
            d = s.engines.get(k)
            per_engine[k] = None if d is None else {"seen": troubleshooting.describe(s.expected(k)), "reason": d.reason}
        results.append({"id": s.id, "title": s.title, "expect": troubleshooting.describe(s.expect),
                        "engines": per_engine})
    correctness_report.record("browser", {
        "engines": [{"kind": k, "name": ENGINES[k][0], "version": ENGINES[k][1]} for k in bs.ENGINES],
        "scenarios": len(bs.SCENARIOS),
        "passed": len(bs.SCENARIOS),
        "results": results,
        "console": {s.id: {k: CONSOLE[(k, s.id)] for k in bs.ENGINES} for s in bs.REFUSALS},
        # The line that names the cause, per engine: what `cors-policy
        # reasons` and `explain` print for each reason code, and what the
        # reason table of docs/operators.md shows (rerun
        # `CORS_UPDATE_DOCS=1 cargo test -p cors-policy --test reasons`).
        "primary": {s.id: {k: troubleshooting.primary(k, CONSOLE[(k, s.id)]) for k in bs.ENGINES}
                    for s in bs.REFUSALS},
    })
