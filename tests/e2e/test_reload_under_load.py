"""Live policy changes under sustained load: Envoy loads its listener (and so
the CORS policy) from a file it watches (LDS `path_config_source` with
`watched_directory`), and the test replaces that file atomically while client
threads keep sending requests, each on a new connection.

- A new valid policy applies to new connections, and no request fails.
- An invalid policy is refused: Envoy rejects the listener update
  (listener_manager.lds.update_rejected), logs the plugin's error naming the
  JSON path and the problem, keeps serving with the previous policy, and no
  request fails.

See docs/operations.md for the operator's side of this.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from envoy_cors_testing import envoy_runner
from envoy_cors_testing.http import free_port, request
from envoy_cors_testing.load import Load
from policies import APP, EVIL

pytestmark = pytest.mark.load

NEW = "https://new.example.com"
LOAD_THREADS = 4
LOAD_BOUND_SECONDS = 25  # the load stops by itself even if the test does not stop it

BEFORE = {"allow_origins": [APP], "allow_methods": ["GET", "PUT"], "allow_headers": ["content-type"]}
AFTER = {"allow_origins": [APP, NEW], "allow_methods": ["GET", "PUT"], "allow_headers": ["content-type"]}
INVALID = {"allow_origins": [APP, "https://*example.com"], "allow_methods": ["GET", "PUT"]}
LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"


class WatchedListener:
    """An Envoy whose listener comes from <dir>/lds.yaml, replaced by rename."""

    def __init__(self, shell: str, artifact: Path, upstream):
        self.dir = Path(tempfile.mkdtemp(prefix="envoy-cors-lds-"))
        self.lds = self.dir / "lds.yaml"
        self._upstream = upstream
        self._shell = shell
        self._artifact = artifact
        self._versions = 0
        # The same port in every version of the file: a listener whose address
        # changes is replaced (new socket, pending connections reset), while one
        # whose filter chain alone changes is updated in place.
        self.port = free_port()
        rendered = self.render(BEFORE)
        bootstrap = copy.deepcopy(rendered)
        self.write(bootstrap["static_resources"].pop("listeners"))
        bootstrap["node"] = {"id": "envoy-cors-reload-test", "cluster": "envoy-cors"}
        bootstrap["dynamic_resources"] = {
            "lds_config": {
                "resource_api_version": "V3",
                "path_config_source": {"path": str(self.lds), "watched_directory": {"path": str(self.dir)}},
            }
        }
        self.envoy = envoy_runner.Envoy(bootstrap, shell=shell,
                                        module=artifact if shell == "dynamic" else None)
        # Envoy.start() reads the listen host from the static listener; the
        # file Envoy runs has already been written without it.
        self.envoy.config = rendered

    def render(self, policy: dict) -> dict:
        built = {"wasm": self._artifact} if self._shell == "wasm" else {}
        return envoy_runner.render(policy, upstream=(self._upstream.host, self._upstream.port), shell=self._shell,
                                   listen_port=self.port, **built)

    def write(self, listeners: list[dict]) -> None:
        """Atomically replace the watched file (write aside, then rename)."""
        self._versions += 1
        envoy_runner.redirect_access_logs(listeners, self.dir / "access.log")
        doc = {"version_info": str(self._versions),
               "resources": [{"@type": LISTENER_TYPE, **listener} for listener in listeners]}
        tmp = self.dir / f".lds.yaml.{self._versions}"
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
        os.rename(tmp, self.lds)

    def push(self, policy: dict) -> None:
        """The same listener with a new policy."""
        self.write(self.render(policy)["static_resources"]["listeners"])

    def counter(self, name: str) -> int:
        return self.envoy.counter(name)

    def wait_counter(self, name: str, above: int, timeout: float = 10.0) -> int:
        return self.envoy.wait_counter(name, above, timeout)


def one_request(url: str, i: int) -> str | None:
    """The i-th request of the load: allowed preflight, allowed actual, refused."""
    path = f"/reload/{i}"
    kind = i % 3
    if kind == 0:  # allowed preflight: allowed by every policy of this test
        r = request(url, "OPTIONS", path, [("origin", APP), ("access-control-request-method", "PUT")])
        if (r.status, r.all("access-control-allow-origin")) != (204, [APP]):
            return f"preflight {r.status} {r.cors()}"
    elif kind == 1:  # allowed actual request
        r = request(url, "GET", path, [("origin", APP)])
        if (r.status, r.all("access-control-allow-origin")) != (200, [APP]) or "origin" not in r.vary():
            return f"actual {r.status} {r.cors()} vary={r.vary()}"
    else:  # refused by every policy
        r = request(url, "GET", path, [("origin", EVIL)])
        if (r.status, r.cors()) != (200, {}):
            return f"refused {r.status} {r.cors()}"
    return None


def allows_new_origin(url: str) -> bool:
    r = request(url, "GET", "/reload/check", [("origin", NEW)])
    assert r.status == 200
    return r.all("access-control-allow-origin") == [NEW]


@pytest.fixture
def watched(shell, artifact, upstream):
    w = WatchedListener(shell, artifact, upstream)
    w.envoy.start()
    yield w
    w.envoy.cleanup()


def test_policy_change_and_invalid_policy_under_load_lose_no_request(watched):
    e = watched.envoy
    port = e.port
    assert not allows_new_origin(e.url)
    success = watched.counter("listener_manager.lds.update_success")
    rejected = watched.counter("listener_manager.lds.update_rejected")

    with Load(lambda i: one_request(e.url, i), threads=LOAD_THREADS, bound_seconds=LOAD_BOUND_SECONDS) as load:
        time.sleep(1.0)
        # 1. A valid new policy applies, with no failed request.
        watched.push(AFTER)
        watched.wait_counter("listener_manager.lds.update_success", success)
        deadline = time.monotonic() + 10
        while not allows_new_origin(e.url):
            assert time.monotonic() < deadline, "the new policy never applied"
            time.sleep(0.05)
        time.sleep(1.0)
        sent_after_change = load.sent

        # 2. An invalid policy is refused; the previous one keeps working.
        since = e.log_path.stat().st_size
        watched.push(INVALID)
        watched.wait_counter("listener_manager.lds.update_rejected", rejected)
        time.sleep(1.0)
        assert allows_new_origin(e.url), "the last valid policy must stay in force"
    assert load.failures == [], f"{len(load.failures)} of {load.sent} requests failed: {load.failures[:5]}"
    assert load.sent > sent_after_change > 0

    log = e.log_path.read_bytes()[since:].decode(errors="replace")
    assert 'allow_origins[1]: "https://*example.com": a wildcard must cover whole DNS labels' in log, log[-3000:]
    assert "rejected" in log, log[-3000:]
    assert e.port == port
    status, _ = e.admin("/ready")
    assert status == 200
