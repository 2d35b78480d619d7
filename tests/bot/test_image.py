"""The built image, run for real with podman (opt-in: ``BOOKING_BOT_IMAGE=<image>``).

Builds are slow and need podman, so the default suite skips this; see docs/deploy.md for
building the image against a local base. The container runs read-only, without
capabilities, on the host network so it reaches this session's PostgreSQL and fake Bot API.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid

import aiohttp
import pytest

from harness.telegram import FakeTelegram

from .conftest import Tenant

IMAGE = os.environ.get("BOOKING_BOT_IMAGE", "")
pytestmark = pytest.mark.skipif(
    not IMAGE or shutil.which("podman") is None,
    reason="set BOOKING_BOT_IMAGE to a built image (needs podman)",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _podman(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "podman", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_the_image_migrates_serves_and_stops_on_sigterm(telegram: FakeTelegram, tenant: Tenant) -> None:
    token = FakeTelegram.make_token(3200000001)
    telegram.add_bot(token)
    port = _free_port()
    name = f"bot-test-{uuid.uuid4().hex[:8]}"
    env = [
        f"--env=CLIENT_ID={tenant.client_id}",
        f"--env=DATABASE_URL={tenant.dsn}",
        f"--env=BOT_TOKEN={token}",
        f"--env=TELEGRAM_API_URL={telegram.url}",
        f"--env=HEALTH_PORT={port}",
        "--env=BUSINESS_NAME=Container Salon",
    ]
    common = ["run", "--rm", "--network=host", "--read-only", "--cap-drop=ALL", *env]
    code, _, err = await _podman(*common, IMAGE, "migrate")
    assert code == 0, err
    proc = await asyncio.create_subprocess_exec(
        "podman",
        *common,
        f"--name={name}",
        IMAGE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        telegram.push_message(token, 42, "/start")
        answer = await telegram.next_message(token, 42, timeout=15)
        assert "Container Salon" in answer.text
        await _podman("kill", "--signal=TERM", name)
        _, err_bytes = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err_bytes.decode()
    finally:
        if proc.returncode is None:
            await _podman("rm", "-f", name)
