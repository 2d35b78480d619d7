"""Fixtures for the booking bot's tests: the fake Bot API, tenant schemas and roles."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest
from pydantic import SecretStr

from booking_bot.app import BookingBot
from booking_bot.config import Settings
from booking_bot.db import create_pool
from booking_bot.migrate import migrate
from booking_bot.tenant import TenantServices
from booking_contract import crd
from harness.postgres import PgServer, create_tenant_schema
from harness.telegram import FakeTelegram, SentMessage

from .runtimes import RUNTIMES, shard_host, wait_serving

# The runtime ``run_bot`` starts bots in: set per test by the ``bot_runtime`` fixture.
_runtime = "dedicated"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that talks to a bot over the fake Bot API runs in both runtimes."""
    if "bot_runtime" in metafunc.fixturenames:
        only_fake = metafunc.module.__name__.endswith("test_fake_telegram")
        metafunc.parametrize("bot_runtime", ["dedicated"] if only_fake else RUNTIMES, indirect=True)


@pytest.fixture()
def bot_runtime(request: pytest.FixtureRequest) -> Iterator[str]:
    global _runtime
    _runtime = getattr(request, "param", "dedicated")
    try:
        yield _runtime
    finally:
        _runtime = "dedicated"


@dataclass(frozen=True)
class Tenant:
    """A provisioned tenant: its own LOGIN role owning the schema named after the client id."""

    client_id: str
    password: str
    dsn: str


@pytest.fixture()
async def telegram(bot_runtime: str) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


async def admin_connect(pg: PgServer) -> asyncpg.Connection:
    """A superuser connection; waits out a server that is still starting up."""
    for _ in range(100):
        try:
            conn: asyncpg.Connection = await asyncpg.connect(pg.dsn())
            return conn
        except asyncpg.CannotConnectNowError:
            await asyncio.sleep(0.1)
    raise RuntimeError("PostgreSQL did not finish starting")


async def create_tenant(pg: PgServer, client_id: str | None = None) -> Tenant:
    """Do what the operator does for a tenant: role, schema it owns, its search_path."""
    client_id = client_id or f"t_{secrets.token_hex(6)}"
    password = secrets.token_hex(16)
    admin = await admin_connect(pg)
    try:
        await create_tenant_schema(admin, client_id, password)
    finally:
        await admin.close()
    return Tenant(client_id=client_id, password=password, dsn=pg.dsn(client_id, password))


async def drop_tenant(pg: PgServer, client_id: str) -> None:
    admin = await admin_connect(pg)
    try:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{client_id}" CASCADE')
        await admin.execute(f'DROP OWNED BY "{client_id}" CASCADE')
        await admin.execute(f'DROP ROLE IF EXISTS "{client_id}"')
    finally:
        await admin.close()


@pytest.fixture()
async def tenant(pg_server: PgServer) -> AsyncIterator[Tenant]:
    created = await create_tenant(pg_server)
    try:
        yield created
    finally:
        await drop_tenant(pg_server, created.client_id)


# ---- a running bot ---------------------------------------------------------------------------------
NOW = dt.datetime(2030, 3, 4, 6, 0, tzinfo=dt.UTC)  # Monday 09:00 in Moscow
SERVICES = [("Haircut", 60, 1500), ("Manicure", 90, 2000)]


class Clock:
    """The bot's clock, moved by tests."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


async def seed(tenant: Tenant) -> None:
    """Migrate and add the standard services (default week: Mon-Fri 10-19, lunch 13-14, Sat 10-16)."""
    await migrate(tenant.dsn, tenant.client_id)
    conn = await asyncpg.connect(tenant.dsn)
    try:
        await conn.executemany(
            "INSERT INTO services (name, duration_minutes, price, sort_order) VALUES ($1, $2, $3, $4)",
            [(name, minutes, price, i) for i, (name, minutes, price) in enumerate(SERVICES)],
        )
    finally:
        await conn.close()


def person(user_id: int, lang: str = "en") -> dict[str, object]:
    return {"id": user_id, "is_bot": False, "first_name": f"Customer{user_id}", "language_code": lang}


@dataclass
class RunningBot:
    """A tenant's bot polling the fake Bot API, and helpers to talk to it as a user."""

    app: BookingBot | TenantServices  # the dedicated bot, or the tenant's services in its shard
    tg: FakeTelegram
    token: str
    tenant: Tenant
    clock: Clock

    @property
    def pool(self) -> asyncpg.Pool:
        assert self.app.pool is not None
        return self.app.pool

    async def say(self, user: int, text: str, lang: str = "en") -> SentMessage:
        self.tg.push_message(self.token, person(user, lang), text)
        return await self.next(user)

    async def press(
        self, user: int, message: SentMessage, label: str, *, exact: bool = False, lang: str = "en"
    ) -> SentMessage:
        self.tg.push_callback(
            self.token, person(user, lang), message, message.button_data(label, exact=exact)
        )
        return await self.next(user)

    async def book(self, user: int, confirm: SentMessage, *, first: bool = True) -> SentMessage:
        """Press Confirm; after a customer's first booking, also answer the phone question with
        "Not now" (which releases the owner's held notice) and take the replies off the queue."""
        done = await self.press(user, confirm, "Confirm")
        if first and "booked" in done.text:
            question = await self.next(user)
            assert "phone number" in question.text, question.text
            assert (await self.say(user, "Not now")).text == "All right."
            await self.next(user)  # the menu again
        return done

    def click(self, user: int, message: SentMessage, data: str, lang: str = "en") -> None:
        """Press a button (raw callback data) without waiting for the answer."""
        self.tg.push_callback(self.token, person(user, lang), message, data)

    async def alert(self, user: int, timeout: float = 5.0) -> str:
        """Text of the next alert-style answerCallbackQuery to ``user``'s presses."""
        deadline = asyncio.get_running_loop().time() + timeout
        seen = 0
        while asyncio.get_running_loop().time() < deadline:
            calls = [
                c for c in self.tg.calls_of("answerCallbackQuery", self.token) if c.params.get("show_alert")
            ]
            if len(calls) > seen:
                return str(calls[-1].params.get("text"))
            await asyncio.sleep(0.02)
        raise TimeoutError("no alert")

    async def next(self, user: int, timeout: float = 5.0) -> SentMessage:
        message: SentMessage = await self.tg.next_message(self.token, user, timeout=timeout)
        return message

    def drain(self, user: int) -> list[SentMessage]:
        skipped: list[SentMessage] = self.tg.drain(self.token, user)
        return skipped


