"""``GET /healthz`` for Kubernetes probes: 200 while the polling loop runs, 503 otherwise."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web


class HealthServer:
    def __init__(self, port: int, client_id: str, is_healthy: Callable[[], bool]) -> None:
        self.port = port
        self.client_id = client_id
        self.is_healthy = is_healthy
        self._runner: web.AppRunner | None = None

    async def _healthz(self, _: web.Request) -> web.Response:
        ok = self.is_healthy()
        return web.json_response(
            {"status": "ok" if ok else "starting", "client_id": self.client_id}, status=200 if ok else 503
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "0.0.0.0", self.port)  # noqa: S104 - probes come from the kubelet
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
