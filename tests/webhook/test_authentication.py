"""Only YooKassa's networks may notify; addresses are parsed, never trusted blindly."""

from pathlib import Path

import aiohttp

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


async def test_an_untrusted_flood_is_forbidden_and_never_touches_a_rate_limit_bucket(
    yookassa: FakeYooKassa, webhook_dsn: str, kubeconfig: Path, namespace: str
) -> None:
    settings = make_settings(
        yookassa, webhook_dsn, kubeconfig, namespace, rate_limit_per_second=0.01, rate_limit_burst=3
    )
    server = await WebhookServer(settings).start()
    try:
        statuses = {(await server.post(UNKNOWN_EVENT, forwarded_for="8.8.8.8"))[0] for _ in range(10)}
        assert statuses == {403}
        assert (await server.post(UNKNOWN_EVENT))[0] == 200
    finally:
        await server.stop()


async def _post_from(url: str, local_address: str, forwarded_for: str) -> int:
    connector = aiohttp.TCPConnector(local_addr=(local_address, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        headers = {"X-Forwarded-For": forwarded_for}
        async with http.post(url + "/webhook/yookassa", json=UNKNOWN_EVENT, headers=headers) as resp:
            return resp.status


async def test_a_trusted_pod_claiming_a_yookassa_address_cannot_drain_the_ingress_bucket(
    yookassa: FakeYooKassa, webhook_dsn: str, kubeconfig: Path, namespace: str
) -> None:
    """Both peers are trusted proxies (a pod CIDR); the bucket is per peer and source."""
    settings = make_settings(
        yookassa,
        webhook_dsn,
        kubeconfig,
        namespace,
        trusted_proxies="127.0.0.0/8",
        rate_limit_per_second=0.01,
        rate_limit_burst=3,
    )
    server = await WebhookServer(settings).start()
    try:
        rogue = [await _post_from(server.url, "127.0.0.2", "185.71.76.10") for _ in range(6)]
        assert 429 in rogue
        assert await _post_from(server.url, "127.0.0.1", "185.71.76.10") == 200
    finally:
        await server.stop()


def ingress_nginx_forwarded_for(
    peer: str,
    client_header: str | None,
    use_forwarded_headers: bool = False,
    compute_full_forwarded_for: bool = False,
    proxy_real_ip_cidr: str = "0.0.0.0/0",
) -> str:
    """The X-Forwarded-For that ingress-nginx sends upstream, as its nginx.tmpl builds it:
    `$the_real_ip` (= `$remote_addr`, which the realip module rewrites from the client's header
    when use-forwarded-headers is on, trusting `proxy-real-ip-cidr`, recursively), or with
    compute-full-forwarded-for `"$http_x_forwarded_for, $realip_remote_addr"`."""
    import ipaddress

    trusted = ipaddress.ip_network(proxy_real_ip_cidr)
    remote_addr = peer
    if use_forwarded_headers and client_header and ipaddress.ip_address(peer) in trusted:
        hops = [h.strip() for h in client_header.split(",")]
        remote_addr = hops[0]
        for hop in reversed(hops):  # real_ip_recursive on: the last address not trusted
            if ipaddress.ip_address(hop) not in trusted:
                remote_addr = hop
                break
    if use_forwarded_headers and compute_full_forwarded_for:
        return f"{client_header}, {peer}" if client_header else peer
    return remote_addr


async def test_behind_ingress_nginx_defaults_a_client_cannot_claim_a_yookassa_address(
    webhook: WebhookServer,
) -> None:
    header = ingress_nginx_forwarded_for(peer="8.8.8.8", client_header="185.71.76.10")
    assert (await webhook.post(UNKNOWN_EVENT, forwarded_for=header))[0] == 403
    real = ingress_nginx_forwarded_for(peer="185.71.76.10", client_header=None)
    assert (await webhook.post(UNKNOWN_EVENT, forwarded_for=real))[0] == 200


async def test_behind_ingress_nginx_with_full_forwarded_for_a_client_cannot_claim_a_yookassa_address(
    webhook: WebhookServer,
) -> None:
    def config(peer: str, client_header: str | None) -> str:
        return ingress_nginx_forwarded_for(
            peer, client_header, use_forwarded_headers=True, compute_full_forwarded_for=True
        )

    header = config(peer="8.8.8.8", client_header="185.71.76.10")
    assert header == "185.71.76.10, 8.8.8.8"
    assert (await webhook.post(UNKNOWN_EVENT, forwarded_for=header))[0] == 403
    real = config(peer="185.71.76.10", client_header=None)
    assert (await webhook.post(UNKNOWN_EVENT, forwarded_for=real))[0] == 200


async def test_with_use_forwarded_headers_alone_the_webhook_cannot_see_the_spoofing(
    webhook: WebhookServer,
) -> None:
    """Why the chart README forbids this configuration: the controller itself believes the
    client, so the header it sends names the address the client chose."""
    header = ingress_nginx_forwarded_for(
        peer="8.8.8.8", client_header="185.71.76.10", use_forwarded_headers=True
    )
    assert header == "185.71.76.10"
    assert (await webhook.post(UNKNOWN_EVENT, forwarded_for=header))[0] == 200
