"""The chart's Redis configuration, started for real with the Debian redis-server (7.x).

The container's start command writes the `default` user's password to /run/redis/auth.conf and
runs `redis-server /etc/redis/redis.conf`; here the same script runs with those paths moved
into a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import port_for
import pytest
import redis

from booking_operator.redis_acl import acl_rules, acl_username

from .conftest import Helm, by_kind

PASSWORD = "chart-redis-password"


@pytest.fixture(scope="module")
def chart_redis(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    workdir = tmp_path_factory.mktemp("chart-redis")
    manifests = helm.render({})
    (config,) = [c for c in by_kind(manifests, "ConfigMap") if c["metadata"]["name"].endswith("-redis")]
    (statefulset,) = [
        s for s in by_kind(manifests, "StatefulSet") if s["metadata"]["name"].endswith("-redis")
    ]
    script = statefulset["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    (workdir / "etc").mkdir()
    (workdir / "run").mkdir()
    (workdir / "data").mkdir()
    conf = (
        config["data"]["redis.conf"]
        .replace("/run/redis/", f"{workdir}/run/")
        .replace("dir /data", f"dir {workdir}/data")
    )
    port = port_for.select_random()
    conf += f"\nport {port}\nbind 127.0.0.1\n"
    (workdir / "etc" / "redis.conf").write_text(conf)
    script = script.replace("/run/redis/", f"{workdir}/run/").replace("/etc/redis/", f"{workdir}/etc/")
    proc = subprocess.Popen(
        ["sh", "-c", script],
        env={**os.environ, "REDIS_PASSWORD": PASSWORD},
        stdout=(workdir / "redis.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis(port=port, password=PASSWORD).ping()
                break
            except redis.RedisError:
                assert proc.poll() is None, (workdir / "redis.log").read_text()
                assert time.monotonic() < deadline, (workdir / "redis.log").read_text()
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_redis_requires_the_generated_password(chart_redis: int) -> None:
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=chart_redis, password="wrong").ping()
    with pytest.raises(redis.RedisError, match=r"(?i)auth"):
        redis.Redis(port=chart_redis).ping()


def test_admin_can_manage_per_tenant_acl_users(chart_redis: int) -> None:
    admin = redis.Redis(port=chart_redis, password=PASSWORD)
    admin.acl_setuser(
        "chart_tenant", enabled=True, passwords=["+tenant-pw"], keys=["chart_tenant:*"], commands=["+@all"]
    )
    tenant = redis.Redis(port=chart_redis, username="chart_tenant", password="tenant-pw")
    tenant.set("chart_tenant:x", "1")
    with pytest.raises(redis.exceptions.NoPermissionError):
        tenant.set("other:x", "1")
    admin.acl_deluser("chart_tenant")


def test_redis_persists_with_aof_and_evicts_only_keys_with_a_ttl(chart_redis: int) -> None:
    admin = redis.Redis(port=chart_redis, password=PASSWORD, decode_responses=True)
    assert admin.config_get("appendonly") == {"appendonly": "yes"}
    assert admin.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-lru"}
    assert Path(str(admin.config_get("dir")["dir"])).is_dir()


def _tenant_user(admin: redis.Redis, client_id: str) -> redis.Redis:
    """The tenant's ACL user exactly as the operator makes it."""
    admin.execute_command("ACL", "SETUSER", acl_username(client_id), *acl_rules(client_id, f"{client_id}-pw"))  # type: ignore[no-untyped-call]
    return redis.Redis(
        port=admin.connection_pool.connection_kwargs["port"],
        username=acl_username(client_id),
        password=f"{client_id}-pw",
    )


def _hog_write(client: redis.Redis, key: str, value: str) -> None:
    """A key that never expires if the ACL allows SET, else the longest TTL it can give."""
    try:
        client.set(key, value)
    except redis.exceptions.NoPermissionError:
        client.execute_command("SETEX", key, 10**8, value)  # type: ignore[no-untyped-call]


def test_one_tenant_filling_redis_does_not_fail_another_tenants_writes(chart_redis: int) -> None:
    """Attack matrix: a hostile tenant writes until the server is full, with whatever its ACL allows."""
    admin = redis.Redis(port=chart_redis, password=PASSWORD)
    admin.config_set("maxmemory", "8mb")  # the chart's policy, on a size a test can fill
    attacker, victim = _tenant_user(admin, "chart_hog"), _tenant_user(admin, "chart_victim")
    try:
        # 100 KB values until refused, then ever smaller ones: the server is as full as it gets.
        for size, count in ((100_000, 200), (1_000, 20_000), (10, 20_000)):
            for i in range(count):
                try:
                    _hog_write(attacker, f"chart_hog:{size}:{i}", "x" * size)
                except redis.exceptions.OutOfMemoryError:
                    break
        victim.execute_command("SETEX", "chart_victim:fsm:1:1:1:state", 3600, "booking")  # type: ignore[no-untyped-call]
        assert victim.get("chart_victim:fsm:1:1:1:state") == b"booking"
    finally:
        for client_id in ("chart_hog", "chart_victim"):
            admin.execute_command("ACL", "DELUSER", acl_username(client_id))  # type: ignore[no-untyped-call]
        for key in admin.scan_iter(match="chart_hog:*"):
            admin.unlink(key)
        admin.config_set("maxmemory", "256mb")
