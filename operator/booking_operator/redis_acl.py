"""A tenant's Redis footprint: an ACL user that can touch only keys under `<clientId>:`.

The user's commands are an allow-list, not a deny-list: a deny-list (`+@all -@admin
-@dangerous`) still let a tenant stream every tenant's key names (`CLIENT TRACKING ON
BCAST`), flush the server's functions and scripts, and read server-wide facts (DBSIZE,
MEMORY STATS, PUBSUB CHANNELS). The list is exactly what the bot sends
(booking_bot/storage.py): GET, SETEX, DEL, PING; HELLO/AUTH are always allowed by Redis.
SETEX rather than SET means every key a tenant creates carries a TTL, so a server with
`maxmemory-policy volatile-lru` (the chart's) can always reclaim memory: a tenant filling
Redis evicts idle conversations instead of failing every other tenant's writes. Usage per
tenant is measured by `usage()` and reported in status and metrics.

Where the server has no ACLs (Redis < 6, or `REDIS_ACL=off`), isolation falls back
to the key prefix alone: the bot only ever writes `<clientId>:` keys, but nothing
on the server stops a compromised bot from reading another tenant's keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from booking_contract.client_id import validate_client_id
from booking_operator.passwords import redis_acl_hash

USER_PREFIX = "tenant_"
UNLINK_BATCH = 500
# Everything a tenant's bot may run (booking_bot/storage.py); every other command is refused.
TENANT_COMMANDS = ("get", "setex", "del", "ping")
# A tenant over its quota keeps reading and deleting (so it can shrink), but cannot write.
READ_ONLY_COMMANDS = ("get", "del", "ping")
# usage() stops counting after this many keys (a hostile tenant could create millions).
USAGE_KEY_LIMIT = 100_000
RESTART_CHECK_INTERVAL = 2.0  # seconds between looks at the server's run_id


def acl_username(client_id: str) -> str:
    """Never the bare clientId: a tenant called `default` must not redefine the default user."""
    return USER_PREFIX + validate_client_id(client_id)


def key_prefix(client_id: str) -> str:
    return f"{validate_client_id(client_id)}:"


async def supports_acl(client: aioredis.Redis) -> bool:
    try:
        await client.execute_command(  # type: ignore[no-untyped-call]
            "ACL", "WHOAMI"
        )
    except ResponseError:
        return False
    return True


def commands(writable: bool = True) -> tuple[str, ...]:
    return TENANT_COMMANDS if writable else READ_ONLY_COMMANDS


def acl_rules(client_id: str, password: str, *, writable: bool = True) -> list[str]:
    """Keys and channels under the prefix; only the commands the bot sends."""
    prefix = key_prefix(client_id)
    return [
        "reset",  # also resetkeys, resetchannels, nocommands: nothing survives from before
        "on",
        f"#{redis_acl_hash(password)}",
        f"~{prefix}*",
        "resetchannels",
        f"&{prefix}*",
        "-@all",
        *(f"+{command}" for command in commands(writable)),
    ]


async def ensure_user(client: aioredis.Redis, client_id: str, password: str, *, writable: bool = True) -> str:
    """Create or reset the tenant's ACL user; idempotent (`reset` rewrites every rule)."""
    user = acl_username(client_id)
    await client.execute_command(  # type: ignore[no-untyped-call]
        "ACL", "SETUSER", user, *acl_rules(client_id, password, writable=writable)
    )
    return user


async def user_current(client: aioredis.Redis, client_id: str, *, writable: bool = True) -> bool:
    """The user exists with today's rules (an operator upgrade rewrites users made by an older one)."""
    found = await client.execute_command(  # type: ignore[no-untyped-call]
        "ACL", "GETUSER", acl_username(client_id)
    )
    if found is None:
        return False
    info = _as_dict(found)
    granted = _text(info.get("commands", "")).split()
    return (
        sorted(granted) == sorted(["-@all", *(f"+{c}" for c in commands(writable))])
        and _text(info.get("channels", "")) == f"&{key_prefix(client_id)}*"
    )


