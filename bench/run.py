#!/usr/bin/env python3
"""Envoy benchmark: our filter against no filter, an empty wasm filter (the
floor) and Envoy's built-in CORS filter, on one Envoy worker.

One Envoy under test (--concurrency 1) with these listeners in front of the
same upstream: none, floor, native, ours (the wasm plugin), module (the same
filter as a dynamic module, target/release/libenvoy_cors.so),
native/ours/module with a large policy (1,000 exact origins, 100 patterns, 50
route rules), and probes: the floor
filter making only some host calls (PROBES), to price the calls alone. The upstream is a second
Envoy process answering with a direct response, so the Envoy under test has
its worker to itself. wrk (HTTP/1.1) and h2load (HTTP/2, prior knowledge)
drive every (scenario, listener) pair in alternating rounds; the report gives
the median requests per second and p50/p99 latency over the rounds, with the
ratios ours/floor and ours/native.

Usage: bench/run.py [--seconds 3] [--rounds 3] [--connections 32] [--only SCENARIO] [--listener NAME] [--out DIR]
Writes docs/benchmarks.md and docs/benchmarks.svg. Loopback only, bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from envoy_cors_testing.envoy_runner import Envoy, dynamic_module_filter, envoy_binary
from envoy_cors_testing.memory import wasm_memories

ROOT = Path(__file__).resolve().parents[1]

WASM = Path(os.environ.get("CORS_WASM", ROOT / "target/wasm32-wasip1/release/envoy_cors.wasm"))
FLOOR_DIR = ROOT / "bench/empty-filter/target/wasm32-wasip1/release"
# The empty filter as the SDK exports it (the floor operators compare with),
# exporting what a CORS filter needs (configure and both header callbacks: the
# probes), and exporting only what the ABI needs (no HTTP callback at all).
FLOOR = FLOOR_DIR / "empty_filter.wasm"
FLOOR_LEAN = FLOOR_DIR / "empty_filter_probes.wasm"
FLOOR_ABI = FLOOR_DIR / "empty_filter_abi.wasm"
MODULE = Path(os.environ.get("CORS_MODULE", ROOT / "target/release/libenvoy_cors.so"))
ALLOWED = "https://app.example.com"
LARGE_ALLOWED = "https://app500.example.com"
REFUSED = "https://evil.example"

SMALL_POLICY = {
    "allow_origins": [ALLOWED, "https://*.example.org"],
    "allow_methods": ["GET", "POST", "PUT"],
    "allow_headers": ["content-type", "x-api-key"],
    "expose_headers": ["x-request-id"],
    "max_age": 600,
    "allow_credentials": True,
}


def large_policy() -> dict:
    origins = [f"https://app{i}.example.com" for i in range(1000)]
    origins += [f"https://*.tenant{i}.example.net" for i in range(100)]
    big = dict(SMALL_POLICY, allow_origins=origins)
    return {
        "policies": {"big": big, "public": {"allow_origins": ["*"]}},
        "routes": [{"match": {"path": f"/r{i}/**"}, "policy": "public"} for i in range(50)],
        "default": "big",
    }


def native_cors_policy(origins: list[str]) -> dict:
    matchers = []
    for o in origins:
        if "*" in o:
            regex = "^" + re.escape(o).replace(r"\*", "[a-z0-9-]+(\\.[a-z0-9-]+)*") + "$"
            matchers.append({"safe_regex": {"regex": regex}})
        else:
            matchers.append({"exact": o})
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": matchers,
        "allow_methods": "GET, POST, PUT",
        "allow_headers": "content-type, x-api-key",
        "expose_headers": "x-request-id",
        "max_age": "600",
        "allow_credentials": True,
    }


def wasm_filter(name: str, path: Path, configuration: str, vm_id: str | None = None) -> dict:
    """A wasm filter (plugin `name`) in the VM `vm_id` (default: its own).

    Plugins of the same code can share a VM; each V8 VM (one per worker, and
    one on the main thread) reserves gigabytes of address space, and under
    valgrind more than about eight fail to start ("Failed to create new Wasm
    instance"), after which the listener runs as if it had no filter."""
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": name,
                "vm_config": {"vm_id": vm_id or name, "runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": str(path)}}},
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": configuration},
            },
        },
    }


