"""A converged tenant costs the API server reads only: resyncs that find nothing to repair write nothing.

docs/scaling.md counts on it (1000 idle tenants, no writes). The emulator logs every request
with the client that sent it, so the operator's writes over several resyncs are counted exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import (
    OperatorProcess,
    Platform,
    create_token_secret,
    eventually,
    mark_bot_available,
    metric_total,
    operator_env,
    tenant_body,
    wait_phase,
)

RESYNCS = 4


@pytest.fixture()
def fast_resync_operator(
    platform_services: Platform, own_cluster: EmulatedCluster, tmp_path: Path
) -> Iterator[OperatorProcess]:
    # A resync every second, for this test only: several resyncs in seconds instead of the
    # default's 5 minutes (test_user_actions.py relies on the defaults elsewhere). The daemon
    # looks at the clock every DEADLINE_CHECK_INTERVAL (15 s by default), hence that one too.
    env = operator_env(
        platform_services, own_cluster, tmp_path, RESYNC_INTERVAL="1", DEADLINE_CHECK_INTERVAL="0.5"
    )
    op = OperatorProcess(env=env, log_path=tmp_path / "op.log")
    op.start()
    yield op
    op.stop()


async def test_resyncs_of_a_ready_tenant_write_nothing_to_the_api(
    fast_resync_operator: OperatorProcess,
    own_cluster: EmulatedCluster,
    own_kube: KubeClient,
    namespace: str,
    client_id: str,
) -> None:
    await create_token_secret(own_kube, namespace)
    await own_kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id))
    await wait_phase(own_kube, namespace, "salon", "Provisioning")
    await mark_bot_available(own_kube, namespace, "salon")
    await wait_phase(own_kube, namespace, "salon", "Ready")

    def resyncs() -> float:
        return metric_total(fast_resync_operator, "booking_operator_reconciles_total", trigger="resync")

    async def resynced_since(count: float) -> bool:
        return resyncs() >= count

    # Start counting after a first resync of the Ready tenant: whatever becoming Ready wrote is done.
    first = resyncs() + 1
    await eventually(lambda: resynced_since(first), what="a first resync")
    assert own_cluster.emulator is not None
    since, resyncs_before = len(own_cluster.emulator.served), resyncs()
    await eventually(lambda: resynced_since(resyncs_before + RESYNCS), what=f"{RESYNCS} resyncs")
    reads = len(own_cluster.emulator.served) - since
    writes = Counter(
        (w.method, w.resource, w.subresource, w.name)
        for w in own_cluster.emulator.writes(since)
        if not w.by_tests
    )
    assert reads > 0  # the resyncs did look (at the Secrets and the Deployment)
    assert writes == {}
    outcomes = metric_total(fast_resync_operator, "booking_operator_reconciles_total", outcome="ready")
    assert outcomes >= resyncs_before + RESYNCS  # each pass found the tenant Ready, none retried
