"""The browser scenarios: one table that every engine runs and the docs are made from.

A scenario is a function that drives the page(s) through a Context and returns
what it observed, as a small dict: what the page saw ("read 200", "blocked")
and what reached the API (the upstream's record, Envoy's access log). The
decorator states the observation expected in every engine and, where an
engine differs, that engine's observation with the reason. A refusal
scenario also names the one request that is refused (`refusal`): its console
message is captured in every engine and becomes a row of the troubleshooting
tables, with the cause and the `cors-policy explain` command given here.

Pages: "app" and "other" are origins the policy allows, "foreign" one it does
not. Routes (policy() and envoy_additions() below): the default policy `app`
(credentials, max_age 600); `/public/**` any origin with `*` headers and
exposed headers; `/nocred/**` the app origin without credentials;
`/uncovered/**` no policy at all, so that the upstream's own CORS headers
reach the browser, as they do when a request does not meet the filter; after
the CORS filter, JWT authentication on `/private/`, RBAC denying
`/forbidden/`, and a local rate limit of one request per hour on `/limited/`.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Callable

from envoy_cors_testing import envoy_runner

ENGINES = ("chromium", "firefox", "webkit")

# Runs in the page: one fetch, reported as what the page could read.
FETCH = """async (url, init, header) => {
  try {
    const r = await fetch(url, init);
    const body = await r.text();
    return {ok: true, status: r.status, body, redirected: r.redirected, url: r.url,
            header: header ? r.headers.get(header) : null, secret: r.headers.get('x-secret')};
  } catch (e) { return {ok: false, error: e.name + ': ' + e.message}; }
}"""

XHR = """(url, method, headers, withCredentials) => new Promise(resolve => {
  const x = new XMLHttpRequest();
  x.open(method, url);
  x.withCredentials = withCredentials;
  for (const [n, v] of Object.entries(headers)) x.setRequestHeader(n, v);
  x.onload = () => resolve({ok: true, status: x.status, body: x.responseText,
                            header: x.getResponseHeader('x-request-id')});
  x.onerror = () => resolve({ok: false, status: x.status, error: 'network error'});
  x.send(method === 'GET' ? null : '{}');
})"""


def policy(origins: dict[str, str]) -> dict:
    return {
        "policies": {
            "app": {"allow_origins": [origins["app"], origins["other"]],
                    "allow_methods": ["GET", "POST", "PUT", "PATCH"],
                    "allow_headers": ["content-type", "x-api-key", "authorization"],
                    "expose_headers": ["x-request-id"], "max_age": 600, "allow_credentials": True},
            "public": {"allow_origins": ["*"], "allow_headers": ["*"], "expose_headers": ["*"]},
            "nocred": {"allow_origins": [origins["app"]]},
        },
        "routes": [
            {"match": {"path": "/public/**"}, "policy": "public"},
            {"match": {"path": "/nocred/**"}, "policy": "nocred"},
            {"match": {"path": "/uncovered/**"}, "policy": None},
        ],
        "default": "app",
    }


def envoy_additions(config: dict) -> None:
    """Filters after CORS (before the router, whichever shell runs CORS), a
    rate-limited route, and an access log that records every request Envoy
    answers, preflights included."""
    hcm = envoy_runner.http_connection_manager(config)
    log_dir = Path(tempfile.mkdtemp(prefix="envoy-cors-access-"))
    hcm["access_log"] = [{
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(log_dir / "access.log"),
            "log_format": {"text_format_source": {"inline_string": "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%\n"}},
        },
    }]
    after_cors = [
        {"name": "envoy.filters.http.jwt_authn", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"test": {
                "issuer": "https://issuer.test",
                "local_jwks": {"inline_string": '{"keys": [{"kty": "oct", "alg": "HS256", "kid": "k", "k": "c2VjcmV0LWtleS1mb3ItdGVzdHM"}]}'},
            }},
            "rules": [{"match": {"prefix": "/private/"}, "requires": {"provider_name": "test"}}],
        }},
        {"name": "envoy.filters.http.rbac", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {"action": "DENY", "policies": {"forbidden": {
                "permissions": [{"url_path": {"path": {"prefix": "/forbidden/"}}}],
                "principals": [{"any": True}],
            }}},
        }},
        {"name": "envoy.filters.http.local_ratelimit", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "browser_limit",
        }},
    ]
    filters = hcm["http_filters"]
    filters[len(filters) - 1:len(filters) - 1] = after_cors  # the router stays last
    percent = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    envoy_runner.routes(config).insert(0, {
        "name": "limited",
        "match": {"prefix": "/limited/"},
        "route": {"cluster": "upstream"},
        "typed_per_filter_config": {"envoy.filters.http.local_ratelimit": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "browser_limit",
            "token_bucket": {"max_tokens": 1, "tokens_per_fill": 1, "fill_interval": "3600s"},
            "filter_enabled": {"runtime_key": "limited_enabled", **percent},
            "filter_enforced": {"runtime_key": "limited_enforced", **percent},
        }},
    })


def access_log_path(config: dict) -> str:
    return envoy_runner.http_connection_manager(config)["access_log"][0]["typed_config"]["path"]


# -- the harness a scenario drives -------------------------------------------

@dataclasses.dataclass(frozen=True)
class Request:
    """One fetch from a page: `path` gets a unique suffix; in `query`, {origin}
    stands for the page's origin."""

    page: str
    path: str
    init: dict = dataclasses.field(default_factory=dict)
    query: str = ""