ROUTER = {"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
NATIVE_CORS = {"name": "envoy.filters.http.cors", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"}}


def listener(name: str, filters: list[dict], cors_policy: dict | None = None, extra_routes: list[dict] | None = None) -> dict:
    route = {"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}
    vhost = {"name": name, "domains": ["*"], "routes": [*(extra_routes or []), route]}
    if cors_policy is not None:
        vhost["typed_per_filter_config"] = {"envoy.filters.http.cors": cors_policy}
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": name,
                "codec_type": "AUTO",
                "route_config": {"name": name, "virtual_hosts": [vhost]},
                "http_filters": [*filters, ROUTER],
            },
        }]}],
    }


# The lean floor filter (bench/empty-filter, exporting what a CORS filter
# needs) making only the named host calls, with none of a CORS filter's logic,
# per scenario: the price of the calls alone. `probe_minimal` is the least any
# proxy-wasm CORS filter that echoes the Origin must do; `probe_reply` answers
# locally and does nothing else; `probe_our_calls` makes exactly the calls
# this filter makes (the request map read; a counter; on the response, one
# call per header a browser reads and one for Vary, never a read).
PROBES = {
    "allowed actual request": {
        "probe_read_origin": "read-origin",
        "probe_read_request_map": "read-request-map",
        "probe_count": "count",
        "probe_read_route_name": "read-route-name",
        "probe_read_response_map": "read-response-map",
        "probe_add_vary": "add-vary",
        "probe_set_acao": "set-acao",
        "probe_remove_acao": "remove-acao",
        "probe_minimal": "read-origin,set-acao,add-vary",
        "probe_our_calls": "read-request-map,count,set-acao,set-acac,set-aceh,add-vary",
    },
    "refused origin": {
        "probe_our_calls": "read-request-map,count,remove-acao,add-vary",
    },
    "preflight": {
        "probe_reply": "reply",
        "probe_our_calls": "read-request-map,count,reply",
    },
    "no Origin": {
        "probe_our_calls": "read-request-map,remove-acao,add-vary",
    },
}


def probe_listener(scenario: str, probe: str) -> str:
    return f"{probe}_{scenario.split()[0]}"


def probe_listeners() -> list[dict]:
    out = []
    for scenario, probes in PROBES.items():
        for name, calls in probes.items():
            # One VM for the lean floor and every probe: each V8 VM reserves
            # gigabytes of address space (valgrind runs out after about ten).
            probe = wasm_filter(probe_listener(scenario, name), FLOOR_LEAN, calls)
            probe["typed_config"]["config"]["vm_config"]["vm_id"] = "floor_lean"
            out.append(listener(probe_listener(scenario, name), [probe]))
    return out


def config_under_test(upstream_port: int) -> dict:
    small = json.dumps(SMALL_POLICY)
    big = large_policy()
    big_origins = big["policies"]["big"]["allow_origins"]
    native_routes = [{"match": {"prefix": f"/r{i}/"}, "route": {"cluster": "upstream"}} for i in range(50)]
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [
                # Ours first: were a VM to fail to start, it would not be ours.
                listener("ours", [wasm_filter("cors", WASM, small)]),
                listener("ours_large", [wasm_filter("cors_large", WASM, json.dumps(big), vm_id="cors")]),
                listener("none", []),
                listener("floor", [wasm_filter("floor", FLOOR, "")]),
                listener("floor_lean", [wasm_filter("floor_lean", FLOOR_LEAN, "", vm_id="floor_lean")]),
                listener("floor_abi", [wasm_filter("floor_abi", FLOOR_ABI, "")]),
                listener("native", [NATIVE_CORS], native_cors_policy(SMALL_POLICY["allow_origins"])),
                listener("module", [dynamic_module_filter(small)]),
                listener("native_large", [NATIVE_CORS], native_cors_policy(big_origins), native_routes),
                listener("module_large", [dynamic_module_filter(json.dumps(big))]),
                *probe_listeners(),
            ],
            "clusters": [{
                "name": "upstream",
                "type": "STATIC",
                "connect_timeout": "1s",
                "load_assignment": {"cluster_name": "upstream", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                    "socket_address": {"address": "127.0.0.1", "port_value": upstream_port}}}}]}]},
            }],
        },
    }


def upstream_config() -> dict:
    cfg = config_under_test(0)
    fast = listener("upstream", [])
    vhost = fast["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]
    vhost["routes"] = [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}},
                        "response_headers_to_add": [{"header": {"key": "x-request-id", "value": "1"}}]}]
    cfg["static_resources"] = {"listeners": [fast], "clusters": []}
    return cfg


