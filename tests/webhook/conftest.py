"""Fixtures for the webhook service: a real uvicorn server, the fake YooKassa API over HTTP,
the emulated Kubernetes API (in a namespace of each test's own) and real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.web
import psycopg
import pytest
import uvicorn
from aiogram import Bot
from chart.conftest import helm  # noqa: F401 - the chart's rendering fixture, for test_permissions.py
from pydantic import SecretStr

from booking_webhook.checkout import Buyer, create_payment, start_new, start_renewal
from booking_webhook.core.config import Settings
from booking_webhook.kube import Kube
from booking_webhook.main import create_app
from booking_webhook.salesbot.app import build_bot, build_dispatcher
from booking_webhook.salesbot.deps import SalesDeps
from booking_webhook.salesbot.notifier import run_notifier
from booking_webhook.store import Checkout, Store
from booking_webhook.yookassa_api import YooKassaClient
from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.postgres import PgServer
from harness.telegram import FakeTelegram, SentMessage
from harness.yookassa import FakeYooKassa

YOOKASSA_SOURCE = "185.71.76.10"  # inside YooKassa's published 185.71.76.0/27
WEBHOOK_ROLE = "booking_webhook"
WEBHOOK_PASSWORD = "webhook-test-password"  # a throwaway cluster's password
WEBHOOK_DB = "booking_platform"


@pytest.fixture(scope="session")
def webhook_dsn(pg_server: PgServer) -> str:
    return ensure_webhook_database(pg_server)


def ensure_webhook_database(pg_server: PgServer) -> str:
    """A database and a non-superuser role of the webhook's own, as in production."""
    for _ in range(100):  # the server may still be starting up
        try:
            psycopg.connect(pg_server.dsn(), connect_timeout=5).close()
            break
        except psycopg.OperationalError:
            time.sleep(0.1)
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (WEBHOOK_ROLE,)).fetchone()
        if not exists:
            conn.execute(f"CREATE ROLE {WEBHOOK_ROLE} LOGIN PASSWORD '{WEBHOOK_PASSWORD}'")
            conn.execute(f"CREATE DATABASE {WEBHOOK_DB} OWNER {WEBHOOK_ROLE}")
    dsn: str = pg_server.dsn(user=WEBHOOK_ROLE, password=WEBHOOK_PASSWORD, dbname=WEBHOOK_DB)
    return dsn


