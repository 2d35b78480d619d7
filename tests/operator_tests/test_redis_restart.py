"""Tenant ACL users survive a Redis restart (defect 3 of issue 10).

Redis keeps ACL users in memory only; a restarted server (pod rescheduled, upgrade) knows none
of them and every bot gets WRONGPASS. The operator notices the new `run_id` and re-applies every
tenant user it knows at once. Here a real redis-server is stopped and started again on the same
port; on a real cluster tests/e2e/test_resilience.py restarts the chart's Redis pod.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import port_for
import pytest
import redis.asyncio as aioredis

from booking_operator import redis_acl
from harness.operator_process import eventually

PASSWORD = "restart-test-admin"


class RestartableRedis:
    def __init__(self, workdir: Path) -> None:
        self.port = port_for.select_random()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--requirepass",
                PASSWORD,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[RestartableRedis]:
    redis = RestartableRedis(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture()
async def client(server: RestartableRedis) -> AsyncIterator[aioredis.Redis]:
    conn = aioredis.from_url(f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0")

    async def up() -> bool:
        try:
            return bool(await conn.ping())
        except (OSError, aioredis.RedisError):
            return False

    await eventually(up, timeout=10, what="redis-server up")
    try:
        yield conn
    finally:
        await conn.aclose()


async def test_a_restarted_redis_gets_every_known_tenant_user_back(
    server: RestartableRedis, client: aioredis.Redis
) -> None:
    known: dict[str, tuple[str, str]] = {}  # what the operator remembers, per tenant uid
    watch = redis_acl.RestartWatch(client, known.values)
    assert await watch.check() is None  # the first look only learns the run_id
    for i in range(3):
        await redis_acl.ensure_user(client, f"t_restart_{i}", f"password-{i}")
        known[f"uid-{i}"] = (f"t_restart_{i}", f"password-{i}")
    assert await watch.check() is None  # same server: nothing to do

    server.stop()
    server.start()

    assert await eventually(watch.check, timeout=15, what="the restart noticed") == 3
    for i in range(3):
        assert await redis_acl.user_exists(client, f"t_restart_{i}")
    tenant = aioredis.from_url(
        f"redis://{redis_acl.acl_username('t_restart_1')}:password-1@127.0.0.1:{server.port}/0"
    )
    try:
        await tenant.execute_command(
            "SETEX", "t_restart_1:k", 60, "v"
        )  # the tenant's own password works again
    finally:
        await tenant.aclose()


async def test_an_unreachable_redis_is_not_taken_for_a_restart(
    server: RestartableRedis, client: aioredis.Redis
) -> None:
    watch = redis_acl.RestartWatch(client, list)
    await watch.check()
    server.stop()
    assert await watch.check() is None
