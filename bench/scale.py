#!/usr/bin/env python3
"""Many routes: what choosing a request's policy costs at 10 and at 10,000
tenants, for every way of choosing it, in both shells and in Envoy's built-in
CORS filter (issue 20).

Layouts, as multi-tenant gateways lay tenants out:
- `tenants`: a virtual host per tenant (domain `tN.api.test`, one route
  `route-N`), so that Envoy finds the tenant by a hash and its own cost stays
  flat;
- `paths`: one virtual host with a route per tenant (`/tenantN/`, `route-N`),
  for path rules (Envoy tries these routes in order: its own cost grows, and
  the no-filter listener with the same table takes it out).

Each tenant allows its own origin (`https://app.tN.example`); the request goes
to the last tenant, from that origin, with a browser's usual headers.
Listeners, each with its own copy of the layout's route table:
- `none`: no filter (subtracted from every other figure);
- `native`: Envoy's built-in CORS filter, a `CorsPolicy` on each route;
- `plugin_*` and `module_*`: the wasm plugin and the dynamic module with
  `route_name`, `host` (tenants) or `path` (paths) rules, with route
  metadata (`metadata_namespace`), and the module with a per-route config
  on each route (`module_per_route`).

Two runs, each bounded:
1. natively, one Envoy per (layout, size, listener) with that listener alone:
   the configure time the filter logs, Envoy's time to ready, and Envoy's
   resident memory once ready, next to the `none` listener's;
2. under valgrind's callgrind, one Envoy per (layout, size) with all its
   listeners: the worker's instructions per request (as bench/callgrind.py
   counts them), minus `none`'s.

Usage: bench/scale.py [--sizes 10 10000] [--layout tenants|paths ...] [--listener NAME ...]
                      [--requests 100] [--passes 2] [--skip-callgrind] [--skip-native] [--out docs]
                      [--report docs/scale.json]
Writes docs/scale.md and docs/scale.json. Loopback only; 10,000 virtual hosts
under valgrind take minutes to start.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from envoy_cors_bench import callgrind
from envoy_cors_bench import run as bench
from envoy_cors_testing.envoy_runner import Envoy, dynamic_module_filter
from envoy_cors_testing.http import request as http_request
from envoy_cors_testing.route_config import metadata, per_route

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = ("tenants", "paths")
NAMESPACE = "envoy-cors"
NATIVE_KEY = "envoy.filters.http.cors"


def origin(i: int) -> str:
    return f"https://app.t{i}.example"


def policies(n: int) -> dict:
    return {f"t{i}": {"allow_origins": [origin(i)]} for i in range(n)}


def rule_key(layout: str, how: str, i: int) -> dict:
    """The `match` of tenant i's rule, for a selection method."""
    if how == "route_name":
        return {"route_name": f"route-{i}"}
    if how == "host":
        return {"host": f"t{i}.api.test"}
    return {"path": f"/tenant{i}/**"}


def routed(layout: str, how: str, n: int) -> dict:
    """The filter's configuration for a selection method."""
    if how == "metadata":
        return {"policies": policies(n), "metadata_namespace": NAMESPACE}
    if how == "per_route":
        # Every route carries its own policy; the filter's own is never used.
        return {"allow_origins": ["https://unused.example"]}
    return {"policies": policies(n), "routes": [{"match": rule_key(layout, how, i), "policy": f"t{i}"} for i in range(n)]}


def native_policy(i: int) -> dict:
    return {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
            "allow_origin_string_match": [{"exact": origin(i)}], "allow_methods": "GET, POST, PUT"}


def decoration(how: str | None, i: int) -> dict:
    """What a listener puts on tenant i's route."""
    if how == "native":
        return {"typed_per_filter_config": {NATIVE_KEY: native_policy(i)}}
    if how == "metadata":
        return {"metadata": metadata(f"t{i}", NAMESPACE)}
    if how == "per_route":
        return {"typed_per_filter_config": per_route({"name": f"t{i}", "allow_origins": [origin(i)]})}
    return {}


def route_config(name: str, layout: str, n: int, how: str | None) -> dict:
    def route(i: int, prefix: str) -> dict:
        return {"name": f"route-{i}", "match": {"prefix": prefix}, "route": {"cluster": "upstream"}, **decoration(how, i)}

    if layout == "tenants":
        hosts = [{"name": f"t{i}", "domains": [f"t{i}.api.test"], "routes": [route(i, "/")]} for i in range(n)]
    else:
        hosts = [{"name": "api", "domains": ["*"], "routes": [route(i, f"/tenant{i}/") for i in range(n)]}]
    return {"name": name, "virtual_hosts": hosts}


def methods(layout: str) -> list[str]:
    return ["route_name", "host" if layout == "tenants" else "path", "metadata"]