def seen(result: dict) -> str:
    """What the page saw, in the docs' words."""
    return f"read {result['status']}" if result.get("ok") else "blocked"


class Context:
    """What a scenario drives: the engine's pages, the API, and what reached it."""

    def __init__(self, engine: str, tabs: dict, origins: dict[str, str], api: str, upstream, access_log: str):
        self.engine = engine
        self.tabs = tabs
        self.origins = origins
        self.api = api
        self.upstream = upstream
        self._access_log = access_log
        self.urls: list[str] = []  # every URL requested, to find this scenario's console lines

    def path(self, prefix: str) -> str:
        return f"{prefix}/{self.engine}-{uuid.uuid4().hex[:12]}"

    def url(self, path: str, query: str = "", page: str = "app") -> str:
        query = query.replace("{origin}", urllib.parse.quote(self.origins[page], safe=""))
        url = self.api + path + ("?" + query if query else "")
        self.urls.append(url)
        return url

    def fetch(self, page: str, path: str, init: dict | None = None, query: str = "", header: str | None = None) -> dict:
        return self.tabs[page].run(FETCH, self.url(path, query, page), init or {}, header)

    def send(self, req: Request) -> tuple[str, dict]:
        """Sends a Request under a fresh path; returns (path, what the page saw)."""
        path = self.path(req.path)
        return path, self.fetch(req.page, path, req.init, req.query)

    def xhr(self, page: str, path: str, method: str, headers: dict, credentials: bool) -> dict:
        return self.tabs[page].run(XHR, self.url(path, page=page), method, headers, credentials)

    def upstream_saw(self, path: str) -> list[str]:
        """Methods of the requests for path that reached the upstream."""
        return [r.method for r in self.upstream.requests(path)]

    def envoy_saw(self, path: str, wait_for: str | None = None, count: int = 1) -> list[str]:
        """Methods of the requests for path that Envoy answered (its access log,
        so preflights the filter answers count too). wait_for: a method that
        must be there `count` times (the log is flushed on a timer)."""
        deadline = time.monotonic() + 5
        while True:
            try:
                with open(self._access_log) as f:
                    lines = [line.split() for line in f]
            except FileNotFoundError:
                lines = []
            got = [m for m, p, *_ in lines if p.split("?")[0] == path]
            if wait_for is None or got.count(wait_for) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    def preflights(self, path: str, then: str) -> int:
        return self.envoy_saw(path, wait_for=then).count("OPTIONS")


# -- the table ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Differs:
    """An engine's own observation (only the keys that differ) and why."""

    observed: dict
    reason: str


@dataclasses.dataclass(frozen=True)
class Scenario:
    id: str  # a sentence: the test id
    title: str  # what the page does, for the docs
    run: Callable[[Context], dict]
    expect: dict
    engines: dict[str, Differs]
    refusal: Request | None
    short: str | None  # the cause in a few words (README)
    cause: str | None  # the cause in full (docs/operators.md)
    explain: str | None  # the cors-policy command that shows it

    def expected(self, engine: str) -> dict:
        differs = self.engines.get(engine)
        return {**self.expect, **differs.observed} if differs else dict(self.expect)


