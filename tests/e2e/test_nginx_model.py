"""`cors-policy import`'s model of ingress-nginx against a real nginx.

The importer predicts what ingress-nginx answers (`NginxCors::respond`,
crates/cors-policy/src/import/model.rs), and its change list rests on that.
Here every ingress-nginx fixture is imported with `--matrix` (with `--lossy`
where the plain import refuses it), and each scope's `nginx` field, the
`CorsConfig` ingress-nginx's template receives, is rendered as the template
renders it (the transcription below) into a location of a real nginx 1.22
with headers-more (`more_set_headers`), in front of the suite's test upstream.
Every matrix request goes to nginx, and the model must have predicted its
answer: the status, the `Access-Control-*` and `Vary` headers (normalised as
test_import.py compares Envoy's built-in filter with its model), and whether
the upstream was reached.

A scope is a location `/scope-N/`, chosen by test_import.py's scope header (a
server-level rewrite), so the requests go out as test_import.py sends them.

Then the routing, which the importer also reads from ingress-nginx's code:
the fixture's Ingresses become the servers and locations ingress-nginx makes
of them (the second transcription below), each location with its Ingress's
CORS block (the `nginx` field of that Ingress's scopes). Every matrix request,
sent by its own host and path, must get the answer the model predicted for
its scope; and at probes where location semantics are subtle, the Ingress of
the location nginx picks (a header each location adds) must be the one whose
policy the imported rules apply there (`cors-policy explain`, and each scope's
`policy` in `--matrix`).

The matrix never sends the origins where nginx's regex is loosest (an
unanchored start: `(null)$` allows `http://xnull`; a `*` that is one label), and
the tool has no way to answer an arbitrary request. Those are the table
tests/fixtures/ingress-nginx-origins.json: the importer's unit test
(import/nginx.rs) checks the model against it, and this test checks nginx.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import test_differential as differential
import test_import
import yaml
from envoy_cors_testing.http import free_port

pytestmark = pytest.mark.wire

ROOT = test_import.ROOT
FIXTURES = sorted(
    [*(test_import.IMPORT / "ingress-nginx").glob("*.yaml"),
     *(p for p in (test_import.IMPORT / "real-world").glob("*") if re.search(r'kind"?:\s*"?Ingress\b', p.read_text())),
     *(ROOT / "tests/fixtures/import-refused").glob("ingress-nginx-*.yaml")])
# Ingresses ingress-nginx cannot load together, which the importer refuses.
DUPLICATE = ROOT / "tests/fixtures/import-refused/ingress-nginx-duplicate-location.yaml"
FIXTURES.remove(DUPLICATE)
ORIGINS_TABLE = ROOT / "tests/fixtures/ingress-nginx-origins.json"
HEADERS_MORE_PACKAGE = "libnginx-mod-http-headers-more-filter"
# A header the upstream is asked to send back, so a response shows it came from there.
REACHED = "x-nginx-model-upstream"
# The name of the server that tells this run's nginx from another process on its port.
READY_HOST = "ready.nginx-model.invalid"
# A header each location of the routing test adds: which Ingress (its document
# number) it belongs to, or the controller's own locations.
LOCATION = "x-nginx-model-location"
DEFAULT_BACKEND = "default-backend"


# -- ingress-nginx's template, transcribed ---------------------------------------
# kubernetes/ingress-nginx at controller-v1.15.1 (commit 0a5901f3c64f), the same
# since v1.0.5; read from the tag, nothing else of the project is used.

def quote_meta(text: str) -> str:
    r"""Go's `regexp.QuoteMeta`: a backslash before each of `\.+*?()|[]{}^$`."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def build_origin_regex(origin: str) -> str:
    """internal/ingress/controller/template/template.go:1697-1701, `buildOriginRegex`."""
    origin = quote_meta(origin)
    origin = origin.replace("\\*", r"[A-Za-z0-9\-]+", 1)
    return f"({origin})"