def listener_ports(envoy: Envoy) -> dict[str, int]:
    _, body = envoy.admin("/listeners?format=json")
    return {s["name"]: int(s["local_address"]["socket_address"]["port_value"]) for s in json.loads(body)["listener_statuses"]}


FLOORS = ["none", "floor", "floor_lean", "floor_abi"]
SCENARIOS = {
    "allowed actual request": ("GET", {"origin": ALLOWED}, [*FLOORS, "native", "ours", "module",
                                                            "probe_minimal_allowed", "probe_our_calls_allowed"]),
    "refused origin": ("GET", {"origin": REFUSED}, [*FLOORS, "native", "ours", "module", "probe_our_calls_refused"]),
    "preflight": ("OPTIONS", {"origin": ALLOWED, "access-control-request-method": "PUT",
                              "access-control-request-headers": "content-type"},
                  [*FLOORS, "native", "ours", "module", "probe_reply_preflight", "probe_our_calls_preflight"]),
    "no Origin": ("GET", {}, [*FLOORS, "native", "ours", "module", "probe_our_calls_no"]),
    "large policy, allowed": ("GET", {"origin": LARGE_ALLOWED}, [*FLOORS, "native_large", "ours_large", "module_large"]),
}


def run_wrk(url: str, method: str, headers: dict, seconds: float, connections: int) -> tuple[float, float, float, int]:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(f'wrk.method = "{method}"\n')
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script)]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    proc = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 30)
    script.unlink()
    out = proc.stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise RuntimeError(f"wrk failed on {url}:\n{out}\n{proc.stderr}")
    rps = float(found.group(1))
    lat = {m.group(1): to_ms(m.group(2)) for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx and method != "OPTIONS":
        raise RuntimeError(f"{url}: {non2xx.group(1)} non-2xx responses")
    return rps, lat["50"], lat["99"], int(re.search(r"(\d+) requests in", out).group(1))


def run_h2load(url: str, method: str, headers: dict, seconds: float, connections: int) -> tuple[float, float, float, int]:
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    args = ["h2load", f"-c{connections}", "-m4", "-t1", "-D", str(int(seconds)), "--log-file", str(log)]
    if method != "GET":
        args += ["-H", f":method: {method}"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    times = sorted(int(line.split("\t")[2]) / 1000.0 for line in log.read_text().splitlines() if line.count("\t") >= 2)
    log.unlink()
    if not times:
        raise RuntimeError(f"h2load recorded no requests:\n{out}")
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
    return rps, times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))], done


