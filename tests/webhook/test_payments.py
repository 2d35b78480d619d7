"""A confirmed payment becomes a tenant (or more paid days) exactly once; nothing else does."""

import asyncio
import base64
import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from booking_contract.times import parse_time as parse_time
from booking_webhook.core.config import Settings
from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.yookassa import FakeYooKassa

from .conftest import Platform, TcpProxy, WebhookServer, make_settings

Validator = Callable[..., list[str]]


async def _tenants(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    tenants: list[dict[str, Any]] = await kube.list(BOOKINGTENANTS, namespace)
    return tenants


async def test_a_succeeded_payment_creates_the_tenant_with_its_token_in_a_secret(
    webhook: WebhookServer,
    platform: Platform,
    yookassa: FakeYooKassa,
    kube: KubeClient,
    crd_errors: Validator,
) -> None:
    token = "987654:TEST-secret-bot-token"
    checkout, payment_id = await platform.new_checkout(
        plan="1m", owner=123456789, company="Test Company", token=token
    )
    yookassa.succeed(payment_id)

    before = datetime.datetime.now(tz=datetime.UTC).replace(microsecond=0)  # paidUntil has whole seconds
    status, body = await webhook.notify(yookassa, "payment.succeeded", payment_id)
    after = datetime.datetime.now(tz=datetime.UTC)

    assert (status, body["outcome"]) == (200, "created")
    ns = webhook.settings.tenant_namespace
    tenant = await kube.get(BOOKINGTENANTS, ns, checkout.tenant_name)
    spec = tenant["spec"]
    assert spec["clientId"] == checkout.client_id and checkout.client_id.startswith("client_")
    assert tenant["metadata"]["name"] == checkout.client_id.replace("_", "-")
    assert spec["companyName"] == "Test Company" and spec["ownerTelegramId"] == 123456789
    assert spec["plan"] == "1m"
    assert [(p["id"], p["days"], p["amount"], p["currency"]) for p in spec["payments"]] == [
        (payment_id, 30, "299.00", "RUB")
    ]
    paid_until = parse_time(spec["paidUntil"])
    assert paid_until is not None
    assert before + datetime.timedelta(days=30) <= paid_until <= after + datetime.timedelta(days=30)
    assert crd_errors(tenant) == []
    assert token not in str(tenant)
    ref = spec["botTokenSecretRef"]
    assert ref["namespace"] == webhook.settings.token_namespace != ns  # never next to credentials
    secret = await kube.get("v1/secrets", ref["namespace"], ref["name"])
    assert base64.b64decode(secret["data"][ref["key"]]).decode() == token
    # Written for this tenant only (the operator hands it to no other); no ownerReference can
    # cross namespaces, so the operator deletes it with its tenant.
    labels = secret["metadata"]["labels"]
    assert labels["bookingsaas.dev/tenant"] == tenant["metadata"]["name"]
    assert labels["bookingsaas.dev/tenant-namespace"] == ns
    assert labels["bookingsaas.dev/client-id"] == spec["clientId"]
    assert labels["bookingsaas.dev/bot-token"] == "true"
    assert "ownerReferences" not in secret["metadata"]


async def test_a_renewal_extends_paid_until_by_the_plan_days(
    webhook: WebhookServer,
    platform: Platform,
    yookassa: FakeYooKassa,
    kube: KubeClient,
    crd_errors: Validator,
) -> None:
    first, first_payment = await platform.new_checkout(plan="1m")
    yookassa.succeed(first_payment)
    assert (await webhook.notify(yookassa, "payment.succeeded", first_payment))[0] == 200
    ns = webhook.settings.tenant_namespace
    before = await kube.get(BOOKINGTENANTS, ns, first.tenant_name)

    _, renewal_payment = await platform.renewal_checkout(first, plan="3m")
    yookassa.succeed(renewal_payment)
    status, body = await webhook.notify(yookassa, "payment.succeeded", renewal_payment)

    assert (status, body["outcome"]) == (200, "extended")
    after = await kube.get(BOOKINGTENANTS, ns, first.tenant_name)
    old_end = parse_time(before["spec"]["paidUntil"])
    new_end = parse_time(after["spec"]["paidUntil"])
    assert old_end is not None and new_end is not None
    assert new_end - old_end == datetime.timedelta(days=90)
    assert [p["id"] for p in after["spec"]["payments"]] == [first_payment, renewal_payment]
    assert crd_errors(after, before) == []


async def test_a_duplicate_delivery_applies_once(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    first, first_payment = await platform.new_checkout()
    yookassa.succeed(first_payment)
    await webhook.notify(yookassa, "payment.succeeded", first_payment)
    _, payment_id = await platform.renewal_checkout(first)
    yookassa.succeed(payment_id)

    outcomes = [
        (await webhook.notify(yookassa, "payment.succeeded", payment_id))[1]["outcome"] for _ in range(3)
    ]

    assert outcomes == ["extended", "duplicate", "duplicate"]
    tenant = await kube.get(BOOKINGTENANTS, webhook.settings.tenant_namespace, first.tenant_name)
    assert [p["id"] for p in tenant["spec"]["payments"]] == [first_payment, payment_id]


async def test_ten_concurrent_deliveries_create_one_tenant(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)

    results = await asyncio.gather(
        *(webhook.notify(yookassa, "payment.succeeded", payment_id) for _ in range(10))
    )

    assert {status for status, _ in results} == {200}
    outcomes = sorted(body["outcome"] for _, body in results)
    assert outcomes.count("created") == 1 and set(outcomes) <= {"created", "duplicate"}
    tenants = await _tenants(kube, webhook.settings.tenant_namespace)
    assert [t["metadata"]["name"] for t in tenants] == [checkout.tenant_name]
    assert [p["id"] for p in tenants[0]["spec"]["payments"]] == [payment_id]


async def test_ten_concurrent_renewal_deliveries_extend_once(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    first, first_payment = await platform.new_checkout()
    yookassa.succeed(first_payment)
    await webhook.notify(yookassa, "payment.succeeded", first_payment)
    ns = webhook.settings.tenant_namespace
    before = parse_time((await kube.get(BOOKINGTENANTS, ns, first.tenant_name))["spec"]["paidUntil"])
    _, payment_id = await platform.renewal_checkout(first, plan="1m")
    yookassa.succeed(payment_id)

    results = await asyncio.gather(
        *(webhook.notify(yookassa, "payment.succeeded", payment_id) for _ in range(10))
    )

    assert {status for status, _ in results} == {200}
    assert sorted(body["outcome"] for _, body in results).count("extended") == 1
    tenant = await kube.get(BOOKINGTENANTS, ns, first.tenant_name)
    after = parse_time(tenant["spec"]["paidUntil"])
    assert before is not None and after is not None and after - before == datetime.timedelta(days=30)
    assert len(tenant["spec"]["payments"]) == 2


async def test_a_payment_unknown_to_the_api_creates_nothing(
    webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    forged = {
        "type": "notification",
        "event": "payment.succeeded",
        "object": {
            "id": "2f0c7e59-000f-5000-9000-1b68e7b15f3f",
            "status": "succeeded",
            "amount": {"value": "299.00", "currency": "RUB"},
            "metadata": {"plan": "1m"},
        },
    }
    status, body = await webhook.post(forged)
    assert (status, body["outcome"]) == (200, "rejected")
    assert await _tenants(kube, webhook.settings.tenant_namespace) == []


async def test_a_payment_not_yet_succeeded_creates_nothing(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    _, payment_id = await platform.new_checkout()
    body = yookassa.notification("payment.succeeded", payment_id)
    body["object"]["status"] = "succeeded"  # the body lies; the API says pending
    status, answer = await webhook.post(body)
    assert (status, answer["outcome"]) == (200, "rejected")
    assert await _tenants(kube, webhook.settings.tenant_namespace) == []


async def test_an_amount_mismatch_creates_nothing(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    _, payment_id = await platform.new_checkout(plan="12m")
    yookassa.payments[payment_id]["amount"] = {"value": "1.00", "currency": "RUB"}
    yookassa.succeed(payment_id)
    status, body = await webhook.notify(yookassa, "payment.succeeded", payment_id)
    assert (status, body["outcome"]) == (200, "rejected")
    assert await _tenants(kube, webhook.settings.tenant_namespace) == []


async def test_a_succeeded_payment_without_a_checkout_of_ours_creates_nothing(
    webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    payment_id = yookassa.add_payment("299.00", metadata={"plan": "1m", "days": "30", "user_id": "1"})
    status, body = await webhook.notify(yookassa, "payment.succeeded", payment_id)
    assert (status, body["outcome"]) == (200, "rejected")
    assert await _tenants(kube, webhook.settings.tenant_namespace) == []


async def test_kubernetes_down_is_non_200_then_redelivery_succeeds(
    yookassa: FakeYooKassa,
    webhook_dsn: str,
    kube_cluster: EmulatedCluster,
    tmp_path: Path,
    namespace: str,
    platform: Platform,
    kube: KubeClient,
) -> None:
    proxy = TcpProxy(kube_cluster.url)
    await proxy.up()
    config = EmulatedCluster.write_kubeconfig(kube_cluster, tmp_path / "config")
    text = config.read_text().replace(kube_cluster.url, proxy.url)
    config.write_text(text)
    server = await WebhookServer(make_settings(yookassa, webhook_dsn, config, namespace)).start()
    try:
        checkout, payment_id = await platform.new_checkout()
        yookassa.succeed(payment_id)
        await proxy.down()
        status, body = await server.notify(yookassa, "payment.succeeded", payment_id)
        assert (status, body["outcome"]) == (503, "retry")
        await proxy.up()
        status, body = await server.notify(yookassa, "payment.succeeded", payment_id)
        assert (status, body["outcome"]) == (200, "created")
        assert await kube.get(BOOKINGTENANTS, namespace, checkout.tenant_name) is not None
    finally:
        await server.stop()
        await proxy.down()


async def test_a_hanging_yookassa_api_is_non_200_within_the_timeout(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient, webhook_dsn: str
) -> None:
    _, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    yookassa.hang = True  # it never answers during the test: only the webhook's own timeout can end the wait
    # The bound only keeps a webhook without a timeout from hanging the test until pytest's own.
    bound = webhook.settings.yookassa_timeout + 30
    status, body = await asyncio.wait_for(webhook.notify(yookassa, "payment.succeeded", payment_id), bound)
    assert (status, body["outcome"]) == (503, "retry")
    assert ("GET", f"/v3/payments/{payment_id}") in yookassa.requests  # asked, never answered
    assert await _tenants(kube, webhook.settings.tenant_namespace) == []
    conn = await asyncpg.connect(webhook_dsn)
    try:
        error = await conn.fetchval(
            "SELECT error FROM platform.notifications WHERE object_id = $1", payment_id
        )
    finally:
        await conn.close()
    # YOOKASSA_TIMEOUT ended it, not the whole notification's WEBHOOK_PROCESSING_TIMEOUT.
    assert error == f"YooKassaUnavailable: GET /payments/{payment_id}: TimeoutError"


async def test_a_failing_yookassa_api_is_non_200_then_redelivery_succeeds(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    _, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    yookassa.fail = True
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[0] == 503
    yookassa.fail = False
    status, body = await webhook.notify(yookassa, "payment.succeeded", payment_id)
    assert (status, body["outcome"]) == (200, "created")


async def test_each_accepted_notification_is_recorded_in_postgres(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, webhook_dsn: str
) -> None:
    _, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)
    conn = await asyncpg.connect(webhook_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT event, outcome, deliveries, host(source_ip) AS ip FROM platform.notifications"
            " WHERE object_id = $1",
            payment_id,
        )
    finally:
        await conn.close()
    assert row is not None
    assert (row["event"], row["outcome"], row["deliveries"], row["ip"]) == (
        "payment.succeeded",
        "created",
        2,
        "185.71.76.10",
    )


async def test_a_canceled_payment_marks_its_checkout_canceled(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    checkout, payment_id = await platform.new_checkout()
    yookassa.cancel(payment_id, reason="insufficient_funds")
    status, body = await webhook.notify(yookassa, "payment.canceled", payment_id)
    assert (status, body["outcome"]) == (200, "canceled")
    stored = await platform.store.checkout(checkout.id)
    assert stored is not None and (stored.status, stored.status_message) == ("canceled", "insufficient_funds")
    assert await _tenants(kube, webhook.settings.tenant_namespace) == []


async def test_a_succeeded_refund_is_recorded_once(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)
    refund_id = yookassa.refund(payment_id, "100.00")
    for _ in range(2):
        status, _ = await webhook.notify(yookassa, "refund.succeeded", refund_id)
        assert status == 200
    stored = await platform.store.checkout(checkout.id)
    assert stored is not None and f"{stored.refunded_amount:.2f}" == "100.00"


async def test_metrics_count_notifications_and_tenants(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    _, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)
    await webhook.post(
        {"type": "notification", "event": "payment.succeeded", "object": {"id": "x"}}, "8.8.8.8"
    )
    status, text = await webhook.get("/metrics")
    assert status == 200
    assert 'booking_webhook_notifications_total{event="payment.succeeded",outcome="created"} 1.0' in text
    assert 'booking_webhook_notifications_total{event="unknown",outcome="forbidden"} 1.0' in text
    assert "booking_webhook_tenants_created_total 1.0" in text
    assert "booking_webhook_notification_duration_seconds_bucket" in text


async def test_health_and_readiness_answer(webhook: WebhookServer) -> None:
    assert (await webhook.get("/health"))[0] == 200
    status, text = await webhook.get("/ready")
    assert status == 200 and "ready" in text


async def test_readiness_fails_when_kubernetes_is_unreachable(
    yookassa: FakeYooKassa, webhook_dsn: str, tmp_path: Path, namespace: str, kube_cluster: EmulatedCluster
) -> None:
    proxy = TcpProxy(kube_cluster.url)
    await proxy.up()
    config = kube_cluster.write_kubeconfig(tmp_path / "config")
    config.write_text(config.read_text().replace(kube_cluster.url, proxy.url))
    settings: Settings = make_settings(yookassa, webhook_dsn, config, namespace)
    server = await WebhookServer(settings).start()
    try:
        await proxy.down()
        status, text = await server.get("/ready")
        assert status == 503 and "kubernetes" in text
        assert (await server.get("/health"))[0] == 200
    finally:
        await server.stop()


async def test_a_recorded_but_unfinished_notification_is_finished_by_recovery(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    from booking_webhook.metrics import Metrics
    from booking_webhook.notifications import Clients
    from booking_webhook.recovery import recover_once

    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    yookassa.fail = True
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[0] == 503
    yookassa.fail = False  # ... and YooKassa never redelivers

    clients = Clients(platform.store, platform.kube, platform.yookassa_client, Metrics(), test_shop=True)
    assert await recover_once(clients, older_than_seconds=0) >= 1
    tenant = await kube.get(BOOKINGTENANTS, webhook.settings.tenant_namespace, checkout.tenant_name)
    assert [p["id"] for p in tenant["spec"]["payments"]] == [payment_id]


async def test_an_early_rejected_notification_does_not_block_the_genuine_one(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    _, payment_id = await platform.new_checkout()
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[1]["outcome"] == "rejected"
    yookassa.succeed(payment_id)
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[1]["outcome"] == "created"


async def test_postgres_down_is_non_200_then_redelivery_succeeds(
    yookassa: FakeYooKassa,
    webhook_dsn: str,
    kubeconfig: Path,
    namespace: str,
    platform: Platform,
    kube: KubeClient,
) -> None:
    host_port = webhook_dsn.split("@", 1)[1].split("/", 1)[0]
    proxy = TcpProxy(f"tcp://{host_port}")
    await proxy.up()
    dsn = webhook_dsn.replace(host_port, f"127.0.0.1:{proxy.port}")
    server = await WebhookServer(make_settings(yookassa, dsn, kubeconfig, namespace)).start()
    try:
        checkout, payment_id = await platform.new_checkout()
        yookassa.succeed(payment_id)
        await proxy.down()
        status, body = await server.notify(yookassa, "payment.succeeded", payment_id)
        assert (status, body["outcome"]) == (503, "retry")
        assert await kube.get(BOOKINGTENANTS, namespace, checkout.tenant_name) is None
        await proxy.up()
        status, body = await server.notify(yookassa, "payment.succeeded", payment_id)
        assert (status, body["outcome"]) == (200, "created")
    finally:
        await server.stop()
        await proxy.down()


async def test_the_webhook_starts_while_postgres_is_down_and_recovers(
    yookassa: FakeYooKassa,
    webhook_dsn: str,
    kubeconfig: Path,
    namespace: str,
    platform: Platform,
) -> None:
    host_port = webhook_dsn.split("@", 1)[1].split("/", 1)[0]
    proxy = TcpProxy(f"tcp://{host_port}")
    await proxy.up()
    dsn = webhook_dsn.replace(host_port, f"127.0.0.1:{proxy.port}")
    await proxy.down()
    server = await WebhookServer(make_settings(yookassa, dsn, kubeconfig, namespace)).start()
    try:
        assert (await server.get("/health"))[0] == 200
        assert (await server.get("/ready"))[0] == 503
        _, payment_id = await platform.new_checkout()
        yookassa.succeed(payment_id)
        assert (await server.notify(yookassa, "payment.succeeded", payment_id))[0] == 503
        await proxy.up()
        assert (await server.get("/ready"))[0] == 200
        status, body = await server.notify(yookassa, "payment.succeeded", payment_id)
        assert (status, body["outcome"]) == (200, "created")
    finally:
        await server.stop()
        await proxy.down()


async def test_a_renewal_of_a_deleted_tenant_is_rejected_not_recreated(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    first, first_payment = await platform.new_checkout()
    yookassa.succeed(first_payment)
    await webhook.notify(yookassa, "payment.succeeded", first_payment)
    _, renewal_payment = await platform.renewal_checkout(first)
    await kube.delete(BOOKINGTENANTS, webhook.settings.tenant_namespace, first.tenant_name)
    yookassa.succeed(renewal_payment)
    status, body = await webhook.notify(yookassa, "payment.succeeded", renewal_payment)
    assert (status, body["outcome"]) == (200, "rejected")
    assert await _tenants(kube, webhook.settings.tenant_namespace) == []


# --- the buyer is back on the return page before the notification (notifications.reconcile_payment) ---


def _clients(platform: Platform) -> Any:
    from booking_webhook.metrics import Metrics
    from booking_webhook.notifications import Clients

    return Clients(platform.store, platform.kube, platform.yookassa_client, Metrics(), test_shop=True)


async def test_a_paid_payment_asked_about_before_its_notification_creates_the_tenant(
    platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    from booking_webhook.notifications import reconcile_payment

    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)

    assert await reconcile_payment(_clients(platform), payment_id) == "created"

    tenant = await kube.get(BOOKINGTENANTS, platform.settings.tenant_namespace, checkout.tenant_name)
    assert [p["id"] for p in tenant["spec"]["payments"]] == [payment_id]


async def test_a_canceled_payment_asked_about_before_its_notification_cancels_the_checkout(
    platform: Platform, yookassa: FakeYooKassa
) -> None:
    from booking_webhook.notifications import reconcile_payment

    checkout, payment_id = await platform.new_checkout()
    yookassa.cancel(payment_id, reason="expired_on_confirmation")

    assert await reconcile_payment(_clients(platform), payment_id) == "canceled"

    stored = await platform.store.checkout(checkout.id)
    assert stored is not None and stored.status == "canceled"


async def test_a_payment_still_pending_when_asked_about_changes_nothing(
    platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    from booking_webhook.notifications import reconcile_payment

    checkout, payment_id = await platform.new_checkout()

    assert await reconcile_payment(_clients(platform), payment_id) is None

    stored = await platform.store.checkout(checkout.id)
    assert stored is not None and stored.status == "pending"
    assert await _tenants(kube, platform.settings.tenant_namespace) == []


async def test_a_renewal_counts_as_an_extended_tenant_in_the_metrics(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    first, first_payment = await platform.new_checkout()
    yookassa.succeed(first_payment)
    await webhook.notify(yookassa, "payment.succeeded", first_payment)
    _, renewal = await platform.renewal_checkout(first)
    yookassa.succeed(renewal)

    await webhook.notify(yookassa, "payment.succeeded", renewal)

    _, text = await webhook.get("/metrics")
    assert "booking_webhook_tenants_created_total 1.0" in text
    assert "booking_webhook_tenants_extended_total 1.0" in text
