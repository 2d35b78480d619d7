"""Attack matrix, the webhook's token namespace: the internet-facing webhook writes the bot
tokens it is given into a namespace of their own (it holds no Secret verb where tenants'
credentials live, tests/webhook/test_permissions.py), and the operator hands a token from there
to the one tenant it was written for.

The webhook's own code (booking_webhook.kube, .tenants) writes the token and creates the tenant;
a real operator (tests/security/conftest.py, TOKEN_NAMESPACE) provisions it against the emulated
API; Telegram is a recorder of every token the operator shows it.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kmock
import pytest
from chart.conftest import Helm, by_kind
from chart.test_rbac import _granted, _verb, allowed

from booking_webhook.kube import Kube
from booking_webhook.store import Checkout
from booking_webhook.tenants import ConfirmedPayment, apply_payment
from harness.checkouts import new_bot_checkout
from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import create_token_secret, eventually, tenant_body, wait_phase

from .conftest import TOKEN_NAMESPACE, TokenRecorder

WEBHOOK_VALUES = {
    "webhook": {"enabled": True, "existingSecret": "booking-webhook"},
    "salesBot": {"enabled": True},
}


@pytest.fixture()
async def webhook_kube(
    security_cluster: EmulatedCluster, namespace: str, tmp_path: Path
) -> AsyncIterator[Kube]:
    """The webhook's Kubernetes client as the chart configures it: tenants here, tokens apart."""
    kubeconfig = security_cluster.write_kubeconfig(tmp_path / "kubeconfig")
    kube = await Kube.connect(namespace, str(kubeconfig), TOKEN_NAMESPACE)
    try:
        yield kube
    finally:
        await kube.close()


async def _sold(webhook_kube: Kube, namespace: str, token: str) -> Checkout:
    """What the sales bot and the webhook do: the token into the token namespace, then (paid)
    the tenant."""
    checkout = new_bot_checkout(namespace)
    await webhook_kube.create_token_secret(
        str(checkout.token_secret_name), token, checkout.tenant_name, checkout.client_id
    )
    payment = ConfirmedPayment(id=str(uuid.uuid4()), plan="1m", days=30, amount="299.00", currency="RUB")
    await apply_payment(webhook_kube, checkout, payment)
    return checkout


def _token() -> str:
    return f"{uuid.uuid4().int % 10**9}:TEST-{uuid.uuid4().hex}"


async def _credentials(kube: KubeClient, namespace: str, name: str) -> dict[str, str]:
    async def written() -> dict[str, Any] | None:
        secret = await kube.get("v1/secrets", namespace, f"{name}-credentials")
        return secret if secret and "BOT_TOKEN" in (secret.get("data") or {}) else None

    secret = await eventually(written, timeout=30, what="the tenant Secret with BOT_TOKEN")
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


