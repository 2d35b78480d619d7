"""A tenant's Redis footprint: an ACL user that can touch only keys under `<clientId>:`.

Where the server has no ACLs (Redis < 6, or `REDIS_ACL=off`), isolation falls back
to the key prefix alone: the bot only ever writes `<clientId>:` keys, but nothing
on the server stops a compromised bot from reading another tenant's keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from booking_contract.client_id import validate_client_id
from booking_operator.passwords import redis_acl_hash

USER_PREFIX = "tenant_"
UNLINK_BATCH = 500
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


def acl_rules(client_id: str, password: str) -> list[str]:
    """Keys and channels under the prefix; every command except admin, dangerous and key-listing ones."""
    prefix = key_prefix(client_id)
    return [
        "reset",
        "on",
        f"#{redis_acl_hash(password)}",
        f"~{prefix}*",
        f"&{prefix}*",
        "+@all",
        "-@admin",
        "-@dangerous",
        # SCAN and RANDOMKEY ignore key patterns and would reveal other tenants' key names.
        "-scan",
        "-randomkey",
    ]


async def ensure_user(client: aioredis.Redis, client_id: str, password: str) -> str:
    """Create or reset the tenant's ACL user; idempotent (`reset` rewrites every rule)."""
    user = acl_username(client_id)
    await client.execute_command(  # type: ignore[no-untyped-call]
        "ACL", "SETUSER", user, *acl_rules(client_id, password)
    )
    return user


async def user_exists(client: aioredis.Redis, client_id: str) -> bool:
    return (
        await client.execute_command(  # type: ignore[no-untyped-call]
            "ACL", "GETUSER", acl_username(client_id)
        )
        is not None
    )


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
