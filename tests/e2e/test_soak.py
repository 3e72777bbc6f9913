"""Load and soak: a bounded run of mixed CORS traffic at concurrency 70.

Seven h2load clients run side by side, each sending one kind of request over
HTTP/1.1 or HTTP/2 (prior knowledge): allowed and refused preflights, allowed
and refused actual requests, requests without Origin, and the any-origin
policy's preflights and requests. The load runs in rounds of an exact request
count, so that between rounds nothing is in flight and the figures are exact:

- every response has the status its kind expects (no 503, no failed request);
- the filter's counters (wasmcustom.cors.<policy>.<decision>) grew by exactly
  the number of CORS requests of each kind that were sent;
- the wasm VMs' memory is flat from the end of the first round to the end.

Memory: Envoy 1.40 exposes no VM memory gauge in /stats (only
wasm.envoy.wasm.runtime.v8.{active,created} and wasm.<vm_id>.vm_reload*), and
/memory reports tcmalloc, which does not see V8's wasm memory. So we read the
wasm linear memories straight from /proc/<pid>/smaps: V8 reserves each one as
a large PROT_NONE region and makes the used part read-write in place, so a
read-write anonymous mapping directly followed by a >= 1 GiB PROT_NONE
mapping is one VM's linear memory; its Size is the memory the module has
grown to (it only ever grows, in 64 KiB pages), its Rss the pages it touched.
A leak of even a few bytes per request would grow it by megabytes here. We
also record Envoy's own heap (/memory "allocated") and the process RSS.

With the dynamic module there is no VM: its allocations are Envoy's heap
(the module's Rust allocator calls the process's malloc), so the heap bound
covers them, and the process must be the same one at the end.

CORS_SOAK_SECONDS (default 40 with the wasm plugin, 20 with the dynamic
module, which has no VM memory to watch grow) lengthens the run; CI keeps it
under a minute.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import time

import pytest
from envoy_cors_testing.http import request
from envoy_cors_testing.memory import wasm_memories
from policies import APP, EVIL, EXAMPLE

SOAK_SECONDS = {shell: float(os.environ.get("CORS_SOAK_SECONDS", default)) for shell, default in
                (("wasm", "40"), ("dynamic", "20"))}
CLIENTS_PER_KIND = 10  # 7 kinds: concurrency 70
ROUND_SECONDS = 6.0
# Allowed growth from the end of the first round to the end of the run.
MAX_WASM_GROWTH = 256 * 1024  # bytes of linear memory (4 wasm pages)
MAX_HEAP_GROWTH = 8 * 1024 * 1024  # Envoy's tcmalloc heap


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    method: str
    path: str
    headers: tuple[str, ...]
    status_class: str  # h2load's bucket: "2xx" or "4xx"
    counter: str | None  # the cors.* counter it must increment, None for non-CORS
    h1: bool


KINDS = [
    Kind("preflight-allowed", "OPTIONS", "/soak/pf",
         (f"origin: {APP}", "access-control-request-method: PUT", "access-control-request-headers: content-type"),
         "2xx", "strict.preflight_allowed", h1=False),
    Kind("preflight-refused", "OPTIONS", "/soak/pf", (f"origin: {EVIL}", "access-control-request-method: PUT"),
         "4xx", "strict.preflight_denied", h1=True),
    Kind("actual-allowed", "GET", "/soak/get", (f"origin: {APP}",), "2xx", "strict.actual_allowed", h1=True),
    Kind("actual-refused", "GET", "/soak/get", (f"origin: {EVIL}",), "2xx", "strict.actual_denied", h1=False),
    Kind("non-cors", "GET", "/soak/plain", (), "2xx", None, h1=True),
    Kind("public-actual", "GET", "/public/soak", (f"origin: {EVIL}",), "2xx", "public.actual_allowed", h1=False),
    Kind("public-preflight", "OPTIONS", "/public/soak",
         (f"origin: {EVIL}", "access-control-request-method: GET", "access-control-request-headers: x-anything"),
         "2xx", "public.preflight_allowed", h1=True),
]

pytestmark = [pytest.mark.load, pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (nghttp2-client) not installed")]


def h2load(url: str, kind: Kind, n: int) -> subprocess.Popen:
    args = ["h2load", "-n", str(n), "-c", str(CLIENTS_PER_KIND), "-m", "1", "-H", f":method: {kind.method}"]
    for h in kind.headers:
        args += ["-H", h]
    if kind.h1:
        args.append("--h1")
    return subprocess.Popen(args + [url + kind.path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def parse_h2load(out: str) -> dict[str, int]:
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", out)
    s = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    assert m and s, out[-2000:]
    keys = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
    got = dict(zip(keys, map(int, m.groups())))
    got.update(zip(("2xx", "3xx", "4xx", "5xx"), map(int, s.groups())))
    return got


def memory(envoy) -> dict[str, int]:
    wasm = wasm_memories(envoy.proc.pid)
    _, body = envoy.admin("/memory")
    allocated = int(re.search(r'"allocated": "(\d+)"', body).group(1))
    with open(f"/proc/{envoy.proc.pid}/status") as f:
        rss = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024
    return {"wasm_size": sum(s for s, _ in wasm), "wasm_rss": sum(r for _, r in wasm), "wasm_vms": len(wasm),
            "heap_allocated": allocated, "process_rss": rss}


def cors_counters(envoy) -> dict[str, int]:
    return {k.removeprefix("wasmcustom.cors."): v for k, v in envoy.stats("wasmcustom.cors.").items()}


def run_round(envoy, n: int) -> dict[str, dict[str, int]]:
    procs = {k.name: (k, h2load(envoy.url, k, n)) for k in KINDS}
    results = {}
    for name, (_kind, proc) in procs.items():
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out[-2000:]
        results[name] = parse_h2load(out)
    return results


def failure_stats(envoy) -> dict[str, int]:
    """Envoy's non-zero counters that say where a failed answer came from:
    the upstream (resets, overflows, timeouts, 5xx), the connection manager,
    or the VM; read only when an assertion fails."""
    words = ("5xx", "503", "reset", "overflow", "timeout", "fail", "panic", "crash")
    found = {}
    for prefix in ("cluster.", "http.", "wasm.", "listener."):
        found |= {k: v for k, v in envoy.stats(prefix).items() if v and any(w in k for w in words)}
    return found


def test_mixed_load_loses_nothing_counts_exactly_and_keeps_vm_memory_flat(envoy, upstream):
    e = envoy(EXAMPLE, component_log_level=None)  # no per-request debug logging under load
    vms = e.shell == "wasm"
    created = e.stats("wasm.envoy.wasm.runtime.v8.created")
    before = cors_counters(e)
    sent: dict[str, int] = {k.name: 0 for k in KINDS}
    samples = []
    started = time.monotonic()
    n = 300  # per kind; resized after each round to last about ROUND_SECONDS
    rounds = 0
    while rounds == 0 or time.monotonic() - started + ROUND_SECONDS <= SOAK_SECONDS[e.shell]:
        t0 = time.monotonic()
        results = run_round(e, n)
        took = time.monotonic() - t0
        rounds += 1
        for kind in KINDS:
            got = results[kind.name]
            # h2load counts 4xx answers as "failed": only the status buckets tell.
            assert got["done"] == got[kind.status_class] == n, (kind.name, got, failure_stats(e))
            assert got["errored"] == got["timeout"] == 0, (kind.name, got, failure_stats(e))
            sent[kind.name] += n
        upstream.clear()  # the recording upstream would otherwise grow for the whole run
        samples.append((rounds, sum(sent.values()), round(took, 1), memory(e)))
        n = max(CLIENTS_PER_KIND, int(n * ROUND_SECONDS / max(took, 0.1)))

    # Every CORS request was counted, exactly once, under the right decision.
    after = cors_counters(e)
    grew = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    expected = {k.counter: sent[k.name] for k in KINDS if k.counter}
    assert grew == expected, (grew, expected)

    # No VM was replaced (a crash under failure_policy would create a new one);
    # no Envoy was lost (a crash in the module would take the process down).
    assert e.stats("wasm.envoy.wasm.runtime.v8.created") == created
    assert e.proc.poll() is None

    # Memory flat from the end of the warm-up round to the end.
    total = sum(sent.values())
    report = "\n".join(f"round {r}: {s} requests, {t}s, {m}" for r, s, t, m in samples)
    print(f"\nsoak: {total} requests in {time.monotonic() - started:.1f}s at concurrency "
          f"{CLIENTS_PER_KIND * len(KINDS)}\n{report}")
    first, last = samples[0][3], samples[-1][3]
    if vms:
        assert last["wasm_vms"] == first["wasm_vms"] > 0, report
        assert last["wasm_size"] - first["wasm_size"] <= MAX_WASM_GROWTH, report
        assert last["wasm_rss"] - first["wasm_rss"] <= MAX_WASM_GROWTH, report
    else:
        assert last["wasm_vms"] == first["wasm_vms"] == 0, report
    assert last["heap_allocated"] - first["heap_allocated"] <= MAX_HEAP_GROWTH, report

    # And the answers are still exactly right.
    r = request(e.url, "GET", "/soak/after", [("origin", APP)])
    assert (r.status, r.all("access-control-allow-origin"), "origin" in r.vary()) == (200, [APP], True)
    r = request(e.url, "GET", "/soak/after", [("origin", EVIL)])
    assert (r.status, r.cors()) == (200, {})
