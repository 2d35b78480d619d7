"""`python -m booking_webhook` as the container runs it: env in, HTTP on PORT out."""

import asyncio
import contextlib
import json
import os
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

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
    lines = stderr.decode().splitlines()
    assert lines, "the service logged nothing"
    for line in lines:  # structured: one JSON event per line
        event = json.loads(line)
        assert {"ts", "level", "logger", "event"} <= event.keys()


async def test_the_sales_bot_runs_with_its_own_connections_and_answers_start(
    yookassa: FakeYooKassa, webhook_dsn: str, kubeconfig: Path, namespace: str
) -> None:
    """`run_sales_bot` (what `python -m booking_webhook salesbot` runs), in-process: importing
    aiogram in a fresh interpreter costs seconds that this test need not pay."""
    from pydantic import SecretStr

    from booking_webhook.salesbot.app import run_sales_bot

    from .conftest import SALES_TOKEN, StrictTelegram, make_settings

    async with StrictTelegram() as tg:
        tg.add_bot(SALES_TOKEN, username="booking_sales_bot")
        settings = make_settings(yookassa, webhook_dsn, kubeconfig, namespace).model_copy(
            update={
                "sales_bot_token": SecretStr(SALES_TOKEN),
                "telegram_api_url": tg.url,
                "polling_timeout": 1,
            }
        )
        task = asyncio.create_task(run_sales_bot(settings))
        try:
            tg.push_message(SALES_TOKEN, 777001, "/start")
            menu = await tg.next_message(SALES_TOKEN, 777001, timeout=20)
            assert any("299.00 RUB" in text for text, _ in menu.buttons)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)


def test_an_unknown_command_is_refused_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    from booking_webhook.__main__ import USAGE, main

    with pytest.raises(SystemExit) as exited:
        main(["bogus"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == USAGE + "\n"


def test_the_salesbot_command_needs_its_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from booking_webhook.__main__ import main

    monkeypatch.setenv("YOOKASSA_SHOP_ID", "123456")
    monkeypatch.setenv("YOOKASSA_SECRET_KEY", "live_real_looking_key_1234567890")
    monkeypatch.setenv("WEBHOOK_DATABASE_URL", "postgresql://u:p@127.0.0.1:5432/db")
    monkeypatch.delenv("SALES_BOT_TOKEN", raising=False)
    assert main(["salesbot"]) == 2
