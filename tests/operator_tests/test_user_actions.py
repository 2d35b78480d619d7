"""What a user does is acted on within seconds, with the operator's own default resync (5 minutes).

The shared operator of these tests runs with the operator's defaults (RESYNC_INTERVAL 300 s,
DEADLINE_CHECK_INTERVAL 15 s), so nothing here can pass by waiting for a resync: each test gives
the operator ACTED_WITHIN seconds.
"""

from __future__ import annotations

import base64
import datetime
import json
import urllib.request
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError

from booking_contract import crd
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.operator_process import (
    OperatorProcess,
    create_token_secret,
    eventually,
    mark_bot_available,
    parse_log_lines,
    tenant_body,
    wait_phase,
)

pytestmark = pytest.mark.usefixtures("running_operator")
ACTED_WITHIN = 10.0
DEPLOYMENTS = "apps/v1/deployments"
SECRETS = "v1/secrets"


async def ready_tenant(kube: KubeClient, namespace: str, name: str, client_id: str, **spec: Any) -> None:
    await create_token_secret(kube, namespace)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body(name, client_id, **spec))
    await wait_phase(kube, namespace, name, "Provisioning")
    await mark_bot_available(kube, namespace, name)
    await wait_phase(kube, namespace, name, "Ready")


async def credentials(kube: KubeClient, namespace: str, name: str) -> dict[str, str]:
    secret = await kube.get(SECRETS, namespace, f"{name}-credentials")
    assert secret is not None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


async def pod_template_hash(kube: KubeClient, namespace: str, name: str) -> str:
    deployment = await kube.get(DEPLOYMENTS, namespace, f"{name}-bot")
    return str(deployment["spec"]["template"]["metadata"]["annotations"][crd.CONFIG_HASH_ANNOTATION])


async def events_of(kube: KubeClient, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in await kube.list("v1/events", namespace) if e.get("reason") == reason]