def build_cors_origin_regex(cors_origins: list[str]) -> str:
    """template.go:1703-1721, `buildCorsOriginRegex`: `*` overwrites
    `$http_origin`; a list is one case-insensitive regex (`~*`), anchored at
    its end only."""
    if len(cors_origins) == 1 and cors_origins[0] == "*":
        return "set $http_origin *;\nset $cors 'true';"
    origins_regex = "if ($http_origin ~* ("
    for i, origin in enumerate(cors_origins):
        origin_trimmed = origin.strip()
        if origin_trimmed != "":
            origins_regex += build_origin_regex(origin_trimmed)
            if i != len(cors_origins) - 1:
                origins_regex += "|"
    origins_regex += ")$ ) { set $cors 'true'; }"
    return origins_regex


def cors_template(cors: dict) -> str:
    """rootfs/etc/nginx/template/nginx.tmpl:873-903, `define "CORS"` (included
    in the location at l.1216-1218 when `CorsEnabled`), rendered for one
    `CorsConfig` as text/template renders it (whitespace aside): `{{ if X }}`
    and `empty` are Go's truth (false, 0, "" and [] are empty), a bool is
    written `true`."""
    lines = ["# Cors Preflight methods needs additional options and different Return Code"]
    if cors["CorsAllowOrigin"]:
        lines.append(build_cors_origin_regex(cors["CorsAllowOrigin"]))
    lines += ["if ($request_method = 'OPTIONS') {", "   set $cors ${cors}options;", "}"]
    headers = ["more_set_headers 'Access-Control-Allow-Origin: $http_origin';"]
    if cors["CorsAllowCredentials"]:
        headers.append(f"more_set_headers 'Access-Control-Allow-Credentials: {json.dumps(cors['CorsAllowCredentials'])}';")
    headers.append(f"more_set_headers 'Access-Control-Allow-Methods: {cors['CorsAllowMethods']}';")
    headers.append(f"more_set_headers 'Access-Control-Allow-Headers: {cors['CorsAllowHeaders']}';")
    if cors["CorsExposeHeaders"]:
        headers.append(f"more_set_headers 'Access-Control-Expose-Headers: {cors['CorsExposeHeaders']}';")
    headers.append(f"more_set_headers 'Access-Control-Max-Age: {cors['CorsMaxAge']}';")
    lines += ['if ($cors = "true") {', *headers, "}"]
    lines += ['if ($cors = "trueoptions") {', *headers,
              "more_set_headers 'Content-Type: text/plain charset=UTF-8';",
              "more_set_headers 'Content-Length: 0';",
              "return 204;", "}"]
    return "\n".join(lines)


# -- ingress-nginx's servers and locations, transcribed ---------------------------
# Same tag: which servers and locations ingress-nginx makes of the Ingresses, in
# which order, and how each is written; only what decides where a request goes
# (no auth, TLS, upstreams, rewrite targets' upstream paths, aliases, snippets).

def annotation(ing: dict, name: str) -> str:
    """An annotation as the controller's parser reads it (`""` when absent)."""
    return str(ing["metadata"].get("annotations", {}).get(f"nginx.ingress.kubernetes.io/{name}", ""))


def go_bool(ing: dict, name: str) -> bool:
    """A bool annotation, false by default: `parser.GetBoolAnnotation` reads it
    with Go's `strconv.ParseBool` and falls back to the default on an error."""
    return annotation(ing, name) in ("1", "t", "T", "TRUE", "true", "True")


