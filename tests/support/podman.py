"""Podman for the tests: the project's own store and settings (scripts/podman.sh),
the stand-in images (scripts/standin-images.sh), and a compose stack on the
fixed ports of docker-compose.yaml that fails fast when they are taken.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "scripts" / "podman.sh"
TOOLS = ("podman", "podman-compose", "runc", "debootstrap", "skopeo")
STANDIN_LABEL = "org.envoy-cors.standin"
# One lock for the whole machine: the compose file's published ports are fixed,
# so only one stack (from any checkout) can be up at a time.
PORTS_LOCK = Path(tempfile.gettempdir()) / "envoy-cors-compose-ports.lock"


class PodmanError(RuntimeError):
    """A podman command failed; the message has its output."""


def unavailable() -> str | None:
    """Why these tests cannot run here (a reason to skip), or None."""
    if os.geteuid() != 0:
        return "needs root (rootful podman, debootstrap)"
    return None


def missing_tools() -> str | None:
    """What scripts/setup.sh should have installed and did not (a reason to fail), or None."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    return f"missing {' '.join(missing)}: run scripts/setup.sh" if missing else None


def require() -> None:
    """Skips without root; fails without the tools setup installs."""
    import pytest

    reason = unavailable()
    if reason:
        pytest.skip(reason)
    missing = missing_tools()
    if missing:
        pytest.fail(missing, pytrace=False)


def run(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """A command (podman, podman-compose, skopeo ...) under scripts/podman.sh, from the repository root."""
    proc = subprocess.run(
        [str(WRAPPER), *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise PodmanError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def build_standins(timeout: float = 900) -> dict[str, str]:
    """Builds (or finds current) the stand-in images; returns {image: what it is}."""
    proc = subprocess.run(
        [str(ROOT / "scripts" / "standin-images.sh")], cwd=ROOT, capture_output=True,
        text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise PodmanError(f"scripts/standin-images.sh exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    images = {}
    for line in proc.stdout.splitlines():
        name, _id, what = line.split(" ", 2)
        images[name] = what
    return images


def image_label(image: str, label: str = STANDIN_LABEL) -> str:
    out = run("podman", "image", "inspect", "--format", "{{index .Labels \"" + label + "\"}}", image).stdout
    return out.strip()


def project_name() -> str:
    """A compose project name of this checkout's own, so stacks never share containers."""
    return "envoy-cors-test-" + hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]


def port_taken(port: int) -> bool:
    """Whether something listens on the port (on any address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR ignores TIME_WAIT leftovers; a listener still makes bind fail.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
            raise
    return False


@contextlib.contextmanager
def ports_lock():
    """Holds the machine-wide lock for the compose stack's fixed ports.

    Fails at once, saying who holds it, when another run (from any checkout)
    has it: never waits."""
    PORTS_LOCK.touch(exist_ok=True)
    with open(PORTS_LOCK, "r+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = f.read().strip() or "another process"
            raise PodmanError(
                f"the compose stack's fixed ports are in use by another test run ({holder}; lock "
                f"{PORTS_LOCK}): run one suite at a time on a machine") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}, checkout {ROOT}\n")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()


def check_ports_free(ports: list[int]) -> None:
    """Fails at once if something already listens on one of the ports."""
    taken = [p for p in ports if port_taken(p)]
    if taken:
        raise PodmanError(
            f"ports {taken} are in use on this machine (make demo? a compose stack started by hand?); "
            f"docker-compose.yaml publishes {ports}")


def published_ports(compose: dict) -> list[int]:
    ports = []
    for service in compose["services"].values():
        for mapping in service.get("ports", []):
            ports.append(int(str(mapping).split(":")[0]))
    return sorted(ports)


class Stack:
    """docker-compose.yaml brought up with podman-compose under a project name."""

    def __init__(self, project: str):
        self.project = project

    def compose(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return run("podman-compose", "-p", self.project, "-f", "docker-compose.yaml", *args, timeout=timeout)

    def containers(self) -> list[str]:
        out = run("podman", "ps", "-a", "--filter", f"label=io.podman.compose.project={self.project}",
                  "--format", "{{.Names}}").stdout
        return out.split()

    def networks(self) -> list[str]:
        out = run("podman", "network", "ls", "--filter", f"label=io.podman.compose.project={self.project}",
                  "--format", "{{.Name}}").stdout
        return out.split()

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def logs(self, service: str) -> str:
        proc = run("podman", "logs", self.container(service), check=False)
        return proc.stdout + proc.stderr

    def up(self) -> None:
        self.compose("up", "-d")

    def down(self) -> None:
        """Stops and removes the containers, then the network (podman-compose 1.0.3's
        down leaves the network behind)."""
        if self.containers():
            self.compose("down")
        for network in self.networks():
            run("podman", "network", "rm", "--force", network)

    def wait_ready(self, urls: list[str], timeout: float = 60) -> None:
        """Until every URL answers 200 (Envoy's admin /ready says LIVE only once it serves)."""
        deadline = time.monotonic() + timeout
        pending = list(urls)
        while pending and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(pending[0], timeout=2) as r:
                    if r.status == 200:
                        pending.pop(0)
                        continue
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if any(state != "running" for state in self.states().values()):
                break
            time.sleep(0.25)
        if pending:
            logs = "\n".join(f"--- {s} ---\n{self.logs(s)[-2000:]}" for s in ("envoy", "upstream", "page"))
            raise PodmanError(f"not ready: {pending}; containers {self.states()}\n{logs}")

    def states(self) -> dict[str, str]:
        out = run("podman", "ps", "-a", "--filter", f"label=io.podman.compose.project={self.project}",
                  "--format", "json").stdout
        return {c["Names"][0]: c["State"] for c in json.loads(out or "[]")}