def reconciles(operator: OperatorProcess, trigger: str) -> float:
    """booking_operator_reconciles_total summed over outcomes, for one trigger."""
    port = operator.env["METRICS_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("booking_operator_reconciles_total{") and f'trigger="{trigger}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_the_rotation_annotation_rotates_within_seconds(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id)
    old = await credentials(kube, namespace, "salon")
    old_hash = await pod_template_hash(kube, namespace, "salon")
    await kube.patch(
        BOOKINGTENANTS,
        namespace,
        "salon",
        {"metadata": {"annotations": {crd.ROTATE_CREDENTIALS_ANNOTATION: "2026-12-01"}}},
    )

    async def rotated() -> dict[str, str] | None:
        new = await credentials(kube, namespace, "salon")
        return new if new["DATABASE_PASSWORD"] != old["DATABASE_PASSWORD"] else None

    new = await eventually(rotated, timeout=ACTED_WITHIN, what="new passwords in the tenant Secret")
    assert new["REDIS_PASSWORD"] != old["REDIS_PASSWORD"]
    assert await pod_template_hash(kube, namespace, "salon") != old_hash  # the bot restarts onto them
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(old["DATABASE_URL"])
    (await asyncpg.connect(new["DATABASE_URL"])).terminate()
    stale = aioredis.from_url(old["REDIS_URL"])
    try:
        with pytest.raises(AuthenticationError):
            await stale.ping()
    finally:
        await stale.aclose()
    fresh = aioredis.from_url(new["REDIS_URL"])
    try:
        assert await fresh.ping()
    finally:
        await fresh.aclose()


@pytest.mark.parametrize("annotation", crd.USER_ANNOTATIONS)
async def test_every_annotation_a_user_is_told_to_set_counts_as_a_change(
    kube: KubeClient, namespace: str, client_id: str, running_operator: OperatorProcess, annotation: str
) -> None:
    """kopf must not hide it from the update handler (kopf_state says why it once did)."""
    await ready_tenant(kube, namespace, "salon", client_id)

    def updates() -> int:
        return sum(
            1
            for line in parse_log_lines(running_operator.logs())
            if line.get("object", {}).get("namespace") == namespace
            and str(line.get("message", "")).startswith("Updating is processed")
        )

    before = updates()
    await kube.patch(BOOKINGTENANTS, namespace, "salon", {"metadata": {"annotations": {annotation: "1"}}})

    async def handled() -> bool:
        return updates() > before

    await eventually(handled, timeout=ACTED_WITHIN, what=f"the update handler run for {annotation}")
    tenant = await kube.get(BOOKINGTENANTS, namespace, "salon")
    annotations = tenant["metadata"]["annotations"]
    assert f"{crd.KOPF_PREFIX}/kopf-managed" in annotations
    assert f"{crd.GROUP}/kopf-managed" not in annotations


async def test_a_token_secret_created_late_wakes_the_failed_tenant(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id))
    failed = await wait_phase(kube, namespace, "salon", "Failed")
    assert "not found" in failed["status"]["message"]
    await create_token_secret(kube, namespace)
    await wait_phase(kube, namespace, "salon", "Provisioning", timeout=ACTED_WITHIN)
    await mark_bot_available(kube, namespace, "salon")
    await wait_phase(kube, namespace, "salon", "Ready", timeout=ACTED_WITHIN)


async def test_an_emptied_token_secret_fails_the_tenant_and_a_fixed_one_brings_it_back(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id)
    await kube.patch(SECRETS, namespace, "bot-token", {"data": {"token": ""}})
    await wait_phase(kube, namespace, "salon", "Failed", timeout=ACTED_WITHIN)
    token = base64.b64encode(b"123:a-new-token-from-botfather").decode()
    await kube.patch(SECRETS, namespace, "bot-token", {"data": {"token": token}})
    await wait_phase(kube, namespace, "salon", "Ready", timeout=ACTED_WITHIN)


async def test_a_deleted_tenant_secret_is_back_within_seconds_with_working_credentials(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id)
    old = await credentials(kube, namespace, "salon")
    await kube.delete(SECRETS, namespace, "salon-credentials")

    async def back() -> dict[str, str] | None:
        secret = await kube.get(SECRETS, namespace, "salon-credentials")
        return await credentials(kube, namespace, "salon") if secret else None

    new = await eventually(back, timeout=ACTED_WITHIN, what="the tenant Secret back")
    (await asyncpg.connect(new["DATABASE_URL"])).terminate()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(old["DATABASE_URL"])
    assert await events_of(kube, namespace, "SecretRestored")


async def test_a_hand_edited_tenant_secret_is_restored_with_an_event(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id)
    original = await credentials(kube, namespace, "salon")
    forged = base64.b64encode(b"postgresql://postgres:guess@elsewhere/booking_saas").decode()
    await kube.patch(SECRETS, namespace, "salon-credentials", {"data": {"DATABASE_URL": forged}})

    async def restored() -> bool:
        return (await credentials(kube, namespace, "salon"))["DATABASE_URL"] == original["DATABASE_URL"]

    await eventually(restored, timeout=ACTED_WITHIN, what="DATABASE_URL written back")
    events = await eventually(
        lambda: events_of(kube, namespace, "SecretRestored"), timeout=ACTED_WITHIN, what="SecretRestored"
    )
    assert "edited by hand" in events[0]["message"]
    # The same passwords: a hand edit is repaired, not a reason to rotate.
    assert (await credentials(kube, namespace, "salon"))["DATABASE_PASSWORD"] == original["DATABASE_PASSWORD"]


async def test_the_paid_period_ends_on_time_by_the_deadline_not_a_resync(
    kube: KubeClient, namespace: str, client_id: str, running_operator: OperatorProcess
) -> None:
    """With the default 15 s deadline check and a 5-minute resync, only the deadline can do it."""
    assert "RESYNC_INTERVAL" not in running_operator.env
    assert "DEADLINE_CHECK_INTERVAL" not in running_operator.env
    paid_until = datetime.datetime.now(tz=datetime.UTC).replace(microsecond=0) + datetime.timedelta(seconds=6)
    await ready_tenant(
        kube, namespace, "salon", client_id, paidUntil=paid_until.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    deadlines_before = reconciles(running_operator, "deadline")
    tenant = await wait_phase(kube, namespace, "salon", "Expired", timeout=20)
    expired_at = datetime.datetime.fromisoformat(
        next(c for c in tenant["status"]["conditions"] if c["type"] == "Deployment")["lastTransitionTime"]
    )
    assert 0 <= (expired_at - paid_until).total_seconds() < 2
    assert reconciles(running_operator, "deadline") > deadlines_before
    deployment = await kube.get(DEPLOYMENTS, namespace, "salon-bot")
    assert deployment["spec"]["replicas"] == 0
    assert json.dumps(tenant["status"]).count("Expired") >= 1
