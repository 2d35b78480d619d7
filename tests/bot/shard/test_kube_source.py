"""A shard follows its own Secret through the Kubernetes API and reports into its ConfigMap.

Against the emulated API over real HTTP (tests/harness/kube.py): the operator's side is
played by the test, writing the shard's Secret and reading the shard's status ConfigMap.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from booking_bot.shard.config import ShardSettings, fingerprint
from booking_bot.shard.runner import State
from booking_bot.shard.runtime import Shard
from harness.kube import EmulatedCluster, KubeClient
from harness.telegram import FakeTelegram

from ..conftest import Clock
from .conftest import MakeTenants, entry, new_token, say, wait_state

ANN = 1001


def _data(entries: dict[str, str]) -> dict[str, str]:
    return {cid: base64.b64encode(raw.encode()).decode() for cid, raw in entries.items()}


@pytest.fixture()
def namespace() -> str:
    return f"ns-{secrets.token_hex(4)}"


@contextlib.asynccontextmanager
async def _serving_shard(
    cluster: EmulatedCluster, tg: FakeTelegram, namespace: str, name: str
) -> AsyncIterator[Shard]:
    settings = ShardSettings(
        shard_name=name,
        shard_tenants_secret=f"{name}-tenants",
        shard_status_configmap=f"{name}-status",
        shard_namespace=namespace,
        shard_kube_api_url=cluster.url,
        telegram_api_url=tg.url,
        health_port=0,
    )
    shard = Shard(settings, clock=Clock(), polling_timeout=1)
    await shard.start()
    serving = asyncio.create_task(shard.serve())
    try:
        yield shard
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await shard.close()


async def _status(
    kube: KubeClient, namespace: str, name: str, client_id: str, state: str = "Serving", timeout: float = 5.0
) -> Any:
    """The tenant's report in the shard's ConfigMap once it says ``state``."""
    deadline = asyncio.get_running_loop().time() + timeout
    value = None
    while asyncio.get_running_loop().time() < deadline:
        configmap = await kube.get("v1/configmaps", namespace, name)
        value = (configmap.get("data") or {}).get(client_id)
        if value and json.loads(value)["state"] == state:
            return json.loads(value)
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{client_id} is not {state} in {name}: {value}")


async def test_a_tenant_written_into_the_shards_secret_answers_within_five_seconds(
    kube_cluster: EmulatedCluster,
    kube: KubeClient,
    tg: FakeTelegram,
    make_tenants: MakeTenants,
    namespace: str,
) -> None:
    a, b = await make_tenants(2)
    entry_a, entry_b = entry(a, new_token(tg, a)), entry(b, token_b := new_token(tg, b))
    await kube.create(
        "v1/secrets",
        namespace,
        {"metadata": {"name": "shard-0-tenants"}, "data": _data({a.client_id: entry_a})},
    )
    await kube.create("v1/configmaps", namespace, {"metadata": {"name": "shard-0-status"}, "data": {}})
    async with _serving_shard(kube_cluster, tg, namespace, "shard-0") as shard:
        await wait_state(shard, a.client_id, State.SERVING)
        serving_a = shard.registry.runners[a.client_id]

        started = asyncio.get_running_loop().time()
        await kube.patch("v1/secrets", namespace, "shard-0-tenants", {"data": _data({b.client_id: entry_b})})
        assert f"Salon {b.client_id}" in (await say(tg, token_b, ANN, "/start")).text
        assert asyncio.get_running_loop().time() - started < 5.0
        assert shard.registry.runners[a.client_id] is serving_a

        reported = await _status(kube, namespace, "shard-0-status", b.client_id)
        assert reported["state"] == "Serving" and reported["config"] == fingerprint(entry_b)
        assert reported["username"] == f"{b.client_id}_bot"


async def test_a_tenant_removed_from_the_secret_leaves_the_status(
    kube_cluster: EmulatedCluster,
    kube: KubeClient,
    tg: FakeTelegram,
    make_tenants: MakeTenants,
    namespace: str,
) -> None:
    (a,) = await make_tenants(1)
    entry_a = entry(a, new_token(tg, a))
    await kube.create(
        "v1/secrets",
        namespace,
        {"metadata": {"name": "shard-0-tenants"}, "data": _data({a.client_id: entry_a})},
    )
    await kube.create("v1/configmaps", namespace, {"metadata": {"name": "shard-0-status"}, "data": {}})
    async with _serving_shard(kube_cluster, tg, namespace, "shard-0") as shard:
        await _status(kube, namespace, "shard-0-status", a.client_id)
        await kube.patch("v1/secrets", namespace, "shard-0-tenants", {"data": {a.client_id: None}})
        deadline = asyncio.get_running_loop().time() + 5
        while a.client_id in (
            (await kube.get("v1/configmaps", namespace, "shard-0-status")).get("data") or {}
        ):
            assert asyncio.get_running_loop().time() < deadline, "the removed tenant is still reported"
            await asyncio.sleep(0.05)
        assert a.client_id not in shard.registry.runners


async def test_a_shard_asks_the_api_for_its_own_secret_only(
    kube_cluster: EmulatedCluster,
    kube: KubeClient,
    tg: FakeTelegram,
    make_tenants: MakeTenants,
    namespace: str,
) -> None:
    """What the shard requests stays inside what its Role grants (resourceNames: its own Secret)."""
    a, b = await make_tenants(2)
    entry_a, entry_b = entry(a, new_token(tg, a)), entry(b, new_token(tg, b))
    await kube.create(
        "v1/secrets",
        namespace,
        {"metadata": {"name": "shard-0-tenants"}, "data": _data({a.client_id: entry_a})},
    )
    await kube.create(
        "v1/secrets",
        namespace,
        {"metadata": {"name": "shard-1-tenants"}, "data": _data({b.client_id: entry_b})},
    )
    await kube.create("v1/configmaps", namespace, {"metadata": {"name": "shard-0-status"}, "data": {}})
    assert kube_cluster.emulator is not None
    first = len(kube_cluster.emulator.served)
    async with _serving_shard(kube_cluster, tg, namespace, "shard-0") as shard:
        await wait_state(shard, a.client_id, State.SERVING)
        await _status(kube, namespace, "shard-0-status", a.client_id)
        assert b.client_id not in shard.registry.runners
    mine = [
        r for r in kube_cluster.emulator.served[first:] if r.namespace == namespace and r.resource is not None
    ]
    secrets_asked = [r for r in mine if r.resource.plural == "secrets"]
    assert secrets_asked
    for request in secrets_asked:
        named = request.name == "shard-0-tenants"
        selected = request.params.get("fieldSelector") == "metadata.name=shard-0-tenants"
        assert named or selected, f"{request.method} {request.url} is outside the shard's Role"
