"""The bot process imports aiogram with deferred model builds; every model must still build.

Each check runs in a fresh interpreter: the lazy import only means something before anything
has imported aiogram, and it must leave pydantic behaving exactly as without it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from booking_operator.manifests import DEFAULT_RESOURCES
from harness.telegram import FakeTelegram

from .conftest import Tenant

EVERY_MODEL = """
import json, re, sys
if sys.argv[1] == "lazy":
    from booking_bot.lazy_models import import_aiogram_lazily
    import_aiogram_lazily()
import aiogram.methods, aiogram.types
from pydantic import BaseModel
fields = {}
failed = []
for module in (aiogram.types, aiogram.methods):
    for name in module.__all__:
        model = getattr(module, name)
        if isinstance(model, type) and issubclass(model, BaseModel):
            try:
                model.model_rebuild(force=True)
            except Exception as exc:
                failed.append(f"{name}: {exc}")
                continue
            fields[name] = {
                field: re.sub(r" at 0x[0-9a-f]+", "", repr(info.annotation))
                for field, info in model.model_fields.items()
            }
chat = {"id": 1, "type": "private"}
update = aiogram.types.Update.model_validate(
    {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": chat, "text": "/start"}}
)
assert update.message is not None and update.message.text == "/start"
from aiogram.methods.base import Response
payload = {"ok": True, "result": [{"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": chat}}]}
Response[list[aiogram.types.Update]].model_validate(payload)
print(json.dumps({"failed": failed, "fields": fields}, sort_keys=True))
"""

LOCAL_FORWARD_REFERENCE = """
import sys
from booking_bot.lazy_models import import_aiogram_lazily
import_aiogram_lazily()
from pydantic import BaseModel

def build():
    class Appointment(BaseModel):
        slot: "Slot"

    class Slot(BaseModel):
        starts_at: str

    Appointment.model_rebuild()
    return Appointment(slot={"starts_at": "10:00"})

print(build().slot.starts_at)
"""


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_every_aiogram_model_builds_with_the_same_fields_as_an_eager_import() -> None:
    lazy, eager = _run(EVERY_MODEL, "lazy"), _run(EVERY_MODEL, "eager")
    assert lazy.returncode == 0, lazy.stderr
    assert eager.returncode == 0, eager.stderr
    assert '"failed": []' in lazy.stdout
    assert lazy.stdout == eager.stdout


def test_a_model_in_a_function_still_resolves_forward_references_in_that_function() -> None:
    """pydantic looks a rebuild's forward references up in its caller's frame: nothing we
    install may add a frame between the two."""
    result = _run(LOCAL_FORWARD_REFERENCE)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "10:00"


# ---- the point of it: a bot process that fits its pod -------------------------------------------
def _limit_mib() -> float:
    """The memory limit the operator gives every bot pod, in MiB."""
    limit = DEFAULT_RESOURCES["limits"]["memory"]
    assert limit.endswith("Mi"), limit
    return float(limit.removesuffix("Mi"))


# An idle bot must leave a quarter of its pod's limit for what a busy one adds (the models of
# the updates it meets, buffers, connections): 96 MiB of 128 Mi. Measured idle: ~83 MiB lazily,
# ~181 MiB with a plain `import aiogram`.
IDLE_SHARE_OF_LIMIT = 0.75


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def _bot_env(tenant: Tenant, telegram: FakeTelegram, token: str) -> dict[str, str]:
    inherited = ("BOOKING_BOT_", "BOT_", "CLIENT_", "DATABASE_", "REDIS_")
    return {k: v for k, v in os.environ.items() if not k.startswith(inherited)} | {
        "CLIENT_ID": tenant.client_id,
        "BOT_TOKEN": token,
        "DATABASE_URL": tenant.dsn,
        "TELEGRAM_API_URL": telegram.url,
        "HEALTH_PORT": "0",
    }


async def _events_until(
    stream: asyncio.StreamReader, wanted: set[str], timeout: float
) -> list[dict[str, Any]]:
    """The bot's JSON log lines, read until every event in ``wanted`` has appeared."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not wanted <= {e.get("event") for e in events}:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"the bot stopped before logging {wanted}: {events}")
            events.append(json.loads(line))
    return events


async def test_an_idle_bot_process_defers_aiogram_models_and_fits_its_memory_limit(
    telegram: FakeTelegram, seeded_tenant: Tenant
) -> None:
    token = FakeTelegram.make_token(3100000101)
    telegram.add_bot(token, username="memory_bot")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "booking_bot",
        env=_bot_env(seeded_tenant, telegram, token),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        events = await _events_until(proc.stdout, {"aiogram_models", "polling_started"}, timeout=60)
        # One customer served, then the bot is back to waiting for updates: idle, warmed up.
        telegram.push_message(token, 42, "/start")
        await telegram.next_message(token, 42, timeout=20)
        polls = len(telegram.calls_of("getUpdates", token))
        deadline = asyncio.get_running_loop().time() + 20
        while len(telegram.calls_of("getUpdates", token)) <= polls:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the bot did not poll again after answering")
            await asyncio.sleep(0.05)
        rss = _rss_mib(proc.pid)
    finally:
        proc.terminate()
        await proc.wait()
    models = next(e for e in events if e["event"] == "aiogram_models")
    assert models["mode"] == "lazy"
    assert models["built"] <= models["models"] / 3, models
    bound = IDLE_SHARE_OF_LIMIT * _limit_mib()
    assert rss < bound, f"idle bot RSS {rss:.0f} MiB, bound {bound:.0f} MiB of a {_limit_mib():.0f} Mi limit"


async def test_a_bot_whose_models_cannot_be_deferred_refuses_to_start_with_one_line(
    telegram: FakeTelegram, seeded_tenant: Tenant
) -> None:
    """Here aiogram is imported before the bot's entry point runs, as a plugin or a changed
    import order would: the bot must say so, not start and be OOM-killed in its pod."""
    token = FakeTelegram.make_token(3100000102)
    telegram.add_bot(token)
    entry = "import sys, aiogram; sys.argv = ['booking_bot']; from booking_bot.__main__ import main; main()"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        entry,
        env=_bot_env(seeded_tenant, telegram, token),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert err.decode().strip().splitlines() == [
        "booking_bot: startup error: aiogram was imported before booking_bot.lazy_models could defer its "
        "models (BOOKING_BOT_EAGER_MODELS=1 builds them eagerly, with a larger memory limit)"
    ]
    assert "polling_started" not in out.decode()