@contextlib.asynccontextmanager
async def run_bot(
    tg: FakeTelegram,
    tenant: Tenant,
    *,
    bot_id: int | None = None,
    redis_url: str | None = None,
    owner: int | None = None,
    admins: tuple[int, ...] = (),
    clock: Clock | None = None,
    db_statement_cache_size: int = 100,
    runtime: str | None = None,
    timezone: str | None = None,
) -> AsyncIterator[RunningBot]:
    """``timezone``: TENANT_TIMEZONE (what the operator passes from ``spec.timezone``)."""
    token = FakeTelegram.make_token(bot_id or secrets.randbelow(10**9) + 10**9)
    tg.add_bot(token, username=f"{tenant.client_id}_bot")
    clock = clock or Clock()
    if (runtime or _runtime) == "shared":
        async with _run_shared(
            tg, tenant, token, redis_url, owner, admins, clock, db_statement_cache_size, timezone
        ) as running:
            yield running
        return
    settings = Settings(
        client_id=tenant.client_id,
        bot_token=SecretStr(token),
        database_url=SecretStr(tenant.dsn),
        redis_url=SecretStr(redis_url) if redis_url else None,
        telegram_api_url=tg.url,
        business_name="Salon Test",
        owner_telegram_id=owner,
        admin_telegram_ids=admins,
        health_port=0,
        reminder_interval_seconds=3600,
        db_statement_cache_size=db_statement_cache_size,
        tenant_timezone=timezone or crd.DEFAULT_TIMEZONE,
    )
    app = BookingBot(settings, clock=clock, polling_timeout=1)
    await app.start()
    task = asyncio.create_task(app.serve())
    try:
        yield RunningBot(app=app, tg=tg, token=token, tenant=tenant, clock=clock)
    finally:
        await app.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        await app.close()


@contextlib.asynccontextmanager
async def _run_shared(
    tg: FakeTelegram,
    tenant: Tenant,
    token: str,
    redis_url: str | None,
    owner: int | None,
    admins: tuple[int, ...],
    clock: Clock,
    db_statement_cache_size: int,
    timezone: str | None = None,
) -> AsyncIterator[RunningBot]:
    """The same bot as a tenant of the test's shard: its entry carries what the env would."""
    entry: dict[str, object] = {
        "CLIENT_ID": tenant.client_id,
        "BOT_TOKEN": token,
        "DATABASE_URL": tenant.dsn,
        "BUSINESS_NAME": "Salon Test",
        "REMINDER_INTERVAL_SECONDS": 3600,
        "DB_STATEMENT_CACHE_SIZE": db_statement_cache_size,
    }
    if redis_url:
        entry["REDIS_URL"] = redis_url
    if owner:
        entry["OWNER_TELEGRAM_ID"] = owner
    if admins:
        entry["ADMIN_TELEGRAM_IDS"] = ",".join(str(a) for a in admins)
    if timezone:
        entry["TENANT_TIMEZONE"] = timezone
    async with shard_host(tg) as host:
        await host.add(tenant.client_id, entry, clock)
        try:
            services = await wait_serving(host.shard, tenant.client_id)
            yield RunningBot(app=services, tg=tg, token=token, tenant=tenant, clock=clock)
        finally:
            await host.remove(tenant.client_id)


@pytest.fixture()
async def seeded_tenant(tenant: Tenant) -> Tenant:
    await seed(tenant)
    return tenant


@pytest.fixture()
async def users_pool(seeded_tenant: Tenant) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a seeded tenant with customers 1..20 (domain tests without the bot)."""
    pool = await create_pool(seeded_tenant.dsn, seeded_tenant.client_id, max_size=10)
    await pool.executemany(
        "INSERT INTO users (telegram_id, first_name) VALUES ($1, $2)", [(i, f"u{i}") for i in range(1, 21)]
    )
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture()
async def bot(telegram: FakeTelegram, seeded_tenant: Tenant) -> AsyncIterator[RunningBot]:
    async with run_bot(telegram, seeded_tenant, owner=OWNER) as running:
        yield running


OWNER = 500
