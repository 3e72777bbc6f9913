"""A refused policy pushed to a running Envoy is rejected, and the previous one keeps serving.

The listener comes from a file-based LDS source here, so the test can push a
new listener (with a new policy) by replacing that file, as a control plane
would."""

import copy
import json
import os
import time
import uuid

import pytest
import yaml
from envoy_cors_testing import envoy_runner
from envoy_cors_testing.http import free_port, request
from policies import APP

pytestmark = pytest.mark.wire

OTHER = "https://other.example.com"


def listener_resource(config: dict, policy: dict) -> dict:
    listener = copy.deepcopy(config["static_resources"]["listeners"][0])
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    envoy_runner.set_policy(envoy_runner.cors_filter(hcm["http_filters"]), json.dumps(policy))
    listener["@type"] = "type.googleapis.com/envoy.config.listener.v3.Listener"
    return listener


def push(path, config, policy):
    """Replace the LDS file atomically (Envoy watches for the move)."""
    tmp = f"{path}.{uuid.uuid4().hex}"
    listener = listener_resource(config, policy)
    envoy_runner.redirect_access_logs(listener, f"{path}.access.log")
    with open(tmp, "w") as f:
        yaml.safe_dump({"resources": [listener]}, f)
    os.replace(tmp, path)


def wait_stat(envoy, name, at_least, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = envoy.stats(name).get(name, 0)
        if value >= at_least:
            return value
        time.sleep(0.1)
    pytest.fail(f"{name} stayed below {at_least}:\n{envoy.log()[-3000:]}")


def allowed(envoy, origin):
    r = request(envoy.url, "OPTIONS", f"/reload/{uuid.uuid4().hex}",
                [("origin", origin), ("access-control-request-method", "GET")])
    return r.status == 204 and r.all("access-control-allow-origin") == [origin]


def test_refused_policy_update_keeps_the_previous_policy_serving(shell, artifact, upstream, tmp_path):
    lds = tmp_path / "lds.yaml"
    port = free_port()
    built = {"wasm": artifact} if shell == "wasm" else {}
    config = envoy_runner.render(
        {"allow_origins": [APP]}, upstream=(upstream.host, upstream.port), shell=shell, listen_port=port, **built,
    )
    push(lds, config, {"allow_origins": [APP]})
    boot = copy.deepcopy(config)
    del boot["static_resources"]["listeners"]
    boot["node"] = {"id": "cors-test", "cluster": "cors-test"}
    boot["dynamic_resources"] = {"lds_config": {"path_config_source": {"path": str(lds)}, "resource_api_version": "V3"}}

    with envoy_runner.Envoy(boot, shell=shell, module=artifact if shell == "dynamic" else None) as envoy:
        assert allowed(envoy, APP)
        assert not allowed(envoy, OTHER)

        push(lds, config, {"allow_origins": [APP, "https://*example.com"]})
        wait_stat(envoy, "listener_manager.lds.update_rejected", 1)
        assert "policy refused" in envoy.log()
        assert allowed(envoy, APP)
        assert not allowed(envoy, OTHER)

        push(lds, config, {"allow_origins": [APP, OTHER]})
        wait_stat(envoy, "listener_manager.lds.update_success", 2)
        deadline = time.monotonic() + 10
        while not allowed(envoy, OTHER) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert allowed(envoy, OTHER)
        assert envoy.proc.poll() is None
