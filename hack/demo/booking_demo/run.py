"""One demo run against a given PostgreSQL and Redis: provision, migrate, start the bot, play, check."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from harness.postgres import PgServer
from harness.redis import RedisServer
from harness.telegram import FakeTelegram

from . import tenant as tenants
from .script import CUSTOMER, OWNER, Chat, Outcome, describe, play, stored_bookings
from .transcript import LEGEND, Transcript

BOT_ID = 7000000001
DEMO_TOKEN = FakeTelegram.make_token(BOT_ID, "DEMO-not-a-real-token")


@dataclass(frozen=True)
class DemoResult:
    client_id: str
    database_url: str
    outcome: Outcome
    booking: str  # the row read back from PostgreSQL, described
    transcript: list[str]


class DemoFailed(Exception):
    """Something in the demo did not happen; the message says what (and the bot's last output)."""


async def run_demo(
    pg: PgServer, redis: RedisServer, out: TextIO, client_id: str = "demo_salon"
) -> DemoResult:
    transcript = Transcript(out)
    transcript.note(LEGEND)
    with tempfile.TemporaryDirectory(prefix="booking-demo-") as workdir:
        log = Path(workdir) / "bot.log"
        transcript.note(f"PostgreSQL on 127.0.0.1:{pg.port}, Redis on 127.0.0.1:{redis.port} (throwaway)")
        tenant = await tenants.provision(pg, redis, client_id)
        transcript.note(f"tenant {client_id}: role + schema {client_id}, Redis user tenant_{client_id}")
        async with FakeTelegram() as tg:
            tg.add_bot(DEMO_TOKEN, username="demo_barbershop_bot", first_name="Demo Barbershop")
            env = tenants.bot_environment(tenant, token=DEMO_TOKEN, telegram_url=tg.url, owner_id=OWNER.id)
            await tenants.migrate(env, log)
            transcript.note("python -m booking_bot migrate: done")
            proc = await tenants.start_bot(env, log)
            transcript.note(f"python -m booking_bot: running against the stand-in Bot API at {tg.url}")
            try:
                outcome = await play(Chat(tg, DEMO_TOKEN, transcript))
            except (TimeoutError, LookupError) as exc:
                raise DemoFailed(f"{type(exc).__name__}: {exc}\nbot output:\n{tenants.tail(log)}") from exc
            finally:
                code = await tenants.stop_bot(proc)
            if code != 0:
                raise DemoFailed(f"the bot exited {code} on SIGTERM:\n{tenants.tail(log)}")
            transcript.note("bot stopped on SIGTERM, exit code 0")
    rows = [r for r in await stored_bookings(tenant.database_url) if r["user_id"] == CUSTOMER.id]
    if len(rows) != 1 or rows[0]["status"] != "confirmed":
        raise DemoFailed(f"expected one confirmed booking of customer {CUSTOMER.id}, found {rows}")
    booking = describe(rows[0])
    transcript.heading("in PostgreSQL")
    transcript.note(f"{client_id}.bookings: {booking}")
    return DemoResult(
        client_id=client_id,
        database_url=tenant.database_url,
        outcome=outcome,
        booking=booking,
        transcript=transcript.lines,
    )
