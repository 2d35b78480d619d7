"""The Shared runtime end to end: operator -> shard Deployment -> a real shard process -> Telegram.

A real operator places the tenant on a shard; the test plays the kubelet for the shard's
Deployment (it starts ``python -m booking_bot.shard`` with exactly the environment the
Deployment's container names, pointed at the emulated API) and for the deployment controller
(it reports the dedicated bot's pods gone when the operator scales it to zero). The tenant is
``Ready`` only once its shard reports it serving; switching runtimes goes through the handover
that keeps one poller per token, and the fake Bot API records any overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

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
from harness.telegram import FakeTelegram

TOKEN = "515151:SHARED-test-token"
USER_ID = 777
USER = {"id": USER_ID, "is_bot": False, "first_name": "Ann", "language_code": "en"}


@pytest.fixture()
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        tg.add_bot(TOKEN, username="shared_salon_bot")
        yield tg


@contextlib.contextmanager
def _running_operator(
    platform_services: Platform, cluster: EmulatedCluster, tmp_path: Path, telegram: FakeTelegram, **env: str
) -> Iterator[OperatorProcess]:
    op = OperatorProcess(
        env=operator_env(
            platform_services,
            cluster,
            tmp_path,
            TELEGRAM_CHECK_TOKENS="true",
            TELEGRAM_API_URL=telegram.url,
            SHARD_CAPACITY="2",
            **env,
        ),
        log_path=tmp_path / "op.log",
    )
    op.start()
    try:
        yield op
    finally:
        op.stop()
        assert TOKEN not in op.logs()


@pytest.fixture()
def operator(
    platform_services: Platform, own_cluster: EmulatedCluster, tmp_path: Path, telegram: FakeTelegram
) -> Iterator[OperatorProcess]:
    with _running_operator(platform_services, own_cluster, tmp_path, telegram) as op:
        yield op


@pytest.fixture()
def resyncing_operator(
    platform_services: Platform, own_cluster: EmulatedCluster, tmp_path: Path, telegram: FakeTelegram
) -> Iterator[OperatorProcess]:
    """A resync of every tenant every second (the default: 5 minutes), for a test that must see
    passes happen; the daemon looks at the clock every DEADLINE_CHECK_INTERVAL, hence that too."""
    with _running_operator(
        platform_services, own_cluster, tmp_path, telegram, RESYNC_INTERVAL="1", DEADLINE_CHECK_INTERVAL="0.5"
    ) as op:
        yield op


def _passes(operator: OperatorProcess, **labels: str) -> float:
    return metric_total(operator, "booking_operator_reconciles_total", **labels)


async def _passes_since(operator: OperatorProcess, before: float, count: int, **labels: str) -> None:
    """Until the operator has made ``count`` more passes (of the kind ``labels`` name) than ``before``."""

    async def made() -> bool:
        return _passes(operator, **labels) >= before + count

    await eventually(made, timeout=60, interval=0.1, what=f"{count} more passes ({labels or 'any'})")


@contextlib.asynccontextmanager
async def kubelet(
    cluster: EmulatedCluster, kube: KubeClient, namespace: str, shard: str
) -> AsyncIterator[None]:
    """Run the shard Deployment's container as the kubelet would, with its own environment."""
    deployment = await eventually(
        lambda: kube.get("apps/v1/deployments", namespace, shard), timeout=30, what=f"{shard} Deployment"
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "booking_bot.shard"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHARD_", "KUBE"))}
    env.update({var["name"]: var["value"] for var in container["env"]})
    env.update(SHARD_KUBE_API_URL=cluster.url, HEALTH_PORT="0")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *container["command"][1:], env=env, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        yield
    finally:
        proc.terminate()
        await proc.wait()


async def _answers(tg: FakeTelegram, text: str = "/start") -> str:
    tg.drain(TOKEN, USER_ID)
    tg.push_message(TOKEN, USER, text)
    return (await tg.next_message(TOKEN, USER_ID, timeout=10)).text


async def _pods_gone(kube: KubeClient, namespace: str, name: str) -> None:
    """The deployment controller's report once the operator scaled the dedicated bot to zero."""

    async def scaled_down() -> bool:
        deployment: dict[str, Any] = await kube.get("apps/v1/deployments", namespace, f"{name}-bot")
        return bool(deployment and deployment["spec"]["replicas"] == 0)

    await eventually(scaled_down, timeout=30, what="dedicated bot scaled to zero")
    await mark_bot_available(kube, namespace, name, replicas=0)


async def test_a_shared_tenant_is_ready_only_when_its_shard_serves_it(
    operator: OperatorProcess,
    own_cluster: EmulatedCluster,
    own_kube: KubeClient,
    telegram: FakeTelegram,
    namespace: str,
    client_id: str,
) -> None:
    kube = own_kube
    await create_token_secret(kube, namespace, token=TOKEN)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id, runtime="Shared"))
    waiting = await wait_phase(kube, namespace, "salon", "Provisioning", timeout=30)
    deployment = await eventually(
        lambda: kube.get("apps/v1/deployments", namespace, "salon-bot"), timeout=30, what="bot Deployment"
    )
    assert deployment["spec"]["replicas"] == 0  # the dedicated slot stays empty
    assert waiting["status"]["runtime"] == "Shared"
    # A shard Deployment alone (no process serving) never makes it Ready: not after two more
    # passes either (retries 2 s, then 4 s apart).
    await _passes_since(operator, _passes(operator, outcome="retry"), 2, outcome="retry")
    assert (await kube.get(BOOKINGTENANTS, namespace, "salon"))["status"]["phase"] == "Provisioning"

    async with kubelet(own_cluster, kube, namespace, "booking-shard-0"):
        ready = await wait_phase(kube, namespace, "salon", "Ready", timeout=60)
        assert ready["status"]["shard"] == "booking-shard-0"
        assert ready["status"]["botUsername"] == "shared_salon_bot"
        assert "Test Company" in await _answers(telegram)
        conditions = {c["type"]: c for c in ready["status"]["conditions"]}
        assert conditions["Shard"]["status"] == "True"
    assert telegram.conflicts == []


