"""The Redis step: the tenant's ACL user confined to its prefix, its quota, and Redis unreachable
(reconcile.ensure_redis_user, _redis_quota)."""

from __future__ import annotations

from typing import Any

import port_for
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from pydantic import SecretStr

from booking_operator import manifests, reconcile, redis_acl
from booking_operator.platform import Platform
from harness.kube import KubeClient
from harness.operator_process import Platform as Services
from operator_tests.reconcile.observe import (
    Pass,
    condition,
    credentials,
)


async def test_the_secrets_redis_password_logs_in_to_the_tenants_prefix_only(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, platform_services: Services, client_id: str
) -> None:
    outcome = await run_pass(await tenant())
    data = await credentials(api, namespace)
    user = outcome.status["redisUser"]
    client = aioredis.Redis(
        host=platform_services.redis.host,
        port=platform_services.redis.port,
        username=user,
        password=data[manifests.REDIS_PASSWORD_KEY],
    )
    try:
        await client.execute_command("SETEX", f"{redis_acl.key_prefix(client_id)}k", 60, "v")  # type: ignore[no-untyped-call]
        with pytest.raises(aioredis.ResponseError, match="no permissions to access one of the keys"):
            await client.execute_command("SETEX", "someone_else:k", 60, "v")  # type: ignore[no-untyped-call]
    finally:
        await client.aclose()
    assert condition(outcome, "Redis")["reason"] == "AclUser"


async def test_redis_unreachable_is_retried_later_not_failed(
    tenant: Any, run_pass: Pass, platform_factory: Any
) -> None:
    down = await platform_factory(
        operator_redis_url=SecretStr(f"redis://127.0.0.1:{port_for.select_random()}/0")
    )
    outcome = await run_pass(await tenant(), on=down)
    assert outcome.status["phase"] == "Provisioning"
    assert condition(outcome, "Redis")["reason"] == "Unavailable"
    assert outcome.status["message"].startswith("Redis is unreachable: ")
    assert outcome.retry_after == reconcile.RETRY_UNAVAILABLE


async def test_redis_lost_after_the_acl_check_is_retried_later(
    tenant: Any, run_pass: Pass, platform_factory: Any
) -> None:
    down = await platform_factory(
        operator_redis_url=SecretStr(f"redis://127.0.0.1:{port_for.select_random()}/0")
    )
    down._acl = True  # as a running operator remembers it from an earlier pass
    outcome = await run_pass(await tenant(), on=down)
    assert condition(outcome, "Redis")["reason"] == "Unavailable"
    assert outcome.status["message"].startswith("Redis is unreachable: ")
    assert outcome.retry_after == reconcile.RETRY_UNAVAILABLE


async def test_a_tenant_exactly_at_its_redis_quota_may_still_write(
    tenant: Any, run_pass: Pass, platform: Platform, platform_factory: Any, client_id: str
) -> None:
    body = await tenant()
    await run_pass(body)
    await platform.redis.set(f"{redis_acl.key_prefix(client_id)}big", "x" * 4096)
    used = await redis_acl.usage(platform.redis, client_id)
    at_quota = await platform_factory(tenant_redis_max_bytes=used.bytes)
    outcome = await run_pass(body, on=at_quota)
    assert condition(outcome, "RedisQuota")["reason"] == "WithinQuota"


async def test_without_redis_acls_isolation_is_by_prefix_only(
    tenant: Any, run_pass: Pass, platform_factory: Any, api: KubeClient, namespace: str
) -> None:
    prefix_only = await platform_factory(redis_acl="off")
    outcome = await run_pass(await tenant(), on=prefix_only)
    assert condition(outcome, "Redis")["reason"] == "PrefixOnly"
    assert "redisUser" not in outcome.status
    assert manifests.REDIS_PASSWORD_KEY not in await credentials(api, namespace)


async def test_a_tenant_over_its_redis_quota_is_reported(
    tenant: Any, run_pass: Pass, platform_services: Services, client_id: str
) -> None:
    body = await tenant()
    await run_pass(body)
    admin = aioredis.from_url(platform_services.redis.admin_url)
    try:
        await admin.set(f"{redis_acl.key_prefix(client_id)}big", "x" * (100 * 1024))
    finally:
        await admin.aclose()
    outcome = await run_pass(body)
    quota = condition(outcome, "RedisQuota")
    assert (quota["status"], quota["reason"]) == ("False", "OverQuota")
    assert outcome.status["redisBytes"] > 64 * 1024
    assert quota["message"] == f"{outcome.status['redisBytes']} bytes used of 65536: writes refused"


async def test_a_tenant_within_its_redis_quota_is_reported(tenant: Any, run_pass: Pass) -> None:
    outcome = await run_pass(await tenant())
    quota = condition(outcome, "RedisQuota")
    assert (quota["status"], quota["reason"]) == ("True", "WithinQuota")
    assert outcome.status["redisKeys"] == 0
    assert quota["message"] == f"{outcome.status['redisBytes']} bytes used of 65536"


async def test_the_pass_remembers_the_tenants_redis_user_for_a_redis_restart(
    tenant: Any, run_pass: Pass, platform: Platform, api: KubeClient, namespace: str, client_id: str
) -> None:
    """What redis_acl.RestartWatch applies again at once when Redis comes back empty."""
    body = await tenant()
    await run_pass(body)
    password = (await credentials(api, namespace))[manifests.REDIS_PASSWORD_KEY]
    memory = platform.known(body["metadata"]["uid"])
    assert memory is not None and memory.redis_user == (client_id, password)
    assert platform.redis_users() == [(client_id, password)]


async def test_the_tenants_redis_usage_is_exported_as_a_metric(
    tenant: Any, run_pass: Pass, platform: Platform, client_id: str
) -> None:
    body = await tenant()
    await run_pass(body)
    await platform.redis.set(f"{redis_acl.key_prefix(client_id)}big", "x" * 4096)
    outcome = await run_pass(body)
    exported = REGISTRY.get_sample_value("booking_operator_tenant_redis_bytes", {"client_id": client_id})
    assert exported == outcome.status["redisBytes"] > 4096


async def test_a_tenants_redis_user_lost_meanwhile_is_made_again_with_the_secrets_password(
    tenant: Any,
    run_pass: Pass,
    api: KubeClient,
    namespace: str,
    platform: Platform,
    platform_services: Services,
) -> None:
    """Redis restarted without its ACL file: the Secret (passwords applied) stays, the user is back."""
    body = await tenant()
    outcome = await run_pass(body)
    await platform.redis.acl_deluser(outcome.status["redisUser"])
    await run_pass(body)
    client = aioredis.Redis(
        host=platform_services.redis.host,
        port=platform_services.redis.port,
        username=outcome.status["redisUser"],
        password=(await credentials(api, namespace))[manifests.REDIS_PASSWORD_KEY],
    )
    try:
        assert await client.ping()
    finally:
        await client.aclose()
