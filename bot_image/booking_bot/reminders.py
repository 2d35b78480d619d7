"""Reminders before appointments, each delivered at most once (no aiogram here).

``claim_due`` marks due rows as claimed in one statement (``UPDATE ... WHERE id IN (SELECT ...
FOR UPDATE SKIP LOCKED) RETURNING``) and only then are they sent. Two workers (overlapping
pods during a rollout, or a restart) never get the same row: a row is claimed once, ever.
The price of "at most once" is that a worker killed between claim and send loses that
reminder; we record the outcome (``sent_at`` or ``error``) afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

log = logging.getLogger("booking_bot.reminders")

# Reminders more than this late (bot was down) are dropped rather than sent at a silly time.
STALE_AFTER = dt.timedelta(hours=1)


@dataclass(frozen=True)
class DueReminder:
    id: int
    booking_id: int
    offset_minutes: int
    user_id: int
    language_code: str | None
    service_name: str
    starts_at: dt.datetime


_CLAIM = """
UPDATE reminders r SET claimed_at = $1, claimed_by = $2
FROM bookings b
JOIN services s ON s.id = b.service_id
JOIN users u ON u.telegram_id = b.user_id
WHERE r.id IN (
    SELECT id FROM reminders
    WHERE claimed_at IS NULL AND due_at <= $1
    ORDER BY due_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
AND b.id = r.booking_id
RETURNING r.id, r.booking_id, r.offset_minutes, r.due_at, b.user_id, b.status, b.starts_at,
          u.language_code, u.blocked_at, coalesce(b.service_name, s.name) AS service_name
"""


async def claim_due(
    pool: asyncpg.Pool,
    now: dt.datetime,
    worker: str,
    limit: int = 50,
    stale_after: dt.timedelta = STALE_AFTER,
) -> list[DueReminder]:
    """Claim due reminders (at most once, across workers); return those still worth sending."""
    rows = await pool.fetch(_CLAIM, now, worker, limit)
    result = []
    skipped = []
    for row in rows:
        pointless = (
            row["status"] != "confirmed"
            or row["blocked_at"] is not None
            or row["starts_at"] <= now
            or row["user_id"] < 0  # booked by phone: no Telegram chat
        )
        if pointless or now - row["due_at"] > stale_after:
            skipped.append(row["id"])
        else:
            result.append(
                DueReminder(
                    id=row["id"],
                    booking_id=row["booking_id"],
                    offset_minutes=row["offset_minutes"],
                    user_id=row["user_id"],
                    language_code=row["language_code"],
                    service_name=row["service_name"],
                    starts_at=row["starts_at"],
                )
            )
    if skipped:
        await pool.execute("UPDATE reminders SET error = 'skipped' WHERE id = ANY($1::bigint[])", skipped)
    return result


async def record_outcome(pool: asyncpg.Pool, reminder_id: int, error: str | None, now: dt.datetime) -> None:
    if error is None:
        await pool.execute("UPDATE reminders SET sent_at = $2 WHERE id = $1", reminder_id, now)
    else:
        await pool.execute("UPDATE reminders SET error = $2 WHERE id = $1", reminder_id, error[:200])


async def set_offsets(pool: asyncpg.Pool, offsets: list[int], now: dt.datetime) -> None:
    """The owner's new reminder times, applied to every upcoming booking's unsent reminders too."""
    wanted = sorted(set(offsets), reverse=True)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE settings SET reminder_offsets_minutes = $1, updated_at = now() WHERE id", wanted
        )
        await conn.execute(
            "DELETE FROM reminders r USING bookings b WHERE r.booking_id = b.id AND r.claimed_at IS NULL"
            " AND b.status = 'confirmed' AND b.starts_at > $1",
            now,
        )
        await conn.execute(
            "INSERT INTO reminders (booking_id, offset_minutes, due_at)"
            " SELECT b.id, o, b.starts_at - make_interval(mins => o)"
            " FROM bookings b CROSS JOIN unnest($1::int[]) AS o"
            " WHERE b.status = 'confirmed' AND b.kind = 'customer'"
            " AND b.starts_at - make_interval(mins => o) > $2"
            " ON CONFLICT DO NOTHING",
            wanted,
            now,
        )


Sender = Callable[[DueReminder], Awaitable[str | None]]  # returns None when delivered, else an error


async def run_once(
    pool: asyncpg.Pool, send: Sender, now: dt.datetime, worker: str, stale_after: dt.timedelta = STALE_AFTER
) -> int:
    """Claim and send one batch; returns how many were delivered."""
    delivered = 0
    for reminder in await claim_due(pool, now, worker, stale_after=stale_after):
        try:
            error = await send(reminder)
        except Exception as exc:  # one failing reminder must not stop the others
            error = type(exc).__name__
            log.warning("reminder failed", extra={"event": "reminder_failed", "reminder_id": reminder.id})
        await record_outcome(pool, reminder.id, error, now)
        if error is None:
            delivered += 1
    return delivered


async def run_worker(
    pool: asyncpg.Pool,
    send: Sender,
    *,
    worker: str,
    interval: float,
    stop: asyncio.Event,
    clock: Callable[[], dt.datetime],
    also: Callable[[dt.datetime], Awaitable[object]] | None = None,
) -> None:
    """Send due reminders every ``interval`` seconds until ``stop`` is set; survives database hiccups.

    ``also`` rides along on each pass (held owner notices), so an idle bot still opens one
    connection per pass, not two.
    """
    while not stop.is_set():
        try:
            sent = await run_once(pool, send, clock(), worker)
            if also is not None:
                await also(clock())
            if sent:
                log.info("reminders sent", extra={"event": "reminders_sent", "count": sent})
        except Exception as exc:  # database down, pool closing, a bug: log it, try again next time
            log.warning(
                "reminder pass failed", extra={"event": "reminder_pass_failed", "error": type(exc).__name__}
            )
        # Jitter spreads the passes of a thousand bots started at the same moment.
        pause = interval * random.uniform(0.9, 1.1)  # noqa: S311 - not cryptography
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
