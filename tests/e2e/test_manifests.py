"""Every Envoy config and deployment manifest in the repository is valid.

- Envoy bootstraps (any YAML/JSON file with `static_resources` or
  `dynamic_resources`) pass `envoy --mode validate`, which also loads the
  plugin and runs its configure step on the inline policy.
- Kubernetes manifests (Istio WasmPlugin, Envoy Gateway EnvoyExtensionPolicy)
  parse, have the fields the docs promise, pass `cors-policy check`, and their
  embedded policy is accepted by the plugin in a real Envoy.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from envoy_cors_testing import envoy_runner

pytestmark = pytest.mark.packaging

ROOT = envoy_runner.ROOT
SKIP_DIRS = {".git", ".venv", "target", "node_modules", "__pycache__", ".pytest_cache", ".deps", "fuzz", "bench-out"}
POLICY_KINDS = {"WasmPlugin", "EnvoyExtensionPolicy"}


def _files(suffixes: tuple[str, ...]) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        found += [Path(dirpath) / f for f in sorted(filenames) if f.endswith(suffixes)]
    return found


def _documents(path: Path) -> list:
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# A cheap text filter first: only candidate files are parsed.
MARKERS = ("static_resources", "dynamic_resources", *POLICY_KINDS)
DOCS = {path: _documents(path) for path in _files((".yaml", ".yml", ".json"))
        if any(marker in path.read_text(errors="replace") for marker in MARKERS)}
BOOTSTRAPS = [p for p, docs in DOCS.items() if any(
    isinstance(d, dict) and ("static_resources" in d or "dynamic_resources" in d) for d in docs)]
MANIFESTS = [p for p, docs in DOCS.items() if any(
    isinstance(d, dict) and d.get("kind") in POLICY_KINDS for d in docs)]


def validate(config_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [envoy_runner.envoy_binary(), "--mode", "validate", "-c", str(config_path), "-l", "warn"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


def embedded_policies(doc: dict) -> list[tuple[str, dict]]:
    if doc.get("kind") == "WasmPlugin":
        return [("spec.pluginConfig", doc["spec"]["pluginConfig"])]
    return [(f"spec.wasm[{i}].config", w["config"]) for i, w in enumerate(doc["spec"]["wasm"])]


def test_the_repository_has_the_configs_this_suite_checks():
    assert ROOT / "envoy" / "envoy.yaml" in BOOTSTRAPS
    names = {_rel(p) for p in MANIFESTS}
    assert {"deploy/istio/wasmplugin.yaml", "deploy/envoy-gateway/extension-policy.yaml"} <= names


@pytest.mark.parametrize("path", BOOTSTRAPS, ids=_rel)
def test_envoy_config_passes_envoy_validate(path, wasm):
    proc = validate(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


WITH_PLUGIN = [p for p in BOOTSTRAPS if "envoy.filters.http.wasm" in p.read_text()] + MANIFESTS


@pytest.mark.parametrize("path", WITH_PLUGIN, ids=_rel)
def test_policies_in_config_pass_cors_policy_check(path, cors_policy):
    proc = subprocess.run([cors_policy, "check", str(path)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ": ok (" in proc.stdout


@pytest.mark.parametrize("path", MANIFESTS, ids=_rel)
def test_manifest_embedded_policy_is_accepted_by_the_plugin_in_envoy(path, wasm, cors_policy):
    for doc in (d for d in DOCS[path] if d.get("kind") in POLICY_KINDS):
        for where, policy in embedded_policies(doc):
            # What Istio and Envoy Gateway hand the plugin: the object as JSON.
            text = json.dumps(policy)
            with tempfile.TemporaryDirectory() as tmp:
                policy_file = Path(tmp) / "policy.json"
                policy_file.write_text(text)
                check = subprocess.run([cors_policy, "check", str(policy_file)], capture_output=True, text=True)
                assert check.returncode == 0, f"{_rel(path)}: {where}: {check.stdout}"
                config_file = Path(tmp) / "envoy.yaml"
                config_file.write_text(yaml.safe_dump(envoy_runner.render(text, wasm=wasm)))
                proc = validate(config_file)
            assert proc.returncode == 0, f"{_rel(path)}: {where}:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("path", [p for p in MANIFESTS if any(d.get("kind") == "WasmPlugin" for d in DOCS[p])],
                         ids=_rel)
def test_wasm_plugins_run_before_authentication_with_an_explicit_fail_strategy(path):
    for doc in (d for d in DOCS[path] if d.get("kind") == "WasmPlugin"):
        spec = doc["spec"]
        assert doc["apiVersion"].startswith("extensions.istio.io/")
        assert spec["phase"] == "AUTHN"
        assert spec["failStrategy"] in ("FAIL_CLOSE", "FAIL_OPEN")
        assert spec["url"].startswith("oci://")
        assert ("selector" in spec) != ("targetRefs" in spec), "one of selector or targetRefs"


def test_envoy_extension_policy_loads_the_plugin_as_wasm_with_a_policy():
    [doc] = DOCS[ROOT / "deploy" / "envoy-gateway" / "extension-policy.yaml"]
    assert doc["apiVersion"] == "gateway.envoyproxy.io/v1alpha1"
    assert doc["spec"]["targetRefs"]
    for wasm in doc["spec"]["wasm"]:
        assert wasm["code"]["type"] in ("Image", "HTTP")
        assert isinstance(wasm["config"], dict)


def test_oci_image_holds_only_plugin_wasm():
    lines = [line.split() for line in (ROOT / "deploy" / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert lines[0] == ["FROM", "scratch"]
    assert [line[0] for line in lines[1:]] == ["COPY"]
    assert lines[1][-1] in ("plugin.wasm", "./plugin.wasm", "/plugin.wasm")