SCENARIOS: list[Scenario] = []


def scenario(id, title, expect, *, engines=None, refusal=None, short=None, cause=None, explain=None):
    def register(fn):
        SCENARIOS.append(Scenario(id, title, fn, expect, engines or {}, refusal, short, cause, explain))
        return fn
    return register


def refused(ctx: Context, req: Request) -> dict:
    path, r = ctx.send(req)
    return {"page": seen(r), "upstream": ctx.upstream_saw(path)}


# Simple and credentialed requests ------------------------------------------

@scenario("uncredentialed_fetch_get_is_readable", "fetch GET",
          {"page": "read 200", "upstream": ["GET"]})
def _(ctx):
    path = ctx.path("/b/get")
    r = ctx.fetch("app", path)
    return {"page": seen(r), "upstream": ctx.upstream_saw(path)}


@scenario("credentialed_fetch_get_is_readable", "fetch GET, credentials: 'include'",
          {"page": "read 200"})
def _(ctx):
    return {"page": seen(ctx.fetch("app", ctx.path("/b/cred"), {"credentials": "include"}))}


@scenario("credentialed_xhr_get_is_readable", "XMLHttpRequest GET, withCredentials",
          {"page": "read 200"})
def _(ctx):
    return {"page": seen(ctx.xhr("app", ctx.path("/b/xhr"), "GET", {}, True))}


@scenario("cookie_reaches_the_api_only_with_credentials_include",
          "a cookie set by the API (Set-Cookie on a credentialed fetch), then fetch GET without and with credentials: 'include'",
          {"set": "read 200", "without credentials": "read 200, no cookie upstream",
           "credentials: include": "read 200, cookie upstream"})
def _(ctx):
    name = "sid_" + uuid.uuid4().hex[:8]
    cookie = urllib.parse.quote(f"Set-Cookie: {name}=1; Path=/; SameSite=Lax", safe="=")
    first = ctx.fetch("app", ctx.path("/b/cookie-set"), {"credentials": "include"}, "response_header=" + cookie)
    out = {"set": seen(first)}
    for key, init in (("without credentials", {}), ("credentials: include", {"credentials": "include"})):
        path = ctx.path("/b/cookie")
        r = ctx.fetch("app", path, init)
        got = [q.header("cookie") or "" for q in ctx.upstream.requests(path)]
        has = bool(got) and f"{name}=1" in got[0]
        out[key] = f"{seen(r)}, {'cookie' if has else 'no cookie'} upstream"
    return out


@scenario("credentials_to_a_policy_without_allow_credentials_are_blocked",
          "fetch GET with a cookie, credentials: 'include', to a policy that allows the origin without `allow_credentials`",
          {"page": "blocked", "cookie upstream": True},
          refusal=Request("app", "/nocred/b", {"credentials": "include"}),
          short="the origin is allowed, but the policy does not set `allow_credentials`",
          cause="The origin is allowed, but the policy does not set `\"allow_credentials\": true`, so the filter sends no "
                "`Access-Control-Allow-Credentials` and the browser hides the response from a page that sent "
                "credentials (`credentials: \"include\"`, `withCredentials = true`). The request reached the upstream, "
                "cookie included.",
          explain="`explain FILE --origin O --path P`: no `access-control-allow-credentials` in the response")
def _(ctx):
    name = "sid_" + uuid.uuid4().hex[:8]
    cookie = urllib.parse.quote(f"Set-Cookie: {name}=1; Path=/; SameSite=Lax", safe="=")
    ctx.fetch("app", ctx.path("/b/cookie-set"), {"credentials": "include"}, "response_header=" + cookie)
    path, r = ctx.send(Request("app", "/nocred/b", {"credentials": "include"}))
    got = [q.header("cookie") or "" for q in ctx.upstream.requests(path)]
    return {"page": seen(r), "cookie upstream": bool(got) and f"{name}=1" in got[0]}


# Preflights ----------------------------------------------------------------

@scenario("preflighted_put_reaches_the_api_and_its_preflight_does_not",
          "fetch PUT with content-type: application/json and x-api-key, credentials: 'include'",
          {"page": "read 200", "preflights": 1, "upstream": ["PUT"], "x-api-key upstream": "k-1"})