async def _serving_since(kube: KubeClient, namespace: str, shard: str, client_id: str) -> float:
    """The moment (loop time) the shard's ConfigMap first shows the tenant Serving."""

    async def serving() -> bool:
        configmap = await kube.get("v1/configmaps", namespace, f"{shard}-status")
        raw = ((configmap or {}).get("data") or {}).get(client_id)
        return raw is not None and json.loads(raw)["state"] == "Serving"

    await eventually(serving, timeout=60, interval=0.05, what=f"{client_id} Serving in {shard}")
    return asyncio.get_running_loop().time()


async def test_a_waiting_tenant_is_ready_within_seconds_of_its_shard_serving_it(
    operator: OperatorProcess,
    own_cluster: EmulatedCluster,
    own_kube: KubeClient,
    telegram: FakeTelegram,
    namespace: str,
    client_id: str,
) -> None:
    """The operator wakes on the shard's report, not at its next retry: with the defaults, a tenant
    that has waited for its shard for a while is retried only every 16 s or more (doubling)."""
    kube = own_kube
    await create_token_secret(kube, namespace, token=TOKEN)
    retries = _passes(operator, outcome="retry")
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id, runtime="Shared"))
    await wait_phase(kube, namespace, "salon", "Provisioning", timeout=30)
    # The scenario: the shard pod takes a while, four passes find no shard serving (2, 4, 8 s
    # apart): the next retry is 16 s away.
    await _passes_since(operator, retries, 4, outcome="retry")
    async with kubelet(own_cluster, kube, namespace, "booking-shard-0"):
        serving = await _serving_since(kube, namespace, "booking-shard-0", client_id)

        async def ready() -> bool:
            tenant = await kube.get(BOOKINGTENANTS, namespace, "salon")
            return (tenant.get("status") or {}).get("phase") == "Ready"

        await eventually(ready, timeout=60, interval=0.05, what="salon Ready")
        waited = asyncio.get_running_loop().time() - serving
        assert waited < 3.0, f"Ready {waited:.1f} s after the shard reported Serving"
    assert telegram.conflicts == []


async def test_switching_shared_to_dedicated_and_back_keeps_one_poller(
    operator: OperatorProcess,
    own_cluster: EmulatedCluster,
    own_kube: KubeClient,
    telegram: FakeTelegram,
    namespace: str,
    client_id: str,
) -> None:
    kube = own_kube
    await create_token_secret(kube, namespace, token=TOKEN)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id, runtime="Shared"))
    async with kubelet(own_cluster, kube, namespace, "booking-shard-0"):
        await wait_phase(kube, namespace, "salon", "Ready", timeout=60)
        assert "Test Company" in await _answers(telegram)

        await kube.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"runtime": "Dedicated"}})

        async def dedicated_scaled_up() -> bool:
            deployment = await kube.get("apps/v1/deployments", namespace, "salon-bot")
            return bool(deployment["spec"]["replicas"] == 1)

        await eventually(
            dedicated_scaled_up, timeout=30, what="dedicated bot scaled up after the shard let go"
        )
        shard_status = await kube.get("v1/configmaps", namespace, "booking-shard-0-status")
        assert client_id not in (shard_status.get("data") or {})  # the shard's poller was gone first
        await mark_bot_available(kube, namespace, "salon")
        dedicated = await wait_phase(kube, namespace, "salon", "Ready", timeout=30)
        assert dedicated["status"]["runtime"] == "Dedicated" and "shard" not in dedicated["status"]

        await kube.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"runtime": "Shared"}})
        await _pods_gone(kube, namespace, "salon")
        back = await wait_phase(kube, namespace, "salon", "Ready", timeout=60)
        assert back["status"]["shard"] == "booking-shard-0"  # the same shard as before
        assert "Test Company" in await _answers(telegram)
    assert telegram.conflicts == []


