"""Fixtures of the operator's tests: one operator process shared by the session, per-test
namespaces and client ids, and cleanup of the tenants each test created.

The API server is KMock's emulator, or with `OPERATOR_TESTS_KUBE=real` the real one of
`hack/cluster.sh` (harness/real_kube.py), where the operator runs as the chart's ServiceAccount
under the chart's RBAC. Tests that run an operator of their own (`own_cluster`: killed, stopped,
configured differently) stay on the emulator: a second operator on the shared real cluster
would reconcile the session operator's tenants too.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from harness import real_kube
from harness.kube import BOOKINGTENANTS, ApiServer, EmulatedCluster, KubeClient
from harness.operator_process import OperatorProcess, Platform, eventually, operator_env


@pytest.fixture(scope="session")
def operator_cluster() -> Iterator[ApiServer]:
    """The shared operator's own cluster: it watches everything, so no other suite may share it."""
    if real_kube.wanted():
        reason = real_kube.why_unavailable()
        if reason:
            pytest.fail(reason)  # asked for explicitly: not having it is an error, not a skip
        with real_kube.RealCluster() as real:
            yield real
        return
    with EmulatedCluster() as cluster:
        yield cluster


@pytest.fixture()
async def kube(operator_cluster: ApiServer) -> AsyncIterator[KubeClient]:
    """Overrides the root `kube`: the operator tests act on the shared operator's cluster."""
    async with operator_cluster.client() as client:
        yield client


@pytest.fixture(scope="session")
def running_operator(
    platform_services: Platform, operator_cluster: ApiServer, tmp_path_factory: pytest.TempPathFactory
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
    if real_kube.wanted():
        pytest.skip(
            "runs an operator of its own: on the shared real cluster it would also reconcile the session "
            "operator's tenants (emulator only; the real tier kills the chart's operator in tests/e2e)"
        )
    with EmulatedCluster() as cluster:
        yield cluster


@pytest.fixture()
async def own_kube(own_cluster: EmulatedCluster) -> AsyncIterator[KubeClient]:
    async with KubeClient(own_cluster.url) as client:
        yield client


@pytest.fixture()
async def namespace(kube: KubeClient) -> AsyncIterator[str]:
    """A fresh namespace name; on a real API server the namespace is created and deleted."""
    name = f"ns-{uuid.uuid4().hex[:8]}"
    if kube.emulated:
        yield name
        return
    await kube.create("v1/namespaces", None, {"metadata": {"name": name}})
    try:
        yield name
    finally:
        await kube.delete("v1/namespaces", None, name)


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
