"""One tenant, provisioned by hand the way README's "Run one bot locally" describes, and its bot.

What the operator does in a cluster is three SQL statements and one ACL rule here: a LOGIN role
named after the client id, a schema it owns, its search_path; a Redis user limited to the
client's key prefix. Then the bot's own `migrate` and the bot itself run as child processes,
configured only through their environment, exactly as in a pod.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from harness.postgres import PgServer, create_tenant_schema
from harness.redis import RedisServer


@dataclass(frozen=True)
class Tenant:
    client_id: str
    database_url: str
    redis_url: str


async def provision(pg: PgServer, redis: RedisServer, client_id: str) -> Tenant:
    password = secrets.token_hex(16)
    admin = await asyncpg.connect(pg.dsn())
    try:
        await create_tenant_schema(admin, client_id, password)
    finally:
        await admin.close()
    redis_password = secrets.token_hex(16)
    user = f"tenant_{client_id}"
    client = aioredis.from_url(redis.admin_url)
    try:
        await client.execute_command(  # type: ignore[no-untyped-call]
            "ACL", "SETUSER", user, "reset", "on", f">{redis_password}",
            f"~{client_id}:*", f"&{client_id}:*", "+@all", "-@admin", "-@dangerous", "-scan", "-randomkey",
        )  # fmt: skip
    finally:
        await client.aclose()
    return Tenant(
        client_id=client_id,
        database_url=pg.dsn(client_id, password),
        redis_url=f"redis://{user}:{redis_password}@{redis.host}:{redis.port}/0",
    )


def bot_environment(tenant: Tenant, *, token: str, telegram_url: str, owner_id: int) -> dict[str, str]:
    """The bot's whole configuration: the variables docs/bot.md lists, nothing inherited that matters."""
    inherited = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PG_BINDIR")}
    return {
        **inherited,
        "CLIENT_ID": tenant.client_id,
        "DATABASE_URL": tenant.database_url,
        "REDIS_URL": tenant.redis_url,
        "BOT_TOKEN": token,
        "TELEGRAM_API_URL": telegram_url,
        "BUSINESS_NAME": "Demo Barbershop",
        "OWNER_TELEGRAM_ID": str(owner_id),
        "DEFAULT_LANGUAGE": "en",
        "HEALTH_PORT": "0",
        "LOG_LEVEL": "INFO",
    }


class BotFailed(Exception):
    """The bot process failed; the message carries the end of its output."""


async def migrate(env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "booking_bot", "migrate", env=env, stdout=out, stderr=out
        )
        code = await proc.wait()
    if code != 0:
        raise BotFailed(f"`python -m booking_bot migrate` exited {code}:\n{tail(log)}")


async def start_bot(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "booking_bot", env=env, stdout=out, stderr=out
        )


STOP_SECONDS = 15.0  # the bot drains handlers for up to 10 s


async def stop_bot(proc: asyncio.subprocess.Process) -> int:
    """SIGTERM, as Kubernetes would; the bot finishes what it is doing and exits 0."""
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), STOP_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    if proc.returncode is None:  # wait() returned, so the process has exited
        raise RuntimeError("the bot process did not exit")
    return proc.returncode


def tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no output)"