def _(ctx):
    path = ctx.path("/b/put")
    init = {"method": "PUT", "credentials": "include", "body": "{}",
            "headers": {"content-type": "application/json", "x-api-key": "k-1"}}
    r = ctx.fetch("app", path, init)
    got = ctx.upstream.requests(path)
    return {"page": seen(r), "preflights": ctx.preflights(path, then="PUT"), "upstream": ctx.upstream_saw(path),
            "x-api-key upstream": got[0].header("x-api-key") if got else None}


@scenario("preflighted_xhr_put_reaches_the_api", "XMLHttpRequest PUT with x-api-key",
          {"page": "read 200", "upstream": ["PUT"]})
def _(ctx):
    path = ctx.path("/b/xhrput")
    r = ctx.xhr("app", path, "PUT", {"x-api-key": "k-2"}, False)
    return {"page": seen(r), "upstream": ctx.upstream_saw(path)}


@scenario("second_preflighted_put_uses_the_cached_preflight",
          "the same preflighted PUT twice (`max_age` 600: `Access-Control-Max-Age: 600`)",
          {"pages": "read 200, read 200", "preflights": 1, "upstream": ["PUT", "PUT"]})
def _(ctx):
    path = ctx.path("/b/cache")
    init = {"method": "PUT", "body": "{}", "headers": {"x-api-key": "k-3"}}
    first, second = ctx.fetch("app", path, init), ctx.fetch("app", path, init)
    return {"pages": f"{seen(first)}, {seen(second)}",
            "preflights": ctx.envoy_saw(path, wait_for="PUT", count=2).count("OPTIONS"),
            "upstream": ctx.upstream_saw(path)}


@scenario("cached_preflight_is_not_reused_for_another_origin",
          "the same preflighted PUT twice from one allowed origin, then from another (the filter's preflight "
          "answer varies on `Origin`)",
          {"first origin, twice": "read 200, read 200", "second origin": "read 200", "preflights": 2,
           "upstream": ["PUT", "PUT", "PUT"]})
def _(ctx):
    path = ctx.path("/b/cache-origins")
    init = {"method": "PUT", "body": "{}", "headers": {"x-api-key": "k-6"}}
    a1, a2 = ctx.fetch("app", path, init), ctx.fetch("app", path, init)
    b = ctx.fetch("other", path, init)
    return {"first origin, twice": f"{seen(a1)}, {seen(a2)}", "second origin": seen(b),
            "preflights": ctx.envoy_saw(path, wait_for="PUT", count=3).count("OPTIONS"),
            "upstream": ctx.upstream_saw(path)}


CACHEABLE = "response_header=Cache-Control%3A%20max-age%3D600"


@scenario("cached_response_is_not_reused_for_another_origin",
          "a response cacheable for 600 s (`Cache-Control: max-age=600`, and the filter's `Vary: Origin`) fetched "
          "twice from one allowed origin, then from another",
          {"first origin, twice": "read 200, read 200", "upstream after the first origin": 1,
           "second origin": "read 200", "upstream after the second origin": 2},
          engines={"webkit": Differs(
              {"upstream after the first origin": 2, "upstream after the second origin": 3},
              "WebKitWebDriver runs MiniBrowser in an ephemeral session, which keeps no HTTP cache for fetch, so "
              "every fetch reaches the API. Started directly with a profile, MiniBrowser serves the second fetch "
              "from its cache and sends the other origin's to the API (test_webkit_with_a_profile_caches_per_origin).")})
def _(ctx):
    path = ctx.path("/b/vary")
    a1, a2 = ctx.fetch("app", path, {}, CACHEABLE), ctx.fetch("app", path, {}, CACHEABLE)
    after_a = len(ctx.upstream_saw(path))
    b = ctx.fetch("other", path, {}, CACHEABLE)
    return {"first origin, twice": f"{seen(a1)}, {seen(a2)}", "upstream after the first origin": after_a,
            "second origin": seen(b), "upstream after the second origin": len(ctx.upstream_saw(path))}


@scenario("exposed_header_is_readable_and_others_are_not", "read exposed X-Request-Id; X-Secret stays hidden",
          {"page": "read 200", "x-request-id": "the id the upstream was sent", "x-secret": None})
