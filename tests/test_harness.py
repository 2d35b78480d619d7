"""The harness itself: each real server refuses what production would refuse."""

import asyncpg
import pytest
import redis.asyncio as aioredis

from harness.kube import KubeClient
from harness.postgres import PgServer
from harness.redis import RedisServer


async def test_postgres_refuses_a_wrong_password(pg_server: PgServer) -> None:
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(pg_server.dsn(password="wrong"))


async def test_postgres_accepts_the_superuser_over_scram(pg_server: PgServer) -> None:
    conn = await asyncpg.connect(pg_server.dsn())
    try:
        assert await conn.fetchval("SELECT current_setting('password_encryption')") == "scram-sha-256"
    finally:
        await conn.close()


async def test_redis_refuses_unauthenticated_clients(redis_server: RedisServer) -> None:
    client = aioredis.from_url(redis_server.public_url)
    try:
        with pytest.raises(Exception, match=r"(?i)auth"):
            await client.set("x", "1")
    finally:
        await client.aclose()


async def test_emulator_versions_objects_like_an_api_server(kube: KubeClient) -> None:
    created = await kube.create("v1/configmaps", "harness", {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    assert created["metadata"]["uid"]
    patched = await kube.patch("v1/configmaps", "harness", "cm", {"data": {"a": "2"}})
    assert int(patched["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    with pytest.raises(RuntimeError, match="409"):
        await kube.patch(
            "v1/configmaps", "harness", "cm", {"metadata": {"resourceVersion": "1"}, "data": {"a": "3"}}
        )
    await kube.delete("v1/configmaps", "harness", "cm")
    assert await kube.get("v1/configmaps", "harness", "cm") is None
