"""The legacy tree: ``clients/<client_id>/`` with a ``.env`` and one SQLite file per client.

Only reading happens here. A directory whose name is no valid client id (the platform's
rules, booking_contract.client_id: ``^[a-z][a-z0-9_]{2,39}$``, not ``pg_*``, not reserved) is
reported and skipped by every tool; hidden entries and plain files are ignored.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

from booking_contract.client_id import client_id_problem as _contract_problem
from booking_contract.dotenv import first_value, parse_env

DEFAULT_TIMEZONE = "Europe/Moscow"
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
# .env keys the legacy bots used, first match wins.
TOKEN_KEYS = ("BOT_TOKEN", "TELEGRAM_BOT_TOKEN", "TOKEN")
TIMEZONE_KEYS = ("TENANT_TIMEZONE", "TIMEZONE", "TZ")
SQLITE_KEYS = ("SQLITE_PATH", "DB_PATH", "DATABASE_PATH", "SQLITE_DB")
COMPANY_KEYS = ("COMPANY_NAME", "BUSINESS_NAME", "COMPANY", "SALON_NAME")
OWNER_KEYS = ("OWNER_TELEGRAM_ID", "OWNER_ID", "ADMIN_ID")
ADMINS_KEYS = ("ADMIN_TELEGRAM_IDS", "ADMIN_IDS", "ADMINS")
LANGUAGE_KEYS = ("DEFAULT_LANGUAGE", "LANGUAGE", "LANG")


class LegacyError(Exception):
    """One client cannot be handled; the message is one line for humans."""


def client_id_problem(name: str) -> str | None:
    """Why ``name`` cannot be a client id, or None when it can."""
    problem = _contract_problem(name)
    return None if problem is None else f"not a valid client id ({problem})"


@dataclass
class LegacyClient:
    client_id: str
    path: Path
    env: dict[str, str] = field(default_factory=dict)

    def first(self, keys: tuple[str, ...]) -> str | None:
        return first_value(self.env, keys)

    @property
    def bot_id(self) -> int | None:
        """The numeric id at the start of the bot token (``<bot_id>:<secret>``); never the token."""
        token = self.first(TOKEN_KEYS)
        head = token.split(":", 1)[0] if token else ""
        return int(head) if head.isdigit() else None

    def redis_db(self) -> int | None:
        raw = self.env.get("REDIS_DB", "").strip()
        if not raw:
            return None
        if not raw.isdigit():
            raise LegacyError(f"REDIS_DB={raw!r} is not a database number")
        return int(raw)

    def timezone(self, default: str = DEFAULT_TIMEZONE) -> zoneinfo.ZoneInfo:
        name = self.first(TIMEZONE_KEYS) or default
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise LegacyError(f"unknown time zone {name!r}") from None

    def sqlite_file(self) -> Path:
        """The client's SQLite file: the .env's path if it exists here, else the only *.db file."""
        named = self.first(SQLITE_KEYS)
        if named:
            for candidate in (self.path / named, self.path / Path(named).name):
                if candidate.is_file():
                    return candidate
        found = sorted(
            p
            for folder in (self.path, self.path / "data")
            if folder.is_dir()
            for p in folder.iterdir()
            if p.is_file() and p.suffix in SQLITE_SUFFIXES
        )
        if not found:
            raise LegacyError("no SQLite file (*.db, *.sqlite, *.sqlite3) in the client directory")
        if len(found) > 1:
            names = ", ".join(str(p.relative_to(self.path)) for p in found)
            raise LegacyError(f"several SQLite files ({names}); name one with SQLITE_PATH in .env")
        return found[0]


@dataclass
class LegacyTree:
    clients: list[LegacyClient]
    invalid: list[tuple[str, str]]  # (directory name, reason)


def read_tree(root: Path, only: list[str] | None = None) -> LegacyTree:
    """Every client directory under ``root`` (the legacy ``clients/``), sorted by name."""
    if not root.is_dir():
        raise LegacyError(f"{root} is not a directory")
    clients: list[LegacyClient] = []
    invalid: list[tuple[str, str]] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        if only and entry.name not in only:
            continue
        problem = client_id_problem(entry.name)
        if problem:
            invalid.append((entry.name, problem))
            continue
        env_file = entry / ".env"
        env = parse_env(env_file.read_text("utf-8", errors="replace")) if env_file.is_file() else {}
        clients.append(LegacyClient(entry.name, entry, env))
    missing = sorted(set(only or ()) - {c.client_id for c in clients} - {name for name, _ in invalid})
    invalid.extend((name, "no such client directory") for name in missing)
    return LegacyTree(clients, invalid)
