"""Fixtures that run the CORS filter in a real Envoy in front of a test upstream.

The filter has two shells, and every test that asks for an Envoy runs once per
shell (ids end in `[wasm]` or `[dynamic]`):

- `shell`: "wasm" (the proxy-wasm plugin) or "dynamic" (the dynamic module);
  session-scoped and parametrized, so `envoy`, `envoy_refuses` and every
  fixture built on them run each test against both.
- `wasm`: builds the deployable plugin once per session (scripts/build-wasm.sh)
  and refuses a module whose exports are not the deployable ones.
- `module`: builds the dynamic module once per session (`cargo build
  --release`) and refuses one that lacks a hook Envoy requires.
- `artifact`: the build the current shell runs (`wasm` or `module`).
- `upstream`: one recording upstream for the whole session (tests use their own paths).
- `envoy(policy, **opts)`: an Envoy running envoy/envoy.yaml with that policy in
  front of `upstream`, in the current shell; Envoys are reused for identical
  (policy, opts) and a few are kept alive at a time.
- `envoy_refuses(policy)`: starts Envoy expecting it to stop; returns its log.
- `cors_policy`: the `cors-policy` binary ($CORS_POLICY_BIN, else built once).

Suites that build their own configs pass `shell=shell` to
envoy_runner.render() and edit the filter with envoy_runner.cors_filter() and
set_policy().

Every test belongs to one tier, a marker registered in pyproject.toml (`wire`,
`browser`, `packaging`, `load`): `pytest -m wire` runs one tier, and a test
without a tier fails the collection.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
from pathlib import Path

import pytest
from envoy_cors_testing import envoy_runner, native_module, wasm_module
from envoy_cors_testing.upstream import Upstream

ROOT = envoy_runner.ROOT
TIERS = ("wire", "browser", "packaging", "load")
MAX_ALIVE = 4  # Envoys with a V8 VM each; bounded so the suite stays light
# CORS_SHELLS=wasm (or dynamic) runs one shell only.
SHELLS = [s for s in os.environ.get("CORS_SHELLS", ",".join(envoy_runner.SHELLS)).split(",") if s]


def pytest_collection_modifyitems(config, items):
    untiered = [item.nodeid for item in items if sum(1 for t in TIERS if item.get_closest_marker(t)) != 1]
    if untiered:
        raise pytest.UsageError(f"tests without exactly one tier marker ({', '.join(TIERS)}): {untiered[:5]}")


@pytest.fixture(scope="session", params=SHELLS)
def shell(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def module() -> Path:
    if os.environ.get("CORS_SKIP_BUILD") != "1":
        proc = subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "envoy-cors-module"], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail("cargo build --release -p envoy-cors-module failed:\n" + proc.stderr[-4000:], pytrace=False)
    path = Path(os.environ.get("CORS_MODULE", envoy_runner.MODULE))
    if not path.exists():
        pytest.fail(f"no dynamic module at {path}", pytrace=False)
    missing = native_module.REQUIRED_HOOKS - native_module.exports(path)
    if missing:
        pytest.fail(f"{path} lacks hooks Envoy 1.40 requires: {sorted(missing)}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def artifact(shell, request) -> Path:
    """The build the current shell runs: the .wasm or the .so."""
    return request.getfixturevalue("wasm" if shell == "wasm" else "module")


@pytest.fixture(scope="session")
def wasm() -> Path:
    if os.environ.get("CORS_SKIP_BUILD") != "1":
        proc = subprocess.run([str(ROOT / "scripts/build-wasm.sh")], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail("scripts/build-wasm.sh failed:\n" + proc.stderr[-4000:], pytrace=False)
    path = Path(os.environ.get("CORS_WASM", envoy_runner.WASM))
    if not path.exists():
        pytest.fail(f"no plugin at {path}", pytrace=False)
    exported, deployable = wasm_module.exports(path), wasm_module.listed(ROOT / "src/exports.txt")
    if exported != deployable:
        pytest.fail(
            f"{path} is not the deployable module (a bare cargo build?): it exports "
            f"{sorted(exported - deployable)} beyond src/exports.txt and lacks {sorted(deployable - exported)}; "
            "build it with scripts/build-wasm.sh (make build)",
            pytrace=False,
        )
    return path


FAULT_DIR = ROOT / "target" / "fault-injection"
FAULT_BUILDS = {"wasm": FAULT_DIR / "envoy_cors.wasm", "dynamic": FAULT_DIR / "release" / "libenvoy_cors.so"}


@pytest.fixture(scope="session")
def fault_injection() -> dict[str, Path]:
    """Both shells built with the test-only `fault-injection` feature (a
    panic or trap on `x-envoy-cors-test-panic`), into target/fault-injection/
    (scripts/build-fault-injection.sh), never over the deployable artifacts."""
    if os.environ.get("CORS_SKIP_BUILD") != "1" or not all(p.exists() for p in FAULT_BUILDS.values()):
        proc = subprocess.run([str(ROOT / "scripts/build-fault-injection.sh")], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail("scripts/build-fault-injection.sh failed:\n" + proc.stderr[-4000:], pytrace=False)
    return dict(FAULT_BUILDS)


@pytest.fixture(scope="session")
def upstream():
    with Upstream() as up:
        yield up


def _policy_text(policy) -> str | None:
    if policy is None or isinstance(policy, str):
        return policy
    return json.dumps(policy)


def _render(shell: str, artifact: Path, policy_text, **kwargs) -> dict:
    built = {"wasm": artifact} if shell == "wasm" else {}
    return envoy_runner.render(policy_text, shell=shell, **built, **kwargs)


def _envoy_kwargs(shell: str, artifact: Path) -> dict:
    return {"module": artifact} if shell == "dynamic" else {}


@pytest.fixture(scope="session")
def envoy(shell, artifact, upstream):
    """Factory: envoy(policy, log_level=..., component_log_level=..., mutate=fn)."""
    alive: collections.OrderedDict = collections.OrderedDict()

    def start(policy=None, *, mutate=None, **opts):
        text = _policy_text(policy)
        key = (text, getattr(mutate, "__qualname__", None), tuple(sorted(opts.items())))
        if key in alive:
            alive.move_to_end(key)
            return alive[key]
        while len(alive) >= MAX_ALIVE:
            _, old = alive.popitem(last=False)
            old.cleanup()
        config = _render(shell, artifact, text, upstream=(upstream.host, upstream.port), mutate=mutate)
        running = envoy_runner.Envoy(config, **_envoy_kwargs(shell, artifact), **opts).start()
        alive[key] = running
        return running

    yield start
    for running in alive.values():
        running.cleanup()


@pytest.fixture(scope="session")
def envoy_refuses(shell, artifact):
    """envoy_refuses(policy) -> log; fails the test unless Envoy exits non-zero in time."""

    def run(policy, timeout: float = 20.0) -> str:
        config = _render(shell, artifact, _policy_text(policy), upstream=("127.0.0.1", 9))
        code, log = envoy_runner.refuses(config, timeout=timeout, **_envoy_kwargs(shell, artifact))
        if code is None:
            pytest.fail(f"Envoy accepted the policy and kept running:\n{policy}\n{log[-3000:]}", pytrace=False)
        assert code != 0, f"Envoy exited with 0:\n{log[-3000:]}"
        return log

    return run


@pytest.fixture(scope="session")
def cors_policy() -> str:
    """The cors-policy binary ($CORS_POLICY_BIN, else built with cargo)."""
    if os.environ.get("CORS_POLICY_BIN"):
        return os.environ["CORS_POLICY_BIN"]
    proc = subprocess.run(["cargo", "build", "--quiet", "-p", "cors-policy"], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail("cargo build -p cors-policy failed:\n" + proc.stderr[-4000:], pytrace=False)
    return str(ROOT / "target" / "debug" / "cors-policy")
