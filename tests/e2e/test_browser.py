"""A real browser: headless Chromium (Debian's package, no download, kept off
the network) on one origin calls the API through Envoy on another, with fetch
and XMLHttpRequest, and the test reads back what the page saw.

The page lives on http://localhost:<page port>; the API is Envoy on
http://localhost:<envoy port>, another origin since the port differs (the
resolver rule that keeps Chromium off the network also catches the 127.0.0.1
literal, so everything is named localhost). A second page on another localhost
port is an origin the policy does not list.
"""

from __future__ import annotations

import http.server
import os
import shutil
import tempfile
import threading
import uuid

import pytest

import correctness_report

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
]
PAGE = b"<!doctype html><meta charset=utf-8><title>CORS client</title><p>calls the API through Envoy</p>"
SEEN: dict[str, str] = {}  # scenario -> what the page saw, for docs/correctness.md
SCENARIOS = 12

# A missing browser fails the suite (scripts/setup.sh installs both); set
# CORS_SKIP_BROWSER=1 to skip these tests on a machine without one.
if os.environ.get("CORS_SKIP_BROWSER") == "1":
    pytest.skip("CORS_SKIP_BROWSER=1", allow_module_level=True)
import playwright.sync_api as playwright_api  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _chromium_installed():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/setup.sh (apt-get install chromium)", pytrace=False)


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def pages():
    """Two page servers: the allowed origin and one the policy does not list."""
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page) for _ in range(2)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield [f"http://localhost:{s.server_address[1]}" for s in servers]
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture(scope="module")
def api(envoy, pages):
    page_origin, _ = pages
    policy = {
        "policies": {
            "app": {"allow_origins": [page_origin], "allow_methods": ["GET", "POST", "PUT"],
                    "allow_headers": ["content-type", "x-api-key"], "expose_headers": ["x-request-id"],
                    "max_age": 600, "allow_credentials": True},
            "public": {"allow_origins": ["*"]},
        },
        "routes": [{"match": {"path": "/public/**"}, "policy": "public"}],
        "default": "app",
    }
    running = envoy(policy)
    return API(running, running.url.replace("127.0.0.1", "localhost"))


class API:
    """The Envoy in front of the API, named as the page sees it."""

    def __init__(self, running, url: str):
        self.url = url
        self.stats = running.stats


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="cors-chromium-")
    with playwright_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def page(browser, pages):
    p = browser.new_page()
    p.goto(pages[0] + "/")
    return p


@pytest.fixture(scope="module")
def foreign_page(browser, pages):
    p = browser.new_page()
    p.goto(pages[1] + "/")
    return p


# Runs in the page: one call, reported as {ok, status, body, header, secret, error}.
FETCH = """async ([url, init, header]) => {
  try {
    const r = await fetch(url, init);
    const text = await r.text();
    return {ok: true, status: r.status, body: text,
            header: header ? r.headers.get(header) : null, secret: r.headers.get('x-secret')};
  } catch (e) { return {ok: false, error: e.name + ': ' + e.message}; }
}"""

XHR = """([url, method, headers, withCredentials]) => new Promise(resolve => {
  const x = new XMLHttpRequest();
  x.open(method, url);
  x.withCredentials = withCredentials;
  for (const [n, v] of Object.entries(headers)) x.setRequestHeader(n, v);
  x.onload = () => resolve({ok: true, status: x.status, body: x.responseText,
                            header: x.getResponseHeader('x-request-id')});
  x.onerror = () => resolve({ok: false, status: x.status, error: 'network error'});
  x.send(method === 'GET' ? null : '{}');
})"""


def unique(prefix: str) -> str:
    return f"{prefix}/{uuid.uuid4().hex}"


def saw(name: str, result: dict) -> dict:
    if result.get("ok"):
        SEEN[name] = f"read status {result['status']}"
    else:
        SEEN[name] = "blocked (" + result.get("error", "").split(":")[0] + ")"
    return result


def test_uncredentialed_fetch_get_is_readable(page, api, upstream):
    path = unique("/b/get")
    r = saw("fetch GET", page.evaluate(FETCH, [api.url + path, {}, None]))
    assert r["ok"] and r["status"] == 200, r
    assert '"method": "GET"' in r["body"]


def test_credentialed_fetch_get_is_readable(page, api):
    r = saw("fetch GET, credentials: include", page.evaluate(FETCH, [api.url + unique("/b/cred"), {"credentials": "include"}, None]))
    assert r["ok"] and r["status"] == 200, r


def test_credentialed_xhr_get_is_readable(page, api):
    r = saw("XMLHttpRequest GET, withCredentials", page.evaluate(XHR, [api.url + unique("/b/xhr"), "GET", {}, True]))
    assert r["ok"] and r["status"] == 200 and r["body"], r


