"""The domain stays framework-free: slots, bookings, reminders... never import aiogram."""

from __future__ import annotations

import ast
import zoneinfo
from pathlib import Path

import booking_bot
from booking_bot.handlers import get_routers
from booking_bot.i18n import I18n

PACKAGE = Path(booking_bot.__file__).parent
DOMAIN = (
    "slots",
    "schedule",
    "bookings",
    "catalog",
    "reminders",
    "users",
    "migrate",
    "db",
    "preflight",
    "config",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_domain_modules_do_not_import_aiogram() -> None:
    offenders = [name for name in DOMAIN if "aiogram" in _imports(PACKAGE / f"{name}.py")]
    assert offenders == []


def test_every_handler_module_builds_its_own_router() -> None:
    i18n = I18n("ru", zoneinfo.ZoneInfo("Europe/Moscow"))
    first, second = get_routers(i18n), get_routers(i18n)
    assert [r.name for r in first] == [r.name for r in second]
    assert not {id(r) for r in first} & {id(r) for r in second}  # fresh routers: several bots per process
