"""The repo's fake YooKassa API (harness/yookassa.py), served so that a kind cluster reaches it.

`harness.yookassa.FakeYooKassa` listens on 127.0.0.1 inside the test's event loop. Here it runs
in a background thread with its own loop, bound to an address of this machine that the pods can
reach: by default the gateway of the Docker network `kind` (the host's side of the bridge the
kind node sits on; the node masquerades pod traffic leaving the cluster), on a free port.

Override with E2E_YOOKASSA_API_URL (the URL the webhook pod uses, e.g.
`http://host.docker.internal:18080/v3` with Docker Desktop) and E2E_YOOKASSA_BIND (the local
address to listen on, default 0.0.0.0 when the URL is given); the port is the URL's.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp.web

from harness.yookassa import FakeYooKassa

T = TypeVar("T")


class _BoundFake(FakeYooKassa):
    async def serve(self, host: str, port: int) -> int:
        app = aiohttp.web.Application(middlewares=[self._middleware])
        app.router.add_post("/v3/payments", self._create_payment)
        app.router.add_get("/v3/payments/{id}", self._get_payment)
        app.router.add_get("/v3/refunds/{id}", self._get_refund)
        self._runner = aiohttp.web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, host, port)
        await site.start()
        bound: int = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return bound


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


class ReachableYooKassa:
    """A FakeYooKassa on a background loop; `api_url` is the URL the cluster uses."""

    def __init__(self, shop_id: str, secret_key: str) -> None:
        self.fake = _BoundFake(shop_id=shop_id, secret_key=secret_key)
        self.api_url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-yookassa", daemon=True)

    def start(self) -> ReachableYooKassa:
        """Start serving; raises LookupError when no address for the cluster is known."""
        configured = os.environ.get("E2E_YOOKASSA_API_URL", "")
        if configured:
            parts = urlsplit(configured)
            bind, port = os.environ.get("E2E_YOOKASSA_BIND", "0.0.0.0"), parts.port or 80
            advertised = ""
        else:
            gateway = kind_gateway()
            if gateway is None:
                raise LookupError(
                    "cannot find the gateway of the Docker network 'kind' (`docker network inspect kind`)"
                )
            bind, port, advertised = os.environ.get("E2E_YOOKASSA_BIND", gateway), 0, gateway
        self._thread.start()
        bound = self.call_async(self.fake.serve(bind, port))
        self.api_url = configured.rstrip("/") if configured else f"http://{advertised}:{bound}/v3"
        return self

    def call_async(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a FakeYooKassa helper on its own loop (its state is not shared across threads)."""

        async def run() -> T:
            return fn(*args, **kwargs)

        result: T = self.call_async(run())
        return result

    def stop(self) -> None:
        if self._thread.is_alive():
            self.call_async(self.fake.stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()
