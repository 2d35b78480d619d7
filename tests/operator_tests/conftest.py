"""Fixtures of the operator's tests: one operator process shared by the session, per-test
namespaces and client ids, and cleanup of the tenants each test created."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import OperatorProcess, Platform, eventually, operator_env


@pytest.fixture(scope="session")
def operator_cluster() -> Iterator[EmulatedCluster]:
    """The shared operator's own cluster: it watches everything, so no other suite may share it."""
    with EmulatedCluster() as cluster:
        yield cluster


@pytest.fixture()
async def kube(operator_cluster: EmulatedCluster) -> AsyncIterator[KubeClient]:
    """Overrides the root `kube`: the operator tests act on the shared operator's cluster."""
    async with KubeClient(operator_cluster.url) as client:
        yield client


@pytest.fixture(scope="session")
def running_operator(
    platform_services: Platform, operator_cluster: EmulatedCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator for the whole session; tests isolate themselves by namespace and clientId."""
    workdir = tmp_path_factory.mktemp("operator")
    op = OperatorProcess(
        env=operator_env(platform_services, operator_cluster, workdir), log_path=workdir / "op.log"
    )
    op.start()
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[EmulatedCluster]:
    """A module's own cluster, for tests that run their own operator (to stop, kill or configure it)."""
    with EmulatedCluster() as cluster:
        yield cluster


@pytest.fixture()
async def own_kube(own_cluster: EmulatedCluster) -> AsyncIterator[KubeClient]:
    async with KubeClient(own_cluster.url) as client:
        yield client


@pytest.fixture()
def namespace() -> str:
    return f"ns-{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def client_id() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
async def delete_tenants_afterwards(kube: KubeClient, namespace: str) -> AsyncIterator[None]:
    """Each test removes its tenants, so the shared operator's load stays flat over the session.

    A tenant the operator does not finish deleting is a defect of the test that made it (or of
    the operator): it errors that test's teardown, naming the tenant and its finalizers.
    """
    yield
    for tenant in await kube.list(BOOKINGTENANTS, namespace):
        await kube.delete(BOOKINGTENANTS, namespace, tenant["metadata"]["name"])

    async def left() -> list[str]:
        return [
            f"{t['metadata']['name']} (phase {(t.get('status') or {}).get('phase')}, "
            f"finalizers {t['metadata'].get('finalizers')})"
            for t in await kube.list(BOOKINGTENANTS, namespace)
        ]

    async def all_gone() -> bool:
        return not await left()

    try:
        await eventually(all_gone, timeout=30, what="tenants deleted")
    except pytest.fail.Exception:
        pytest.fail(f"tenants still not deleted after the test: {await left()}")


@pytest.fixture()
async def admin_db(platform_services: Platform) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(platform_services.admin_dsn)
    try:
        yield conn
    finally:
        await conn.close()