def ingresses(fixture: Path) -> list[dict]:
    """The fixture's Ingresses, each with its document number (as the importer
    counts them, empty documents left out), in the controller's order:
    `sortIngressSlice` (internal/ingress/controller/store/store.go:1102-1115),
    oldest first, ties by namespace/name descending (a missing timestamp is
    Go's zero time); canary Ingresses make no server or location of their own
    (controller.go:1325-1328, and their upstreams are `NoServer`)."""
    docs = [d for d in yaml.safe_load_all(fixture.read_text()) if d is not None]
    found = [dict(d, doc=n) for n, d in enumerate(docs, 1) if d.get("kind") == "Ingress" and not go_bool(d, "canary")]
    for ing in found:
        for rule in ing["spec"].get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                # `SetDefaultNGINXPathType` (internal/k8s/main.go:163-184), and an
                # empty path is `/` (store.go:935-945).
                if path.get("pathType") in (None, "ImplementationSpecific"):
                    path["pathType"] = "Prefix"
                path["path"] = path.get("path") or "/"
    found.sort(key=lambda i: f"{i['metadata'].get('namespace') or 'default'}/{i['metadata']['name']}", reverse=True)
    found.sort(key=lambda i: str(i["metadata"].get("creationTimestamp") or ""))
    return found


def location(path: str, path_type: str, ing: dict | None, default: bool) -> dict:
    # `rewrite`: whether the Ingress's rewrite annotations (rewrite-target,
    # use-regex) apply, as everywhere but the catch-all's root.
    return {"path": path, "type": path_type, "ingress": ing, "default": default, "ingress_path": path,
            "rewrite": True}


def servers_and_locations(ings: list[dict]) -> dict[str, list[dict]]:
    """Each server's locations as the template receives them."""
    # createServers (internal/ingress/controller/controller.go:1297-1391): the
    # catch-all `_` with the default backend at `/`, then each host's root
    # location with its first (oldest) Ingress's annotations; an Ingress with a
    # default backend and no rules takes the catch-all's root (l.1336-1357).
    servers = {"_": [location("/", "Prefix", None, True)]}
    for ing in ings:
        catch_all = servers["_"][0]
        if (ing["spec"].get("defaultBackend") or {}).get("service") and catch_all["default"] \
                and not ing["spec"].get("rules"):
            catch_all.update(ingress=ing, default=False, rewrite=False)
        for rule in ing["spec"].get("rules") or []:
            servers.setdefault(rule.get("host") or "_", [location("/", "Prefix", ing, True)])
    # getBackendServers (l.730-875): a location per path with a service
    # backend; a path already there with the same type keeps the older
    # Ingress's location, unless that is a root made by createServers, which
    # the path's Ingress takes over; the loop stops at the first location of
    # the same path (l.817-830).
    for ing in ings:
        for rule in ing["spec"].get("rules") or []:
            server = servers[rule.get("host") or "_"]
            for path in (rule.get("http") or {}).get("paths") or []:
                # As the importer reads it, a path without a backend (which
                # the API server refuses) is a Service's.
                if (path.get("backend") or {}).get("resource"):
                    continue
                add = True
                for loc in server:
                    if loc["path"] != path["path"]:
                        continue
                    if loc["type"] == path["pathType"]:
                        add = False
                        if loc["default"]:
                            loc.update(ingress=ing, default=False)
                    break
                if add:
                    server.append(location(path["path"], path["pathType"], ing, False))
    # Longest path first, ties by path descending (l.996-1004); then
    # updateServerLocations (location.go:34-88) at l.654.
    for name, locs in servers.items():
        locs.sort(key=lambda loc: loc["path"].encode(), reverse=True)
        locs.sort(key=lambda loc: len(loc["path"].encode()), reverse=True)
        servers[name] = with_exact_locations(locs)
    return servers


def rewrite_annotation(loc: dict, name: str) -> str:
    """A rewrite annotation of the location's Ingress; the catch-all's root
    taken by an Ingress with only a default backend keeps the default
    backend's (controller.go:1351-1356)."""
    return annotation(loc["ingress"], name) if loc["ingress"] and loc["rewrite"] else ""


def needs_rewrite(loc: dict) -> bool:
    """location.go:102-108 and template.go:497-502: a `rewrite-target` other than the path."""
    target = rewrite_annotation(loc, "rewrite-target")
    return target != "" and target != loc["path"]


