"""The repo's fake YooKassa API (harness/yookassa.py), served so that a kind cluster reaches it.

`harness.yookassa.FakeYooKassa` listens on 127.0.0.1 inside the test's event loop. Here it runs
in a background thread with its own loop, bound to an address of this machine that the pods can
reach (e2e/served.py: `E2E_HOST_ADDRESS`, which `make e2e` sets to the pods' gateway on the
local cluster, else the gateway of the Docker network `kind`), on a free port.

Override with E2E_YOOKASSA_API_URL (the URL the webhook pod uses, e.g.
`http://host.docker.internal:18080/v3` with Docker Desktop) and E2E_YOOKASSA_BIND (the local
address to listen on, default 0.0.0.0 when the URL is given); the port is the URL's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp.web

from e2e.served import LoopThread, host_address
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


class ReachableYooKassa:
    """A FakeYooKassa on a background loop; `api_url` is the URL the cluster uses."""

    def __init__(self, shop_id: str, secret_key: str) -> None:
        self.fake = _BoundFake(shop_id=shop_id, secret_key=secret_key)
        self.api_url = ""
        self._loop = LoopThread("fake-yookassa")
        self._started = False

    def start(self) -> ReachableYooKassa:
        """Start serving; raises LookupError when no address for the cluster is known."""
        configured = os.environ.get("E2E_YOOKASSA_API_URL", "")
        if configured:
            parts = urlsplit(configured)
            bind, port = os.environ.get("E2E_YOOKASSA_BIND", "0.0.0.0"), parts.port or 80
            advertised = ""
        else:
            gateway = host_address()
            if gateway is None:
                raise LookupError(
                    "no address of this machine the pods reach: E2E_HOST_ADDRESS is unset and the "
                    "Docker network 'kind' has no gateway (`docker network inspect kind`)"
                )
            bind, port, advertised = os.environ.get("E2E_YOOKASSA_BIND", gateway), 0, gateway
        self._loop.start()
        self._started = True
        bound = self._loop.run(self.fake.serve(bind, port))
        self.api_url = configured.rstrip("/") if configured else f"http://{advertised}:{bound}/v3"
        return self

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a FakeYooKassa helper on its own loop (its state is not shared across threads)."""
        return self._loop.call(fn, *args, **kwargs)

    def stop(self) -> None:
        self._loop.stop(self.fake.stop() if self._started else None)