async def test_a_sold_bot_runs_with_the_token_the_webhook_kept_in_the_token_namespace(
    kube: KubeClient, namespace: str, webhook_kube: Kube, security_telegram: TokenRecorder
) -> None:
    token = _token()
    checkout = await _sold(webhook_kube, namespace, token)
    tenant = await kube.get(BOOKINGTENANTS, namespace, checkout.tenant_name)
    assert tenant["spec"]["botTokenSecretRef"]["namespace"] == TOKEN_NAMESPACE

    assert (await _credentials(kube, namespace, checkout.tenant_name))["BOT_TOKEN"] == token
    await wait_phase(kube, namespace, checkout.tenant_name, "Provisioning", timeout=30)
    assert security_telegram.saw(token), "the operator did not check the token with Telegram"
    deployment = await eventually(
        lambda: kube.get("apps/v1/deployments", namespace, f"{checkout.tenant_name}-bot"), what="bot"
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    # The pod cannot mount another namespace's Secret: BOT_TOKEN comes with the credentials.
    assert "BOT_TOKEN" not in {e["name"] for e in container.get("env", [])}
    assert {"secretRef": {"name": f"{checkout.tenant_name}-credentials"}} in container["envFrom"]


async def test_a_tenant_cannot_name_a_namespace_other_than_the_token_namespace(
    kube: KubeClient, namespace: str, security_telegram: TokenRecorder
) -> None:
    elsewhere = f"{namespace}-other"
    await create_token_secret(kube, elsewhere, name="their-token", token="444:elsewhere")
    body = tenant_body("reacher", f"sec_{uuid.uuid4().hex[:10]}", token_secret="their-token")
    body["spec"]["botTokenSecretRef"]["namespace"] = elsewhere
    await kube.create(BOOKINGTENANTS, namespace, body)

    tenant = await wait_phase(kube, namespace, "reacher", "Failed", timeout=30)
    conditions = {c["type"]: c for c in tenant["status"]["conditions"]}
    assert conditions["References"]["reason"] == "ForbiddenSecret", tenant["status"]
    assert "token namespace" in tenant["status"]["message"]
    assert not security_telegram.saw("444:elsewhere")
    assert await kube.get("v1/secrets", namespace, "reacher-credentials") is None


async def test_a_tenant_cannot_take_a_token_the_webhook_kept_for_another_tenant(
    kube: KubeClient, namespace: str, webhook_kube: Kube, security_telegram: TokenRecorder
) -> None:
    victim_token = _token()
    victim = new_bot_checkout(namespace)  # a checkout being paid: its token waits in the token namespace
    await webhook_kube.create_token_secret(
        str(victim.token_secret_name), victim_token, victim.tenant_name, victim.client_id
    )
    body = tenant_body("squatter", f"sec_{uuid.uuid4().hex[:10]}", token_secret=str(victim.token_secret_name))
    body["spec"]["botTokenSecretRef"]["namespace"] = TOKEN_NAMESPACE
    await kube.create(BOOKINGTENANTS, namespace, body)

    tenant = await wait_phase(kube, namespace, "squatter", "Failed", timeout=30)
    assert "not written for this tenant" in tenant["status"]["message"]
    assert not security_telegram.saw(victim_token)
    assert await kube.get("v1/secrets", namespace, "squatter-credentials") is None
    # ... and deleting the squatter leaves the victim's token where it is.
    await kube.delete(BOOKINGTENANTS, namespace, "squatter")
    await eventually(lambda: _gone(kube, namespace, "squatter"), timeout=30, what="the squatter's deletion")
    assert await kube.get("v1/secrets", TOKEN_NAMESPACE, str(victim.token_secret_name)) is not None


async def test_deleting_a_sold_tenant_deletes_its_token_from_the_token_namespace(
    kube: KubeClient, namespace: str, webhook_kube: Kube
) -> None:
    checkout = await _sold(webhook_kube, namespace, _token())
    await _credentials(kube, namespace, checkout.tenant_name)
    await kube.delete(BOOKINGTENANTS, namespace, checkout.tenant_name)

    async def token_gone() -> bool | None:
        secret = await kube.get("v1/secrets", TOKEN_NAMESPACE, str(checkout.token_secret_name))
        return True if secret is None else None

    await eventually(token_gone, timeout=30, what="the token Secret's deletion")


async def _gone(kube: KubeClient, namespace: str, name: str) -> bool | None:
    return True if await kube.get(BOOKINGTENANTS, namespace, name) is None else None


async def test_the_operator_calls_in_the_token_namespace_only_what_its_role_there_grants(
    helm: Helm, security_cluster: EmulatedCluster, kube: KubeClient, namespace: str
) -> None:
    """The chart's operator Role in the token namespace (get, delete) against the requests the
    operator really makes there: reading a sold bot's token, deleting it with its tenant."""
    assert security_cluster.emulator is not None
    since = len(security_cluster.emulator.served)
    checkout = new_bot_checkout(namespace)
    labels = {
        "app.kubernetes.io/managed-by": "booking-webhook",
        "bookingsaas.dev/bot-token": "true",
        "bookingsaas.dev/client-id": checkout.client_id,
        "bookingsaas.dev/tenant": checkout.tenant_name,
        "bookingsaas.dev/tenant-namespace": namespace,
    }
    await create_token_secret(
        kube, TOKEN_NAMESPACE, name=str(checkout.token_secret_name), token=_token(), labels=labels
    )
    body = tenant_body(checkout.tenant_name, checkout.client_id, token_secret=str(checkout.token_secret_name))
    body["spec"]["botTokenSecretRef"]["namespace"] = TOKEN_NAMESPACE
    await kube.create(BOOKINGTENANTS, namespace, body)
    await _credentials(kube, namespace, checkout.tenant_name)
    await kube.delete(BOOKINGTENANTS, namespace, checkout.tenant_name)
    await eventually(lambda: _gone(kube, namespace, checkout.tenant_name), timeout=30, what="deletion")

    calls = {
        (_verb(r), r.resource.group or "", r.resource.plural)
        for r in list(security_cluster.emulator.served)[since:]
        if isinstance(r, kmock.Request)
        and r.resource is not None
        and r.namespace == TOKEN_NAMESPACE
        and r.headers.get("User-Agent", "").startswith("OpenAPI-Generator")  # the operator's client
    }
    (role,) = [
        r
        for r in by_kind(helm.render(WEBHOOK_VALUES), "Role")
        if r["metadata"]["name"].endswith("-operator-tokens")
    ]
    assert role["metadata"]["namespace"] == "booking-system-tokens"
    assert calls == {("get", "", "secrets"), ("delete", "", "secrets")}, calls
    assert not [call for call in calls if not allowed(role["rules"], call)]
    assert _granted(role["rules"]) == calls, "granted in the token namespace but never used"