def _(ctx):
    # envoy/envoy.yaml has Envoy return every request's x-request-id
    # (always_set_request_id_in_response): the page reads the id the upstream got.
    path = ctx.path("/b/expose")
    r = ctx.fetch("app", path, {}, "response_header=X-Secret:%20s", header="x-request-id")
    sent = [q.header("x-request-id") for q in ctx.upstream.requests(path)]
    rid = "the id the upstream was sent" if sent and r.get("header") == sent[0] else r.get("header")
    return {"page": seen(r), "x-request-id": rid, "x-secret": r.get("secret")}


@scenario("refused_method_is_blocked_before_reaching_the_api", "fetch DELETE (not in `allow_methods`)",
          {"page": "blocked", "upstream": []},
          refusal=Request("app", "/b/delete", {"method": "DELETE"}),
          short="the method is not in `allow_methods`",
          cause="The origin is allowed, but the method is not in `allow_methods`: the filter answers the preflight "
                "as it would an allowed one, with the methods the policy allows, so the browser names the method. "
                "The access log records `reason=method_not_allowed:DELETE`.",
          explain="`explain FILE --origin O --method DELETE --path P --preflight`")
def _(ctx):
    return refused(ctx, Request("app", "/b/delete", {"method": "DELETE"}))


@scenario("lowercase_patch_is_refused_although_patch_is_allowed",
          "fetch with method 'PATCH', then with method 'patch' (`allow_methods` lists PATCH)",
          {"PATCH": "read 200", "patch": "blocked", "upstream": ["PATCH"]},
          refusal=Request("app", "/b/patch", {"method": "patch"}),
          short="the page wrote `patch` in lower case, which `PATCH` does not allow",
          cause="The page wrote the method in lower case: browsers uppercase only DELETE, GET, HEAD, OPTIONS, POST and "
                "PUT, so `patch` is sent as is, and methods compare case-sensitively: `\"PATCH\"` in `allow_methods` "
                "does not allow it, and the filter refuses the preflight (`reason=method_not_allowed:patch`). Write "
                "`PATCH` in the page.",
          explain="`explain FILE --origin O --method patch --path P --preflight`")
def _(ctx):
    path = ctx.path("/b/patch")
    upper = ctx.fetch("app", path, {"method": "PATCH"})
    lower = ctx.fetch("app", path, {"method": "patch"})
    return {"PATCH": seen(upper), "patch": seen(lower), "upstream": ctx.upstream_saw(path)}


@scenario("refused_header_is_blocked_before_reaching_the_api", "fetch GET with x-forbidden (not in `allow_headers`)",
          {"page": "blocked", "upstream": []},
          refusal=Request("app", "/b/header", {"headers": {"x-forbidden": "1"}}),
          short="a header is not in `allow_headers`",
          cause="The origin is allowed, but a header the page sets is not in `allow_headers`: the filter answers the "
                "preflight with the headers the policy allows, so the browser names the header "
                "(`reason=header_not_allowed:x-forbidden` in the access log).",
          explain="`explain FILE --origin O --method GET --header x-forbidden --path P --preflight`")
def _(ctx):
    return refused(ctx, Request("app", "/b/header", {"headers": {"x-forbidden": "1"}}))


@scenario("page_on_a_disallowed_origin_cannot_read_the_api", "fetch GET from an origin the policy does not list",
          {"page": "blocked", "upstream": ["GET"]},
          refusal=Request("foreign", "/b/foreign"),
          short="the origin is not in `allow_origins`",
          cause="The origin is not in `allow_origins` (`actual_denied` counts it): scheme, host and port must match "
                "exactly (`http://localhost:*` covers every port; `https://*.example.com` does not cover "
                "`https://example.com`). The request still reached the upstream (`reject_disallowed` stops it "
                "with 403); the page just cannot read the answer.",
          explain="`explain FILE --origin O --method GET --path P`")
def _(ctx):
    return refused(ctx, Request("foreign", "/b/foreign"))


@scenario("page_on_a_disallowed_origin_cannot_send_a_preflighted_request",
          "fetch PUT with x-api-key from an origin the policy does not list",
          {"page": "blocked", "upstream": []},
          refusal=Request("foreign", "/b/foreign-put", {"method": "PUT", "headers": {"x-api-key": "k"}}),
          short="preflight refused (403): the origin is not in `allow_origins`",
          cause="The filter refused the preflight with 403 and no `Access-Control-*` header: the origin is not in "
                "`allow_origins` (`reason=origin_not_allowed` in the access log). A refused origin learns nothing "
                "about the policy. Nothing reached the upstream.",
          explain="`explain FILE --origin O --method PUT --header x-api-key --path P --preflight`")
