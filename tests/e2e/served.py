"""Fakes served from the test process where the cluster's pods reach them.

The fakes of the harness (Telegram, YooKassa) live in an asyncio loop; the e2e tests are
synchronous (kubectl subprocesses), so each fake runs on a background thread with its own loop,
and the tests call into it through `LoopThread.call`.

Where the pods reach this machine: `E2E_HOST_ADDRESS` (hack/e2e.sh sets it to the pods' gateway
on the local cluster's bridge), else the gateway of the Docker network `kind`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def kind_gateway() -> str | None:
    """The IPv4 gateway of the Docker network the kind nodes are on, or None."""
    docker = os.environ.get("E2E_DOCKER") or os.environ.get("DOCKER") or "docker"
    network = os.environ.get("E2E_KIND_NETWORK", "kind")
    try:
        out = subprocess.run(
            [docker, "network", "inspect", network, "--format", "{{range .IPAM.Config}}{{.Gateway}} {{end}}"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return next((gw for gw in out.split() if "." in gw), None)


def host_address() -> str | None:
    """The address of this machine as the pods see it, or None when unknown."""
    return os.environ.get("E2E_HOST_ADDRESS") or kind_gateway()


class LoopThread:
    """An asyncio loop on a daemon thread; coroutines and plain calls run on it."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a plain function on the loop (the fakes' state is not shared across threads)."""

        async def run() -> T:
            return fn(*args, **kwargs)

        return self.run(run())

    def stop(self, last: Coroutine[Any, Any, Any] | None = None) -> None:
        if self._thread.is_alive():
            if last is not None:
                self.run(last)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        elif last is not None:
            last.close()
        self._loop.close()