def listeners(layout: str, n: int) -> dict[str, tuple[list[dict], str | None]]:
    """Listener name -> (its HTTP filters, what decorates its routes)."""
    out: dict[str, tuple[list[dict], str | None]] = {"none": ([], None), "native": ([bench.NATIVE_CORS], "native")}
    for how in methods(layout):
        # One VM for every plugin listener: each V8 VM reserves gigabytes of
        # address space, and valgrind runs out after about eight.
        out[f"plugin_{how}"] = ([bench.wasm_filter(f"cors_{how}", bench.WASM, json.dumps(routed(layout, how, n)), vm_id="cors")],
                                how if how == "metadata" else None)
    for how in [*methods(layout), "per_route"]:
        out[f"module_{how}"] = ([dynamic_module_filter(json.dumps(routed(layout, how, n)))], how if how in ("metadata", "per_route") else None)
    return out


def config(layout: str, n: int, names: list[str], upstream_port: int) -> dict:
    cfg = bench.config_under_test(upstream_port)
    built = []
    for name, (filters, how) in listeners(layout, n).items():
        if name not in names:
            continue
        lis = bench.listener(name, filters)
        lis["filter_chains"][0]["filters"][0]["typed_config"]["route_config"] = route_config(name, layout, n, how)
        built.append(lis)
    cfg["static_resources"]["listeners"] = built
    return cfg


def target(layout: str, n: int) -> tuple[str, str, str]:
    """The request to the last tenant: host, path, origin."""
    last = n - 1
    if layout == "tenants":
        return f"t{last}.api.test", "/items", origin(last)
    return "api.test", f"/tenant{last}/items", origin(last)


def headers_for(layout: str, n: int) -> dict:
    host, _, allowed = target(layout, n)
    return {**callgrind.BROWSER_HEADERS, "host": host, "origin": allowed}


def check_answer(url: str, layout: str, n: int, name: str) -> None:
    """The listener answers the last tenant as its policy says (a wrong
    figure for a filter that does not work would be worse than none)."""
    host, path, allowed = target(layout, n)
    r = http_request(url, "GET", path, [("host", host), ("origin", allowed)])
    want = [] if name == "none" else [allowed]
    if r.status != 200 or r.all("access-control-allow-origin") != want:
        sys.exit(f"{layout} {n} {name}: {r.status} {r.cors()} (wanted Allow-Origin {want})")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def native_run(layout: str, n: int, name: str, upstream_port: int, runs: int) -> dict:
    """Envoy with this listener alone, `runs` times: the median configure
    time, time to ready and RSS (one run's RSS moves by several MiB)."""
    cfg = config(layout, n, [name], upstream_port)
    samples = []
    for _ in range(runs):
        started = time.monotonic()
        with Envoy(cfg, log_level="info", component_log_level="wasm:info,dynamic_modules:info") as envoy:
            ready = time.monotonic() - started
            check_answer(envoy.url, layout, n, name)
            time.sleep(1.0)
            rss = rss_kib(envoy.proc.pid)
            took = [int(m) for m in re.findall(r"policy loaded in (\d+) us", envoy.log())]
        samples.append((ready, rss, max(took) if took else None))
    median = statistics.median
    configure = [c for _, _, c in samples if c is not None]
    return {"ready_s": round(median(r for r, _, _ in samples), 2), "rss_kib": int(median(m for _, m, _ in samples)),
            "configure_us": int(median(configure)) if configure else None}


def send(port: int, headers: dict, path: str, count: int) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    for _ in range(count):
        conn.request("GET", path, headers=headers)
        conn.getresponse().read()
    conn.close()


