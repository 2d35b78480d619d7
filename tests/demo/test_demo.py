"""`make demo`: the real bot process books a haircut through the fake Bot API, with no token or internet."""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from booking_demo.run import DemoResult, run_demo
from booking_demo.script import CUSTOMER
from harness.postgres import PgServer
from harness.redis import RedisServer

ROOT = Path(__file__).resolve().parents[2]


MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")  # one demo run shared by the in-process tests


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo(pg_server: PgServer, redis_server: RedisServer) -> AsyncIterator[DemoResult]:
    client_id = f"demo_{secrets.token_hex(4)}"
    try:
        yield await run_demo(pg_server, redis_server, io.StringIO(), client_id=client_id)
    finally:
        admin = await asyncpg.connect(pg_server.dsn())
        try:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{client_id}" CASCADE')
            await admin.execute(f'DROP ROLE IF EXISTS "{client_id}"')
        finally:
            await admin.close()


@MODULE_LOOP
async def test_the_customers_booking_is_a_confirmed_row_in_the_tenants_schema(
    demo: DemoResult, pg_server: PgServer
) -> None:
    admin = await asyncpg.connect(pg_server.dsn())
    try:
        rows = await admin.fetch(
            f'SELECT s.name, b.user_id, b.status, b.kind FROM "{demo.client_id}".bookings b'
            f' JOIN "{demo.client_id}".services s ON s.id = b.service_id'
        )
    finally:
        await admin.close()
    assert [tuple(r) for r in rows] == [("Haircut", CUSTOMER.id, "confirmed", "customer")]


@MODULE_LOOP
async def test_the_owner_is_notified_and_sees_the_booking_in_the_week_view(demo: DemoResult) -> None:
    assert demo.outcome.booking_confirmation.startswith("You are booked ✅\nHaircut")
    assert demo.outcome.owner_notification.startswith("🆕 New booking\nHaircut")
    assert demo.outcome.owner_notification.endswith(CUSTOMER.name)
    assert f"Haircut — {CUSTOMER.name}" in demo.outcome.owner_week_view


def test_make_demo_starts_its_own_servers_prints_the_conversation_and_exits_0() -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "Anna  > taps [✅ Confirm]" in out
    assert "Anna  < (edited) You are booked ✅" in out
    assert "Olga  < 🆕 New booking" in out
    assert "demo_salon.bookings: booking #1: Haircut" in out
    assert "DEMO-not-a-real-token" not in out + result.stderr


def test_without_postgresql_the_demo_says_what_to_install_in_one_line_and_exits_1() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "booking_demo"],
        cwd=ROOT,
        env={**os.environ, "PG_BINDIR": "/nonexistent", "PYTHONPATH": "tests:hack/demo"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "booking_demo: PostgreSQL is not installed in /nonexistent"
        " (apt-get install postgresql, or set PG_BINDIR)"
    ]
