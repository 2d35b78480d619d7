"""Reminder passes for many tenants without holding a connection per idle tenant.

The dedicated bot looks for due reminders every minute; a thousand tenants doing that would
keep ~170 connections open (each pass leaves a pool connection idle for ``DB_IDLE_SECONDS``).
Here a pass also asks when the tenant's next reminder is due and sleeps until then (at most
``idle`` seconds, to catch rows written by someone else), waking earlier only after the tenant
handled an update (a booking may have added a reminder). A pass for a tenant whose pool has
no open connection uses a connection of its own, closed at once, and passes across the shard
are limited by one semaphore: idle tenants hold no connection at all. Delivery itself is
``booking_bot.reminders.run_once``, unchanged: claimed once, ever; held owner notices ride along
as in the dedicated bot's worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random

import asyncpg

from booking_bot import bookings, reminders
from booking_bot.db import connect
from booking_bot.notify import HOLD_NOTICE
from booking_bot.tenant import TenantServices

log = logging.getLogger("booking_bot.reminders")

_NEXT_DUE = "SELECT min(due_at) FROM reminders WHERE claimed_at IS NULL"


async def reminder_pass(services: TenantServices, worker: str) -> dt.datetime | None:
    """Send what is due now; return when the next unclaimed reminder is due."""
    pool = services.pool
    now = services.clock()
    if pool.get_size() > 0:  # the tenant is busy anyway: its pool has a connection open
        await reminders.run_once(pool, services.notifier.reminder, now, worker)
        await services.notifier.release_held(now)
        due: dt.datetime | None = await pool.fetchval(_NEXT_DUE)
        return due
    settings = services.settings
    conn = await connect(settings.database_url.get_secret_value(), settings.client_id)
    try:
        await reminders.run_once(conn, services.notifier.reminder, now, worker)
        # Owner notices held for a customer who never answered (notify.release_held, on this
        # connection; the notices themselves are sent through the pool, rarely).
        for booking in await bookings.release_notices(conn, held_before=now - HOLD_NOTICE):
            await services.notifier.admins_about(booking, "notify.new")
        due = await conn.fetchval(_NEXT_DUE)
        return due
    finally:
        await conn.close()


async def run_reminders(
    services: TenantServices,
    *,
    worker: str,
    interval: float,
    idle: float,
    activity: asyncio.Event,
    gate: asyncio.Semaphore,
) -> None:
    """Until cancelled: a pass now, then whenever a reminder is due or ``interval`` after activity."""
    loop = asyncio.get_running_loop()
    deadline = loop.time()
    while True:
        remaining = deadline - loop.time()
        if remaining > 0:
            activity.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(activity.wait(), remaining)
                # An update was handled: look again within ``interval`` (not later than planned).
                deadline = min(deadline, loop.time() + interval * random.uniform(0.9, 1.1))  # noqa: S311
                continue
        pause = idle
        try:
            async with gate:
                due = await reminder_pass(services, worker)
            if due is not None:
                pause = min(idle, max(0.0, (due - services.clock()).total_seconds()) + 0.5)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            pause = min(idle, interval)
            log.warning(
                "reminder pass failed", extra={"event": "reminder_pass_failed", "error": type(exc).__name__}
            )
        # Jitter spreads the passes of tenants started at the same moment.
        deadline = loop.time() + pause * random.uniform(0.9, 1.1)  # noqa: S311 - not cryptography
