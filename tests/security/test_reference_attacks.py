"""Attack matrix, Kubernetes references: someone who may only edit BookingTenants points the
operator at things it must not touch (the confused deputy).

A real operator (tests/security/conftest.py) against the emulated API; Telegram is a recorder
of every token the operator shows it.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from harness.kube import BOOKINGTENANTS, KubeClient
from harness.operator_process import create_token_secret, tenant_body, wait_phase

from .conftest import TokenRecorder


def _cid() -> str:
    return f"sec_{uuid.uuid4().hex[:10]}"


async def _victim_credentials(kube: KubeClient, namespace: str) -> dict[str, str]:
    """A tenant provisioned normally; returns its `<name>-credentials` Secret's values."""
    await create_token_secret(kube, namespace, name="victim-token", token="111:victim-token")
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("victim", _cid(), token_secret="victim-token"))
    await wait_phase(kube, namespace, "victim", "Provisioning", timeout=30)
    secret = await kube.get("v1/secrets", namespace, "victim-credentials")
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


async def _assert_refused(kube: KubeClient, namespace: str, name: str, reason: str) -> dict[str, Any]:
    tenant = await wait_phase(kube, namespace, name, "Failed", timeout=30)
    conditions = {c["type"]: c for c in tenant["status"]["conditions"]}
    assert conditions["References"]["reason"] == reason, tenant["status"]
    assert await kube.get("apps/v1/deployments", namespace, f"{name}-bot") is None, "something was mounted"
    assert await kube.get("v1/secrets", namespace, f"{name}-credentials") is None, "it was provisioned"
    return tenant


async def test_tenant_cannot_mount_another_tenants_credentials_as_its_bot_token(
    kube: KubeClient, namespace: str, security_telegram: TokenRecorder
) -> None:
    stolen = await _victim_credentials(kube, namespace)
    ref = {"name": "victim-credentials", "key": "DATABASE_PASSWORD"}
    body = tenant_body("thief", _cid())
    body["spec"]["botTokenSecretRef"] = ref
    await kube.create(BOOKINGTENANTS, namespace, body)
    tenant = await _assert_refused(kube, namespace, "thief", "ForbiddenSecret")
    assert "credentials" in tenant["status"]["message"]
    assert not security_telegram.saw(stolen["DATABASE_PASSWORD"]), "the victim's password went to Telegram"


async def test_tenant_cannot_use_a_secret_not_labelled_as_a_bot_token(
    kube: KubeClient, namespace: str, security_telegram: TokenRecorder
) -> None:
    await create_token_secret(kube, namespace, name="some-secret", token="222:unlabelled", labels={})
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("sneaky", _cid(), token_secret="some-secret"))
    tenant = await _assert_refused(kube, namespace, "sneaky", "SecretNotLabelled")
    assert "kubectl label secret some-secret bookingsaas.dev/bot-token=true" in tenant["status"]["message"]
    assert not security_telegram.saw("222:unlabelled")


async def test_tenant_cannot_use_a_secret_the_operator_manages_under_any_name(
    kube: KubeClient, namespace: str, security_telegram: TokenRecorder
) -> None:
    labels = {"app.kubernetes.io/managed-by": "booking-operator", "bookingsaas.dev/bot-token": "true"}
    await create_token_secret(kube, namespace, name="renamed", token="333:operator-owned", labels=labels)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("sneaky", _cid(), token_secret="renamed"))
    await _assert_refused(kube, namespace, "sneaky", "ForbiddenSecret")
    assert not security_telegram.saw("333:operator-owned")


async def test_tenant_cannot_take_another_tenants_bot_token(
    kube: KubeClient, namespace: str, security_telegram: TokenRecorder
) -> None:
    await _victim_credentials(kube, namespace)
    victim = await kube.get(BOOKINGTENANTS, namespace, "victim")
    owner = {
        "apiVersion": "bookingsaas.dev/v1alpha1",
        "kind": "BookingTenant",
        "name": "victim",
        "uid": victim["metadata"]["uid"],
    }
    await kube.patch("v1/secrets", namespace, "victim-token", {"metadata": {"ownerReferences": [owner]}})
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("thief", _cid(), token_secret="victim-token"))
    await _assert_refused(kube, namespace, "thief", "ForbiddenSecret")


async def test_tenant_cannot_run_an_image_outside_the_allow_list(kube: KubeClient, namespace: str) -> None:
    await create_token_secret(kube, namespace)
    body = tenant_body("miner", _cid(), bot={"image": "evil.example/miner:latest"})
    await kube.create(BOOKINGTENANTS, namespace, body)
    await _assert_refused(kube, namespace, "miner", "ImageNotAllowed")


async def test_tenant_may_run_an_image_the_allow_list_names(kube: KubeClient, namespace: str) -> None:
    await create_token_secret(kube, namespace)
    body = tenant_body("canary", _cid(), bot={"image": "registry.example/booking-bot:canary"})
    await kube.create(BOOKINGTENANTS, namespace, body)
    await wait_phase(kube, namespace, "canary", "Provisioning", timeout=30)
    deployment = await kube.get("apps/v1/deployments", namespace, "canary-bot")
    assert (
        deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.example/booking-bot:canary"
    )


async def test_tenant_named_after_an_existing_deployment_does_not_take_it_over(
    kube: KubeClient, namespace: str
) -> None:
    """A BookingTenant `app` next to someone's Deployment `app-bot`: the operator leaves it alone."""
    theirs = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app-bot", "labels": {"app": "payments"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "payments"}},
            "template": {
                "metadata": {"labels": {"app": "payments"}},
                "spec": {"containers": [{"name": "payments", "image": "payments:1"}]},
            },
        },
    }
    await kube.create("apps/v1/deployments", namespace, theirs)
    await create_token_secret(kube, namespace)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("app", _cid()))
    tenant = await wait_phase(kube, namespace, "app", "Failed", timeout=30)
    conditions = {c["type"]: c for c in tenant["status"]["conditions"]}
    assert conditions["Deployment"]["reason"] == "NameTaken"
    live = await kube.get("apps/v1/deployments", namespace, "app-bot")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "payments:1"
    assert "ownerReferences" not in live["metadata"]


async def test_tenant_named_after_an_existing_secret_does_not_overwrite_it(
    kube: KubeClient, namespace: str
) -> None:
    await create_token_secret(kube, namespace, name="db-credentials", token="theirs", labels={"team": "db"})
    await create_token_secret(kube, namespace)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("db", _cid()))
    tenant = await wait_phase(kube, namespace, "db", "Failed", timeout=30)
    assert "not booking-operator's" in tenant["status"]["message"]
    live = await kube.get("v1/secrets", namespace, "db-credentials")
    assert set(live["data"]) == {"token"}
