"""The bot through a real PgBouncer in transaction pooling (docs/bot.md, "Connections").

In transaction mode consecutive transactions of one client connection may run on different
server connections, and one server connection serves many clients in turn: anything that
leans on session state (a session advisory lock, a session ``SET``, a named prepared
statement kept across transactions) breaks here and nowhere else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import zoneinfo
from collections.abc import AsyncIterator

import asyncpg
import pytest

from booking_bot import bookings, reminders
from booking_bot.catalog import get_service
from booking_bot.db import create_pool
from booking_bot.migrate import load_migrations
from harness.pgbouncer import PgBouncer
from harness.telegram import FakeTelegram, SentMessage

from .conftest import NOW, Clock, Tenant, run_bot

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")
TUESDAY_11 = dt.datetime(2030, 3, 5, 8, 0, tzinfo=dt.UTC)  # 11:00 Moscow
ANN, BOB = 1001, 1002


def _through(pgbouncer: PgBouncer, tenant: Tenant) -> Tenant:
    """The same tenant, reached through PgBouncer."""
    return Tenant(
        client_id=tenant.client_id,
        password=tenant.password,
        dsn=pgbouncer.dsn(tenant.client_id, tenant.password),
    )


@pytest.fixture()
async def pooled(pgbouncer: PgBouncer, tenant: Tenant) -> Tenant:
    return _through(pgbouncer, tenant)


@pytest.fixture()
async def seeded_pooled(pgbouncer: PgBouncer, seeded_tenant: Tenant) -> Tenant:
    return _through(pgbouncer, seeded_tenant)


async def _pool(tenant: Tenant, max_size: int) -> asyncpg.Pool:
    pool = await create_pool(tenant.dsn, tenant.client_id, max_size=max_size, statement_cache_size=0)
    return pool


async def _migrate_process(tenant: Tenant) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIENT_", "DATABASE_", "BOT_"))}
    env |= {"CLIENT_ID": tenant.client_id, "DATABASE_URL": tenant.dsn}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "booking_bot",
        "migrate",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


async def test_two_migrations_at_once_through_pgbouncer_apply_each_version_once(pooled: Tenant) -> None:
    results = await asyncio.gather(_migrate_process(pooled), _migrate_process(pooled))
    assert [code for code, _ in results] == [0, 0], results
    # Between them the two applied each version exactly once.
    assert sum(out.count('"migration_applied"') for _, out in results) == len(load_migrations())
    conn = await asyncpg.connect(pooled.dsn)
    try:
        versions = await conn.fetch(f'SELECT version FROM "{pooled.client_id}".schema_migrations ORDER BY 1')
    finally:
        await conn.close()
    assert [r["version"] for r in versions] == [m.version for m in load_migrations()]
    # And once more: nothing to do.
    code, out = await _migrate_process(pooled)
    assert code == 0 and '"migration_applied"' not in out, out


@pytest.fixture()
async def pool(seeded_pooled: Tenant) -> AsyncIterator[asyncpg.Pool]:
    pool = await _pool(seeded_pooled, max_size=10)
    await pool.executemany(
        "INSERT INTO users (telegram_id, first_name, language_code) VALUES ($1, $2, 'en')",
        [(i, f"u{i}") for i in range(1, 21)],
    )
    try:
        yield pool
    finally:
        await pool.close()


async def test_twenty_concurrent_bookings_of_one_slot_through_pgbouncer_make_exactly_one(
    pool: asyncpg.Pool,
) -> None:
    service = await get_service(pool, 1)
    assert service is not None
    results = await asyncio.gather(
        *(
            bookings.create_booking(
                pool, user_id=u, service=service, starts_at=TUESDAY_11, now=NOW, tz=MOSCOW
            )
            for u in range(1, 21)
        ),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, bookings.Booking)]
    lost = [r for r in results if isinstance(r, bookings.SlotTaken)]
    assert (len(won), len(lost)) == (1, 19), [r for r in results if not isinstance(r, bookings.Booking)]
    assert await pool.fetchval("SELECT count(*) FROM bookings") == 1


async def test_two_bots_reminding_at_once_through_pgbouncer_send_each_reminder_once(
    pool: asyncpg.Pool, seeded_pooled: Tenant
) -> None:
    """Two pods overlapping in a rollout: two pools, two workers, one claim each reminder."""
    service = await get_service(pool, 1)
    assert service is not None
    for user, hour in enumerate((7, 8, 9, 11, 12, 13), start=1):  # Tuesday 10:00-16:00 Moscow, no lunch
        start = dt.datetime(2030, 3, 5, hour, 0, tzinfo=dt.UTC)
        await bookings.create_booking(
            pool, user_id=user, service=service, starts_at=start, now=NOW, tz=MOSCOW
        )
    other = await _pool(seeded_pooled, max_size=2)
    sent: list[int] = []

    async def send(reminder: reminders.DueReminder) -> str | None:
        sent.append(reminder.id)
        return None

    later = dt.datetime(2030, 3, 5, 6, 30, tzinfo=dt.UTC)
    try:
        counts = await asyncio.gather(
            reminders.run_once(pool, send, later, "pod-a", dt.timedelta(days=1)),
            reminders.run_once(other, send, later, "pod-b", dt.timedelta(days=1)),
        )
        assert await reminders.run_once(other, send, later, "pod-c", dt.timedelta(days=1)) == 0
    finally:
        await other.close()
    due = await pool.fetchval("SELECT count(*) FROM reminders WHERE due_at <= $1", later)
    assert due >= 6
    assert len(sent) == len(set(sent)) == sum(counts) == due
    assert await pool.fetchval("SELECT count(*) FROM reminders WHERE sent_at IS NOT NULL") == due


async def test_the_running_bot_books_through_pgbouncer_and_a_slot_race_has_one_winner(
    telegram: FakeTelegram, seeded_pooled: Tenant
) -> None:
    async with run_bot(telegram, seeded_pooled, clock=Clock(), db_statement_cache_size=0) as bot:

        async def to_confirm(user: int) -> SentMessage:
            menu = await bot.say(user, "/start")
            calendar = await bot.press(user, await bot.press(user, menu, "Book"), "Haircut")
            return await bot.press(
                user, await bot.press(user, calendar, "5", exact=True), "11:00", exact=True
            )

        ann, bob = await asyncio.gather(to_confirm(ANN), to_confirm(BOB))
        bot.click(ANN, ann, ann.button_data("Confirm"))
        bot.click(BOB, bob, bob.button_data("Confirm"))
        answers = await asyncio.gather(bot.next(ANN), bot.next(BOB))
        assert sorted("booked" in a.text for a in answers) == [False, True], [a.text for a in answers]
        assert any("just taken" in a.text for a in answers)
        assert await bot.pool.fetchval("SELECT count(*) FROM bookings WHERE status = 'confirmed'") == 1
