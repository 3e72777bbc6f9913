"""The generated case matrix of the differential test and the two equivalent
configurations: a JSON policy for this filter and a CorsPolicy for Envoy's
built-in CORS filter (envoy.filters.http.cors), per policy.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools

# name -> (our JSON policy, the equivalent Envoy CorsPolicy)
POLICIES: dict[str, tuple[dict, dict]] = {
    "exact": (
        {"allow_origins": ["https://app.example.com", "https://admin.example.com"],
         "allow_methods": ["GET", "POST", "PUT"], "allow_headers": ["content-type", "x-api-key"],
         "expose_headers": ["x-request-id"], "max_age": 600, "allow_credentials": True, "preflight_status": 200},
        {"allow_origin_string_match": [{"exact": "https://app.example.com"}, {"exact": "https://admin.example.com"}],
         "allow_methods": "GET,POST,PUT", "allow_headers": "content-type,x-api-key",
         "expose_headers": "x-request-id", "max_age": "600", "allow_credentials": True},
    ),
    "wild": (
        {"allow_origins": ["https://*.example.org", "http://localhost:*"], "allow_headers": ["x-requested-with"],
         "preflight_status": 200},
        {"allow_origin_string_match": [
            {"safe_regex": {"regex": r"^https://([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+example\.org$"}},
            {"safe_regex": {"regex": r"^http://localhost(:[0-9]+)?$"}}],
         "allow_methods": "GET,HEAD,POST", "allow_headers": "x-requested-with"},
    ),
    "any": (
        {"allow_origins": ["*"], "allow_methods": ["GET", "POST", "DELETE"], "allow_headers": ["*"],
         "expose_headers": ["x-request-id"], "preflight_status": 200},
        {"allow_origin_string_match": [{"safe_regex": {"regex": ".*"}}],
         "allow_methods": "GET,POST,DELETE", "allow_headers": "*", "expose_headers": "x-request-id"},
    ),
    "pna": (
        {"allow_origins": ["https://app.example.com"], "allow_methods": ["GET", "PATCH"], "allow_headers": ["x-api-key"],
         "max_age": 0, "allow_private_network": True, "preflight_status": 200},
        {"allow_origin_string_match": [{"exact": "https://app.example.com"}],
         "allow_methods": "GET,PATCH", "allow_headers": "x-api-key", "max_age": "0",
         "allow_private_network_access": True},
    ),
    "defaults": (
        {"allow_origins": ["https://app.example.com"]},
        {"allow_origin_string_match": [{"exact": "https://app.example.com"}], "allow_methods": "GET,HEAD,POST"},
    ),
}

# Configurations this filter refuses at startup that the built-in filter runs:
# name -> (our JSON policy, the built-in's CorsPolicy, an origin it then serves).
REFUSED_CONFIGS: dict[str, tuple[dict, dict, str]] = {
    "star-credentials": (
        {"allow_origins": ["*"], "allow_credentials": True},
        {"allow_origin_string_match": [{"safe_regex": {"regex": ".*"}}], "allow_credentials": True},
        "https://evil.example",
    ),
    "null-origin": (
        {"allow_origins": ["null"], "allow_credentials": True},
        {"allow_origin_string_match": [{"exact": "null"}], "allow_credentials": True},
        "null",
    ),
    "suffix-wildcard": (
        {"allow_origins": ["https://*example.com"]},
        {"allow_origin_string_match": [{"suffix": "example.com"}]},
        "https://evilexample.com",
    ),
}

ORIGINS = [
    None,  # no Origin: not a CORS request
    "https://app.example.com",
    "https://admin.example.com",
    "https://api.example.org",
    "https://a.b.example.org",
    "http://localhost:3000",
    "http://localhost",
    # look-alikes: suffix and prefix confusions
    "https://app.example.com.evil.test",
    "https://evilapp.example.com",
    "https://app.example.co",
    "https://app-example.com",
    "https://example.org",
    "https://evilexample.org",
    "https://api.example.org.evil.test",
    "http://localhost.evil.test",
    # other scheme or port, null, spelling a browser never uses
    "http://app.example.com",
    "https://app.example.com:8443",
    "https://app.example.com:443",
    "http://localhost:80",
    "https://APP.EXAMPLE.COM",
    "https://app.example.com/",
    "null",
]

# Origins no browser sends (an explicit default port): a pattern matcher may
# accept them, this filter never does.
NON_CANONICAL = {"http://localhost:80", "https://app.example.com:443"}


@dataclasses.dataclass(frozen=True)
class Kind:
    """A request shape: method and CORS request headers (besides Origin)."""

    name: str
    method: str
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def preflight(self) -> bool:
        return self.method == "OPTIONS" and any(n == "access-control-request-method" for n, _ in self.headers)


KINDS = [
    Kind("get", "GET"),
    Kind("post", "POST", (("content-type", "text/plain"),)),
    Kind("options-not-cors", "OPTIONS"),
    Kind("preflight-get", "OPTIONS", (("access-control-request-method", "GET"),)),
    Kind("preflight-put-content-type", "OPTIONS",
         (("access-control-request-method", "PUT"), ("access-control-request-headers", "content-type"))),
    Kind("preflight-lowercase-put", "OPTIONS", (("access-control-request-method", "put"),)),
    Kind("preflight-delete-x-api-key", "OPTIONS",
         (("access-control-request-method", "DELETE"), ("access-control-request-headers", "x-api-key"))),
    Kind("preflight-patch-authorization", "OPTIONS",
         (("access-control-request-method", "PATCH"), ("access-control-request-headers", "authorization,x-api-key"))),
    Kind("preflight-post-x-requested-with", "OPTIONS",
         (("access-control-request-method", "POST"), ("access-control-request-headers", "X-Requested-With"))),
    Kind("preflight-private-network", "OPTIONS",
         (("access-control-request-method", "GET"), ("access-control-request-private-network", "true"))),
]

# What the upstream does: answer plainly, answer with its own CORS and Vary
# headers, or be unreachable (Envoy's own 503).
UPSTREAM_CORS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Credentials", "true"),
    ("Access-Control-Allow-Methods", "GET"),
    ("Access-Control-Expose-Headers", "x-upstream"),
    ("Vary", "Accept-Encoding"),
)
UPSTREAMS = {"plain": (), "own-cors": UPSTREAM_CORS, "local-503": None}


@dataclasses.dataclass(frozen=True)
class Case:
    index: int
    policy: str
    origin: str | None
    kind: Kind
    upstream: str

    @property
    def headers(self) -> list[tuple[str, str]]:
        out = [("origin", self.origin)] if self.origin is not None else []
        return out + list(self.kind.headers)

    @property
    def upstream_headers(self) -> tuple[tuple[str, str], ...]:
        return UPSTREAMS[self.upstream] or ()

    def path(self) -> str:
        base = f"/{self.policy}/c{self.index}"
        if self.upstream == "local-503":
            return "/unavailable" + base
        if self.upstream_headers:
            q = "&".join("response_header=" + f"{n}: {v}".replace(" ", "%20").replace(",", "%2C")
                         for n, v in self.upstream_headers)
            return f"{base}?{q}"
        return base

    def label(self) -> str:
        return f"#{self.index} {self.policy} {self.kind.name} origin={self.origin} upstream={self.upstream}"


def cases() -> list[Case]:
    """Every policy x origin x request kind; the upstream behaviour rotates."""
    out = []
    upstreams = list(UPSTREAMS)
    for i, (policy, origin, kind) in enumerate(itertools.product(POLICIES, ORIGINS, KINDS)):
        out.append(Case(i, policy, origin, kind, upstreams[i % len(upstreams)]))
    return out


def our_policy() -> dict:
    routes = []
    for name in POLICIES:
        routes.append({"match": {"path": f"/unavailable/{name}/**"}, "policy": name})
        routes.append({"match": {"path": f"/{name}/**"}, "policy": name})
    return {"policies": {name: ours for name, (ours, _) in POLICIES.items()}, "routes": routes}


CORS_FILTER = "envoy.filters.http.cors"
CORS_POLICY_TYPE = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"


def add_builtin_listener(config: dict) -> None:
    """Adds the listener 'builtin': Envoy's own CORS filter with the equivalent
    CorsPolicy per route, in front of the same clusters (a real upstream, since
    the built-in filter ignores direct_response routes)."""
    api = config["static_resources"]["listeners"][0]
    listener = copy.deepcopy(api)
    listener["name"] = "builtin"
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["stat_prefix"] = "builtin"
    hcm["http_filters"] = [
        {"name": CORS_FILTER,
         "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"}},
        {"name": "envoy.filters.http.router",
         "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
    ]
    routes = []
    for name, (_, envoy_policy) in POLICIES.items():
        per_filter = {CORS_FILTER: {"@type": CORS_POLICY_TYPE, **envoy_policy}}
        routes.append({"match": {"prefix": f"/unavailable/{name}/"}, "route": {"cluster": "unavailable"},
                       "typed_per_filter_config": per_filter})
        routes.append({"match": {"prefix": f"/{name}/"}, "route": {"cluster": "upstream"},
                       "typed_per_filter_config": per_filter})
    for name, (_, envoy_policy, _) in REFUSED_CONFIGS.items():
        per_filter = {CORS_FILTER: {"@type": CORS_POLICY_TYPE, **envoy_policy}}
        routes.insert(0, {"match": {"prefix": f"/refused-{name}/"}, "route": {"cluster": "upstream"},
                          "typed_per_filter_config": per_filter})
    hcm["route_config"] = {"name": "builtin", "virtual_hosts": [{"name": "builtin", "domains": ["*"], "routes": routes}]}
    config["static_resources"]["listeners"].append(listener)