def test_preflighted_put_with_custom_headers_reaches_the_api(page, api, upstream):
    path = unique("/b/put")
    init = {"method": "PUT", "credentials": "include", "body": "{}",
            "headers": {"content-type": "application/json", "x-api-key": "k-1"}}
    r = saw("fetch PUT with content-type: application/json and x-api-key (preflighted)",
            page.evaluate(FETCH, [api.url + path, init, None]))
    assert r["ok"] and r["status"] == 200, r
    got = upstream.requests(path)
    assert [q.method for q in got] == ["PUT"], "the preflight is answered by the filter, the PUT forwarded"
    assert got[0].header("x-api-key") == "k-1"


def test_preflighted_xhr_put_reaches_the_api(page, api, upstream):
    path = unique("/b/xhrput")
    r = saw("XMLHttpRequest PUT with x-api-key (preflighted)",
            page.evaluate(XHR, [api.url + path, "PUT", {"x-api-key": "k-2"}, False]))
    assert r["ok"] and r["status"] == 200, r
    assert [q.method for q in upstream.requests(path)] == ["PUT"]


def test_exposed_header_is_readable_and_others_are_not(page, api, upstream):
    # envoy/envoy.yaml has Envoy return every request's x-request-id in the
    # response (always_set_request_id_in_response): the page reads the very id
    # the upstream was sent.
    path = unique("/b/expose")
    url = api.url + path + "?response_header=X-Secret:%20s"
    r = saw("read exposed X-Request-Id; X-Secret stays hidden", page.evaluate(FETCH, [url, {}, "x-request-id"]))
    assert r["ok"], r
    [sent] = upstream.requests(path)
    assert sent.header("x-request-id") and r["header"] == sent.header("x-request-id")
    assert r["secret"] is None


def test_refused_method_is_blocked_before_reaching_the_api(page, api, upstream):
    path = unique("/b/delete")
    r = saw("fetch DELETE (method not allowed)", page.evaluate(FETCH, [api.url + path, {"method": "DELETE"}, None]))
    assert not r["ok"] and "TypeError" in r["error"], r
    assert upstream.requests(path) == []


def test_refused_header_is_blocked_before_reaching_the_api(page, api, upstream):
    path = unique("/b/header")
    init = {"headers": {"x-forbidden": "1"}}
    r = saw("fetch GET with x-forbidden (header not allowed)", page.evaluate(FETCH, [api.url + path, init, None]))
    assert not r["ok"] and "TypeError" in r["error"], r
    assert upstream.requests(path) == []


def test_page_on_a_disallowed_origin_cannot_read_the_api(foreign_page, api):
    r = saw("fetch GET from an origin the policy does not list",
            foreign_page.evaluate(FETCH, [api.url + unique("/b/foreign"), {}, None]))
    assert not r["ok"] and "TypeError" in r["error"], r


def test_proxy_error_is_readable_by_the_page(page, api):
    r = saw("fetch GET answered by Envoy itself with 503 (no healthy upstream)",
            page.evaluate(FETCH, [api.url + unique("/unavailable/b"), {"credentials": "include"}, None]))
    assert r["ok"] and r["status"] == 503, r


def test_star_is_refused_for_credentialed_requests(page, api):
    url = api.url + unique("/public/b")
    plain = page.evaluate(FETCH, [url, {}, None])
    cred = page.evaluate(FETCH, [url, {"credentials": "include"}, None])
    assert plain["ok"] and plain["status"] == 200, plain
    assert not cred["ok"], cred
    SEEN["any-origin route: fetch without, then with credentials"] = \
        f"read status {plain['status']}, then blocked ({cred['error'].split(':')[0]})"


def test_second_put_uses_the_cached_preflight(page, api, upstream):
    path = unique("/b/cache")
    counter = "wasmcustom.cors.app.preflight_allowed"
    init = {"method": "PUT", "body": "{}", "headers": {"x-api-key": "k-3"}}
    before = api.stats("wasmcustom.cors.app.").get(counter, 0)
    first = page.evaluate(FETCH, [api.url + path, init, None])
    after_first = api.stats("wasmcustom.cors.app.").get(counter, 0)
    second = page.evaluate(FETCH, [api.url + path, init, None])
    after_second = api.stats("wasmcustom.cors.app.").get(counter, 0)
    assert first["ok"] and second["ok"], (first, second)
    assert after_first - before == 1, "the first PUT is preflighted"
    assert after_second == after_first, "max_age 600: the second PUT sends no preflight"
    assert [q.method for q in upstream.requests(path)] == ["PUT", "PUT"]
    SEEN["the same preflighted PUT twice (max_age 600)"] = "1 preflight, 2 PUTs (preflight_allowed counter)"


def test_browser_summary(browser):
    """Records the scenarios in docs/correctness.md once all of them ran and passed."""
    if len(SEEN) != SCENARIOS:
        pytest.skip(f"{len(SEEN)} of {SCENARIOS} scenarios ran")
    version = browser.browser.version if browser.browser else "Chromium"
    correctness_report.record("browser", {
        "browser": "Chromium " + version.split(".")[0],
        "scenarios": SCENARIOS,
        "passed": SCENARIOS,
        "results": list(SEEN.items()),
    })