def callgrind_run(layout: str, n: int, names: list[str], upstream_port: int, args) -> dict[str, float]:
    """One Envoy under callgrind with every listener: instructions per request."""
    work = Path(tempfile.mkdtemp(prefix=f"cors-scale-{layout}-{n}-"))
    cfg = config(layout, n, names, upstream_port)
    started = time.monotonic()
    proc, ports = callgrind.start_under_callgrind(cfg, work, timeout=args.start_timeout)
    print(f"{layout} {n}: ready under callgrind after {time.monotonic() - started:.0f} s", flush=True)
    _, path, _ = target(layout, n)
    headers = headers_for(layout, n)
    try:
        for name in names:
            check_answer(f"http://127.0.0.1:{ports[name]}", layout, n, name)
            send(ports[name], headers, path, args.warmup)
        before = set(work.glob("cg.out*"))
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
        send(ports["none"], headers, path, args.requests)
        by_thread = callgrind.dump(proc.pid, work, before)
        worker = max(by_thread, key=by_thread.get)
        samples: dict[str, list[float]] = {}
        for pass_no in range(args.passes):
            for name in (names if pass_no % 2 == 0 else list(reversed(names))):
                send(ports[name], headers, path, 5)
                before = set(work.glob("cg.out*"))
                subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
                send(ports[name], headers, path, args.requests)
                per_request = callgrind.dump(proc.pid, work, before).get(worker, 0) / args.requests
                samples.setdefault(name, []).append(per_request)
                print(f"pass {pass_no + 1} {layout} {n:>6} {name:20} {per_request:12,.0f} instructions/request", flush=True)
    finally:
        proc.terminate()
        proc.wait(600)
        # A 10,000-tenant layout writes a 40 MB config and the dumps.
        shutil.rmtree(work, ignore_errors=True)
    return {name: min(values) for name, values in samples.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 10_000])
    ap.add_argument("--layout", action="append", choices=LAYOUTS)
    ap.add_argument("--listener", action="append", help="only this listener (and none; repeatable)")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3, help="native runs per listener (medians)")
    ap.add_argument("--start-timeout", type=float, default=1800)
    ap.add_argument("--skip-native", action="store_true")
    ap.add_argument("--skip-callgrind", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--report", type=Path, help="only rewrite the report from a scale.json an earlier run saved")
    args = ap.parse_args()
    if args.report:
        write_report(args.out, json.loads(args.report.read_text()))
        return 0
    saved = args.out / "scale.json"
    results: dict = json.loads(saved.read_text()) if saved.exists() else {}
    with Envoy(bench.upstream_config(), component_log_level=None, log_level="warn") as upstream:
        up_port = bench.listener_ports(upstream)["upstream"]
        for layout in args.layout or LAYOUTS:
            for n in args.sizes:
                names = [name for name in listeners(layout, n) if not args.listener or name in {*args.listener, "none"}]
                cell = results.setdefault(layout, {}).setdefault(str(n), {})
                if not args.skip_native:
                    for name in names:
                        cell.setdefault(name, {}).update(native_run(layout, n, name, up_port, args.runs))
                        print(f"{layout} {n:>6} {name:20} {cell[name]}", flush=True)
                if not args.skip_callgrind:
                    counted = callgrind_run(layout, n, names, up_port, args)
                    for name, value in counted.items():
                        # Against the `none` of the same Envoy: runs of a
                        # few listeners may be merged into an earlier one.
                        cell.setdefault(name, {}).update(instructions=round(value, 1), added=round(value - counted["none"], 1))
                args.out.mkdir(parents=True, exist_ok=True)
                saved.write_text(json.dumps(results, indent=1) + "\n")
    write_report(args.out, results)
    return 0


def write_report(out: Path, results: dict) -> None:
    lines = [
        "# Many routes: selection cost at 10 and 10,000 tenants",
        "",
        "Generated by `bench/scale.py` (run by `make bench-callgrind`); do not edit by hand. How to read it:",
        "[docs/operations.md](operations.md#many-routes).",
        "",
        f"- Machine: {bench.machine()}",
        "- Layouts: `tenants`, a virtual host per tenant (domain `tN.api.test`, one route `route-N`); `paths`, one virtual",
        "  host with a route per tenant (`/tenantN/`). Each tenant allows its own origin; the request goes to the last tenant,",
        "  from its origin (an allowed actual request), with a browser's usual headers.",
        "- Instructions: Envoy under callgrind, one worker, all of a layout's listeners in one Envoy, each with its own copy",
        "  of the route table; the worker's instructions per request (lowest of the passes), minus the `none` listener's",
        "  with the same routes.",
        "- Configure: the filter's own `policy loaded in N us` line (the slowest of its VMs or configs), natively; ready:",
        "  Envoy's start to `/ready`, natively, with that listener alone; RSS: Envoy's resident memory once ready (same",
        "  run), and over the `none` listener's; each the median of three runs.",
        "",
        "| layout | tenants | listener | added instructions/request | 10,000 / 10 | configure (ms) | ready (s) | RSS (MiB) | RSS over none (MiB) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for layout, by_size in results.items():
        sizes = sorted(by_size, key=int)
        for n in sizes:
            cells = by_size[n]
            none = cells.get("none", {})
            for name, cell in cells.items():
                if name == "none":
                    added = ""
                    ratio = ""
                else:
                    added_value = cell.get("added")
                    added = f"{added_value:+,.0f}" if added_value is not None else ""
                    small = by_size.get(sizes[0], {}).get(name, {}).get("added")
                    ratio = ""
                    if n != sizes[0] and added_value is not None and small:
                        ratio = f"{added_value / small:.3f}"
                configure = f"{cell['configure_us'] / 1000:.1f}" if cell.get("configure_us") else ""
                rss = cell.get("rss_kib")
                rss_text = f"{rss / 1024:.0f}" if rss else ""
                over = f"{(rss - none['rss_kib']) / 1024:+.0f}" if rss and none.get("rss_kib") and name != "none" else ""
                lines.append(f"| {layout} | {int(n):,} | {name} | {added} | {ratio} | {configure} | {cell.get('ready_s', '')} | {rss_text} | {over} |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'scale.md'}")


if __name__ == "__main__":
    sys.exit(main())
