"""The bot process imports aiogram with deferred model builds; every model must still build."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from booking_bot.lazy_models import import_aiogram_lazily
assert import_aiogram_lazily()
import aiogram.methods, aiogram.types
from pydantic import BaseModel
failed = []
for module in (aiogram.types, aiogram.methods):
    for name in module.__all__:
        model = getattr(module, name)
        if isinstance(model, type) and issubclass(model, BaseModel):
            try:
                model.model_rebuild(force=True)
            except Exception as exc:
                failed.append(f"{name}: {exc}")
chat = {"id": 1, "type": "private"}
update = aiogram.types.Update.model_validate(
    {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": chat, "text": "/start"}}
)
assert update.message is not None and update.message.text == "/start"
from aiogram.methods.base import Response
payload = {"ok": True, "result": [{"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": chat}}]}
Response[list[aiogram.types.Update]].model_validate(payload)
print("\\n".join(failed) or "ok")
"""


def test_every_aiogram_model_builds_when_imported_lazily() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
