"""Only YooKassa's networks may notify; addresses are parsed, never trusted blindly."""

from pathlib import Path

from booking_webhook.core.config import Settings
from harness.yookassa import FakeYooKassa

from .conftest import WebhookServer, make_settings

UNKNOWN_EVENT = {"type": "notification", "event": "payout.succeeded", "object": {"id": "po-1"}}


async def test_a_yookassa_address_behind_the_trusted_proxy_is_accepted(webhook: WebhookServer) -> None:
    status, body = await webhook.post(UNKNOWN_EVENT)
    assert status == 200 and body["outcome"] == "ignored"


async def test_an_untrusted_source_is_forbidden(webhook: WebhookServer) -> None:
    status, _ = await webhook.post(UNKNOWN_EVENT, forwarded_for="8.8.8.8")
    assert status == 403


async def test_a_malformed_forwarded_address_is_403_not_500(webhook: WebhookServer) -> None:
    for bad in ("not-an-ip", "185.71.76.10, ", "1.2.3.4.5", "\u0661\u0662.1.1.1"):
        status, _ = await webhook.post(UNKNOWN_EVENT, forwarded_for=bad)
        assert status == 403, bad


async def test_the_direct_peer_is_refused_without_forwarded_for(webhook: WebhookServer) -> None:
    status, _ = await webhook.post(UNKNOWN_EVENT, forwarded_for=None)
    assert status == 403  # 127.0.0.1 is our proxy, not YooKassa


async def test_spoofed_forwarded_for_from_an_untrusted_peer_is_forbidden(
    yookassa: FakeYooKassa, webhook_dsn: str, kubeconfig: Path, namespace: str
) -> None:
    settings: Settings = make_settings(yookassa, webhook_dsn, kubeconfig, namespace, trusted_proxies="")
    server = await WebhookServer(settings).start()
    try:
        status, _ = await server.post(UNKNOWN_EVENT, forwarded_for="185.71.76.10")
        assert status == 403
    finally:
        await server.stop()


async def test_malformed_json_is_400(webhook: WebhookServer) -> None:
    status, _ = await webhook.post(b'{"event": "payment.succeeded", ', **{"Content-Type": "application/json"})
    assert status == 400


async def test_a_known_event_without_an_object_id_is_400(webhook: WebhookServer) -> None:
    status, _ = await webhook.post({"type": "notification", "event": "payment.succeeded", "object": {}})
    assert status == 400


async def test_an_unknown_event_is_acknowledged_and_ignored(webhook: WebhookServer) -> None:
    status, body = await webhook.post({"type": "notification", "event": "deal.closed", "object": {"id": "x"}})
    assert (status, body["outcome"]) == (200, "ignored")


async def test_an_oversized_body_is_refused(webhook: WebhookServer) -> None:
    big = b'{"event": "payment.succeeded", "pad": "' + b"x" * (webhook.settings.max_body_bytes + 10) + b'"}'
    status, _ = await webhook.post(big)
    assert status == 413


async def test_a_flood_from_one_source_is_rate_limited(
    yookassa: FakeYooKassa, webhook_dsn: str, kubeconfig: Path, namespace: str
) -> None:
    # One token per 1000 s: however slow this machine is, nothing refills during the test.
    settings = make_settings(
        yookassa, webhook_dsn, kubeconfig, namespace, rate_limit_per_second=0.001, rate_limit_burst=5
    )
    server = await WebhookServer(settings).start()
    try:
        statuses = [(await server.post(UNKNOWN_EVENT))[0] for _ in range(8)]
        assert statuses == [200] * 5 + [429] * 3
        other_source, _ = await server.post(UNKNOWN_EVENT, forwarded_for="185.71.77.3")
        assert other_source == 200
    finally:
        await server.stop()


async def test_a_yookassa_ipv6_address_behind_the_trusted_proxy_is_accepted(webhook: WebhookServer) -> None:
    status, body = await webhook.post(UNKNOWN_EVENT, forwarded_for="2a02:5180:0:1509::17")
    assert (status, body["outcome"]) == (200, "ignored")


async def test_a_spoofed_leftmost_address_does_not_help_an_untrusted_client(webhook: WebhookServer) -> None:
    # the client prepends a YooKassa address; our proxy appends the client's real one
    status, _ = await webhook.post(UNKNOWN_EVENT, forwarded_for="185.71.76.10, 8.8.8.8")
    assert status == 403


async def test_deeply_nested_json_is_400_not_500(webhook: WebhookServer) -> None:
    status, _ = await webhook.post(b"[" * 30000 + b"]" * 30000)
    assert status == 400


async def test_a_body_that_is_not_utf8_is_400(webhook: WebhookServer) -> None:
    status, _ = await webhook.post(b'{"event": "\xff\xfe"}')
    assert status == 400