async def user_exists(client: aioredis.Redis, client_id: str) -> bool:
    return (
        await client.execute_command(  # type: ignore[no-untyped-call]
            "ACL", "GETUSER", acl_username(client_id)
        )
        is not None
    )


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    return str(value)


def _as_dict(reply: object) -> dict[str, object]:
    if isinstance(reply, dict):
        return {_text(k): v for k, v in reply.items()}
    if not isinstance(reply, list):
        raise TypeError(f"unexpected ACL GETUSER reply: {type(reply).__name__}")
    return {_text(reply[i]): reply[i + 1] for i in range(0, len(reply) - 1, 2)}


@dataclass(frozen=True)
class Usage:
    keys: int
    bytes: int
    complete: bool  # False when counting stopped at USAGE_KEY_LIMIT


async def usage(client: aioredis.Redis, client_id: str) -> Usage:
    """Keys and bytes (MEMORY USAGE) under the tenant's prefix, with SCAN (never KEYS)."""
    keys = total = 0
    batch: list[bytes] = []

    async def measure() -> int:
        async with client.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0")
            sizes = await pipe.execute()
        batch.clear()
        return sum(int(size or 0) for size in sizes)

    async for key in client.scan_iter(match=f"{key_prefix(client_id)}*", count=1000):
        keys += 1
        batch.append(key)
        if len(batch) >= UNLINK_BATCH:
            total += await measure()
        if keys >= USAGE_KEY_LIMIT:
            break
    if batch:
        total += await measure()
    return Usage(keys, total, complete=keys < USAGE_KEY_LIMIT)


async def delete_user(client: aioredis.Redis, client_id: str) -> None:
    await client.execute_command(  # type: ignore[no-untyped-call]
        "ACL", "DELUSER", acl_username(client_id)
    )


async def delete_keys(client: aioredis.Redis, client_id: str) -> int:
    """Remove every key under the tenant's prefix with SCAN + UNLINK (never KEYS); returns the count."""
    deleted = 0
    batch: list[bytes] = []
    async for key in client.scan_iter(match=f"{key_prefix(client_id)}*", count=1000):
        batch.append(key)
        if len(batch) >= UNLINK_BATCH:
            deleted += await client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += await client.unlink(*batch)
    return deleted


async def ensure_users(client: aioredis.Redis, users: Iterable[tuple[str, str]]) -> int:
    """(Re)create many tenants' ACL users in one round trip; returns how many."""
    pipe = client.pipeline(transaction=False)
    count = 0
    for client_id, password in users:
        pipe.execute_command("ACL", "SETUSER", acl_username(client_id), *acl_rules(client_id, password))
        count += 1
    if count:
        await pipe.execute()
    return count


class RestartWatch:
    """Notices a Redis restart (its `run_id` changes) and re-applies every known tenant user.

    ACL users live only in the server's memory: after a restart (pod rescheduled, upgrade) every
    bot would get WRONGPASS until its tenant's next resync. The operator remembers each tenant's
    (clientId, Redis password) of its last pass (`users`) and puts them all back at once.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        users: Callable[[], Iterable[tuple[str, str]]],
        interval: float = RESTART_CHECK_INTERVAL,
    ) -> None:
        self.client = client
        self.users = users  # every known tenant's (clientId, password)
        self.interval = interval
        self._run_id: str | None = None

    async def check(self) -> int | None:
        """One look at the server: the number of users re-applied after a restart, else None."""
        try:
            info = await self.client.info("server")
        except (RedisError, OSError):
            return None  # unreachable now; the next look after it is back sees the new run_id
        run_id = str(info.get("run_id", ""))
        previous, self._run_id = self._run_id, run_id
        if previous is None or previous == run_id:
            return None
        try:
            return await ensure_users(self.client, list(self.users()))
        except (RedisError, OSError):
            self._run_id = previous  # try again at the next look
            return None

    async def run(self, logger: Any) -> None:
        while True:
            restored = await self.check()
            if restored is not None:
                logger.warning(f"Redis restarted (new run_id): re-applied {restored} tenant ACL users")
            await asyncio.sleep(self.interval)