def cpu_ns(pid: int) -> int:
    """User and system CPU time of a process (all threads), in nanoseconds.

    From the tick-based utime and stime of /proc/<pid>/stat: on a virtual
    machine they leave out the time the hypervisor stole from the vCPU, which
    the scheduler's own clock (schedstat) counts as running and which made the
    figure swing by tens of percent between rounds. Resolution: one clock tick
    (10 ms), about 0.3 % of a 3 s run at full load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def to_ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    version = subprocess.run([envoy_binary(), "--version"], capture_output=True, text=True).stdout.strip().split("version:")[-1].strip()
    return f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}; Envoy {version}"


def svg_plot(results: dict) -> str:
    """A grouped bar chart of median req/s, HTTP/1.1 and HTTP/2, per scenario."""
    colors = {"none": "#9e9e9e", "floor": "#64b5f6", "native": "#ffb74d", "ours": "#4caf50", "module": "#00796b",
              "probe": "#ce93d8"}
    groups = [(s, p) for s in SCENARIOS for p in ("http1", "http2") if (s, p) in results]
    peak = max(v["rps"] for r in results.values() for v in r.values()) or 1
    bar, gap, left, top, height = 14, 24, 60, 40, 260
    widths = [len(results[g]) * bar + gap for g in groups]
    width = left + sum(widths) + 160
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + 190}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{top + height + 190}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14">Median requests/s on one Envoy worker (higher is better)</text>']
    for i, (scenario, proto) in enumerate(groups):
        x0 = left + sum(widths[:i])
        for j, (label, run) in enumerate(results[(scenario, proto)].items()):
            h = height * run["rps"] / peak
            kind = next((k for k in ("ours", "native", "module", "probe", "floor") if label.startswith(k)), label)
            out.append(f'<rect x="{x0 + j * bar}" y="{top + height - h:.1f}" width="{bar - 2}" height="{h:.1f}" fill="{colors[kind]}"><title>{label}: {run["rps"]:.0f} req/s</title></rect>')
        out.append(f'<text x="{x0}" y="{top + height + 14}" transform="rotate(35 {x0} {top + height + 14})">{scenario} ({proto})</text>')
    for j, (kind, color) in enumerate(colors.items()):
        out.append(f'<rect x="{left + j * 90}" y="{top + height + 165}" width="10" height="10" fill="{color}"/><text x="{left + j * 90 + 14}" y="{top + height + 174}">{kind}</text>')
    out.append("</svg>")
    return "\n".join(out)


def configure_figures(upstream_port: int) -> list[str]:
    """on_configure time (the plugin logs it) and wasm VM memory, per policy size."""
    lines = ["| policy | on_configure (µs, per VM) | wasm VMs | linear memory per VM (KiB) | touched (KiB) |", "|---|---|---:|---:|---:|"]
    for label, policy in (("small (3 origins)", json.dumps(SMALL_POLICY)),
                          ("large (1,000 origins, 100 patterns, 50 rules)", json.dumps(large_policy()))):
        cfg = config_under_test(upstream_port)
        cfg["static_resources"]["listeners"] = [listener("ours", [wasm_filter("cors", WASM, policy)])]
        with Envoy(cfg, log_level="info", component_log_level="wasm:info") as envoy:
            time.sleep(0.5)
            took = [int(m) for m in re.findall(r"policy loaded in (\d+) us", envoy.log())]
            memories = wasm_memories(envoy.proc.pid)
        sizes = sorted({size // 1024 for size, _ in memories})
        touched = sorted({rss // 1024 for _, rss in memories})
        lines.append(f"| {label} | {', '.join(map(str, took))} | {len(memories)} | {', '.join(map(str, sizes))} | {', '.join(map(str, touched))} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--out", default=str(ROOT / "docs"))
    ap.add_argument("--only", action="append", choices=list(SCENARIOS), metavar="SCENARIO",
                    help="run only this scenario (repeatable); use with --out elsewhere than docs/")
    ap.add_argument("--listener", action="append", metavar="NAME",
                    help="run only this listener of each scenario (repeatable); use with --out elsewhere than docs/")
    ap.add_argument("--replot", action="store_true", help="redraw the SVG from the saved benchmarks.json")
    args = ap.parse_args()
    if args.replot:
        saved = json.loads((Path(args.out) / "benchmarks.json").read_text())
        results = {(r["scenario"], r["protocol"]): r["listeners"] for r in saved}
        (Path(args.out) / "benchmarks.svg").write_text(svg_plot(results))
        return 0
    for path in (WASM, FLOOR, FLOOR_LEAN, FLOOR_ABI, MODULE):
        if not path.exists():
            sys.exit(f"missing {path}: run `make bench` (it builds the filters)")

    with Envoy(upstream_config(), component_log_level=None, log_level="warn") as upstream:
        up_port = listener_ports(upstream)["upstream"]
        with Envoy(config_under_test(up_port), component_log_level=None, log_level="warn", module=MODULE) as envoy:
            ports = listener_ports(envoy)
            samples: dict = {}
            for round_no in range(args.rounds):
                for scenario, (method, headers, listeners) in SCENARIOS.items():
                    if args.only and scenario not in args.only:
                        continue
                    if args.listener:
                        listeners = [name for name in listeners if name in args.listener]
                    for proto, runner in (("http1", run_wrk), ("http2", run_h2load)):
                        # Alternate the order each round so drift hits every listener alike.
                        order = listeners if round_no % 2 == 0 else list(reversed(listeners))
                        for name in order:
                            url = f"http://127.0.0.1:{ports[name]}/items"
                            cpu_before = cpu_ns(envoy.proc.pid)
                            rps, p50, p99, count = runner(url, method, headers, args.seconds, args.connections)
                            cpu_us = (cpu_ns(envoy.proc.pid) - cpu_before) / 1000 / max(count, 1)
                            samples.setdefault((scenario, proto), {}).setdefault(name, []).append((rps, p50, p99, cpu_us))
                            print(f"round {round_no + 1} {scenario:24} {proto} {name:13} {rps:9.0f} req/s  p50 {p50:.3f} ms  p99 {p99:.3f} ms  {cpu_us:6.2f} CPU us/req", flush=True)
            memory = envoy.stats("wasm.")
        configure = configure_figures(up_port)
    results = {
        key: {name: {"rps": statistics.median(s[0] for s in runs),
                     "p50": statistics.median(s[1] for s in runs),
                     "p99": statistics.median(s[2] for s in runs),
                     "cpu": statistics.median(s[3] for s in runs)} for name, runs in by_listener.items()}
        for key, by_listener in samples.items()
    }
    write_report(Path(args.out), results, args, memory, configure)
    return 0


def write_report(out: Path, results: dict, args, wasm_stats: dict, configure: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks.svg").write_text(svg_plot(results))
    (out / "benchmarks.json").write_text(json.dumps(
        [{"scenario": s, "protocol": p, "listeners": runs} for (s, p), runs in results.items()], indent=1) + "\n")
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`bench/run.py`); do not edit by hand.",
        "",
        f"- Command: `{' '.join(['bench/run.py', *(shlex.quote(a) for a in sys.argv[1:])])}`",
        f"- Machine: {machine()}",
        "- Envoy under test: one worker (`--concurrency 1`); upstream: a second Envoy process answering with a direct response.",
        f"- Load: wrk (HTTP/1.1, 1 thread, {args.connections} connections) and h2load (HTTP/2 prior knowledge, {args.connections} connections, 4 streams each), {args.seconds:g} s per run, {args.rounds} alternating rounds; medians over rounds.",
        f"- `.wasm` size: {WASM.stat().st_size:,} bytes (floor filter: {FLOOR.stat().st_size:,} bytes as the SDK exports it, {FLOOR_LEAN.stat().st_size:,} lean, {FLOOR_ABI.stat().st_size:,} ABI only).",
        "- Floors: `floor` is the empty filter as the SDK exports it; `floor_lean` the same code exporting what a CORS filter",
        "  needs (configure and both header callbacks, like this filter's build step); `floor_abi` exporting only what the ABI",
        "  needs (no HTTP callback): the true floor of a proxy-wasm filter.",
        f"- Dynamic module (`module`, `module_large`): {MODULE.stat().st_size:,} bytes.",
        "",
        "![requests per second](benchmarks.svg)",
        "",
        "CPU µs/req is the Envoy under test's user and system CPU time (all threads, `utime` + `stime` from `/proc/<pid>/stat`,",
        "which leave out time stolen by the hypervisor) divided by the requests served. On this shared virtual machine it is far",
        "steadier than req/s, whose rounds swing by tens of percent. So each compared row gives two ratios against the floor and",
        "against native: of req/s, and of capacity (the inverse of CPU µs/req: the requests one fully busy worker would serve).",
        "",
        "The `probe_*` listeners run the floor filter making only some host calls, with no logic (`bench/empty-filter`):",
        "`probe_minimal` reads `Origin` and adds `Access-Control-Allow-Origin` and `Vary`, the least any proxy-wasm",
        "CORS filter that echoes the origin must do; `probe_reply` only answers locally, as a preflight; `probe_our_calls`",
        "makes exactly this filter's host calls. Their ratios show what the calls alone leave of the targets.",
        "",
        "| scenario | protocol | listener | req/s | p50 ms | p99 ms | CPU µs/req | req/s /floor | req/s /native | capacity /floor | capacity /native |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (scenario, proto), runs in results.items():
        names = list(runs)
        floor, native = runs["floor"], runs[next(n for n in names if n.startswith("native"))]
        for name in names:
            r = runs[name]
            ratios = ["", "", "", ""]
            if name.startswith(("ours", "module", "probe")):
                ratios = [f"{r['rps'] / floor['rps']:.3f}", f"{r['rps'] / native['rps']:.3f}",
                          f"{floor['cpu'] / r['cpu']:.3f}", f"{native['cpu'] / r['cpu']:.3f}"]
            lines.append(f"| {scenario} | {proto} | {name} | {r['rps']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} | {r['cpu']:.2f} | {' | '.join(ratios)} |")
    lines += ["", "## Configure time and VM memory", "",
              "The plugin logs how long `on_configure` took (parse, validate, compile) in each VM Envoy creates;",
              "the VM's linear memory is read from `/proc/<pid>/smaps` (Envoy 1.40 has no stat for it; see `tests/support/memory.py`).", "",
              *configure]
    if wasm_stats:
        lines += ["", "Wasm runtime stats of the Envoy under test at the end of the run:", "", "```"]
        lines += [f"{k}: {v}" for k, v in sorted(wasm_stats.items())]
        lines += ["```"]
    (out / "benchmarks.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'benchmarks.md'} and {out / 'benchmarks.svg'}")


if __name__ == "__main__":
    sys.exit(main())