def regex_location(loc: dict) -> bool:
    return needs_rewrite(loc) or bool(loc["ingress"]) and loc["rewrite"] and go_bool(loc["ingress"], "use-regex")


def with_exact_locations(locs: list[dict]) -> list[dict]:
    """updateServerLocations (location.go:34-100): a Prefix path (not `/`,
    not rewritten, not regex) becomes `path/`, followed by an Exact `path`
    unless an Exact location of that path exists."""
    exact = {loc["path"] for loc in locs if loc["type"] == "Exact"}
    out = []
    for loc in locs:
        if loc["path"] == "/" or loc["type"] != "Prefix" or regex_location(loc):
            out.append(loc)
            continue
        pair = dict(loc, type="Exact")
        loc["path"] = loc["path"] if loc["path"].endswith("/") else loc["path"] + "/"
        out.append(loc)
        if pair["path"] not in exact:
            out.append(pair)
    return out


def build_location(loc: dict, enforce_regex: bool) -> str:
    """template.go:523-538 `buildLocation`, with `sanitizeQuotedRegex` (l.543-553)."""
    path = re.sub(r'([\\"])', r"\\\1", loc["path"])
    if enforce_regex:
        return f'~* "^{path}"'
    if loc["type"] == "Exact":
        return f'= "{path}"'
    return f'"{path}"'


def build_server_name(host: str) -> str:
    """template.go:1686-1695 `buildServerName`: `*.a.b` is a regex of one label."""
    if not host.startswith("*"):
        return host
    return r"~^(?<subdomain>[\w-]+)\." + r"\.".join(host.replace("*.", "", 1).split(".")) + "$"


def ingress_servers(servers: dict[str, list[dict]], upstream, cors: dict[int, dict]) -> str:
    """The servers as nginx.tmpl writes them: l.636-665 (a server per host,
    sorted by name, the catch-all `_` the `default_server`, l.671), the
    location loop of `define "SERVER"` (l.987-1150: `enforceRegexModifier`
    over the server's locations, template.go:504-519), each location's CORS
    block (l.1216-1218, `cors` by document number), and the catch-all's own
    `/healthz` and `/nginx_status` (l.1455-1488). Each location also says
    whose it is in LOCATION."""
    proxy = f"proxy_pass http://{upstream.host}:{upstream.port};"
    blocks = []
    for name in sorted(servers):
        locs = servers[name]
        enforce = any(regex_location(loc) for loc in locs)
        body = []
        for loc in locs:
            owner = str(loc["ingress"]["doc"]) if loc["ingress"] else DEFAULT_BACKEND
            block = cors_template(cors[loc["ingress"]["doc"]]) if loc["ingress"] and loc["ingress"]["doc"] in cors else ""
            body.append(f"location {build_location(loc, enforce)} {{\nadd_header {LOCATION} \"{owner}\" always;\n"
                        f"{block}\n{proxy}\n}}")
        if name == "_":
            # `/nginx_status` is `deny all` but for its whitelist (127.0.0.1 by
            # default, this test's own address): rendered as any other client's 403.
            body += [f"location /healthz {{\nadd_header {LOCATION} controller always;\nreturn 200;\n}}",
                     f"location /nginx_status {{\nadd_header {LOCATION} controller always;\nreturn 403;\n}}"]
        default = " default_server" if name == "_" else ""
        blocks.append(f'server {{\nlisten 127.0.0.1:{{port}}{default};\nserver_name "{build_server_name(name)}";\n'
                      + "\n".join(body) + "\n}")
    return "\n".join(blocks)


# -- nginx -----------------------------------------------------------------------

