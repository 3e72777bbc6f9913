"""Where Envoy's route configuration names a CORS policy (issue 20): route and
virtual-host metadata, the dynamic module's per-route config, and a route
table served over RDS from a file Envoy watches, replaced atomically.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path

import yaml
from envoy_cors_testing import envoy_runner

PER_ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilterPerRoute"
ROUTE_CONFIGURATION_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
NAMESPACE = "envoy-cors"


def metadata(policy: str | None, namespace: str = NAMESPACE) -> dict:
    """A route's or virtual host's `metadata` naming a policy (None: `null`)."""
    return {"filter_metadata": {namespace: {"policy": policy}}}


def per_route(value: dict | str) -> dict:
    """A `typed_per_filter_config` holding the module's per-route config
    (a dict is serialized as JSON; a string is passed verbatim)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return {envoy_runner.DYNAMIC_FILTER: {
        "@type": PER_ROUTE_TYPE,
        "dynamic_module_config": {"name": "envoy_cors"},
        "filter_name": "cors",
        "filter_config": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": text},
    }}


class WatchedRoutes:
    """An Envoy whose route configuration comes over RDS from <dir>/rds.yaml,
    a file it watches; `push` replaces it by rename, as a control plane's
    sidecar would. `config` is a rendered static config whose HTTP connection
    manager's `route_config` becomes the first version."""

    def __init__(self, config: dict, **envoy_kwargs):
        self.dir = Path(tempfile.mkdtemp(prefix="envoy-cors-rds-"))
        self.rds = self.dir / "rds.yaml"
        self._versions = 0
        bootstrap = copy.deepcopy(config)
        hcm = envoy_runner.http_connection_manager(bootstrap)
        self.name = hcm["route_config"]["name"]
        self.stat_prefix = f"http.{hcm['stat_prefix']}.rds.{self.name}."
        self.push(hcm.pop("route_config"))
        hcm["rds"] = {
            "route_config_name": self.name,
            "config_source": {
                "resource_api_version": "V3",
                "path_config_source": {"path": str(self.rds), "watched_directory": {"path": str(self.dir)}},
            },
        }
        # A file-based RDS needs a node id and cluster.
        bootstrap["node"] = {"id": "envoy-cors-rds-test", "cluster": "envoy-cors"}
        self.envoy = envoy_runner.Envoy(bootstrap, **envoy_kwargs)

    def push(self, route_config: dict) -> None:
        """Atomically replace the watched file with a new version."""
        self._versions += 1
        doc = {"version_info": f"v{self._versions}",
               "resources": [{"@type": ROUTE_CONFIGURATION_TYPE, **route_config, "name": self.name}]}
        tmp = self.dir / f".rds.yaml.{self._versions}"
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
        os.rename(tmp, self.rds)

    def counter(self, name: str) -> int:
        """One of the RDS subscription's counters: update_success, update_rejected..."""
        return self.envoy.counter(self.stat_prefix + name)

    def wait_counter(self, name: str, above: int, timeout: float = 10.0) -> int:
        return self.envoy.wait_counter(self.stat_prefix + name, above, timeout)

    def __enter__(self) -> "WatchedRoutes":
        self.envoy.start()
        return self

    def __exit__(self, *exc) -> None:
        self.envoy.cleanup()
