#!/usr/bin/env python3
"""Instructions per request, counted by valgrind's callgrind in a real Envoy.

Wall-clock and CPU-time figures swing by tens of percent on a shared virtual
machine; instruction counts do not. This runs the Envoy under test (the same
listeners as bench/run.py: none, the floors, native, ours, module, and a
second build of ours with --wasm-b for an A/B comparison) under callgrind,
warms each listener up, then for every (scenario, listener) zeroes the counters, sends N requests
over one keep-alive HTTP/1.1 connection, dumps, and divides. What is counted
is the user-space work of Envoy's worker thread for those requests (codec,
router, filters, the wasm VM), not the kernel's, nor the main thread's or
V8's background threads, which run by the wall clock.

Usage: bench/callgrind.py [--requests 100] [--passes 3] [--wasm-b other.wasm]
                          [--listener NAME ...] [--scenario NAME ...] [--out docs]
Slow (Envoy starts in about two minutes under valgrind); loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from envoy_cors_bench import run as bench
from envoy_cors_testing.envoy_runner import Envoy, envoy_binary, stage_module

ROOT = Path(__file__).resolve().parents[1]

BROWSER_HEADERS = {
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
    "accept": "application/json, text/plain, */*",
    "accept-language": "en-US,en;q=0.9",
    "accept-encoding": "gzip, deflate, br, zstd",
    "referer": "https://app.example.com/dashboard",
    "sec-fetch-dest": "empty",
    "sec-fetch-mode": "cors",
    "sec-fetch-site": "same-site",
    "cookie": "session=0123456789abcdef0123456789abcdef; theme=dark",
}


def scenarios() -> dict[str, tuple[str, dict, list[str]]]:
    """bench/run.py's scenarios, each sent with a browser's usual headers."""
    out = {}
    for name, (method, headers, listeners) in bench.SCENARIOS.items():
        out[name] = (method, {**BROWSER_HEADERS, **headers}, listeners)
    return out


PROBES = bench.PROBES
probe_listener = bench.probe_listener


def config(upstream_port: int, wasm_b: Path | None, only: list[str] | None,
           variants: list[tuple[str, Path]] = ()) -> dict:
    """The benchmark's Envoy config; with `only`, just those listeners (and
    `none`), so that an A/B run starts few VMs."""
    cfg = bench.config_under_test(upstream_port)
    if only:
        cfg["static_resources"]["listeners"] = [
            lis for lis in cfg["static_resources"]["listeners"] if lis["name"] in {*only, "none"}]
    listeners = cfg["static_resources"]["listeners"]
    if wasm_b is not None:
        listeners.append(bench.listener("ours_b", [bench.wasm_filter("cors_b", wasm_b, json.dumps(bench.SMALL_POLICY))]))
        listeners.append(bench.listener("ours_b_large", [bench.wasm_filter("cors_b_large", wasm_b, json.dumps(bench.large_policy()), vm_id="cors_b")]))
    for name, path in variants:
        listeners.append(bench.listener(name, [bench.wasm_filter(name, path, json.dumps(bench.SMALL_POLICY))]))
        listeners.append(bench.listener(f"{name}_large", [bench.wasm_filter(f"{name}_large", path, json.dumps(bench.large_policy()), vm_id=name)]))
    return cfg


def send(port: int, method: str, headers: dict, count: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(count):
        conn.request(method, "/items", headers=headers)
        resp = conn.getresponse()
        resp.read()
    conn.close()


def dumped_by_thread(out_dir: Path, before: set[Path]) -> dict[int, int]:
    """Ir per thread of the dump files written since `before` was listed
    (callgrind runs with --separate-threads=yes: one file per thread)."""
    out: dict[int, int] = {}
    for path in sorted(set(out_dir.glob("cg.out*")) - before):
        text = path.read_text(errors="replace")
        thread = re.search(r"^thread:\s+(\d+)", text, re.M)
        found = re.search(r"^summary:\s+(\d+)", text, re.M)
        if thread and found:
            out[int(thread.group(1))] = out.get(int(thread.group(1)), 0) + int(found.group(1))
    return out


def dump(pid: int, out_dir: Path, before: set[Path]) -> dict[int, int]:
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    time.sleep(0.5)
    return dumped_by_thread(out_dir, before)


def start_under_callgrind(cfg: dict, work: Path, timeout: float = 600) -> tuple[subprocess.Popen, dict[str, int]]:
    """Envoy running `cfg` under callgrind (one worker, counters per thread,
    written to work/cg.out*); returns the process and the listeners' ports
    once it is ready."""
    (work / "envoy.yaml").write_text(yaml.safe_dump(cfg))
    admin_path = work / "admin"
    env = dict(os.environ, ENVOY_DYNAMIC_MODULES_SEARCH_PATH=str(stage_module(bench.MODULE)))
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--smc-check=all-non-file", "--dump-instr=no", "--separate-threads=yes",
         f"--callgrind-out-file={work}/cg.out", envoy_binary(), "-c", str(work / "envoy.yaml"),
         "--concurrency", "1", "--use-dynamic-base-id", "-l", "warn",
         "--admin-address-path", str(admin_path)],
        stdout=open(work / "envoy.log", "w"), stderr=subprocess.STDOUT, cwd=ROOT, env=env,
    )
    probe = Envoy(cfg)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            sys.exit(f"envoy under valgrind exited:\n{(work / 'envoy.log').read_text()[-3000:]}")
        if time.monotonic() > deadline:
            proc.terminate()
            sys.exit(f"envoy under valgrind not ready after {timeout:.0f} s")
        if admin_path.exists() and admin_path.read_text().strip():
            probe.admin_url = "http://" + admin_path.read_text().strip()
            try:
                if probe.admin("/ready", timeout=5)[1].strip() == "LIVE":
                    break
            except OSError:
                pass
        time.sleep(2)
    ports = bench.listener_ports(probe)
    print(f"envoy ready under callgrind; listeners: {ports}", flush=True)
    return proc, ports


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--wasm-b", type=Path, help="a second build of the filter to compare (listener ours_b)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=PATH",
                    type=lambda v: (v.split("=", 1)[0], Path(v.split("=", 1)[1])),
                    help="another build of the filter as listeners NAME and NAME_large (repeatable; each is one more VM)")
    ap.add_argument("--listener", action="append", help="measure only this listener (repeatable; for quick A/B runs)")
    ap.add_argument("--scenario", action="append", choices=list(bench.SCENARIOS), help="measure only this scenario (repeatable)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--report", type=Path, help="only rewrite the report from a callgrind.json an earlier run saved")
    args = ap.parse_args()
    if args.report:
        write_report(args, json.loads(args.report.read_text()))
        return 0

    work = Path(tempfile.mkdtemp(prefix="cors-callgrind-"))
    with Envoy(bench.upstream_config(), component_log_level=None, log_level="warn") as upstream:
        up_port = bench.listener_ports(upstream)["upstream"]
        cfg = config(up_port, args.wasm_b, args.listener, args.variant)
        proc, ports = start_under_callgrind(cfg, work)
        try:

            cells = []
            for scenario, (method, headers, listeners) in scenarios().items():
                if args.scenario and scenario not in args.scenario:
                    continue
                names = [name for name in listeners if not name.startswith("probe_")]
                names += [probe_listener(scenario, name) for name in PROBES.get(scenario, {})]
                names = [name for name in names if name in ports]
                if args.wasm_b is not None:
                    names.append("ours_b_large" if scenario.startswith("large") else "ours_b")
                for variant, _ in args.variant:
                    names.append(f"{variant}_large" if scenario.startswith("large") else variant)
                cells += [(scenario, name, method, headers) for name in names
                          if not args.listener or name in args.listener]
            # V8 runs new wasm code in its baseline tier and compiles hot
            # functions again in the background: warm every cell up first so
            # no compilation lands inside a measurement.
            for _scenario, name, method, headers in cells:
                send(ports[name], method, headers, args.warmup)
            # A VM that fails to start turns its listener into one without
            # the filter: every figure of it would be wrong.
            failed = re.findall(r"^.*(?:Failed to create new Wasm instance|Wasm VM failed).*$",
                                (work / "envoy.log").read_text(errors="replace"), re.M)
            if failed:
                sys.exit("a wasm VM failed to start under valgrind:\n" + "\n".join(failed))
            # Count the worker thread only: the main thread's timers (stats
            # flushes, ...) and V8's background threads run by the wall
            # clock, and on a loaded machine (valgrind makes every request
            # slow) they landed in a cell's count by tens of thousands. The
            # worker is the thread that did the most while one listener
            # served requests.
            before = set(work.glob("cg.out*"))
            subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
            send(ports["none"], "GET", {}, args.requests)
            by_thread = dump(proc.pid, work, before)
            worker = max(by_thread, key=by_thread.get)
            print(f"worker thread: {worker} ({by_thread})", flush=True)
            samples: dict[tuple[str, str], list[float]] = {}
            for pass_no in range(args.passes):
                for scenario, name, method, headers in (cells if pass_no % 2 == 0 else list(reversed(cells))):
                    send(ports[name], method, headers, 5)
                    before = set(work.glob("cg.out*"))
                    subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
                    send(ports[name], method, headers, args.requests)
                    per_request = dump(proc.pid, work, before).get(worker, 0) / args.requests
                    samples.setdefault((scenario, name), []).append(per_request)
                    print(f"pass {pass_no + 1} {scenario:24} {name:13} {per_request:12,.0f} instructions/request", flush=True)
            results: dict[str, dict[str, float]] = {}
            for (scenario, name), values in samples.items():
                results.setdefault(scenario, {})[name] = min(values)
        finally:
            proc.terminate()
            proc.wait(300)
    write_report(args, results)
    return 0


def write_report(args, results: dict[str, dict[str, float]]) -> None:
    lines = [
        "# Instructions per request (callgrind)",
        "",
        "Generated by `make bench-callgrind` (`bench/callgrind.py`); do not edit by hand.",
        "",
        f"- Machine: {bench.machine()}",
        f"- Envoy under valgrind's callgrind, one worker; {args.requests} requests per cell over one keep-alive HTTP/1.1",
        "  connection after a warm-up, each with a browser's usual request headers (user-agent, accept, cookie, sec-fetch-*, ...).",
        f"- Every cell is warmed up first ({args.warmup} requests, so V8 has compiled the hot wasm functions with its optimizing tier),",
        f"  then measured in {args.passes} passes in alternating order; the table keeps each cell's lowest count (background work only adds).",
        "- Counts are the user-space instructions of Envoy's worker thread for those requests, divided by their number (the",
        "  main thread's timers and V8's background threads run by the wall clock, not per request, and are left out).",
        "",
        "Floors: `floor` is the empty filter as the SDK exports it; `floor_lean` the same code exporting what a CORS filter needs",
        "(configure and both header callbacks, as this filter's build step does); `floor_abi` only what the ABI needs (no HTTP",
        "callback): the true floor of a proxy-wasm filter.",
        "",
        "| scenario | listener | instructions/request | over none | over floor | over floor_lean |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for scenario, by_listener in results.items():
        none = by_listener.get("none", 0)
        floor = by_listener.get("floor", 0)
        lean = by_listener.get("floor_lean", 0)
        for name, value in by_listener.items():
            if not name.startswith("probe_"):
                lines.append(f"| {scenario} | {name} | {value:,.0f} | {value - none:+,.0f} | {value - floor:+,.0f} | {value - lean:+,.0f} |")
    lines += [
        "",
        "## Against Envoy's built-in CORS filter",
        "",
        "Each shell's instructions per request divided by the built-in filter's (`native`, `native_large`) in the same scenario.",
        "",
        "| scenario | built-in | wasm plugin | plugin / built-in | dynamic module | module / built-in |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for scenario, row in results.items():
        large = scenario.startswith("large")
        native = row.get("native_large" if large else "native")
        ours = row.get("ours_large" if large else "ours")
        module = row.get("module_large" if large else "module")
        if not native:
            continue
        def cell(v, native=native):
            return f"{v:,.0f} | {v / native:.3f}" if v else "| "

        lines.append(f"| {scenario} | {native:,.0f} | {cell(ours)} | {cell(module)} |")
    lines += [
        "",
        "## What the host calls cost",
        "",
        "The lean empty filter (`bench/empty-filter`, exporting what a CORS filter needs) making only the named host calls,",
        "with no logic, priced over `floor_lean`. `read-origin,set-acao,add-vary` is the least any proxy-wasm CORS filter",
        "that echoes the `Origin` must do; the last probe of each scenario makes exactly this filter's calls.",
        "",
        "| scenario | host calls | instructions/request | over floor_lean |",
        "|---|---|---:|---:|",
    ]
    for scenario, probes in PROBES.items():
        row = results.get(scenario, {})
        lean = row.get("floor_lean")
        if not lean:
            continue
        for name, calls in probes.items():
            value = row.get(probe_listener(scenario, name))
            if value is not None:
                lines.append(f"| {scenario} | `{calls}` | {value:,.0f} | {value - lean:+,.0f} |")
        if "ours" in row:
            lines.append(f"| {scenario} | ours (those calls and the filter's logic) | {row['ours']:,.0f} | {row['ours'] - lean:+,.0f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "callgrind.md").write_text("\n".join(lines) + "\n")
    (args.out / "callgrind.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out / 'callgrind.md'}")


if __name__ == "__main__":
    sys.exit(main())
