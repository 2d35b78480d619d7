"""Fixtures of the attack matrix: a real operator tuned for short limits, a fake Telegram that
records every token it is shown, and tenants' Redis users made by the operator's own code."""

from __future__ import annotations

import asyncio
import http.server
import json
import secrets
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest
from chart.conftest import helm  # noqa: F401 - the chart's rendering fixture, for the permission tests
from redis.asyncio import Redis

from booking_operator import redis_acl
from harness.kube import EmulatedCluster, KubeClient
from harness.operator_process import (
    OPERATOR_ROLE,
    PLATFORM_DB,
    TENANT_GROUP,
    OperatorProcess,
    Platform,
    operator_env,
)
from harness.redis import RedisServer

# Short enough for a test to watch the watchdog act; the chart's defaults are 30 s / 60 s / 10 s.
STATEMENT_TIMEOUT_MS = 1_000
IDLE_IN_TRANSACTION_TIMEOUT_MS = 1_000
LOCK_TIMEOUT_MS = 500
ALLOWED_IMAGE = "registry.example/booking-bot:*"
REDIS_QUOTA_BYTES = 1024 * 1024
TOKEN_NAMESPACE = "sec-tokens"  # the platform's token namespace, as the chart's `<release ns>-tokens`


class TokenRecorder:
    """A Bot API stand-in in a thread (it must outlive every test's event loop): answers getMe
    for any token and records every request path, which is where Bot API tokens travel."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                recorder.paths.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                body = json.dumps(
                    {
                        "ok": True,
                        "result": {"id": 42, "is_bot": True, "first_name": "Bot", "username": "a_bot"},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def saw(self, secret: str) -> bool:
        return any(secret in path for path in self.paths)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def security_telegram() -> Iterator[TokenRecorder]:
    recorder = TokenRecorder()
    yield recorder
    recorder.close()


@pytest.fixture(scope="session")
def security_cluster() -> Iterator[EmulatedCluster]:
    with EmulatedCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def tenant_group(platform_services: Platform) -> str:
    """The tenants' group role as the chart's bootstrap makes it (superuser: the group, its
    CONNECT, the operator as its administrator), so that this suite does not depend on another
    suite having made it. On PostgreSQL 16 the operator could make it itself; before 16 its
    CREATEROLE does not make it the group's administrator, so only the bootstrap can."""

    async def bootstrap() -> None:
        conn = await asyncpg.connect(platform_services.admin_dsn)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", TENANT_GROUP):
                await conn.execute(f"CREATE ROLE {TENANT_GROUP} NOLOGIN NOINHERIT")
            await conn.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {PLATFORM_DB} TO {TENANT_GROUP}")
            await conn.execute(f"GRANT {TENANT_GROUP} TO {OPERATOR_ROLE} WITH ADMIN OPTION")
        finally:
            await conn.close()

    asyncio.run(bootstrap())
    return TENANT_GROUP


@pytest.fixture(scope="session")
def security_operator(
    tenant_group: str,
    platform_services: Platform,
    security_cluster: EmulatedCluster,
    security_telegram: TokenRecorder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    workdir = tmp_path_factory.mktemp("security-operator")
    env = operator_env(
        platform_services,
        security_cluster,
        workdir,
        TELEGRAM_CHECK_TOKENS="true",
        TELEGRAM_API_URL=security_telegram.url,
        BOT_IMAGE_ALLOWLIST=ALLOWED_IMAGE,
        TOKEN_NAMESPACE=TOKEN_NAMESPACE,
        TENANT_STATEMENT_TIMEOUT_MS=str(STATEMENT_TIMEOUT_MS),
        TENANT_IDLE_IN_TRANSACTION_TIMEOUT_MS=str(IDLE_IN_TRANSACTION_TIMEOUT_MS),
        TENANT_LOCK_TIMEOUT_MS=str(LOCK_TIMEOUT_MS),
        TENANT_REDIS_MAX_BYTES=str(REDIS_QUOTA_BYTES),
        RESYNC_INTERVAL="3",  # the Redis quota is measured at each resync
    )
    op = OperatorProcess(env=env, log_path=workdir / "op.log")
    op.start()
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture()
async def kube(
    security_cluster: EmulatedCluster, security_operator: OperatorProcess
) -> AsyncIterator[KubeClient]:
    async with KubeClient(security_cluster.url) as client:
        yield client


@pytest.fixture()
def namespace() -> str:
    return f"sec-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class RedisTenant:
    client_id: str
    client: Redis


async def _tenant(admin: Redis, server: RedisServer) -> RedisTenant:
    client_id = f"t_{uuid.uuid4().hex[:10]}"
    password = secrets.token_hex(16)
    user = await redis_acl.ensure_user(admin, client_id, password)
    client = Redis.from_url(f"redis://{user}:{password}@{server.host}:{server.port}/0")
    return RedisTenant(client_id, client)


@pytest.fixture()
async def attacker(redis_admin: Redis, redis_server: RedisServer) -> AsyncIterator[RedisTenant]:
    tenant = await _tenant(redis_admin, redis_server)
    yield tenant
    await tenant.client.aclose()
    await redis_acl.delete_user(redis_admin, tenant.client_id)
    await redis_acl.delete_keys(redis_admin, tenant.client_id)


@pytest.fixture()
async def victim(redis_admin: Redis, redis_server: RedisServer) -> AsyncIterator[RedisTenant]:
    tenant = await _tenant(redis_admin, redis_server)
    await redis_admin.set(f"{tenant.client_id}:customer:+79990000000", "booked", ex=3600)
    yield tenant
    await tenant.client.aclose()
    await redis_acl.delete_user(redis_admin, tenant.client_id)
    await redis_acl.delete_keys(redis_admin, tenant.client_id)