async def test_a_tenant_moves_to_its_shard_only_once_no_pod_of_its_dedicated_bot_is_left(
    operator: OperatorProcess, own_kube: KubeClient, namespace: str, client_id: str
) -> None:
    """A terminating pod no longer counts in its Deployment's status but may still be polling
    (seen on the real tier: an overlap of two pollers). The shard gets the entry only once the
    pod object itself is gone."""
    kube = own_kube
    await create_token_secret(kube, namespace, token=TOKEN)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id, runtime="Dedicated"))
    deployment = await eventually(
        lambda: kube.get("apps/v1/deployments", namespace, "salon-bot"), timeout=30, what="bot Deployment"
    )
    await mark_bot_available(kube, namespace, "salon")
    await wait_phase(kube, namespace, "salon", "Ready", timeout=30)
    labels = deployment["spec"]["selector"]["matchLabels"]
    pod = {"metadata": {"name": "salon-bot-7f9c-x2x", "labels": {**labels, "pod-template-hash": "7f9c"}}}
    await kube.create("v1/pods", namespace, pod)
    await kube.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"runtime": "Shared"}})
    await _pods_gone(kube, namespace, "salon")  # the Deployment's status: 0 (its pod is terminating)

    async def entry_written() -> bool:
        secret = await kube.get("v1/secrets", namespace, "booking-shard-0-tenants")
        return client_id in ((secret or {}).get("data") or {})

    # What must NOT happen, through several passes of the operator (each retry finds the pod).
    await _passes_since(operator, _passes(operator, outcome="retry"), 2, outcome="retry")
    assert not await entry_written(), "the shard got the token while a bot pod still existed"
    tenant = await kube.get(BOOKINGTENANTS, namespace, "salon")
    assert "dedicated bot to stop" in tenant["status"]["message"]
    await kube.delete("v1/pods", namespace, "salon-bot-7f9c-x2x")
    await eventually(entry_written, timeout=30, what="the entry written once the pod is gone")


async def test_a_full_shard_gets_a_neighbour_and_assignments_stay_put(
    resyncing_operator: OperatorProcess, own_kube: KubeClient, namespace: str
) -> None:
    """SHARD_CAPACITY is 2 here: the third tenant starts booking-shard-1; nobody moves after."""
    kube = own_kube
    await create_token_secret(kube, namespace, token=TOKEN)
    names = ["one", "two", "three"]
    for i, name in enumerate(names):
        await kube.create(
            BOOKINGTENANTS, namespace, tenant_body(name, f"t_place_{i}_{namespace[3:]}", runtime="Shared")
        )

        async def placed(name: str = name) -> str | None:
            tenant = await kube.get(BOOKINGTENANTS, namespace, name)
            return (tenant.get("status") or {}).get("shard")

        await eventually(placed, timeout=30, what=f"{name} placed")
    shards = {name: (await kube.get(BOOKINGTENANTS, namespace, name))["status"]["shard"] for name in names}
    assert shards == {"one": "booking-shard-0", "two": "booking-shard-0", "three": "booking-shard-1"}
    for shard in ("booking-shard-0", "booking-shard-1"):
        assert await kube.get("apps/v1/deployments", namespace, shard) is not None
        assert await kube.get("rbac.authorization.k8s.io/v1/roles", namespace, shard) is not None
    # Removing a tenant from the full shard frees its place, but the others keep theirs.
    await kube.delete(BOOKINGTENANTS, namespace, "one")
    await eventually(lambda: _gone(kube, namespace, "one"), timeout=30, what="one deleted")
    secret = await kube.get("v1/secrets", namespace, "booking-shard-0-tenants")
    assert len(secret["data"]) == 1
    # Resyncs of both tenants left (one a second each) change nothing.
    await _passes_since(
        resyncing_operator, _passes(resyncing_operator, trigger="resync"), 4, trigger="resync"
    )
    after = {name: (await kube.get(BOOKINGTENANTS, namespace, name))["status"]["shard"] for name in names[1:]}
    assert after == {"two": "booking-shard-0", "three": "booking-shard-1"}


async def _gone(kube: KubeClient, namespace: str, name: str) -> bool:
    return await kube.get(BOOKINGTENANTS, namespace, name) is None
