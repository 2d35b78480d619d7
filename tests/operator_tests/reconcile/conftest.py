"""Fixtures of the in-process reconcile tests (one file per step): one pass, on real clients.

What kopf would call on every trigger, with the Platform the operator builds at startup: the
Kubernetes emulator (harness.kube, its own cluster: no operator watches it), the operator's
least-privilege PostgreSQL role, the admin Redis and the fake Bot API over HTTP. The tests look
at the outcome (status, conditions, events, when to retry) and at what a tenant can do with the
Secret the pass wrote. In-process so that mutation testing (`make mutation`) can switch a change
of reconcile.py on and see which test notices it; the operator-process tests one directory up
cover the same passes end to end through kopf.

Cheap per test on purpose: mutmut reruns every test that reached a mutated function, and every
reconcile test reaches nearly every step. The Platform reaches the emulator through the contract
client's in-cluster transport (`HttpTransport`, what the operator uses in its pod): the
kubeconfig transport (kubernetes_asyncio) builds a TLS context from the system CA bundle for
every client, ~80 ms here, more than a pass; only the tests of that transport ask for it
(``platform_factory(kubeconfig=True)``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from booking_contract.kube import KubeClient as OperatorKube
from booking_contract.telegram import TelegramClient
from booking_operator import reconcile
from booking_operator.config import OperatorSettings
from booking_operator.database import ensure_group
from booking_operator.platform import Platform
from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import (
    BOT_IMAGE,
    OPERATOR_PASSWORD,
    OPERATOR_ROLE,
    PLATFORM_DB,
    TENANT_GROUP,
    create_token_secret,
    tenant_body,
)
from harness.operator_process import Platform as Services
from harness.telegram import FakeTelegram
from operator_tests.reconcile.observe import LOG, TOKEN, Pass, PlatformFactory, TenantFactory


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmulatedCluster]:
    with EmulatedCluster() as emulated:
        yield emulated


@pytest.fixture()
async def api(cluster: EmulatedCluster) -> AsyncIterator[KubeClient]:
    async with KubeClient(cluster.url) as client:
        yield client


@pytest.fixture()
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        tg.add_bot(TOKEN, username="salon_booking_bot")
        yield tg


def settings_for(services: Services, telegram_url: str, **overrides: Any) -> OperatorSettings:
    values: dict[str, Any] = {
        "operator_database_url": SecretStr(services.dsn(OPERATOR_ROLE, OPERATOR_PASSWORD)),
        "operator_redis_url": SecretStr(services.redis.admin_url),
        "bot_image": BOT_IMAGE,
        "telegram_api_url": telegram_url,
        "telegram_check_tokens": True,
        "tenant_redis_max_bytes": 64 * 1024,
        "allow_createrole_before_pg16": True,
    }
    values.update(overrides)
    return OperatorSettings(**values)


@pytest.fixture()
async def platform_factory(
    platform_services: Services, cluster: EmulatedCluster, telegram: FakeTelegram, tmp_path: Path
) -> AsyncIterator[PlatformFactory]:
    """The operator's Platform as handlers.start builds it; overrides change its settings.

    ``kubeconfig=True``: the Kubernetes client reads a kubeconfig (kubernetes_asyncio), as the
    operator does outside a pod; otherwise the in-cluster transport, as in its pod.
    ``kube_url``: another API server address (e.g. one nobody listens on).
    """
    made: list[Platform] = []

    async def make(*, kubeconfig: bool = False, kube_url: str | None = None, **overrides: Any) -> Platform:
        cfg = settings_for(platform_services, telegram.url, **overrides)
        pg = await asyncpg.create_pool(cfg.operator_database_url.get_secret_value(), min_size=0, max_size=2)
        url = kube_url or cluster.url
        if kubeconfig:
            path = cluster.write_kubeconfig(tmp_path / f"kubeconfig-{len(made)}")
            path.write_text(path.read_text().replace(cluster.url, url))
            kube = await OperatorKube.connect(str(path))
        else:
            kube = OperatorKube(url)
        platform = Platform(
            settings=cfg,
            kube=kube,
            pg=pg,
            redis=aioredis.from_url(cfg.operator_redis_url.get_secret_value()),
            telegram=TelegramClient(cfg.telegram_api_url, cache_ttl=0),
        )
        made.append(platform)
        return platform

    yield make
    for platform in made:
        await platform.pg.close()
        await platform.redis.aclose()
        await platform.kube.close()


@pytest.fixture()
async def platform(platform_factory: PlatformFactory) -> Platform:
    made = await platform_factory()
    async with made.pg.acquire() as conn:
        await ensure_group(conn, TENANT_GROUP, PLATFORM_DB)
    return made


@pytest.fixture()
def namespace() -> str:
    return f"ns-{uuid.uuid4().hex[:8]}"


@pytest.fixture()
async def client_id(platform_services: Services) -> AsyncIterator[str]:
    """A fresh clientId; its role, schema and Redis user are removed afterwards."""
    cid = f"t_{uuid.uuid4().hex[:10]}"
    yield cid
    conn = await asyncpg.connect(platform_services.admin_dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{cid}" CASCADE')
        if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", cid):
            await conn.execute(f'DROP OWNED BY "{cid}" CASCADE')
            await conn.execute(f'DROP ROLE "{cid}"')
    finally:
        await conn.close()
    admin = aioredis.from_url(platform_services.redis.admin_url)
    try:
        for user in await admin.acl_users():
            name = user.decode() if isinstance(user, bytes) else str(user)
            if cid in name:
                await admin.acl_deluser(name)
    finally:
        await admin.aclose()


@pytest.fixture()
def delete_tenants_afterwards() -> None:
    """Overrides the operator-process tests' autouse cleanup, which waits for the session
    operator to delete each test's tenants: no operator watches these tests' cluster."""


@pytest.fixture()
async def tenant(api: KubeClient, namespace: str, client_id: str) -> TenantFactory:
    """Create the tenant's token Secret (once) and the BookingTenant; returns it as stored."""

    async def create(name: str = "salon", *, token: str = TOKEN, **spec: Any) -> dict[str, Any]:
        if await api.get("v1/secrets", namespace, "bot-token") is None:
            await create_token_secret(api, namespace, token=token)
        spec.setdefault("paidUntil", "2099-01-01T00:00:00Z")
        created: dict[str, Any] = await api.create(
            BOOKINGTENANTS, namespace, tenant_body(name, client_id, **spec)
        )
        return created

    return create


@pytest.fixture()
def run_pass(platform: Platform, api: KubeClient) -> Pass:
    """One pass over the tenant as stored now; the status it computes is written back, as kopf does."""

    async def run(body: dict[str, Any], on: Platform | None = None) -> reconcile.ReconcileOutcome:
        meta = body["metadata"]
        current = await api.get(BOOKINGTENANTS, meta["namespace"], meta["name"])
        assert current is not None
        outcome = await reconcile.reconcile(on or platform, current, LOG)
        await api.patch(
            BOOKINGTENANTS, meta["namespace"], meta["name"], {"status": outcome.status}, sub="status"
        )
        return outcome

    return run
