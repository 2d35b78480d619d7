"""A tenant's Redis footprint: an ACL user that can touch only keys under `<clientId>:`.

Where the server has no ACLs (Redis < 6, or `REDIS_ACL=off`), isolation falls back
to the key prefix alone: the bot only ever writes `<clientId>:` keys, but nothing
on the server stops a compromised bot from reading another tenant's keys.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from booking_contract.client_id import validate_client_id
from booking_operator.passwords import redis_acl_hash

USER_PREFIX = "tenant_"
UNLINK_BATCH = 500


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