def _(ctx):
    return refused(ctx, Request("foreign", "/b/foreign-put", {"method": "PUT", "headers": {"x-api-key": "k"}}))


# Errors after the filter ---------------------------------------------------

@scenario("proxy_error_is_readable_by_the_page", "fetch GET answered by Envoy itself with 503 (no healthy upstream)",
          {"page": "read 503"})
def _(ctx):
    return {"page": seen(ctx.fetch("app", ctx.path("/unavailable/b"), {"credentials": "include"}))}


@scenario("jwt_401_after_cors_is_readable_by_the_page",
          "fetch GET with `Authorization: Bearer not-a-jwt` (listed in `allow_headers`) to a route the JWT filter "
          "after CORS protects",
          {"page": "read 401", "preflights": 1, "upstream": []})
def _(ctx):
    path = ctx.path("/private/b")
    r = ctx.fetch("app", path, {"credentials": "include", "headers": {"authorization": "Bearer not-a-jwt"}})
    return {"page": seen(r), "preflights": ctx.preflights(path, then="GET"), "upstream": ctx.upstream_saw(path)}


@scenario("rbac_403_after_cors_is_readable_by_the_page",
          "fetch GET, credentials: 'include', to a route RBAC after CORS denies",
          {"page": "read 403", "body": "RBAC: access denied", "upstream": []})
def _(ctx):
    path = ctx.path("/forbidden/b")
    r = ctx.fetch("app", path, {"credentials": "include"})
    return {"page": seen(r), "body": r.get("body"), "upstream": ctx.upstream_saw(path)}


@scenario("rate_limited_429_is_readable_by_the_page",
          "a preflighted PUT twice to a route the local rate limit after CORS allows once an hour",
          {"second PUT": "read 429", "body": "local_rate_limited"})
def _(ctx):
    # The bucket is shared by every engine on this Envoy: the first PUT may
    # already be over the limit; the second always is.
    path = ctx.path("/limited/b")
    init = {"method": "PUT", "body": "{}", "headers": {"x-api-key": "k-4"}}
    ctx.fetch("app", path, init)
    r = ctx.fetch("app", path, init)
    return {"second PUT": seen(r), "body": r.get("body")}


# Redirects -----------------------------------------------------------------

@scenario("redirect_within_the_api_is_followed_and_readable",
          "fetch GET, credentials: 'include', that the API redirects (302) to another of its paths",
          {"page": "read 200", "redirected": True, "upstream": ["GET", "GET"]})
def _(ctx):
    path, target = ctx.path("/b/redirect"), ctx.path("/b/target")
    r = ctx.fetch("app", path, {"credentials": "include"}, "status=302&response_header=" + urllib.parse.quote(f"Location: {target}", safe=""))
    return {"page": seen(r), "redirected": r.get("redirected") and r.get("url", "").endswith(target),
            "upstream": ctx.upstream_saw(path) + ctx.upstream_saw(target)}


@scenario("redirected_preflighted_put_is_followed_after_a_new_preflight",
          "fetch PUT with x-api-key that the API redirects (307) to another of its paths",
          {"page": "read 200", "preflights": "1 then 1", "upstream": ["PUT", "PUT"]})
def _(ctx):
    path, target = ctx.path("/b/redirect-put"), ctx.path("/b/target-put")
    init = {"method": "PUT", "body": "{}", "headers": {"x-api-key": "k-5"}}
    r = ctx.fetch("app", path, init, "status=307&response_header=" + urllib.parse.quote(f"Location: {target}", safe=""))
    return {"page": seen(r),
            "preflights": f"{ctx.preflights(path, then='PUT')} then {ctx.preflights(target, then='PUT')}",
            "upstream": ctx.upstream_saw(path) + ctx.upstream_saw(target)}


# Any-origin policies -------------------------------------------------------

@scenario("any_origin_policy_answers_an_uncredentialed_fetch", "`*` policy: fetch GET",
          {"page": "read 200"})
def _(ctx):
    return {"page": seen(ctx.fetch("app", ctx.path("/public/b")))}


