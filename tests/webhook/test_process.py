"""`python -m booking_webhook` as the container runs it: env in, HTTP on PORT out."""

import asyncio
import os
import socket
import sys
from pathlib import Path

import aiohttp

from harness.yookassa import FakeYooKassa


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_the_module_serves_health_and_metrics_on_port(
    yookassa: FakeYooKassa, webhook_dsn: str, kubeconfig: Path, namespace: str
) -> None:
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "YOOKASSA_SHOP_ID": yookassa.shop_id,
        "YOOKASSA_SECRET_KEY": yookassa.secret_key,
        "YOOKASSA_API_URL": yookassa.url,
        "WEBHOOK_DATABASE_URL": webhook_dsn,
        "KUBECONFIG": str(kubeconfig),
        "TENANT_NAMESPACE": namespace,
        "PORT": str(port),
        "HOST": "127.0.0.1",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "booking_webhook",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                        assert resp.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("the webhook did not start")
            async with http.get(f"http://127.0.0.1:{port}/ready") as resp:
                assert resp.status == 200
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert "booking_webhook_tenants_created_total 0.0" in await resp.text()
    finally:
        proc.terminate()
        _, stderr = await asyncio.wait_for(proc.communicate(), 10)
    assert yookassa.secret_key.encode() not in stderr and webhook_dsn.encode() not in stderr


async def test_the_salesbot_command_answers_start(
    yookassa: FakeYooKassa, webhook_dsn: str, kubeconfig: Path, namespace: str
) -> None:
    from .test_sales_bot import SALES_TOKEN, StrictTelegram

    async with StrictTelegram() as tg:
        tg.add_bot(SALES_TOKEN, username="booking_sales_bot")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "YOOKASSA_SHOP_ID": yookassa.shop_id,
            "YOOKASSA_SECRET_KEY": yookassa.secret_key,
            "YOOKASSA_API_URL": yookassa.url,
            "WEBHOOK_DATABASE_URL": webhook_dsn,
            "KUBECONFIG": str(kubeconfig),
            "TENANT_NAMESPACE": namespace,
            "SALES_BOT_TOKEN": SALES_TOKEN,
            "TELEGRAM_API_URL": tg.url,
            "SALES_POLLING_TIMEOUT": "1",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "booking_webhook", "salesbot", env=env, stderr=asyncio.subprocess.PIPE
        )
        try:
            tg.push_message(SALES_TOKEN, 777001, "/start")
            menu = await tg.next_message(SALES_TOKEN, 777001, timeout=20)
            assert any("299.00 RUB" in text for text, _ in menu.buttons)
        finally:
            proc.terminate()
            _, stderr = await asyncio.wait_for(proc.communicate(), 15)
    assert SALES_TOKEN.encode() not in stderr and yookassa.secret_key.encode() not in stderr
