"""A live shop refuses test payments; whether the deployment is a test shop is shown at start."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from harness.kube import BOOKINGTENANTS, KubeClient
from harness.yookassa import FakeYooKassa

from .conftest import Platform, WebhookServer, make_settings


async def test_a_live_shop_refuses_a_test_payment(
    live_webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    _, payment_id = await platform.new_checkout()
    assert yookassa.payments[payment_id]["test"] is True
    yookassa.succeed(payment_id)

    status, body = await live_webhook.notify(yookassa, "payment.succeeded", payment_id)

    assert (status, body["outcome"]) == (200, "rejected")
    assert await kube.list(BOOKINGTENANTS, live_webhook.settings.tenant_namespace) == []
    _, metrics = await live_webhook.get("/metrics")
    assert 'booking_webhook_alerts_total{reason="test_payment_refused"} 1.0' in metrics


async def test_a_live_shop_accepts_a_live_payment(
    live_webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    yookassa.test_mode = False
    _, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)

    status, body = await live_webhook.notify(yookassa, "payment.succeeded", payment_id)

    assert (status, body["outcome"]) == (200, "created")


async def test_a_test_shop_accepts_test_payments(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    _, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[1]["outcome"] == "created"


async def test_the_shop_mode_is_shown_at_startup_and_in_metrics(
    yookassa: FakeYooKassa,
    webhook_dsn: str,
    kubeconfig: Path,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    for test_shop, level in ((False, logging.INFO), (True, logging.WARNING)):
        caplog.clear()
        settings = make_settings(yookassa, webhook_dsn, kubeconfig, namespace, yookassa_test_shop=test_shop)
        server = await WebhookServer(settings).start()
        try:
            _, metrics = await server.get("/metrics")
        finally:
            await server.stop()
        [started] = [r for r in caplog.records if r.getMessage() == "webhook starting"]
        assert getattr(started, "test_shop", None) is test_shop and started.levelno == level
        assert f"booking_webhook_test_shop {1.0 if test_shop else 0.0}" in metrics
