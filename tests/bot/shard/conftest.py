"""Fixtures for the shared runtime's own tests: shards on one fake Bot API, tenants as entries."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from booking_bot.shard.runner import Report, State
from booking_bot.shard.runtime import Shard
from harness.postgres import PgServer
from harness.telegram import FakeTelegram, SentMessage

from ..conftest import Clock, Tenant, create_tenant, drop_tenant, person, seed
from ..runtimes import shard_settings


@pytest.fixture()
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@dataclass
class Shards:
    """Shards started by a test (all closed at its end)."""

    tg: FakeTelegram
    started: list[Shard]

    async def new(self, name: str = "shard-a", *, own_process: bool = False, **settings: object) -> Shard:
        """``settings``: ShardSettings fields other than the tests' defaults."""
        shard = Shard(
            shard_settings(self.tg, name).model_copy(update=settings),
            clock=Clock(),
            polling_timeout=1,
            own_process=own_process,
        )
        await shard.start()
        self.started.append(shard)
        return shard


@pytest.fixture()
async def shards(tg: FakeTelegram) -> AsyncIterator[Shards]:
    made = Shards(tg, [])
    try:
        yield made
    finally:
        for shard in made.started:
            await shard.close()


@pytest.fixture()
async def shard(shards: Shards) -> Shard:
    return await shards.new()


MakeTenants = Callable[[int], Awaitable[list[Tenant]]]


@pytest.fixture()
async def make_tenants(pg_server: PgServer) -> AsyncIterator[MakeTenants]:
    """``await make_tenants(n)``: n migrated tenants with services, dropped after the test."""
    made: list[Tenant] = []

    async def make(n: int) -> list[Tenant]:
        tenants = [await create_tenant(pg_server) for _ in range(n)]
        made.extend(tenants)
        for tenant in tenants:
            await seed(tenant)
        return tenants

    try:
        yield make
    finally:
        for tenant in made:
            await drop_tenant(pg_server, tenant.client_id)


def new_token(tg: FakeTelegram, tenant: Tenant, bot_id: int | None = None) -> str:
    token = FakeTelegram.make_token(bot_id or secrets.randbelow(10**9) + 10**9)
    tg.add_bot(token, username=f"{tenant.client_id}_bot")
    return token


def entry(tenant: Tenant, token: str, **extra: object) -> str:
    """The JSON the operator writes into a shard's Secret for one tenant."""
    values: dict[str, object] = {
        "CLIENT_ID": tenant.client_id,
        "BOT_TOKEN": token,
        "DATABASE_URL": tenant.dsn,
        "BUSINESS_NAME": f"Salon {tenant.client_id}",
        "REMINDER_INTERVAL_SECONDS": 3600,
    }
    values.update(extra)
    return json.dumps(values)


def report(shard: Shard, client_id: str) -> Report | None:
    return shard.board.reports.get(client_id)


async def wait_state(shard: Shard, client_id: str, state: State, timeout: float = 10.0) -> Report:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        current = report(shard, client_id)
        if current is not None and current.state == state:
            return current
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{client_id} never reached {state}: {report(shard, client_id)}")


async def say(tg: FakeTelegram, token: str, user: int, text: str, timeout: float = 5.0) -> SentMessage:
    tg.push_message(token, person(user), text)
    message: SentMessage = await tg.next_message(token, user, timeout=timeout)
    return message


async def serve(tg: FakeTelegram, shard: Shard, *tenants: Tenant, **extra: object) -> list[str]:
    """Give each tenant a bot, list them all in the shard, wait until each is Serving; the tokens."""
    tokens = [new_token(tg, t) for t in tenants]
    shard.apply({t.client_id: entry(t, token, **extra) for t, token in zip(tenants, tokens, strict=True)})
    for tenant in tenants:
        await wait_state(shard, tenant.client_id, State.SERVING)
    return tokens
