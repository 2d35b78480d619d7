"""The two bot runtimes behind one test interface: every conversation test runs against both.

``dedicated`` is ``booking_bot.app.BookingBot`` (one tenant, one dispatcher, one poller), as
deployed today. ``shared`` is ``booking_bot.shard.runtime.Shard``: a test's bots all live in
one shard per fake Bot API (so two bots in one test share a process, as tenants of a shard
do), each added live with its JSON entry, waited for until the shard reports it Serving, and
removed live at the end. Clocks stay per tenant: the shard's clock asks which tenant's task
is calling (``CURRENT_TENANT``) and answers with that tenant's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from booking_bot.shard.config import ShardSettings
from booking_bot.shard.logs import CURRENT_TENANT
from booking_bot.shard.runner import State
from booking_bot.shard.runtime import Shard
from booking_bot.tenant import TenantServices
from harness.telegram import FakeTelegram

RUNTIMES = ("dedicated", "shared")


class TenantClocks:
    """The shard's clock: each tenant's own test clock, the wall clock for the shard itself."""

    def __init__(self) -> None:
        self.clocks: dict[str, Callable[[], dt.datetime]] = {}

    def __call__(self) -> dt.datetime:
        clock = self.clocks.get(CURRENT_TENANT.get() or "")
        return clock() if clock is not None else dt.datetime.now(dt.UTC)


@dataclass
class ShardHost:
    """One shard serving every shared-runtime bot of a test on one fake Bot API."""

    shard: Shard
    clocks: TenantClocks
    entries: dict[str, str] = field(default_factory=dict)
    users: int = 0

    async def add(self, client_id: str, entry: dict[str, object], clock: Callable[[], dt.datetime]) -> None:
        self.clocks.clocks[client_id] = clock
        self.entries[client_id] = json.dumps(entry)
        self.shard.apply(self.entries)

    async def remove(self, client_id: str) -> None:
        del self.entries[client_id]
        self.shard.apply(self.entries)
        await self.shard.registry.wait_stopped(client_id)
        self.clocks.clocks.pop(client_id, None)


_hosts: dict[int, ShardHost] = {}


def shard_settings(tg: FakeTelegram, name: str = "test-shard") -> ShardSettings:
    return ShardSettings(
        shard_name=name,
        shard_tenants_dir=Path("/nonexistent"),  # tests apply tenant lists directly
        telegram_api_url=tg.url,
        health_port=0,
    )


@contextlib.asynccontextmanager
async def shard_host(tg: FakeTelegram) -> AsyncIterator[ShardHost]:
    """The test's shard on ``tg``: created by the first bot, closed when the last one leaves."""
    host = _hosts.get(id(tg))
    if host is None:
        clocks = TenantClocks()
        shard = Shard(shard_settings(tg), clock=clocks, polling_timeout=1)
        await shard.start()
        host = _hosts[id(tg)] = ShardHost(shard=shard, clocks=clocks)
    host.users += 1
    try:
        yield host
    finally:
        host.users -= 1
        if host.users == 0:
            del _hosts[id(tg)]
            await host.shard.close()


async def wait_serving(shard: Shard, client_id: str, timeout: float = 10.0) -> TenantServices:
    """The tenant's services once the shard reports it Serving (a failure ends the wait with its reason)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        runner = shard.registry.runners.get(client_id)
        report = runner.report if runner is not None else None
        if runner is not None and report is not None and report.state == State.SERVING:
            assert runner.services is not None
            return runner.services
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{client_id} is not serving: {report}")
