"""``python -m booking_bot`` as a process: health endpoint, JSON logs, SIGTERM, startup failures."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys

import aiohttp

from harness.telegram import FakeTelegram

from .conftest import Tenant


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(tenant: Tenant, tg: FakeTelegram, token: str, **extra: str) -> dict[str, str]:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("CLIENT_", "BOT_", "REDIS_", "DATABASE_"))
    }
    return {
        **base,
        "CLIENT_ID": tenant.client_id,
        "BOT_TOKEN": token,
        "DATABASE_URL": tenant.dsn,
        "TELEGRAM_API_URL": tg.url,
        "BUSINESS_NAME": "Process Salon",
        "TENANT_TIMEZONE": "Europe/Moscow",
        **extra,
    }


async def _healthy(port: int, timeout: float = 30.0) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as http:
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        body: dict[str, object] = await resp.json()
                        return body
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("the bot never became healthy")


async def test_bot_process_serves_health_answers_and_stops_cleanly_on_sigterm(
    telegram: FakeTelegram, seeded_tenant: Tenant
) -> None:
    token = FakeTelegram.make_token(3100000001)
    telegram.add_bot(token, username="process_bot")
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "booking_bot",
        env=_env(seeded_tenant, telegram, token, HEALTH_PORT=str(port)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        health = await _healthy(port)
        assert health == {"status": "ok", "client_id": seeded_tenant.client_id}
        telegram.push_message(token, 42, "/start")
        try:
            answer = await telegram.next_message(token, 42, timeout=10)
        except TimeoutError:
            proc.kill()
            out, err = await proc.communicate()
            raise AssertionError(out.decode()[-3000:] + err.decode()[-3000:]) from None
        assert "Process Salon" in answer.text
        # A whole booking through the process (real clock: the first free day and time).
        for prefix in ("m1:book", "s1:", "d2:", "t2:", "k2:"):
            data = next(d for _, d in answer.buttons if d and d.startswith(prefix))
            telegram.push_callback(token, 42, answer, data)
            answer = await telegram.next_message(token, 42, timeout=10)
        assert "Вы записаны" in answer.text
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    lines = [line for line in out.decode().splitlines() if line.strip()]
    assert lines
    events = [json.loads(line) for line in lines]
    assert all(event["client_id"] == seeded_tenant.client_id for event in events)
    assert {"polling_started", "stopped"} <= {event["event"] for event in events}
    everything = out.decode() + err.decode()
    assert token.split(":")[1] not in everything
    assert seeded_tenant.password not in everything


async def test_unmigrated_schema_is_one_line_and_exit_1(telegram: FakeTelegram, tenant: Tenant) -> None:
    token = FakeTelegram.make_token(3100000002)
    telegram.add_bot(token)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "booking_bot",
        env=_env(tenant, telegram, token, HEALTH_PORT="0"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert err.decode().strip().splitlines() == [
        "booking_bot: startup error: the schema is not migrated: run `python -m booking_bot migrate` first"
    ]


async def test_a_token_telegram_rejects_is_one_line_and_exit_2(
    telegram: FakeTelegram, seeded_tenant: Tenant
) -> None:
    token = FakeTelegram.make_token(3100000003, "REVOKED")  # never added: the fake answers 401
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "booking_bot",
        env=_env(seeded_tenant, telegram, token, HEALTH_PORT="0"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "BOT_TOKEN was rejected" in lines[0]
    assert "REVOKED" not in err.decode()


async def test_a_busy_health_port_is_one_line_and_exit_1(
    telegram: FakeTelegram, seeded_tenant: Tenant
) -> None:
    token = FakeTelegram.make_token(3100000004)
    telegram.add_bot(token)
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))  # the bot binds all interfaces too
        busy.listen()
        port = busy.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "booking_bot",
            env=_env(seeded_tenant, telegram, token, HEALTH_PORT=str(port)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and f"cannot serve /healthz on port {port}" in lines[0], err.decode()
