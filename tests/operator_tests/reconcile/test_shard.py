"""The shard step: a Shared tenant's bot on a shard, and the handover between runtimes with one
poller per token (reconcile.place_on_shard, shards.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

from booking_operator import reconcile, shard_manifests
from harness.kube import BOOKINGTENANTS, KubeClient
from operator_tests.reconcile.observe import (
    Pass,
    condition,
    deployment,
)


async def test_a_shared_tenant_is_placed_on_a_shard_and_its_own_deployment_stays_at_zero(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, client_id: str
) -> None:
    outcome = await run_pass(await tenant(runtime="Shared"))
    assert outcome.status["shard"] == "booking-shard-0"
    assert outcome.status["runtime"] == "Shared"
    assert (await deployment(api, namespace))["spec"]["replicas"] == 0
    assert condition(outcome, "Deployment")["reason"] == "Shared"
    shard_secret = await api.get("v1/secrets", namespace, "booking-shard-0-tenants")
    assert shard_secret is not None and client_id in shard_secret["data"]


async def test_a_shared_tenant_waits_until_its_shard_serves_it(tenant: Any, run_pass: Pass) -> None:
    outcome = await run_pass(await tenant(runtime="Shared"))
    assert outcome.status["phase"] == "Provisioning"
    assert (condition(outcome, "Shard")["status"], condition(outcome, "Shard")["reason"]) == (
        "False",
        "Waiting",
    )
    assert condition(outcome, "Shard")["message"] == outcome.status["message"]
    assert outcome.status["message"] == "waiting for shard booking-shard-0 to start the bot"
    assert outcome.retry_after == reconcile.RETRY_SHARD


async def test_a_placed_shared_tenant_keeps_its_shard(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant(runtime="Shared")
    await api.patch(
        BOOKINGTENANTS, namespace, "salon", {"status": {"shard": "booking-shard-3"}}, sub="status"
    )
    outcome = await run_pass(body)
    assert outcome.status["shard"] == "booking-shard-3"


async def test_a_dedicated_tenant_has_no_shard(tenant: Any, run_pass: Pass) -> None:
    outcome = await run_pass(await tenant())
    assert outcome.status["shard"] is None


async def test_a_tenant_leaving_its_shard_waits_for_the_shard_to_let_go(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, client_id: str
) -> None:
    body = await tenant(runtime="Shared")
    await run_pass(body)
    await api.patch(
        "v1/configmaps", namespace, "booking-shard-0-status", {"data": {client_id: '{"state": "Serving"}'}}
    )
    await api.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"runtime": "Dedicated"}})
    outcome = await run_pass(body)
    assert outcome.status["phase"] == "Provisioning"
    assert condition(outcome, "Shard")["reason"] == "Releasing"
    assert outcome.status["message"] == "waiting for shard booking-shard-0 to stop the bot"
    assert outcome.retry_after == reconcile.RETRY_SHARD
    assert (await deployment(api, namespace))["spec"]["replicas"] == 0


async def test_a_shared_tenant_its_shard_serves_is_ready(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, client_id: str
) -> None:
    body = await tenant(runtime="Shared")
    await run_pass(body)
    shard_secret = await api.get("v1/secrets", namespace, "booking-shard-0-tenants")
    assert shard_secret is not None
    entry = base64.b64decode(shard_secret["data"][client_id]).decode()
    report = {"state": "Serving", "config": shard_manifests.entry_digest(entry)}
    await api.patch(
        "v1/configmaps", namespace, "booking-shard-0-status", {"data": {client_id: json.dumps(report)}}
    )
    outcome = await run_pass(body)
    assert outcome.status["phase"] == "Ready"
    assert outcome.status["message"] == "the bot is serving in shard booking-shard-0"
    shard = condition(outcome, "Shard")
    assert (shard["status"], shard["reason"], shard["message"]) == (
        "True",
        "Serving",
        "the bot is serving in shard booking-shard-0",
    )
    assert condition(outcome, "Deployment")["message"] == "scaled to zero: the bot runs in a shard"
    assert outcome.retry_after is None


async def test_a_shared_tenant_whose_token_telegram_rejects_is_not_placed_on_a_shard(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    outcome = await run_pass(await tenant(runtime="Shared", token="999:UNKNOWN-token"))
    assert outcome.status["phase"] == "Failed"
    assert "shard" not in outcome.status
    assert await api.get("v1/secrets", namespace, "booking-shard-0-tenants") is None
