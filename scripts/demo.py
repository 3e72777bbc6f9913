"""The demo stack on localhost: upstream, Envoy with the CORS filter, demo page.

Run through scripts/demo.sh (make demo), which builds the filter first: the
wasm plugin, or with --shell dynamic the dynamic module.
Without --check it prints what to try and runs until Ctrl-C; with --check it
runs the printed curl commands, checks their answers and exits.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

from envoy_cors_testing import envoy_runner
from envoy_cors_testing.upstream import Upstream

ROOT = Path(__file__).resolve().parents[1]

ALLOWED = "http://localhost:8000"  # any http://localhost:* origin is in the example policy
REFUSED = "https://evil.example"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve_page(port: int) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(_QuietHandler, directory=str(ROOT / "demo"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def tries(api: str, admin: str, page: str, shell: str = "wasm") -> list[tuple[str, list[str], str]]:
    """(what, curl argv, what to expect) for each thing to try."""
    curl = ["curl", "-sS", "-o", "/dev/null", "-D", "-"]
    return [
        ("an allowed preflight", curl + ["-X", "OPTIONS", f"{api}/anything/items",
         "-H", f"Origin: {ALLOWED}", "-H", "Access-Control-Request-Method: PUT",
         "-H", "Access-Control-Request-Headers: content-type"],
         "204 with Access-Control-Allow-Origin, -Methods, -Headers, -Max-Age; never reaches the upstream"),
        ("an allowed request", curl + [f"{api}/anything/items", "-H", f"Origin: {ALLOWED}"],
         "200 with Access-Control-Allow-Origin and Vary: Origin"),
        ("a refused preflight", curl + ["-X", "OPTIONS", f"{api}/anything/items",
         "-H", f"Origin: {REFUSED}", "-H", "Access-Control-Request-Method: GET"],
         "403 without any Access-Control-* header"),
        ("a preflight from an allowed origin for a method the policy does not allow",
         curl + ["-X", "OPTIONS", f"{api}/anything/items", "-H", f"Origin: {ALLOWED}",
                 "-H", "Access-Control-Request-Method: DELETE"],
         "204 with Access-Control-Allow-Origin and -Methods without DELETE: the browser says "
         "'Method DELETE is not allowed by Access-Control-Allow-Methods'"),
        ("a refused request", curl + [f"{api}/anything/items", "-H", f"Origin: {REFUSED}"],
         "200 from the upstream, without any Access-Control-* header (the browser hides it)"),
        ("the counters", ["curl", "-sS", f"{admin}/stats?filter={envoy_runner.COUNTER_NAMESPACE[shell]}cors"],
         f"{envoy_runner.COUNTER_NAMESPACE[shell]}cors.<policy>.preflight_allowed|preflight_denied|actual_allowed|actual_denied"),
        ("the demo page", ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", page],
         f"open {page} in a browser"),
    ]


def check(items, shell: str = "wasm") -> list[str]:
    """Run the curl commands; returns the problems found."""
    problems = []
    expect = [("204", True), ("200", True), ("403", False), ("204", True), ("200", False)]
    for (what, argv, _), (status, cors) in zip(items, expect):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
        head = out.splitlines()[0] if out else ""
        has_cors = "access-control-allow-origin:" in out.lower()
        if f" {status}" not in head or has_cors != cors:
            problems.append(f"{what}: expected {status} {'with' if cors else 'without'} CORS, got:\n{out}")
    stats = subprocess.run(items[5][1], capture_output=True, text=True, timeout=10).stdout
    if f"{envoy_runner.COUNTER_NAMESPACE[shell]}cors.strict.preflight_allowed: 1" not in stats:
        problems.append(f"the counters: expected one allowed preflight, got:\n{stats}")
    page = subprocess.run(items[6][1], capture_output=True, text=True, timeout=10).stdout.strip()
    if page != "200":
        problems.append(f"the demo page: expected 200, got {page}")
    return problems


# The access log's record of a refused request (envoy/envoy.yaml's format).
REFUSAL_RECORD = "policy=strict verdict=preflight_denied reason=method_not_allowed:DELETE"


def refused_line(envoy: envoy_runner.Envoy) -> str | None:
    """The access-log line of the refused DELETE preflight (`tries`), once Envoy flushed it."""
    lines = envoy.access_log(lambda lines: any(REFUSAL_RECORD in line for line in lines))
    return next((line for line in lines if REFUSAL_RECORD in line), None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="run the curls, check them, stop")
    ap.add_argument("--shell", choices=envoy_runner.SHELLS, default="wasm",
                    help="run the filter as the wasm plugin (default) or as the dynamic module")
    ap.add_argument("--port", type=int, default=None, help="API port (default 10000; free port with --check)")
    ap.add_argument("--admin-port", type=int, default=None, help="admin port (default 9901)")
    ap.add_argument("--page-port", type=int, default=None, help="demo page port (default 8000)")
    args = ap.parse_args()

    def port(value, default):
        return value if value is not None else (0 if args.check else default)

    stack = []
    try:
        up = Upstream().start()
        stack.append(up.stop)
        config = envoy_runner.render(
            upstream=(up.host, up.port),
            listen_port=port(args.port, 10000), admin_port=port(args.admin_port, 9901), shell=args.shell,
        )
        # A short flush interval, so that the access log shows a request at once.
        envoy = envoy_runner.Envoy(config, extra_args=["--file-flush-interval-msec", "100"]).start()
        stack.append(envoy.cleanup)
        page_server = serve_page(port(args.page_port, 8000))
        stack.append(page_server.shutdown)
        page_port = page_server.server_address[1]

        api = f"http://localhost:{envoy.port}"
        admin = envoy.admin_url.replace("127.0.0.1", "localhost")
        page = f"http://localhost:{page_port}/"
        if (envoy.port, page_port) != (10000, 8000):
            page += f"?api={api}&admin={admin}"
        items = tries(api, admin, page, args.shell)

        if args.check:
            problems = check(items, args.shell)
            if refused_line(envoy) is None:
                problems.append(f"the access log: no line with {REFUSAL_RECORD!r}:\n"
                                + "\n".join(envoy.access_log()[-5:]))
            for p in problems:
                print("FAIL", p, file=sys.stderr)
            if problems:
                print(envoy.log()[-3000:], file=sys.stderr)
                return 1
            print("demo check: ok")
            return 0

        print(f"\nenvoy-cors demo ({args.shell} shell): API {api}  admin {admin}  page {page}")
        print(f"upstream {up.url}, Envoy log {envoy.log_path}\n")
        for what, argv, expect in items:
            print(f"# {what}: {expect}")
            print(shlex.join(argv), "\n")
        # One refused request, and the line the access log wrote for it.
        subprocess.run(items[3][1], capture_output=True, timeout=10)
        print(f"# the access log ({envoy.access_log_path}) of the DELETE preflight above, which the filter refused:")
        print(refused_line(envoy) or "(not written yet)", "\n")
        print("Ctrl-C stops everything.")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        # Even when started in the background, where SIGINT arrives ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        while envoy.proc.poll() is None:
            try:
                envoy.proc.wait(1)
            except subprocess.TimeoutExpired:
                pass
        print("Envoy stopped:\n" + envoy.log()[-2000:], file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for stop in reversed(stack):
            stop()


if __name__ == "__main__":
    sys.exit(main())
