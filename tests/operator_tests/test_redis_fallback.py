"""Without Redis ACLs (REDIS_ACL=off, or Redis < 6) isolation falls back to the key prefix alone."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import (
    OperatorProcess,
    Platform,
    create_token_secret,
    operator_env,
    tenant_body,
    wait_phase,
)


@pytest.fixture()
def operator_without_acl(
    platform_services: Platform, own_cluster: EmulatedCluster, tmp_path: Path
) -> Iterator[OperatorProcess]:
    env = operator_env(
        platform_services,
        own_cluster,
        tmp_path,
        REDIS_ACL="off",
        TENANT_REDIS_URL=platform_services.redis.admin_url,
    )
    op = OperatorProcess(env=env, log_path=tmp_path / "op.log")
    op.start()
    yield op
    op.stop()


async def test_prefix_only_isolation_is_reported_and_uses_the_configured_tenant_url(
    operator_without_acl: OperatorProcess,
    own_kube: KubeClient,
    namespace: str,
    client_id: str,
    platform_services: Platform,
) -> None:
    await create_token_secret(own_kube, namespace)
    await own_kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id))
    tenant = await wait_phase(own_kube, namespace, "salon", "Provisioning")
    redis_condition = next(c for c in tenant["status"]["conditions"] if c["type"] == "Redis")
    assert redis_condition["reason"] == "PrefixOnly"
    assert "redisUser" not in tenant["status"]
    secret = await own_kube.get("v1/secrets", namespace, "salon-credentials")
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert values["REDIS_URL"] == platform_services.redis.admin_url
    assert values["REDIS_KEY_PREFIX"] == f"{client_id}:"
    assert "REDIS_PASSWORD" not in values
    admin = aioredis.from_url(platform_services.redis.admin_url)
    try:
        assert await admin.acl_getuser(f"tenant_{client_id}") is None
    finally:
        await admin.aclose()