@pytest.fixture(scope="session")
def kubeconfig(kube_cluster: EmulatedCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = kube_cluster.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
    return path


@pytest.fixture()
async def namespace(kube_cluster: EmulatedCluster) -> AsyncIterator[str]:
    """Each test's own namespace, emptied afterwards (the emulator is shared by the session)."""
    name = f"wh-{uuid.uuid4().hex[:10]}"
    yield name
    invalid = await remove_everything(kube_cluster.url, name)
    await remove_everything(kube_cluster.url, f"{name}-tokens")
    assert invalid == [], f"BookingTenants that the API server would refuse: {invalid}"


async def remove_everything(url: str, namespace: str) -> list[str]:
    """Delete what a test left in its namespace; every BookingTenant is first checked against the
    CRD's schema and CEL rules (the emulator stores anything), so each one the code made is."""
    from harness import crd_schema

    client = KubeClient(url)
    invalid: list[str] = []
    try:
        for tenant in await client.list(BOOKINGTENANTS, namespace):
            if tenant.get("metadata", {}).get("namespace") == namespace:
                errors = crd_schema.validate(crd_schema.apply_defaults(tenant))
                invalid.extend(f"{tenant['metadata']['name']}: {error}" for error in errors)
        for resource in (BOOKINGTENANTS, "v1/secrets"):
            for obj in await client.list(resource, namespace):
                if obj.get("metadata", {}).get("namespace") == namespace:
                    await client.delete(resource, namespace, obj["metadata"]["name"])
    finally:
        await client.close()
    return invalid


@pytest.fixture()
async def yookassa() -> AsyncIterator[FakeYooKassa]:
    fake = await FakeYooKassa().start()
    try:
        yield fake
    finally:
        await fake.stop()


def make_settings(
    yookassa: FakeYooKassa, dsn: str, kubeconfig: Path, namespace: str, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "yookassa_shop_id": yookassa.shop_id,
        "yookassa_secret_key": yookassa.secret_key,
        "yookassa_api_url": yookassa.url,
        "yookassa_timeout": 1.0,
        "database_url": dsn,
        "tenant_namespace": namespace,
        # As the chart sets it up: the bot tokens apart from the tenants (and their credentials).
        "token_namespace": f"{namespace}-tokens",
        "kubeconfig": str(kubeconfig),
        # The test client's direct peer is 127.0.0.1: trust it as the ingress, and let it name
        # the YooKassa address in X-Forwarded-For. The source networks stay YooKassa's defaults.
        "trusted_proxies": "127.0.0.1/32",
        "public_url": "http://127.0.0.1:8001",
        "processing_timeout": 5.0,
        # The fake's payments carry `test: true`, as a test shop's do.
        "yookassa_test_shop": True,
        # Background passes only where a test asks for them.
        "recovery_interval": 0,
        "reconcile_interval": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture()
def settings(yookassa: FakeYooKassa, webhook_dsn: str, kubeconfig: Path, namespace: str) -> Settings:
    return make_settings(yookassa, webhook_dsn, kubeconfig, namespace)


class WebhookServer:
    """The app served by a real uvicorn server on 127.0.0.1:<free port>, in the test's loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.http = aiohttp.ClientSession()

    async def start(self) -> WebhookServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            create_app(self.settings),
            log_config=None,
            access_log=False,
            proxy_headers=False,
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(200):
            if self._server.started:
                return self
            if self._task.done():
                try:
                    self._task.result()
                except BaseException as exc:  # uvicorn exits with SystemExit on a failed startup
                    raise RuntimeError(f"the webhook server failed to start: {exc!r}") from None
            await asyncio.sleep(0.02)
        raise RuntimeError("the webhook server did not start")

    async def stop(self) -> None:
        await self.http.close()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)

    async def post(
        self, body: bytes | dict[str, Any], forwarded_for: str | None = YOOKASSA_SOURCE, **headers: str
    ) -> tuple[int, dict[str, Any]]:
        if forwarded_for is not None:
            headers["X-Forwarded-For"] = forwarded_for
        data = body if isinstance(body, bytes) else None
        async with self.http.post(
            self.url + "/webhook/yookassa",
            data=data,
            json=None if isinstance(body, bytes) else body,
            headers=headers,
        ) as resp:
            payload = await resp.json(content_type=None) if resp.content_length != 0 else {}
            return resp.status, payload

    async def notify(self, fake: FakeYooKassa, event: str, object_id: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.post(fake.notification(event, object_id), **kwargs)

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.url + path) as resp:
            return resp.status, await resp.text()


@pytest.fixture()
async def webhook(settings: Settings) -> AsyncIterator[WebhookServer]:
    server = await WebhookServer(settings).start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture()
async def live_webhook(
    yookassa: FakeYooKassa, webhook_dsn: str, kubeconfig: Path, namespace: str
) -> AsyncIterator[WebhookServer]:
    """The webhook of a live shop (YOOKASSA_TEST_SHOP off): test payments are refused."""
    settings = make_settings(yookassa, webhook_dsn, kubeconfig, namespace, yookassa_test_shop=False)
    server = await WebhookServer(settings).start()
    try:
        yield server
    finally:
        await server.stop()


@dataclass
class Platform:
    """What the sales bot does before a notification arrives: checkouts and payments."""

    settings: Settings
    store: Store
    kube: Kube
    yookassa_client: YooKassaClient
    fake: FakeYooKassa
    owner_ids: list[int] = field(default_factory=list)

    async def new_checkout(
        self,
        plan: str = "1m",
        owner: int = 123456789,
        company: str = "Test Company",
        token: str | None = None,
        language: str | None = None,
    ) -> tuple[Checkout, str]:
        buyer = Buyer(telegram_user_id=owner, chat_id=owner, company_name=company, language=language)
        checkout = await start_new(
            self.store,
            self.kube,
            self.settings,
            buyer,
            plan,
            token or f"{owner}:TEST-token-{uuid.uuid4().hex}",
        )
        await create_payment(self.store, self.yookassa_client, self.settings, checkout)
        payment_id = self.fake.payment_for_checkout(str(checkout.id))["id"]
        return checkout, payment_id

    async def renewal_checkout(
        self, first: Checkout, plan: str = "1m", language: str | None = None
    ) -> tuple[Checkout, str]:
        buyer = Buyer(
            telegram_user_id=first.telegram_user_id, chat_id=first.chat_id, company_name="", language=language
        )
        checkout = await start_renewal(self.store, self.settings, buyer, plan, first)
        await create_payment(self.store, self.yookassa_client, self.settings, checkout)
        payment_id = self.fake.payment_for_checkout(str(checkout.id))["id"]
        return checkout, payment_id


@pytest.fixture()
async def platform(settings: Settings, yookassa: FakeYooKassa) -> AsyncIterator[Platform]:
    store = await Store.connect(settings.database_url.get_secret_value(), max_size=3)
    kube = await Kube.connect(settings.tenant_namespace, settings.kubeconfig, settings.token_namespace)
    client = YooKassaClient(
        settings.yookassa_api_url,
        settings.yookassa_shop_id,
        settings.yookassa_secret_key.get_secret_value(),
        settings.yookassa_timeout,
    )
    try:
        yield Platform(settings, store, kube, client, yookassa)
    finally:
        await client.close()
        await kube.close()
        await store.close()


class TcpProxy:
    """A byte-level TCP proxy to the emulator that can be taken down (connection refused)."""

    def __init__(self, target_url: str) -> None:
        host_port = target_url.split("://", 1)[1].rstrip("/")
        host, port = host_port.rsplit(":", 1)
        self.target = (host, int(port))
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update({writer, up_writer})


@pytest.fixture()
def crd_errors() -> Iterator[Any]:
    from harness import crd_schema

    def check(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
        errors: list[str] = crd_schema.validate(crd_schema.apply_defaults(obj), old)
        return errors

    yield check


# --- the sales bot against the fake Bot API ---
SALES_TOKEN = "5550001:TEST-sales-bot-token-abcdef"
OWNER_BOT_TOKEN = "7770001:TEST-owner-bot-token-abcdef"


class StrictTelegram(FakeTelegram):  # type: ignore[misc,unused-ignore]
    """Like the real Bot API, a returned Message carries only an inline keyboard as reply_markup
    (a reply keyboard or a removal is not echoed back; aiogram fails to parse it otherwise)."""

    @staticmethod
    def _ok(result: Any) -> aiohttp.web.Response:
        markup = result.get("reply_markup") if isinstance(result, dict) else None
        if isinstance(markup, dict) and "inline_keyboard" not in markup:
            result = {k: v for k, v in result.items() if k != "reply_markup"}
        return aiohttp.web.json_response({"ok": True, "result": result})


@dataclass
class SalesBot:
    tg: FakeTelegram
    settings: Settings
    owner: int  # each test's own owner: the platform tables are shared by the session
    bot: Bot

    async def say(self, text: str) -> SentMessage:
        self.tg.push_message(SALES_TOKEN, self.owner, text)
        return await self.tg.next_message(SALES_TOKEN, self.owner)

    async def press(self, message: SentMessage, text: str) -> SentMessage:
        self.tg.push_callback(SALES_TOKEN, self.owner, message, message.button_data(text))
        return await self.tg.next_message(SALES_TOKEN, self.owner)

    async def next(self, timeout: float = 5.0) -> SentMessage:
        return await self.tg.next_message(SALES_TOKEN, self.owner, timeout=timeout)


@pytest.fixture()
async def sales_bot(settings: Settings, platform: Platform) -> AsyncIterator[SalesBot]:
    async with StrictTelegram() as tg:
        tg.add_bot(SALES_TOKEN, username="booking_sales_bot")
        tg.add_bot(OWNER_BOT_TOKEN, username="aurora_salon_bot")
        sales_settings = settings.model_copy(
            update={"sales_bot_token": SecretStr(SALES_TOKEN), "telegram_api_url": tg.url}
        )
        deps = SalesDeps(sales_settings, platform.store, platform.kube, platform.yookassa_client)
        bot: Bot = build_bot(sales_settings)
        dp = build_dispatcher(deps)
        polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
        notifier = asyncio.create_task(run_notifier(bot, deps, 0.1))
        try:
            yield SalesBot(tg, sales_settings, owner=random.randint(10_000, 2**40), bot=bot)
        finally:
            notifier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await notifier
            polling.cancel()  # no need to wait for the current long poll to end
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(polling, 5)
            await bot.session.close()
