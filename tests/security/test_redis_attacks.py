"""Attack matrix, Redis: what one tenant's Redis user tries against the shared server.

Each test is one attack, run against the real Redis with the ACL user the operator's own code
makes (booking_operator.redis_acl). Every one of them got through the deny-list ACL of the
first version (`+@all -@admin -@dangerous -scan -randomkey`).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import NoPermissionError, ResponseError

from booking_operator import redis_acl
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.operator_process import create_token_secret, eventually, tenant_body, wait_phase

from .conftest import REDIS_QUOTA_BYTES, RedisTenant


async def test_client_tracking_bcast_does_not_stream_other_tenants_key_names(attacker: RedisTenant) -> None:
    # RESP3 (redis-py's default) delivers invalidations on the same connection: with BCAST and no
    # prefix, every key anyone writes (`client_002:customer:+7999...`) would be pushed to us.
    with pytest.raises(NoPermissionError):
        await attacker.client.execute_command("CLIENT", "TRACKING", "ON", "BCAST")  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    "command",
    [
        ("FUNCTION", "LOAD", "#!lua name=evil\nredis.register_function('f', function() return 1 end)"),
        ("FUNCTION", "FLUSH"),
        ("SCRIPT", "FLUSH"),
        ("EVAL", "return redis.call('DBSIZE')", "0"),
    ],
    ids=["function-load", "function-flush", "script-flush", "eval"],
)
async def test_tenant_cannot_load_flush_or_run_server_side_code(
    attacker: RedisTenant, command: tuple[str, ...]
) -> None:
    with pytest.raises(NoPermissionError):
        await attacker.client.execute_command(*command)  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    "command",
    [("DBSIZE",), ("MEMORY", "STATS"), ("PUBSUB", "CHANNELS"), ("RANDOMKEY",), ("SCAN", "0"), ("KEYS", "*")],
    ids=["dbsize", "memory-stats", "pubsub-channels", "randomkey", "scan", "keys"],
)
async def test_tenant_cannot_learn_about_other_tenants_keys_or_channels(
    attacker: RedisTenant, victim: RedisTenant, command: tuple[str, ...]
) -> None:
    with pytest.raises(NoPermissionError):
        await attacker.client.execute_command(*command)  # type: ignore[no-untyped-call]


async def test_tenant_cannot_select_another_database(attacker: RedisTenant) -> None:
    with pytest.raises(NoPermissionError):
        await attacker.client.execute_command("SELECT", "1")  # type: ignore[no-untyped-call]


async def test_tenant_cannot_read_or_delete_another_tenants_keys(
    attacker: RedisTenant, victim: RedisTenant
) -> None:
    key = f"{victim.client_id}:customer:+79990000000"
    for command in (("GET", key), ("DEL", key), ("SETEX", key, "10", "x")):
        with pytest.raises(NoPermissionError):
            await attacker.client.execute_command(*command)  # type: ignore[no-untyped-call]


async def test_every_command_outside_the_bots_allow_list_is_refused(
    attacker: RedisTenant, redis_admin: Redis
) -> None:
    """Every top-level command this server knows, dry-run as the tenant's user with as many
    arguments as its arity asks (keys under the tenant's own prefix): only the bot's four pass.
    Container commands (CLIENT, FUNCTION, SCRIPT, MEMORY, PUBSUB...) are refused as a whole
    unless listed; the tests above try their dangerous subcommands for real."""
    user = redis_acl.acl_username(attacker.client_id)
    allowed = []
    for name, info in sorted((await redis_admin.command()).items()):
        arity = int(info["arity"])
        args = [f"{attacker.client_id}:k"] * (abs(arity) - 1)
        try:
            verdict = await redis_admin.execute_command("ACL", "DRYRUN", user, name, *args)  # type: ignore[no-untyped-call]
        except ResponseError:  # a container command given no valid subcommand
            continue
        if verdict in (b"OK", "OK", True):  # a refusal is a reply saying why, not an error
            allowed.append(str(name).lower())
    # AUTH, HELLO, QUIT and RESET are always allowed by Redis (they change only the connection).
    assert sorted(set(allowed) - {"auth", "hello", "quit", "reset"}) == sorted(redis_acl.TENANT_COMMANDS)


async def test_tenant_cannot_write_a_key_that_never_expires(
    attacker: RedisTenant, redis_admin: Redis
) -> None:
    """Writes are SETEX only: nothing a tenant stores stays once it stops refreshing it."""
    key = f"{attacker.client_id}:fsm:1:1:1:data"
    for command in (("SET", key, "x"), ("APPEND", key, "x"), ("PERSIST", key), ("LPUSH", key, "x")):
        with pytest.raises(NoPermissionError):
            await attacker.client.execute_command(*command)  # type: ignore[no-untyped-call]
    await attacker.client.execute_command("SETEX", key, "60", "x")  # type: ignore[no-untyped-call]
    assert 0 < await redis_admin.ttl(key) <= 60


async def test_tenant_over_its_quota_can_no_longer_write_but_can_still_shrink(
    attacker: RedisTenant, redis_admin: Redis
) -> None:
    """What the operator's reconcile does when redis_acl.usage() exceeds TENANT_REDIS_MAX_BYTES."""
    for i in range(20):
        await attacker.client.execute_command("SETEX", f"{attacker.client_id}:blob:{i}", "600", "x" * 10_000)  # type: ignore[no-untyped-call]
    used = await redis_acl.usage(redis_admin, attacker.client_id)
    assert used.keys == 20 and used.bytes >= 200_000 and used.complete
    await redis_acl.ensure_user(redis_admin, attacker.client_id, "quota-password", writable=False)
    over = Redis.from_url(_url(attacker, redis_admin, "quota-password"))
    try:
        with pytest.raises(NoPermissionError):
            await over.execute_command("SETEX", f"{attacker.client_id}:more", "600", "x")  # type: ignore[no-untyped-call]
        assert await over.delete(f"{attacker.client_id}:blob:0") == 1
        assert await over.get(f"{attacker.client_id}:blob:1") is not None
    finally:
        await over.aclose()
    assert await redis_acl.user_current(redis_admin, attacker.client_id, writable=False)
    assert not await redis_acl.user_current(redis_admin, attacker.client_id, writable=True)


def _url(tenant: RedisTenant, admin: Redis, password: str) -> str:
    kwargs = admin.connection_pool.connection_kwargs
    return (
        f"redis://{redis_acl.acl_username(tenant.client_id)}:{password}@{kwargs['host']}:{kwargs['port']}/0"
    )


async def test_operator_stops_a_tenant_over_its_redis_quota_from_writing_until_it_shrinks(
    kube: KubeClient, namespace: str
) -> None:
    """Through the real operator: usage in status, writes refused above TENANT_REDIS_MAX_BYTES."""
    client_id = f"t_{uuid.uuid4().hex[:10]}"
    await create_token_secret(kube, namespace)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("hog", client_id))
    await wait_phase(kube, namespace, "hog", "Provisioning", timeout=30)
    secret = await kube.get("v1/secrets", namespace, "hog-credentials")
    tenant = Redis.from_url(base64.b64decode(secret["data"]["REDIS_URL"]).decode())
    try:
        for i in range(15):  # 1.5 MB against a 1 MiB quota
            await tenant.execute_command("SETEX", f"{client_id}:blob:{i}", 600, "x" * 100_000)  # type: ignore[no-untyped-call]

        async def condition(status: str) -> dict[str, Any] | None:
            body = await kube.get(BOOKINGTENANTS, namespace, "hog")
            conditions = {c["type"]: c for c in (body.get("status") or {}).get("conditions", [])}
            quota = conditions.get("RedisQuota")
            return body if quota and quota["status"] == status else None

        over = await eventually(lambda: condition("False"), timeout=30, what="RedisQuota False")
        assert over["status"]["redisBytes"] > REDIS_QUOTA_BYTES and over["status"]["redisKeys"] == 15

        async def refused() -> bool:
            try:
                await tenant.execute_command("SETEX", f"{client_id}:more", 600, "x")  # type: ignore[no-untyped-call]
            except NoPermissionError:
                return True
            return False

        await eventually(refused, timeout=10, what="SETEX refused")
        assert await tenant.get(f"{client_id}:blob:0") is not None  # reading still works
        await tenant.delete(*[f"{client_id}:blob:{i}" for i in range(15)])  # and so does shrinking
        await eventually(lambda: condition("True"), timeout=30, what="RedisQuota True again")
        await eventually(lambda: _writes(tenant, client_id), timeout=10, what="SETEX allowed again")
    finally:
        await tenant.aclose()


async def _writes(tenant: Redis, client_id: str) -> bool:
    try:
        await tenant.execute_command("SETEX", f"{client_id}:again", 600, "x")  # type: ignore[no-untyped-call]
    except NoPermissionError:
        return False
    return True
