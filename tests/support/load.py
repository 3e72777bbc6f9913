"""Requests in a bounded loop from a few threads, each on a new connection,
recording every failure: an exception, or an answer the caller's check
refuses. For the tests that change Envoy's configuration under load."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Load:
    """`check(i)` sends the i-th request and returns None, or why it failed."""

    def __init__(self, check: Callable[[int], str | None], threads: int = 4, bound_seconds: float = 25.0):
        self.check = check
        self.bound_seconds = bound_seconds  # the load stops by itself even if the test does not stop it
        self.stop = threading.Event()
        self.sent = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, seed: int) -> None:
        i = seed
        deadline = time.monotonic() + self.bound_seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                failure = self.check(i)
            except Exception as e:  # noqa: BLE001 - any error is a failed request
                failure = f"{type(e).__name__}: {e}"
            with self._lock:
                self.sent += 1
                if failure:
                    self.failures.append(f"{time.monotonic():.3f} {failure}")
            i += 1

    def __enter__(self) -> "Load":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(10)