@scenario("any_origin_policy_is_blocked_for_a_credentialed_fetch", "`*` policy: fetch GET, credentials: 'include'",
          {"page": "blocked", "upstream": ["GET"]},
          refusal=Request("app", "/public/cred", {"credentials": "include"}),
          short="credentials sent to a route whose policy allows any origin (`*`)",
          cause="The page sends cookies or HTTP authentication to a route whose policy allows `\"*\"`: the filter "
                "answers `Access-Control-Allow-Origin: *`, which browsers refuse with credentials (and the filter "
                "refuses `\"*\"` with `allow_credentials` at configure time). Route these requests to a policy that "
                "lists the origins and sets `\"allow_credentials\": true`, or send no credentials.",
          explain="`explain FILE --origin O --path P` shows `access-control-allow-origin: *`")
def _(ctx):
    return refused(ctx, Request("app", "/public/cred", {"credentials": "include"}))


@scenario("any_origin_policy_allows_any_header_without_credentials",
          "`*` policy: fetch POST with x-custom (preflighted; `allow_headers: [\"*\"]`)",
          {"page": "read 200", "upstream": ["POST"]})
def _(ctx):
    path = ctx.path("/public/custom")
    r = ctx.fetch("app", path, {"method": "POST", "body": "{}", "headers": {"x-custom": "1"}})
    return {"page": seen(r), "upstream": ctx.upstream_saw(path)}


@scenario("any_origin_policy_blocks_a_credentialed_preflighted_request",
          "`*` policy: fetch POST with x-custom, credentials: 'include'",
          {"page": "blocked", "upstream": []},
          refusal=Request("app", "/public/cred-custom", {"method": "POST", "body": "{}", "credentials": "include",
                                                         "headers": {"x-custom": "1"}}),
          short="credentials sent to a route whose policy allows any origin (`*`)",
          cause="As above, for a preflighted request: the preflight's `Access-Control-Allow-Origin: *` does not allow "
                "credentials, so the request is never sent.",
          explain="`explain FILE --origin O --method POST --header x-custom --path P --preflight`")
def _(ctx):
    return refused(ctx, Request("app", "/public/cred-custom", {"method": "POST", "body": "{}",
                                                              "credentials": "include", "headers": {"x-custom": "1"}}))


@scenario("any_origin_policy_exposes_every_header_without_credentials",
          "`*` policy: read X-Secret (`expose_headers: [\"*\"]`)",
          {"page": "read 200", "x-secret": "s"})
def _(ctx):
    r = ctx.fetch("app", ctx.path("/public/expose"), {}, "response_header=X-Secret:%20s")
    return {"page": seen(r), "x-secret": r.get("secret")}


@scenario("authorization_is_not_covered_by_a_star_allow_headers",
          "`*` policy: fetch GET with `Authorization` (`allow_headers: [\"*\"]`)",
          {"page": "blocked", "upstream": []},
          refusal=Request("app", "/public/auth", {"headers": {"authorization": "Bearer t"}}),
          short="`Authorization` is not covered by `allow_headers: [\"*\"]`",
          cause="`\"*\"` in `allow_headers` never covers `Authorization` (the Fetch standard says so, and the filter "
                "follows it): the filter refuses the preflight, answering without `authorization`, so the browser "
                "names it (`reason=header_not_allowed:authorization`). List `authorization` in `allow_headers`.",
          explain="`explain FILE --origin O --method GET --header authorization --path P --preflight`")
def _(ctx):
    return refused(ctx, Request("app", "/public/auth", {"headers": {"authorization": "Bearer t"}}))


# When the request does not meet the filter ---------------------------------
# /uncovered/** has no policy: the upstream's own answer reaches the browser,
# as it does when CORS is off on a route, in report mode, or when another
# component (a filter before this one, a CDN, a proxy in front) answers.

UNCOVERED = ("The preflight did not meet the filter (here: a route with `\"policy\": null`; also a route no rule and "
             "no `default` covers, `report` mode, or a filter before CORS, such as authentication, that answered it), "
             "and what answered it {what}. This filter never answers a preflight so: on a covered route it refuses "
             "with 403. Put CORS first in `http_filters` (`phase: AUTHN` in Istio).")


def _acao(value: str = "{origin}") -> str:
    return "response_header=Access-Control-Allow-Origin:%20" + value


