"""Benchmark of the tenant booking bot (`make bench`).

One bot polls the fake Bot API (real HTTP) with real PostgreSQL and in-memory FSM storage;
``BOT_BENCH_CUSTOMERS`` customers (default 200), ``CONCURRENCY`` at a time, each run the full
booking flow: /start -> Book -> service -> day -> time -> Confirm (6 updates). Reported:
updates/s through the flow, bookings/s committed, handler latency percentiles (from pushing
an update to the bot's answer arriving at the fake server, so it includes one getUpdates
round trip), and the RSS of one idle ``python -m booking_bot`` process.

Everything (fake Bot API, bot, PostgreSQL, the client) shares this machine's 2 cores, so the
numbers are lower bounds.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from bot.conftest import Clock, RunningBot, Tenant, create_tenant, drop_tenant, run_bot, seed

from harness.postgres import PgServer
from harness.telegram import FakeTelegram, SentMessage

CUSTOMERS = int(os.environ.get("BOT_BENCH_CUSTOMERS", "200"))
CONCURRENCY = 20
SEQUENTIAL = 20
SLOTS_PER_DAY = 40


@pytest.fixture()
async def bench_tenant(pg_server: PgServer) -> AsyncIterator[Tenant]:
    tenant = await create_tenant(pg_server)
    await seed(tenant)
    conn = await asyncpg.connect(tenant.dsn)
    try:
        # Open every day 00:00-23:45 in 15-minute steps, no notice: plenty of distinct slots.
        await conn.execute("DELETE FROM breaks")
        await conn.execute("DELETE FROM working_hours")
        await conn.executemany(
            "INSERT INTO working_hours (weekday, opens_at, closes_at) VALUES ($1, '00:00', '23:45')",
            [(d,) for d in range(1, 8)],
        )
        await conn.execute(
            "UPDATE settings SET slot_step_minutes = 15, min_notice_minutes = 0, horizon_days = 28"
        )
        await conn.execute("UPDATE services SET duration_minutes = 15 WHERE name = 'Haircut'")
    finally:
        await conn.close()
    try:
        yield tenant
    finally:
        await drop_tenant(pg_server, tenant.client_id)


async def _step(
    bot: RunningBot, user: int, latencies: list[float], message: SentMessage | None, data: str
) -> SentMessage:
    started = time.perf_counter()
    if message is None:
        bot.tg.push_message(bot.token, {"id": user, "first_name": "C", "language_code": "en"}, data)
    else:
        bot.tg.push_callback(bot.token, {"id": user, "first_name": "C", "language_code": "en"}, message, data)
    answer = await bot.next(user, timeout=30)
    latencies.append(time.perf_counter() - started)
    return answer


async def _customer(bot: RunningBot, index: int, latencies: list[float]) -> bool:
    user = 10_000 + index
    menu = await _step(bot, user, latencies, None, "/start")
    services = await _step(bot, user, latencies, menu, menu.button_data("Book"))
    calendar = await _step(bot, user, latencies, services, services.button_data("Haircut"))
    day = 5 + index // SLOTS_PER_DAY  # from Tuesday 5 March 2030 on, within the first calendar page
    slots = await _step(bot, user, latencies, calendar, calendar.button_data(str(day), exact=True))
    minutes = (index % SLOTS_PER_DAY) * 15  # a time of its own, so no two customers collide
    label = f"{minutes // 60:02d}:{minutes % 60:02d}"
    confirm = await _step(bot, user, latencies, slots, slots.button_data(label, exact=True))
    done = await _step(bot, user, latencies, confirm, confirm.button_data("Confirm"))
    if "You are booked" not in done.text:
        print(f"customer {index}: {done.text!r}")
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _idle_rss_mb(tenant: Tenant, tg: FakeTelegram) -> float:
    token = FakeTelegram.make_token(3900000001)
    tg.add_bot(token)
    port = _free_port()
    env = {
        **os.environ,
        "CLIENT_ID": tenant.client_id,
        "BOT_TOKEN": token,
        "DATABASE_URL": tenant.dsn,
        "TELEGRAM_API_URL": tg.url,
        "HEALTH_PORT": str(port),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "booking_bot", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        await asyncio.sleep(3)
        status = await asyncio.to_thread(Path(f"/proc/{proc.pid}/status").read_text)
        rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        return rss_kb / 1024
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.bench
async def test_bot_booking_flow_throughput(bench_tenant: Tenant) -> None:
    async with FakeTelegram() as tg:
        async with run_bot(tg, bench_tenant, clock=Clock()) as bot:
            latencies: list[float] = []
            semaphore = asyncio.Semaphore(CONCURRENCY)

            async def one(index: int) -> bool:
                async with semaphore:
                    return await _customer(bot, index, latencies)

            started = time.perf_counter()
            results = await asyncio.gather(*(one(i) for i in range(CUSTOMERS)))
            elapsed = time.perf_counter() - started
            committed = await bot.pool.fetchval("SELECT count(*) FROM bookings WHERE status = 'confirmed'")
            # One customer at a time: the latency of an update on an otherwise idle bot.
            alone: list[float] = []
            for index in range(CUSTOMERS, CUSTOMERS + SEQUENTIAL):
                results.append(await _customer(bot, index, alone))
            alone.sort()
        rss = await _idle_rss_mb(bench_tenant, tg)
    assert all(results) and committed == CUSTOMERS
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    rows = [
        ("customers (full flow, 6 updates each)", f"{CUSTOMERS} ({CONCURRENCY} concurrent)"),
        ("updates/s", f"{len(latencies) / elapsed:.0f}"),
        ("bookings/s committed", f"{committed / elapsed:.1f}"),
        ("handler latency p50 / p95 / p99 (ms)", f"{pct(0.5):.0f} / {pct(0.95):.0f} / {pct(0.99):.0f}"),
        ("handler latency mean (ms)", f"{statistics.mean(latencies) * 1000:.0f}"),
        (
            f"latency p50 / p99 one customer at a time ({SEQUENTIAL})",
            f"{alone[len(alone) // 2] * 1000:.0f} / {alone[int(0.99 * len(alone))] * 1000:.0f}",
        ),
        ("RSS of one idle bot process (MB)", f"{rss:.0f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print("\nbooking bot benchmark")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


MASTERS = 3


async def _any_master_customer(bot: RunningBot, index: int, latencies: list[float]) -> bool:
    """Customers ``3k, 3k+1, 3k+2`` race for the same time with "any master": each should get one."""
    user = 20_000 + index
    menu = await _step(bot, user, latencies, None, "/start")
    services = await _step(bot, user, latencies, menu, menu.button_data("Book"))
    step = await _step(bot, user, latencies, services, services.button_data("Haircut"))
    calendar = await _step(bot, user, latencies, step, step.button_data("Any master"))
    slot = index // MASTERS
    day = 5 + slot // SLOTS_PER_DAY
    slots = await _step(bot, user, latencies, calendar, calendar.button_data(str(day), exact=True))
    minutes = (slot % SLOTS_PER_DAY) * 15
    label = f"{minutes // 60:02d}:{minutes % 60:02d}"
    confirm = await _step(bot, user, latencies, slots, slots.button_data(label, exact=True))
    done = await _step(bot, user, latencies, confirm, confirm.button_data("Confirm"))
    return "You are booked" in done.text


@pytest.mark.bench
async def test_bot_any_master_throughput(bench_tenant: Tenant) -> None:
    """Three masters, customers in threes on the same time with "any master": every attempt
    that meets a master just taken rolls back a savepoint and tries the next one."""
    conn = await asyncpg.connect(bench_tenant.dsn)
    try:
        await conn.executemany(
            "INSERT INTO staff (name) VALUES ($1)", [(f"M{i}",) for i in range(2, MASTERS + 1)]
        )
    finally:
        await conn.close()
    customers = CUSTOMERS - CUSTOMERS % MASTERS
    async with FakeTelegram() as tg, run_bot(tg, bench_tenant, clock=Clock()) as bot:
        latencies: list[float] = []
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(index: int) -> bool:
            async with semaphore:
                return await _any_master_customer(bot, index, latencies)

        started = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(customers)))
        elapsed = time.perf_counter() - started
        rows = await bot.pool.fetch(
            "SELECT staff_id, count(*) AS n FROM bookings WHERE status = 'confirmed' GROUP BY staff_id"
        )
    booked = sum(results)
    per_master = sorted(int(r["n"]) for r in rows)
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    table = [
        (
            "customers (7 updates each, 3 per time)",
            f"{customers} ({CONCURRENCY} concurrent, {MASTERS} masters)",
        ),
        ("booked / refused", f"{booked} / {customers - booked}"),
        ("bookings per master", " / ".join(map(str, per_master))),
        ("updates/s", f"{len(latencies) / elapsed:.0f}"),
        ("bookings/s committed", f"{sum(per_master) / elapsed:.1f}"),
        ("handler latency p50 / p95 / p99 (ms)", f"{pct(0.5):.0f} / {pct(0.95):.0f} / {pct(0.99):.0f}"),
    ]
    width = max(len(name) for name, _ in table)
    print("\nbooking bot benchmark: any master")
    for name, value in table:
        print(f"  {name:<{width}}  {value}")
    # Every customer got a master: three masters, three customers per time.
    assert booked == customers and sum(per_master) == customers
