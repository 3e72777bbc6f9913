"""Three browser engines behind one small interface, for tests/e2e/test_browser.py.

    with launch("firefox") as engine:      # "chromium", "firefox" or "webkit"
        tab = engine.open("http://localhost:PORT/")
        tab.run("async (url) => (await fetch(url)).status", url)
        tab.console()                      # console lines printed since the last call

- Chromium (Debian's `chromium`) and Firefox (`firefox-esr`) are driven by
  puppeteer-core through tests/support/node/bridge.mjs: Chromium over the
  DevTools protocol, Firefox over WebDriver BiDi. Both report the console,
  CORS errors included.
- WebKit is WebKitGTK's MiniBrowser (`webkit2gtk-driver`), driven by selenium
  through WebKitWebDriver, in an Xvfb display of its own. WebDriver does not
  carry WebKit's console, so `webkit_console_run(url)` starts MiniBrowser
  directly, which prints every console line on stdout; the page at url does
  the requests and logs `cors-console-done` when it has finished.

Every engine gets a fresh profile and HOME in a temporary folder, and is kept
off the network: Chromium resolves nothing but localhost, Firefox refuses
non-local connections (MOZ_DISABLE_NONLOCAL_CONNECTIONS) and its background
services are switched off (bridge.mjs), and WebKit sends everything but
localhost to a proxy on a closed loopback port.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "support" / "node"

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FIREFOX = os.environ.get("FIREFOX", "/usr/bin/firefox-esr")
MINIBROWSER = os.environ.get("MINIBROWSER", "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser")
WEBKIT_DRIVER = os.environ.get("WEBKIT_DRIVER", "/usr/bin/WebKitWebDriver")

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
    # Chromium 156 maps IP literals through the rules too: 127.0.0.1 stays
    # reachable (the compose test's page for an origin the policy does not list).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
# Port 9 (discard) on loopback: nothing listens, so a request that escapes
# the localhost exception fails at once instead of leaving the machine.
DEAD_PROXY = "127.0.0.1:9"
CONSOLE_DONE = "cors-console-done"
ENGINES = ("chromium", "firefox", "webkit")


class BrowserError(RuntimeError):
    """The browser or its driver failed (not a CORS outcome: those are results)."""


def missing(kind: str) -> str | None:
    """Why the engine cannot run here (the program that is missing), or None."""
    need = {
        "chromium": [CHROMIUM, NODE_DIR / "node_modules" / "puppeteer-core"],
        "firefox": [FIREFOX, NODE_DIR / "node_modules" / "puppeteer-core"],
        "webkit": [MINIBROWSER, WEBKIT_DRIVER, shutil.which("Xvfb") or "/usr/bin/Xvfb"],
    }[kind]
    for path in need:
        if not os.path.exists(path):
            return str(path)
    if kind != "webkit" and not shutil.which("node"):
        return "node"
    return None


@contextlib.contextmanager
def launch(kind: str):
    make = {"chromium": _Puppeteer, "firefox": _Puppeteer, "webkit": _WebKitGTK}[kind]
    try:
        engine = make(kind)
    except Exception:  # noqa: BLE001 - a browser that hangs at start once gets one more try
        engine = make(kind)
    try:
        yield engine
    finally:
        engine.close()


class _Engine:
    kind: str
    name: str  # as the docs print it: "Chromium", "Firefox", "WebKitGTK"
    version: str  # the version that decides behaviour and wording: "156", "153", "2.50"
    full_version: str
    console_in_driver = True

    def open(self, url: str) -> "Tab":
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class Tab:
    """One page on one origin."""

    def __init__(self, engine, handle, url: str):
        self._engine = engine
        self._handle = handle
        self.url = url

    def run(self, fn: str, *args):
        """(fn)(...args) in the page; fn is a JavaScript function, maybe async. Its JSON value."""
        return self._engine._eval(self, fn, list(args))

    def console(self) -> list[str]:
        """Console lines since the last call ([] where the driver cannot see them)."""
        return self._engine._console(self)


def _temp_home(prefix: str) -> tuple[Path, dict]:
    home = Path(tempfile.mkdtemp(prefix=prefix))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISPLAY", "WAYLAND", "XDG_", "DBUS_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_DATA_HOME=str(home / ".local/share"), XDG_RUNTIME_DIR=str(home / "run"))
    (home / "run").mkdir(mode=0o700)
    return home, env


class _Puppeteer(_Engine):
    """Chromium or Firefox through bridge.mjs."""

    def __init__(self, kind: str):
        self.kind = kind
        self.name = {"chromium": "Chromium", "firefox": "Firefox"}[kind]
        self._home, env = _temp_home(f"cors-{kind}-")
        if kind == "firefox":
            env["MOZ_DISABLE_NONLOCAL_CONNECTIONS"] = "1"
            env["MOZ_CRASHREPORTER_DISABLE"] = "1"
        env["CORS_CHROMIUM_ARGS"] = json.dumps(CHROMIUM_ARGS)
        exe = CHROMIUM if kind == "chromium" else FIREFOX
        profile = self._home / "profile"
        profile.mkdir()
        self._stderr = open(self._home / "bridge.log", "wb")
        self._proc = subprocess.Popen(
            ["node", str(NODE_DIR / "bridge.mjs"), "chrome" if kind == "chromium" else "firefox", exe, str(profile)],
            cwd=NODE_DIR, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, start_new_session=True,
        )
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._next = 0
        try:
            hello = self._receive(timeout=60)
            if not hello.get("ready"):
                raise BrowserError(f"{self.name} did not start: {hello}")
        except Exception:
            self.close()
            raise
        self.full_version = hello["version"].split("/")[-1]  # "Chrome/156.0..." or "firefox/153.8.0"
        self.version = self.full_version.split(".")[0]

    def _read(self) -> None:
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _receive(self, timeout: float) -> dict:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise BrowserError(f"{self.name}: no answer in {timeout}s\n{self._log()}") from None
        if line is None:
            raise BrowserError(f"{self.name}: the driver exited\n{self._log()}")
        return json.loads(line)

    def _log(self) -> str:
        try:
            return (self._home / "bridge.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def _call(self, op: str, timeout: float = 30.0, **fields):
        self._next += 1
        self._proc.stdin.write(json.dumps({"id": self._next, "op": op, **fields}) + "\n")
        self._proc.stdin.flush()
        answer = self._receive(timeout)
        if answer.get("id") != self._next:
            raise BrowserError(f"{self.name}: answer out of order: {answer}")
        if "error" in answer:
            raise BrowserError(f"{self.name}: {op}: {answer['error']}")
        return answer["result"]

    def open(self, url: str) -> Tab:
        return Tab(self, self._call("open", url=url), url)

    def _eval(self, tab: Tab, fn: str, args: list):
        return self._call("eval", tab=tab._handle, fn=fn, args=args)

    def _console(self, tab: Tab) -> list[str]:
        return self._call("console", tab=tab._handle)

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._call("close", timeout=15)
            except (BrowserError, OSError):
                pass
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, 9)
                self._proc.wait(5)
        self._stderr.close()
        shutil.rmtree(self._home, ignore_errors=True)


class _Xvfb:
    """An X server of our own; -displayfd makes it pick a free display and tell us."""

    def __init__(self):
        read, write = os.pipe()
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-nolisten", "tcp", "-screen", "0", "1280x800x24"],
            pass_fds=[write], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        os.close(write)
        with os.fdopen(read) as f:
            number = f.readline().strip()
        if not number.isdigit():
            self.stop()
            raise BrowserError("Xvfb did not start")
        self.display = ":" + number

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class _WebKitGTK(_Engine):
    """MiniBrowser driven by WebKitWebDriver through selenium, under Xvfb."""

    console_in_driver = False

    def __init__(self, kind: str):
        from selenium import webdriver
        from selenium.webdriver.remote.client_config import ClientConfig
        from selenium.webdriver.remote.remote_connection import RemoteConnection
        from selenium.webdriver.webkitgtk.options import Options
        from selenium.webdriver.webkitgtk.service import Service

        self.kind = kind
        self.name = "WebKitGTK"
        self._home, self._env = _temp_home("cors-webkit-")
        # No accessibility bus under Xvfb: GTK would wait for one (a known
        # cause of GTK programs hanging at start on a bare X server).
        self._env.update(NO_AT_BRIDGE="1", GTK_A11Y="none")
        self._xvfb = _Xvfb()
        self._env["DISPLAY"] = self._xvfb.display
        self._driver = None
        self._service = None
        try:
            options = Options()
            options.binary_location = MINIBROWSER
            options.add_argument("--automation")
            options.set_capability("proxy", {"proxyType": "manual", "httpProxy": DEAD_PROXY,
                                             "sslProxy": DEAD_PROXY, "noProxy": ["localhost"]})
            # An explicit driver path: selenium never looks for (or downloads) one.
            self._service = Service(executable_path=WEBKIT_DRIVER, env=self._env,
                                    log_output=str(self._home / "webdriver.log"))
            self._service.start()
            # selenium waits forever for the driver by default; a browser that
            # hangs must fail the test instead.
            config = ClientConfig(remote_server_addr=self._service.service_url, timeout=30)
            self._driver = webdriver.Remote(command_executor=RemoteConnection(client_config=config), options=options)
            self._driver.set_script_timeout(30)
            self._driver.set_page_load_timeout(30)
        except Exception:
            self.close()
            raise
        self.full_version = self._driver.capabilities.get("browserVersion", "")
        self.version = ".".join(self.full_version.split(".")[:2])
        self._current = None  # the Tab whose page the one window shows

    def open(self, url: str) -> Tab:
        tab = Tab(self, None, url)
        self._show(tab)
        return tab

    def _show(self, tab: Tab) -> None:
        # One window, navigated to the tab's page when another tab was shown
        # last: the pages are static, and what matters (cookies, caches)
        # belongs to the session, not the window.
        if self._current is not tab:
            self._driver.get(tab.url)
            self._current = tab

    def _eval(self, tab: Tab, fn: str, args: list):
        self._show(tab)
        script = ("const done = arguments[arguments.length - 1];"
                  f"Promise.resolve(({fn})(...arguments[0])).then(done, e => done({{__error: String(e)}}));")
        result = self._driver.execute_async_script(script, args)
        if isinstance(result, dict) and "__error" in result:
            raise BrowserError(f"WebKitGTK: {result['__error']}")
        return result

    def _console(self, tab: Tab) -> list[str]:
        return []

    def close(self) -> None:
        if self._driver is not None:
            try:
                self._driver.quit()
            except Exception:  # noqa: BLE001 - the session may already be gone
                pass
            self._driver = None
        if self._service is not None:
            self._service.stop()
            self._service = None
        self._xvfb.stop()
        shutil.rmtree(self._home, ignore_errors=True)


def webkit_console_run(url: str, timeout: float = 30.0) -> list[str]:
    """Loads url in MiniBrowser started directly (its own Xvfb, a fresh profile)
    and returns its console lines (`SECURITY ERROR text`, `LOG text`, ...) until
    the page logs cors-console-done. Unlike a WebDriver session, which is
    ephemeral, this one has an HTTP cache."""
    home, env = _temp_home("cors-webkit-console-")
    env.update(NO_AT_BRIDGE="1", GTK_A11Y="none")
    xvfb = _Xvfb()
    env["DISPLAY"] = xvfb.display
    # Not --private: MiniBrowser's private window does not print its console.
    args = [MINIBROWSER, "--enable-write-console-messages-to-stdout=true",
            f"--proxy=http://{DEAD_PROXY}", "--ignore-host=localhost", url]
    out = open(home / "console.log", "w+b")
    proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            out.seek(0)
            text = out.read().decode("utf-8", "replace")
            if CONSOLE_DONE in text:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BrowserError(f"MiniBrowser: {url} did not finish (exit {proc.poll()}):\n{text[-3000:]}")
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(5)
        out.close()
        xvfb.stop()
        shutil.rmtree(home, ignore_errors=True)
    # Errors come as `CONSOLE SECURITY ERROR text`, console.log() calls as
    # `URL:LINE:COLUMN: CONSOLE LOG text`.
    return [m.group(1) for m in re.finditer(r"(?:^|: )CONSOLE (.*)$", text, re.M)]