@scenario("preflight_answered_upstream_without_the_method_is_blocked",
          "route without policy, the upstream answers the preflight for DELETE with `Access-Control-Allow-Methods: GET`",
          {"page": "blocked", "upstream": ["OPTIONS"]},
          refusal=Request("app", "/uncovered/method", {"method": "DELETE"},
                          _acao() + "&response_header=Access-Control-Allow-Methods:%20GET"),
          short="the preflight never met the filter (no policy on the route, report mode, a filter before CORS); what answered does not allow the method",
          cause=UNCOVERED.format(what="did not allow the method"),
          explain="`explain FILE --origin O --method DELETE --path P --preflight` shows which rule and policy apply")
def _(ctx):
    return refused(ctx, Request("app", "/uncovered/method", {"method": "DELETE"},
                                _acao() + "&response_header=Access-Control-Allow-Methods:%20GET"))


@scenario("preflight_answered_upstream_without_the_header_is_blocked",
          "route without policy, the upstream answers the preflight for x-api-key with `Access-Control-Allow-Headers: x-other`",
          {"page": "blocked", "upstream": ["OPTIONS"]},
          refusal=Request("app", "/uncovered/header", {"headers": {"x-api-key": "k"}},
                          _acao() + "&response_header=Access-Control-Allow-Headers:%20x-other"),
          short="the preflight never met the filter; what answered does not allow the header",
          cause=UNCOVERED.format(what="did not allow the header"),
          explain="`explain FILE --origin O --header x-api-key --path P --preflight`")
def _(ctx):
    return refused(ctx, Request("app", "/uncovered/header", {"headers": {"x-api-key": "k"}},
                                _acao() + "&response_header=Access-Control-Allow-Headers:%20x-other"))


@scenario("preflight_redirected_upstream_is_blocked",
          "route without policy, the upstream redirects the preflight (302)",
          {"page": "blocked", "upstream": ["OPTIONS"]},
          refusal=Request("app", "/uncovered/redirect", {"method": "PUT", "body": "{}", "headers": {"x-api-key": "k"}},
                          _acao() + "&status=302&response_header=Location:%20/b/elsewhere"),
          short="the preflight never met the filter, and was redirected",
          cause=UNCOVERED.format(what="redirected it (http to https, a trailing slash)"),
          explain="`explain FILE --origin O --method PUT --header x-api-key --path P --preflight`")
def _(ctx):
    return refused(ctx, Request("app", "/uncovered/redirect", {"method": "PUT", "body": "{}",
                                                              "headers": {"x-api-key": "k"}},
                                _acao() + "&status=302&response_header=Location:%20/b/elsewhere"))


@scenario("response_for_another_origin_is_blocked",
          "route without policy, the response says `Access-Control-Allow-Origin: https://other.example`",
          {"page": "blocked", "upstream": ["GET"]},
          refusal=Request("app", "/uncovered/other", {}, _acao("https://other.example")),
          short="a cache in front ignores `Vary: Origin`, or something else answered for another origin",
          cause="The response was made for another origin: a cache in front of Envoy that ignores `Vary: Origin` "
                "(which the filter sends on every response whose answer depends on the origin) served it to this "
                "page; or, as here, a route without policy where the upstream answers for another origin. Make the "
                "cache honour `Vary`, or not cache these routes.",
          explain="`explain FILE --origin O --path P` shows `vary: Origin`")
def _(ctx):
    return refused(ctx, Request("app", "/uncovered/other", {}, _acao("https://other.example")))


@scenario("two_allow_origin_values_are_blocked",
          "route without policy, the response carries `Access-Control-Allow-Origin` twice",
          {"page": "blocked", "upstream": ["GET"]},
          refusal=Request("app", "/uncovered/twice", {}, _acao() + "&" + _acao()),
          short="something after the filter (a CDN, a proxy in front) adds CORS headers too",
          cause="Two components add CORS headers: on covered routes the filter removes the upstream's own, but not "
                "those added by something after it on the way out (a CDN, a proxy in front of Envoy), nor, as here, "
                "on a route without policy. Keep one CORS implementation.",
          explain="`explain FILE --origin O --upstream-header 'access-control-allow-origin: *'` shows the filter's own output")
def _(ctx):
    return refused(ctx, Request("app", "/uncovered/twice", {}, _acao() + "&" + _acao()))


REFUSALS = [s for s in SCENARIOS if s.refusal is not None]
