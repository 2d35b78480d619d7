"""The real tier's Ingress stand-in (tests/e2e/ingress.py: the host's nginx configured from an
Ingress object) and the fake Telegram's HTTPS delivery, checked here against a local backend so
that `make e2e` does not find their defects first."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.web
import pytest
from e2e.ingress import Nginx, Route, TestCA, certificates, free_port, render, routes

from harness.telegram import FakeTelegram

HOST = "hooks.booking.test"
PREFIX = "/tg/shards/booking-shard-0/telegram/"


def _ingress(service: str = "booking-shard-0-webhook") -> dict[str, Any]:
    return {
        "spec": {
            "tls": [{"hosts": [HOST], "secretName": "hooks-tls"}],
            "rules": [
                {
                    "host": HOST,
                    "http": {
                        "paths": [
                            {
                                "path": PREFIX,
                                "pathType": "Prefix",
                                "backend": {"service": {"name": service, "port": {"name": "webhook"}}},
                            }
                        ]
                    },
                }
            ],
        }
    }


def _service(cluster_ip: str, port: int) -> dict[str, Any]:
    return {"spec": {"clusterIP": cluster_ip, "ports": [{"name": "webhook", "port": port}]}}


def test_routes_resolve_each_path_to_its_services_cluster_ip_and_named_port() -> None:
    found = routes(_ingress(), {"booking-shard-0-webhook": _service("10.96.3.4", 80)}.get)
    assert found == [Route(HOST, PREFIX, "Prefix", "10.96.3.4:80")]


@pytest.mark.parametrize(
    ("services", "error"),
    [({}, "does not exist"), ({"booking-shard-0-webhook": _service("None", 80)}, "no ClusterIP")],
)
def test_a_backend_that_cannot_be_reached_is_an_error_naming_it(
    services: dict[str, dict[str, Any]], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        routes(_ingress(), services.get)


def test_a_prefix_matches_whole_path_elements_only() -> None:
    served = [Route(HOST, "/a/b/", "Prefix", "10.0.0.1:80")]
    conf = render("127.0.0.1", 8443, served, {HOST: (Path("c"), Path("k"))}, Path("/d"))
    assert "location = /a/b {" in conf and "location ^~ /a/b/ {" in conf
    assert "location ^~ /a/b {" not in conf  # that would match /a/bc


def test_a_host_without_a_certificate_is_refused() -> None:
    with pytest.raises(ValueError, match="no TLS certificate"):
        render("127.0.0.1", 8443, [Route(HOST, PREFIX, "Prefix", "10.0.0.1:80")], {}, Path("/d"))


class Backend:
    """What a shard's webhook port would see: every request's path, headers and body."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], Any]] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        self.seen.append((request.path, dict(request.headers), await request.json()))
        self.arrived.set()
        return aiohttp.web.Response(text="ok")


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path)


@pytest.fixture
async def backend() -> AsyncIterator[tuple[Backend, int]]:
    seen = Backend()
    app = aiohttp.web.Application()
    app.router.add_post(PREFIX + "{bot_id}", seen.handle)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield seen, port
    finally:
        await runner.cleanup()


@pytest.fixture
def nginx(ca: TestCA, backend: tuple[Backend, int]) -> Iterator[Nginx]:
    cert, key = ca.issue(HOST)
    served = routes(_ingress(), {"booking-shard-0-webhook": _service("127.0.0.1", backend[1])}.get)
    tls = {"hooks-tls": {"data": {"tls.crt": _b64(cert), "tls.key": _b64(key)}}}
    proxy = Nginx("127.0.0.1", free_port())
    try:
        yield proxy.start(served, certificates(_ingress(), tls.get))
    finally:
        proxy.stop()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


async def test_the_fake_telegram_delivers_through_nginx_over_tls_trusting_the_test_ca(
    ca: TestCA, backend: tuple[Backend, int], nginx: Nginx, telegram: FakeTelegram
) -> None:
    seen, port = backend
    token = FakeTelegram.make_token(4242)
    telegram.add_bot(token)
    telegram.deliver_over(ssl.create_default_context(cafile=str(ca.cert)), {HOST: "127.0.0.1"})
    telegram.webhooks[token] = (f"https://{HOST}:{nginx.port}{PREFIX}4242", "s3cret")
    telegram.push_message(token, 700, "/start")
    await asyncio.wait_for(seen.arrived.wait(), 10)
    ((path, headers, update),) = seen.seen
    assert path == f"{PREFIX}4242" and update["message"]["text"] == "/start"
    assert headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret"
    assert headers["Host"] == HOST and headers["X-Forwarded-Proto"] == "https"
    (logged,) = await _logged(nginx)  # nginx logs a request once its answer is sent
    assert (logged["uri"], logged["status"], logged["upstream"]) == (
        f"{PREFIX}4242",
        200,
        f"127.0.0.1:{port}",
    )


async def test_a_path_the_ingress_does_not_route_is_nginxs_own_404(
    ca: TestCA, backend: tuple[Backend, int], nginx: Nginx
) -> None:
    context = ssl.create_default_context(cafile=str(ca.cert))
    connector = aiohttp.TCPConnector(ssl=context, resolver=_Resolve())
    async with aiohttp.ClientSession(connector=connector) as http:
        for path in ("/tg/shards/booking-shard-0/healthz", "/tg/shards/booking-shard-0/telegramx"):
            async with http.post(f"https://{HOST}:{nginx.port}{path}", json={}) as resp:
                assert resp.status == 404, path
    assert backend[0].seen == []
    assert {r["upstream"] for r in nginx.requests()} == {""}


async def test_a_certificate_of_another_ca_is_not_trusted_and_nothing_is_delivered(
    tmp_path: Path, backend: tuple[Backend, int], nginx: Nginx, telegram: FakeTelegram
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    token = FakeTelegram.make_token(4343)
    telegram.add_bot(token)
    telegram.deliver_over(ssl.create_default_context(cafile=str(TestCA(other).cert)), {HOST: "127.0.0.1"})
    telegram.webhooks[token] = (f"https://{HOST}:{nginx.port}{PREFIX}4343", "s3cret")
    telegram.push_message(token, 700, "/start")
    for _ in range(200):  # until nginx saw the fake give up a handshake (it retries every 0.2 s)
        if "in SSL handshake" in nginx.error_log():
            break
        await asyncio.sleep(0.05)
    assert "in SSL handshake" in nginx.error_log()
    assert backend[0].seen == [] and nginx.requests() == []


async def _logged(nginx: Nginx) -> list[dict[str, Any]]:
    for _ in range(200):
        if nginx.requests():
            break
        await asyncio.sleep(0.05)
    return nginx.requests()


class _Resolve(aiohttp.abc.AbstractResolver):
    async def resolve(self, host: str, port: int = 0, family: Any = 0) -> list[aiohttp.abc.ResolveResult]:
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": 2, "proto": 0, "flags": 4}]

    async def close(self) -> None:
        return None
