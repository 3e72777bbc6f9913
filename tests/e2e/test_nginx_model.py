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

The matrix never sends the origins where nginx's regex is loosest (an
unanchored start: `(null)$` allows `http://xnull`; a `*` that is one label), and
the tool has no way to answer an arbitrary request. Those are the table
tests/fixtures/ingress-nginx-origins.json: the importer's unit test
(import/nginx.rs) checks the model against it, and this test checks nginx.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import test_differential as differential
import test_import

pytestmark = pytest.mark.wire

ROOT = test_import.ROOT
FIXTURES = sorted(
    [*(test_import.IMPORT / "ingress-nginx").glob("*.yaml"),
     *(p for p in (test_import.IMPORT / "real-world").glob("*") if re.search(r'kind"?:\s*"?Ingress\b', p.read_text())),
     *(ROOT / "tests/fixtures/import-refused").glob("ingress-nginx-*.yaml")])
ORIGINS_TABLE = ROOT / "tests/fixtures/ingress-nginx-origins.json"
HEADERS_MORE_PACKAGE = "libnginx-mod-http-headers-more-filter"
# A header the upstream is asked to send back, so a response shows it came from there.
REACHED = "x-nginx-model-upstream"


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


# -- nginx -----------------------------------------------------------------------

def headers_more_module() -> Path:
    proc = subprocess.run(["dpkg", "-L", HEADERS_MORE_PACKAGE], capture_output=True, text=True)
    found = [Path(p) for p in proc.stdout.split() if p.endswith(".so")]
    if proc.returncode != 0 or not found or not shutil.which("nginx"):
        pytest.fail(f"nginx and {HEADERS_MORE_PACKAGE} are needed (scripts/setup.sh installs them)", pytrace=False)
    return found[0]


def nginx_conf(tmp: Path, port: int, upstream, scopes: list[dict]) -> str:
    """One server: the scope header picks the location `/scope-N/`, which
    has the scope's CORS block (none without CORS) and proxies upstream."""
    temp = " ".join(f"{kind}_temp_path {tmp}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    locations = "\n".join(
        f"location /scope-{i}/ {{\n{cors_template(s['nginx']) if s.get('nginx') else ''}\n"
        f"proxy_pass http://{upstream.host}:{upstream.port};\n}}"
        for i, s in enumerate(scopes))
    return f"""load_module {headers_more_module()};
daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log notice;
events {{}}
http {{
access_log off;
{temp}
server {{
listen 127.0.0.1:{port};
rewrite ^(.*)$ /scope-$http_{test_import.SCOPE_HEADER.replace('-', '_')}$1 last;
{locations}
}}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def nginx(tmp: Path, upstream, scopes: list[dict]):
    """An unprivileged nginx on a free loopback port; yields the port."""
    for _ in range(3):  # another process may take the port between free_port() and nginx's bind
        port = free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(nginx_conf(tmp, port, upstream, scopes))
        proc = subprocess.Popen(["nginx", "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10
            while proc.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
                time.sleep(0.05)
            else:
                if proc.poll() is None or "Address already in use" not in (tmp / "error.log").read_text():
                    pytest.fail(f"nginx did not start:\n{(tmp / 'error.log').read_text()[-3000:]}\n{conf.read_text()}")
                continue
            yield port
            return
        finally:
            proc.terminate()
            proc.wait(timeout=10)
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
    return json.loads(out.read_text())


def answer(port: int, case: dict) -> tuple[dict, bool]:
    """nginx's answer to a case, normalised, and whether the upstream sent it."""
    upstream = dict(case["upstream"], headers=[*case["upstream"]["headers"], [REACHED, "yes"]])
    status, headers = test_import.send(port, dict(case, upstream=upstream), scoped=True)
    return differential.normalise(status, headers), any(n.lower() == REACHED for n, _ in headers)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f"{f.parent.name}/{f.stem}" for f in FIXTURES])
def test_nginx_answers_every_matrix_request_as_the_importer_model_predicted(fixture, cors_policy, upstream, tmp_path):
    report = imported(cors_policy, fixture, tmp_path)
    scopes = report["scopes"]
    assert any(s.get("nginx") for s in scopes), "no ingress-nginx scope in the matrix"
    wrong = []
    with nginx(tmp_path, upstream, scopes) as port:
        for i, case in enumerate(report["cases"]):
            got, reached = answer(port, case)
            expected = test_import.predicted(case["source"]), case["source"]["reached_upstream"]
            if (got, reached) != expected:
                wrong.append(f"#{i} {case['rule']} {case['request']} upstream={case['upstream']['kind']}\n"
                             f"    model={expected}\n    nginx={(got, reached)}")
    assert not wrong, f"{len(wrong)} of {len(report['cases'])} nginx answers the model did not predict:\n" + \
        "\n".join(wrong[:10])


def test_nginx_allows_the_origins_the_table_the_model_is_tested_against_says(upstream, tmp_path):
    cases = json.loads(ORIGINS_TABLE.read_text())["cases"]
    entries = list(dict.fromkeys(tuple(c["entries"]) for c in cases))
    scopes = [{"nginx": {"CorsAllowOrigin": list(e), "CorsAllowCredentials": True, "CorsAllowMethods": "GET",
                         "CorsAllowHeaders": "Content-Type", "CorsExposeHeaders": "", "CorsMaxAge": 5}}
              for e in entries]
    wrong = []
    with nginx(tmp_path, upstream, scopes) as port:
        for c in cases:
            request = {"method": "GET", "path": "/", "authority": "api.example.com", "headers": [["origin", c["origin"]]]}
            case = {"request": request, "upstream": {"headers": []}, "scope": entries.index(tuple(c["entries"]))}
            got, _ = answer(port, case)
            if (got.get("access-control-allow-origin") == c["origin"]) != c["allowed"]:
                wrong.append(f"{c}: nginx answered {got}")
    assert not wrong, "nginx disagrees with the table:\n" + "\n".join(wrong)