def headers_more_module() -> Path:
    proc = subprocess.run(["dpkg", "-L", HEADERS_MORE_PACKAGE], capture_output=True, text=True)
    found = [Path(p) for p in proc.stdout.split() if p.endswith(".so")]
    if proc.returncode != 0 or not found or not shutil.which("nginx"):
        pytest.fail(f"nginx and {HEADERS_MORE_PACKAGE} are needed (scripts/setup.sh installs them)", pytrace=False)
    return found[0]


def nginx_conf(tmp: Path, port: int, servers: str, token: str) -> str:
    """The main configuration around `servers` (server blocks, `{port}` for
    the port), and last a server that answers READY_HOST with `token`."""
    temp = " ".join(f"{kind}_temp_path {tmp}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""load_module {headers_more_module()};
daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log notice;
events {{}}
http {{
access_log off;
server_name_in_redirect off;
{temp}
{servers.replace("{port}", str(port))}
server {{
listen 127.0.0.1:{port};
server_name {READY_HOST};
location = /ready {{ return 200 "{token}"; }}
}}
}}
"""


def scoped_server(upstream, scopes: list[dict], direct: dict[int, int]) -> str:
    """One server: the scope header picks the location `/scope-N/`, which
    has the scope's CORS block (none without CORS) and proxies upstream, or
    answers itself with `direct[N]` (nginx's redirect of `/p` to `/p/`)."""
    proxy = f"proxy_pass http://{upstream.host}:{upstream.port};"
    locations = "\n".join(
        f"location /scope-{i}/ {{\n{cors_template(s['nginx']) if s.get('nginx') else ''}\n"
        f"{f'return {direct[i]};' if i in direct else proxy}\n}}"
        for i, s in enumerate(scopes))
    return f"""server {{
listen 127.0.0.1:{{port}};
rewrite ^(.*)$ /scope-$http_{test_import.SCOPE_HEADER.replace('-', '_')}$1 last;
{locations}
}}"""



def answers(proc: subprocess.Popen, port: int, token: str) -> bool:
    """Whether this nginx, not another process that took the port, answers
    (with the run's token) before it exits or 10 s pass."""
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/ready", headers={"Host": READY_HOST})
            if conn.getresponse().read().decode() == token:
                return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def nginx(tmp: Path, servers: str):
    """An unprivileged nginx on a free loopback port with `servers`; yields the port."""
    log, conf = tmp / "error.log", tmp / "nginx.conf"
    for _ in range(3):  # another process may take the port between free_port() and nginx's bind
        port, token = free_port(), uuid.uuid4().hex
        conf.write_text(nginx_conf(tmp, port, servers, token))
        log.write_text("")
        proc = subprocess.Popen(["nginx", "-p", str(tmp), "-c", str(conf), "-e", str(log)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if answers(proc, port, token):
                yield port
                return
            if proc.poll() is None or "Address already in use" not in log.read_text():
                pytest.fail(f"nginx did not start:\n{log.read_text()[-3000:]}\n{conf.read_text()}")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    pytest.fail("nginx found no free port in 3 tries")


# -- the test ----------------------------------------------------------------------

def imported(cors_policy: str, fixture: Path, tmp_path: Path) -> dict:
    """The fixture's `--matrix`, with `--lossy` where the plain import refuses."""
    out = tmp_path / "matrix.json"
    command = [cors_policy, "import", str(fixture), "--matrix", str(out)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode == 1 and "--lossy writes the nearest" in proc.stderr:
        proc = subprocess.run([*command, "--lossy"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "policy.json").write_text(proc.stdout)
    return json.loads(out.read_text())


def answer(port: int, case: dict, scoped: bool = True) -> tuple[dict, bool]:
    """nginx's answer to a case, normalised, and whether the upstream sent it."""
    upstream = dict(case["upstream"], headers=[*case["upstream"]["headers"], [REACHED, "yes"]])
    status, headers = test_import.send(port, dict(case, upstream=upstream), scoped=scoped)
    return differential.normalise(status, headers), any(n.lower() == REACHED for n, _ in headers)


def unpredicted(port: int, report: dict, scoped: bool) -> list[str]:
    """The matrix cases whose nginx answer the model did not predict."""
    wrong = []
    for i, case in enumerate(report["cases"]):
        got, reached = answer(port, case, scoped)
        expected = test_import.predicted(case["source"]), case["source"]["reached_upstream"]
        if (got, reached) != expected:
            wrong.append(f"#{i} {case['rule']} {case['request']} upstream={case['upstream']['kind']}\n"
                         f"    model={expected}\n    nginx={(got, reached)}")
    return wrong


def document(scope: dict) -> int:
    """The document of the fixture a scope's rule is in (`document N: ...`, else the only one)."""
    found = re.match(r"document (\d+):", scope["rule"])
    return int(found[1]) if found else 1


def probes(name: str, locs: list[dict]) -> list[tuple[str, str]]:
    """Requests (host, path) where location semantics are subtle: around each
    Ingress path (its `/`-less and `/`-ended forms, a longer path sharing its
    start, its upper case, a deeper path) and paths no Ingress names."""
    host = "unlisted-host.invalid" if name == "_" else name.replace("*", "sample", 1)
    paths = ["/", "/no-ingress-path", "/healthz"]
    for loc in locs:
        path = loc["ingress_path"]
        bare = path.rstrip("/") or "/"
        paths += [path, bare, bare + "/", bare + "x", path.upper(), bare + "/deeper"]
    out = [(host, p) for p in dict.fromkeys(paths)]
    return [*out, (host.upper(), "/")] if name != "_" else out


def misrouted(port: int, cors_policy: str, policy: Path, servers: dict[str, list[dict]],
              policies: dict[str, set]) -> tuple[int, list[str]]:
    """The probes, and those where nginx's location is not of an Ingress with
    the policy the imported rules apply (`policies`: by LOCATION value). A
    redirect of `/p` to `/p/` comes before any CORS header: no policy."""
    wrong, probed = [], [p for name, locs in servers.items() for p in probes(name, locs)]
    for host, path in probed:
        request = {"method": "GET", "path": path, "authority": host, "headers": []}
        status, headers = test_import.send(port, {"request": request, "upstream": {"headers": []}}, scoped=False)
        named = {n.lower(): v for n, v in headers}
        owner = named.get(LOCATION, "no location")
        redirect = status == 301 and named.get("location", "").endswith(path + "/")
        theirs = {None} if redirect else policies.get(owner, {f"the policy of document {owner}"})
        proc = subprocess.run([cors_policy, "explain", str(policy), "--origin", "https://probe.example",
                               "--host", host, "--path", path, "--json"], capture_output=True, text=True)
        ours = json.loads(proc.stdout)["policy"]
        if ours not in theirs:
            wrong.append(f"probe {host}{path}: nginx {status} at the location of {owner} "
                         f"(policy {sorted(theirs, key=str)}), the imported rules apply {ours}")
    return len(probed), wrong


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f"{f.parent.name}/{f.stem}" for f in FIXTURES])
def test_nginx_answers_every_matrix_request_as_the_importer_model_predicted(fixture, cors_policy, upstream, tmp_path):
    report = imported(cors_policy, fixture, tmp_path)
    scopes = report["scopes"]
    assert any(s.get("nginx") for s in scopes), "no ingress-nginx scope in the matrix"
    with nginx(tmp_path, scoped_server(upstream, scopes, test_import.direct_statuses(report))) as port:
        wrong = unpredicted(port, report, scoped=True)
    assert not wrong, f"{len(wrong)} of {len(report['cases'])} nginx answers the model did not predict:\n" + \
        "\n".join(wrong[:10])


def test_nginx_allows_the_origins_the_table_the_model_is_tested_against_says(upstream, tmp_path):
    cases = json.loads(ORIGINS_TABLE.read_text())["cases"]
    entries = list(dict.fromkeys(tuple(c["entries"]) for c in cases))
    scopes = [{"nginx": {"CorsAllowOrigin": list(e), "CorsAllowCredentials": True, "CorsAllowMethods": "GET",
                         "CorsAllowHeaders": "Content-Type", "CorsExposeHeaders": "", "CorsMaxAge": 5}}
              for e in entries]
    wrong = []
    with nginx(tmp_path, scoped_server(upstream, scopes, {})) as port:
        for c in cases:
            request = {"method": "GET", "path": "/", "authority": "api.example.com", "headers": [["origin", c["origin"]]]}
            case = {"request": request, "upstream": {"headers": []}, "scope": entries.index(tuple(c["entries"]))}
            got, _ = answer(port, case)
            if (got.get("access-control-allow-origin") == c["origin"]) != c["allowed"]:
                wrong.append(f"{c}: nginx answered {got}")
    assert not wrong, "nginx disagrees with the table:\n" + "\n".join(wrong)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f"{f.parent.name}/{f.stem}" for f in FIXTURES])
def test_nginx_routes_every_request_to_the_ingress_whose_cors_the_importer_says(fixture, cors_policy, upstream,
                                                                                tmp_path):
    """The Ingresses as ingress-nginx's servers and locations, each with its
    Ingress's CORS: each matrix request, sent by its own host and path, gets
    the answer the model predicted for its scope; and at each probe nginx's
    location belongs to the Ingress whose policy the imported rules apply
    there (`cors-policy explain`), none for the default backend and for nginx's
    redirect of `/p` to a location `/p/` (a 301 without CORS headers)."""
    report = imported(cors_policy, fixture, tmp_path)
    scopes = report["scopes"]
    cors = {document(s): s["nginx"] for s in scopes if s.get("nginx")}
    # By document: the policies of its locations, not of the paths nginx
    # answers itself (a redirect, checked in `misrouted`; the controller's own).
    policies: dict[str, set] = {DEFAULT_BACKEND: {None}, "controller": {None}}
    direct = test_import.direct_statuses(report)
    for i, s in enumerate(scopes):
        if i not in direct:
            policies.setdefault(str(document(s)), set()).add(s["policy"])
    servers = servers_and_locations(ingresses(fixture))
    with nginx(tmp_path, ingress_servers(servers, upstream, cors)) as port:
        wrong = unpredicted(port, report, scoped=False)
        probed, misrouted_probes = misrouted(port, cors_policy, tmp_path / "policy.json", servers, policies)
    wrong += misrouted_probes
    assert not wrong, f"{len(wrong)} of {len(report['cases'])} cases and {probed} probes disagree:\n" + \
        "\n".join(wrong[:20])


def nginx_test(tmp: Path, ings: list[dict], upstream) -> subprocess.CompletedProcess:
    """`nginx -t` of the servers ingress-nginx makes of `ings`."""
    conf = tmp / "nginx.conf"
    servers = ingress_servers(servers_and_locations(ings), upstream, {})
    conf.write_text(nginx_conf(tmp, free_port(), servers, uuid.uuid4().hex))
    return subprocess.run(["nginx", "-t", "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")],
                          capture_output=True, text=True)


def test_nginx_refuses_the_duplicate_location_the_importer_refuses(cors_policy, upstream, tmp_path):
    """Prefix `/api` and `/api/` of one host: the importer refuses them, and
    the servers ingress-nginx makes of them do not load in nginx, while each
    Ingress alone does."""
    proc = subprocess.run([cors_policy, "import", str(DUPLICATE)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "a duplicate nginx refuses" in proc.stderr, proc.stderr
    both = ingresses(DUPLICATE)
    assert len(both) == 2
    refused = nginx_test(tmp_path, both, upstream)
    assert refused.returncode != 0 and 'duplicate location "/api/"' in refused.stderr, refused.stderr
    for one in both:
        alone = nginx_test(tmp_path, [one], upstream)
        assert alone.returncode == 0, alone.stderr
