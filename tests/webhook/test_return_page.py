"""The return page: the buyer sees paid -> bot being created -> ready, and it updates itself."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.kube import BOOKINGTENANTS, KubeClient
from harness.yookassa import FakeYooKassa

from .conftest import Platform, WebhookServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


async def _order(webhook: WebhookServer, token: str) -> dict[str, Any]:
    status, text = await webhook.get(f"/api/orders/{token}")
    assert status == 200
    result: dict[str, Any] = json.loads(text)
    return result


async def test_the_order_moves_from_awaiting_payment_to_ready(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    checkout, payment_id = await platform.new_checkout(company="Барбершоп")
    assert (await _order(webhook, checkout.return_token))["stage"] == "awaiting_payment"

    yookassa.succeed(payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)
    order = await _order(webhook, checkout.return_token)
    assert order["stage"] == "creating" and order["companyName"] == "Барбершоп" and order["paidUntil"]

    ns = webhook.settings.tenant_namespace
    await kube.patch(
        BOOKINGTENANTS,
        ns,
        checkout.tenant_name,
        {"status": {"phase": "Ready", "botUsername": "barber_bot"}},
        "status",
    )
    order = await _order(webhook, checkout.return_token)
    assert (order["stage"], order["botLink"]) == ("ready", "https://t.me/barber_bot")


async def test_a_canceled_payment_shows_as_canceled(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    checkout, payment_id = await platform.new_checkout()
    yookassa.cancel(payment_id)
    await webhook.notify(yookassa, "payment.canceled", payment_id)
    assert (await _order(webhook, checkout.return_token))["stage"] == "canceled"


async def test_an_unknown_order_token_is_404(webhook: WebhookServer) -> None:
    assert (await webhook.get("/api/orders/" + "x" * 32))[0] == 404
    assert (await webhook.get("/api/orders/short"))[0] == 404


async def test_the_return_page_is_html_that_never_caches(webhook: WebhookServer, platform: Platform) -> None:
    checkout, _ = await platform.new_checkout()
    async with webhook.http.get(f"{webhook.url}/pay/return/{checkout.return_token}") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        assert resp.headers["Cache-Control"] == "no-store"
        assert "/api/orders/" in await resp.text()


class Chromium:
    """Headless Chromium driven over the DevTools protocol (a websocket), one page."""

    def __init__(self, url: str, user_data_dir: Path) -> None:
        if CHROMIUM is None:
            pytest.fail("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)")
        self._args = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={user_data_dir}",
            url,
        ]
        self._user_data_dir = user_data_dir
        self._proc: asyncio.subprocess.Process | None = None
        self._http = aiohttp.ClientSession()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = 0

    async def start(self) -> Chromium:
        self._proc = await asyncio.create_subprocess_exec(
            *self._args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        port_file = self._user_data_dir / "DevToolsActivePort"
        deadline = asyncio.get_running_loop().time() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            self._before(deadline, "chromium did not open its DevTools port")
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        while True:
            async with self._http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                pages = [p for p in await resp.json() if p.get("type") == "page"]
            if pages:
                break
            self._before(deadline, "chromium opened no page")
            await asyncio.sleep(0.05)
        self._ws = await self._http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        return self

    def _before(self, deadline: float, what: str) -> None:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(what)
        if self._proc is not None and self._proc.returncode is not None:
            raise RuntimeError(f"chromium exited with {self._proc.returncode}: {what}")

    async def evaluate(self, expression: str) -> Any:
        assert self._ws is not None
        self._ids += 1
        await self._ws.send_json(
            {
                "id": self._ids,
                "method": "Runtime.evaluate",
                "params": {"expression": expression, "returnByValue": True},
            }
        )
        while True:
            message = await self._ws.receive_json(timeout=10)
            if message.get("id") == self._ids:
                return message["result"]["result"].get("value")

    async def wait_for(self, expression: str, expected: Any, timeout: float = 15.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        value = None
        while asyncio.get_running_loop().time() < deadline:
            value = await self.evaluate(expression)
            if value == expected:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{expression} is {value!r}, expected {expected!r}")

    async def stop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        await self._http.close()
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()


@pytest.fixture()
async def user_data_dir() -> AsyncIterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="chromium-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def test_the_return_page_updates_itself_in_a_real_browser(
    webhook: WebhookServer,
    platform: Platform,
    yookassa: FakeYooKassa,
    kube: KubeClient,
    user_data_dir: Path,
) -> None:
    checkout, payment_id = await platform.new_checkout(company="Салон Аврора")
    yookassa.succeed(payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)
    browser = await Chromium(f"{webhook.url}/pay/return/{checkout.return_token}", user_data_dir).start()
    try:
        await browser.wait_for("document.body.dataset.stage", "creating")
        assert "Салон Аврора" in await browser.evaluate("document.getElementById('title').textContent")
        await kube.patch(
            BOOKINGTENANTS,
            webhook.settings.tenant_namespace,
            checkout.tenant_name,
            {"status": {"phase": "Ready", "botUsername": "aurora_salon_bot"}},
            "status",
        )
        await browser.wait_for("document.body.dataset.stage", "ready")
        link = await browser.evaluate("document.getElementById('bot-link').href")
        assert link == "https://t.me/aurora_salon_bot"
    finally:
        await browser.stop()


async def test_the_return_page_applies_a_paid_order_whose_notification_is_late(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)  # ... and no notification yet

    assert (await _order(webhook, checkout.return_token))["stage"] == "creating"
    tenant = await kube.get(BOOKINGTENANTS, webhook.settings.tenant_namespace, checkout.tenant_name)
    assert [p["id"] for p in tenant["spec"]["payments"]] == [payment_id]
    status, body = await webhook.notify(yookassa, "payment.succeeded", payment_id)
    assert (status, body["outcome"]) == (200, "duplicate")


async def test_the_return_page_asks_the_api_at_most_every_few_seconds(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    checkout, payment_id = await platform.new_checkout()
    before = len(yookassa.requests)
    for _ in range(5):
        assert (await _order(webhook, checkout.return_token))["stage"] == "awaiting_payment"
    assert len([r for r in yookassa.requests[before:] if r[1].endswith(payment_id)]) == 1
