"""A converged tenant costs the API server reads only: resyncs that find nothing to repair write nothing.

docs/scaling.md counts on it (1000 idle tenants, no writes). On the emulator every request is
logged with the client that sent it, so the operator's writes are counted exactly. On a real
API server (`OPERATOR_TESTS_KUBE=real`) they are counted from `apiserver_request_total`, for the
resources only the operator writes; the session's operator is paused meanwhile, so the one
counted is this test's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from harness import real_kube
from harness.kube import BOOKINGTENANTS, ApiServer, EmulatedCluster, KubeClient
from harness.operator_process import (
    OperatorProcess,
    Platform,
    create_token_secret,
    eventually,
    mark_bot_available,
    metric_total,
    own_operator,
    tenant_body,
    wait_phase,
)

RESYNCS = 4
Writes = Counter[tuple[str, str, str | None]]  # (verb, resource, subresource) -> how many


class WriteLog(Protocol):
    async def mark(self) -> None: ...

    def since_mark(self) -> Writes: ...


class EmulatorWrites:
    """The operator's writes in the emulator's request log (the tests' own are told apart)."""

    def __init__(self, cluster: EmulatedCluster) -> None:
        assert cluster.emulator is not None
        self.emulator = cluster.emulator
        self.start = 0

    async def mark(self) -> None:
        self.start = len(self.emulator.served)

    def since_mark(self) -> Writes:
        return Counter(
            (w.method, w.resource, w.subresource) for w in self.emulator.writes(self.start) if not w.by_tests
        )


# What no one but the operator writes on the test cluster: the tenants, their Secrets, the bot
# Deployments' objects (their status is the deployment controller's). Events are left out here:
# the kubelet posts them too (a bot pod that cannot pull its image); they are counted by listing.
OPERATOR_ONLY = {("bookingtenants", ""), ("bookingtenants", "status"), ("secrets", ""), ("deployments", "")}
READ_VERBS = {"GET", "LIST", "WATCH", "WATCHLIST", "CONNECT"}


class ApiServerWrites:
    """Writes to OPERATOR_ONLY resources counted by the API server itself (apiserver_request_total)."""

    def __init__(self, cluster: real_kube.RealCluster) -> None:
        self.cluster = cluster
        self.start: Writes = Counter()

    def _totals(self) -> Writes:
        totals: Writes = Counter()
        for line in self.cluster.kubectl("get", "--raw", "/metrics").splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels_text, value = line[len("apiserver_request_total{") :].rsplit("} ", 1)
            labels = dict(part.split("=", 1) for part in labels_text.split('",') if "=" in part)
            labels = {k: v.strip('"') for k, v in labels.items()}
            resource, sub, verb = labels.get("resource", ""), labels.get("subresource", ""), labels["verb"]
            if (resource, sub) in OPERATOR_ONLY and verb not in READ_VERBS:
                totals[(verb, resource, sub or None)] += int(float(value))
        return totals

    async def mark(self) -> None:
        # The namespace controller deletes what earlier tests' namespaces held, counted as the
        # same resources: start once none is left terminating.
        async def none_terminating() -> bool:
            namespaces = json.loads(self.cluster.kubectl("get", "namespaces", "-o", "json"))["items"]
            return not any(ns.get("status", {}).get("phase") == "Terminating" for ns in namespaces)

        await eventually(none_terminating, timeout=120, interval=0.5, what="no namespace terminating")
        self.start = self._totals()

    def since_mark(self) -> Writes:
        return self._totals() - self.start


@contextlib.contextmanager
def paused(operator: OperatorProcess) -> Iterator[None]:
    """SIGSTOP the session's operator: on the shared real cluster it would reconcile this tenant too."""
    assert operator.proc is not None
    os.kill(operator.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(operator.proc.pid, signal.SIGCONT)


@pytest.fixture()
def api(request: pytest.FixtureRequest) -> Iterator[tuple[ApiServer, WriteLog]]:
    if real_kube.wanted():
        real: real_kube.RealCluster = request.getfixturevalue("operator_cluster")
        with paused(request.getfixturevalue("running_operator")):
            yield real, ApiServerWrites(real)
        return
    cluster: EmulatedCluster = request.getfixturevalue("own_cluster")
    yield cluster, EmulatorWrites(cluster)


@pytest.fixture()
async def api_kube(api: tuple[ApiServer, WriteLog]) -> AsyncIterator[KubeClient]:
    async with api[0].client() as client:
        yield client


@pytest.fixture()
def fast_resync_operator(
    platform_services: Platform, api: tuple[ApiServer, WriteLog], namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    # A resync every second, for this test only: several resyncs in seconds instead of the
    # default's 5 minutes (test_user_actions.py relies on the defaults elsewhere). The daemon
    # looks at the clock every DEADLINE_CHECK_INTERVAL (15 s by default), hence that one too.
    with own_operator(
        platform_services,
        api[0],
        tmp_path,
        RESYNC_INTERVAL="1",
        DEADLINE_CHECK_INTERVAL="0.5",
        WATCH_NAMESPACE=namespace,
    ) as op:
        yield op


async def _tenant_events(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    return [
        e
        for e in await kube.list("v1/events", namespace)
        if (e.get("involvedObject") or {}).get("kind") == "BookingTenant"
    ]


async def test_resyncs_of_a_converged_tenant_write_nothing_to_the_api(
    fast_resync_operator: OperatorProcess,
    api: tuple[ApiServer, WriteLog],
    api_kube: KubeClient,
    namespace: str,
    client_id: str,
) -> None:
    kube, log = api_kube, api[1]
    await create_token_secret(kube, namespace)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id))
    await wait_phase(kube, namespace, "salon", "Provisioning", timeout=30)
    if kube.emulated:
        await mark_bot_available(kube, namespace, "salon")
        await wait_phase(kube, namespace, "salon", "Ready")
    else:
        # A real bot pod cannot start here (no image): converged is Provisioning, waiting for it,
        # once the deployment controller has made its one write to the Deployment (its revision).
        async def revision_set() -> bool:
            deployment = await kube.get("apps/v1/deployments", namespace, "salon-bot")
            return "deployment.kubernetes.io/revision" in (deployment["metadata"].get("annotations") or {})

        await eventually(revision_set, timeout=30, what="the Deployment's revision")

    def resyncs() -> float:
        return metric_total(fast_resync_operator, "booking_operator_reconciles_total", trigger="resync")

    def retries() -> float:
        return metric_total(fast_resync_operator, "booking_operator_reconciles_total", outcome="retry")

    async def resynced(count: float) -> bool:
        return resyncs() >= count

    # Start counting after a first resync: whatever converging wrote is done by then.
    first = resyncs() + 1
    await eventually(lambda: resynced(first), timeout=30, what="a first resync")
    await log.mark()
    resyncs_before, retries_before = resyncs(), retries()
    events_before = len(await _tenant_events(kube, namespace))
    await eventually(lambda: resynced(resyncs_before + RESYNCS), timeout=30, what=f"{RESYNCS} resyncs")
    assert log.since_mark() == Counter()
    assert len(await _tenant_events(kube, namespace)) == events_before
    assert retries() == retries_before  # every pass found the tenant converged
