"""What the shard tells about its tenants: ``GET /tenants``, ``GET /healthz``, and a ConfigMap
(webhook mode's ``POST /telegram/<bot id>`` has a server of its own, ``webhook``).

The operator marks a tenant ``Ready`` only when its shard reports it ``Serving`` with the
entry the operator wrote (``config`` is the entry's digest), and hands a token to another
poller only after the shard stopped reporting the tenant at all. The report goes to a
ConfigMap (created by the operator, patched by the shard: its RBAC allows ``get``/``patch`` on
that one name) because the operator can read it without reaching into pods; it holds
states, reasons and bot usernames, never a credential.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from booking_bot.shard.runner import Report, State
from booking_contract.kube import CONFIGMAPS, KubeClient, KubeError

log = logging.getLogger("booking_bot.shard")

DEBOUNCE_SECONDS = 0.2
RETRY_SECONDS = 2.0


class StatusBoard:
    def __init__(self) -> None:
        self.reports: dict[str, Report] = {}
        self.synced = False  # the tenant list was read at least once
        self.changed = asyncio.Event()
        self._dirty: set[str] = set()

    def report(self, client_id: str, report: Report | None) -> None:
        if report is None:
            if self.reports.pop(client_id, None) is None:
                return
        else:
            self.reports[client_id] = report
        self._dirty.add(client_id)
        self.changed.set()

    def take_dirty(self) -> set[str]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    def as_json(self) -> dict[str, Any]:
        return {cid: report.as_json() for cid, report in sorted(self.reports.items())}

    def serving(self) -> int:
        return sum(1 for r in self.reports.values() if r.state == State.SERVING)


class StatusServer:
    def __init__(self, board: StatusBoard, port: int, shard_name: str) -> None:
        self.board = board
        self.port = port
        self.shard_name = shard_name
        self._runner: web.AppRunner | None = None

    async def _healthz(self, _: web.Request) -> web.Response:
        ok = self.board.synced
        body = {
            "status": "ok" if ok else "starting",
            "shard": self.shard_name,
            "serving": self.board.serving(),
        }
        return web.json_response(body, status=200 if ok else 503)

    async def _tenants(self, _: web.Request) -> web.Response:
        return web.json_response(self.board.as_json())

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/tenants", self._tenants)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "0.0.0.0", self.port).start()  # noqa: S104 - probes, operator

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def publish(board: StatusBoard, kube: KubeClient, namespace: str, name: str) -> None:
    """Until cancelled: merge-patch changed tenants into the ConfigMap (removed ones as null)."""
    pending: set[str] = set()
    while True:
        await board.changed.wait()
        board.changed.clear()
        await asyncio.sleep(DEBOUNCE_SECONDS)  # a burst of changes (a shard starting) becomes one patch
        pending |= board.take_dirty()
        data = {
            cid: json.dumps(board.reports[cid].as_json(), sort_keys=True) if cid in board.reports else None
            for cid in pending
        }
        try:
            await kube.patch(CONFIGMAPS, namespace, name, {"data": data})
        except KubeError as exc:
            log.warning("status not published", extra={"event": "status_failed", "error": str(exc)[:200]})
            board.changed.set()
            await asyncio.sleep(RETRY_SECONDS)
            continue
        pending.clear()
