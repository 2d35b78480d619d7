"""Reading one legacy SQLite file and mapping its rows onto the bot's tables.

The legacy file is opened read-only. Before anything is written anywhere it is checked:
``PRAGMA quick_check`` (a corrupt file fails here), the three tables and their required
columns. Every row is then validated while it is read; anything the mapping cannot place
fails the whole client with a reason naming the row (:class:`LegacyError`).

Mapping (documented in docs/legacy-migration.md):

* ``services(id, name, [duration|duration_minutes], [price], [description], [is_active|active])``
  -> ``services`` (``legacy_id`` = legacy id; missing duration = 60 min, clamped to 5..720).
* ``users(user_id|telegram_id, [first_name], [last_name], [username], [language_code], [phone])``
  -> ``users`` (Telegram id is the key; duplicate legacy rows: the last one wins).
* ``bookings(id, user_id, service_id, date, time, status, [duration], [note|comment], [created_at])``
  -> ``bookings``: local ``date`` + ``time`` in the tenant's zone -> UTC ``starts_at``;
  ``ends_at`` = start + the booking's or the service's duration; statuses ``active``,
  ``confirmed``, ``pending``, ``booked``, ``new``, ``completed``, ``done`` -> ``confirmed``;
  ``cancelled``, ``canceled``, ``deleted``, ``rejected``, ``declined`` -> ``cancelled``;
  anything else fails the client. A booking whose service no longer exists keeps pointing at
  a hidden placeholder service "legacy service #N" (``legacy_id`` = N); one whose customer is
  missing from ``users`` gets a placeholder user row with that Telegram id.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from booking_legacy.tree import LegacyError

UTC = dt.UTC
DEFAULT_DURATION = 60
NO_SERVICE_ID = 0  # legacy bookings with service_id NULL point at placeholder #0
CONFIRMED = frozenset({"active", "confirmed", "pending", "booked", "new", "completed", "done"})
CANCELLED = frozenset({"cancelled", "canceled", "deleted", "rejected", "declined"})
MAX_PRICE = Decimal("9999999999.99")

# Legacy column -> the names it may have had. First match wins; None = optional.
SERVICE_COLUMNS: dict[str, tuple[tuple[str, ...], bool]] = {
    "id": (("id",), True),
    "name": (("name", "title"), True),
    "duration": (("duration_minutes", "duration", "duration_min", "minutes"), False),
    "price": (("price", "cost"), False),
    "description": (("description",), False),
    "active": (("is_active", "active", "enabled"), False),
}
USER_COLUMNS: dict[str, tuple[tuple[str, ...], bool]] = {
    "telegram_id": (("user_id", "telegram_id", "tg_id"), True),
    "first_name": (("first_name", "name", "full_name"), False),
    "last_name": (("last_name",), False),
    "username": (("username",), False),
    "language_code": (("language_code", "language", "lang"), False),
    "phone": (("phone", "phone_number"), False),
}
BOOKING_COLUMNS: dict[str, tuple[tuple[str, ...], bool]] = {
    "id": (("id",), False),  # rowid when absent
    "user_id": (("user_id", "telegram_id"), True),
    "service_id": (("service_id",), True),
    "date": (("date",), True),
    "time": (("time",), True),
    "status": (("status",), True),
    "duration": (("duration_minutes", "duration"), False),
    "note": (("note", "comment", "comments"), False),
    "created_at": (("created_at",), False),
}


@dataclass(frozen=True)
class Counts:
    bookings: int
    services: int
    users: int


@dataclass
class ServiceRow:
    legacy_id: int
    name: str
    description: str
    duration: int
    price: Decimal
    is_active: bool
    placeholder: bool = False

    def record(self) -> tuple[Any, ...]:
        return (
            self.legacy_id,
            self.name,
            self.description,
            self.duration,
            self.price,
            self.is_active,
            self.placeholder,
        )


@dataclass
class Notes:
    """Odd data that was mapped rather than refused, reported next to the summary."""

    missing_services: dict[int, int] = field(default_factory=dict)  # legacy service id -> bookings
    missing_users: set[int] = field(default_factory=set)
    duplicate_users: int = 0
    adjusted_services: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.missing_services:
            ids = ", ".join(f"#{i}" for i in sorted(self.missing_services))
            n = sum(self.missing_services.values())
            out.append(
                f"{n} booking(s) of services no longer in the file ({ids}): hidden placeholder services"
            )
        if self.missing_users:
            out.append(f"{len(self.missing_users)} customer(s) missing from users: placeholder user rows")
        if self.duplicate_users:
            out.append(f"{self.duplicate_users} duplicate user row(s) merged (the last one wins)")
        if self.adjusted_services:
            ids = ", ".join(f"#{i}" for i in self.adjusted_services)
            out.append(f"service(s) {ids}: name, duration or price adjusted to the bot's limits")
        return out


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise LegacyError(f"{what}: {value!r} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise LegacyError(f"{what}: {value!r} is not an integer")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value).replace("\x00", "")


def _bool(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)


def parse_date(value: Any) -> dt.date:
    text = _text(value).strip()
    try:
        if len(text) == 10 and text[2] == "." and text[5] == ".":
            day, month, year = text.split(".")
            return dt.date(int(year), int(month), int(day))
        return dt.date.fromisoformat(text[:10])
    except (ValueError, IndexError):
        raise ValueError(f"date {text!r}") from None


def parse_time(value: Any) -> dt.time:
    text = _text(value).strip()
    try:
        parsed = dt.time.fromisoformat(text if len(text) != 4 else "0" + text)  # '9:30'
    except ValueError:
        raise ValueError(f"time {text!r}") from None
    return parsed.replace(tzinfo=None)


def map_status(value: Any) -> str | None:
    text = _text(value).strip().lower()
    if text in CONFIRMED:
        return "confirmed"
    if text in CANCELLED:
        return "cancelled"
    return None


class SqliteSource:
    """One legacy SQLite file, opened read-only, read inside one read transaction."""

    def __init__(self, path: Path, tz: zoneinfo.ZoneInfo) -> None:
        self.path = path
        self.tz = tz
        self.notes = Notes()
        self._local_cache: dict[tuple[Any, Any], dt.datetime] = {}
        try:
            self.db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise LegacyError(f"cannot open SQLite file {path.name}: {exc}") from None
        self.db.isolation_level = None
        self._columns: dict[str, dict[str, str | None]] = {}
        self.services: dict[int, ServiceRow] = {}
        self.user_ids: set[int] = set()

    def close(self) -> None:
        self.db.close()

    def check(self) -> Counts:
        """Corruption and shape checks, then a consistent snapshot (one read transaction)."""
        try:
            problems = [str(r[0]) for r in self.db.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise LegacyError(f"corrupt SQLite file {self.path.name}: {'; '.join(problems)[:300]}")
            self.db.execute("BEGIN")
            tables = {str(r[0]) for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            for table, wanted in (
                ("services", SERVICE_COLUMNS),
                ("users", USER_COLUMNS),
                ("bookings", BOOKING_COLUMNS),
            ):
                if table not in tables:
                    raise LegacyError(f"unexpected SQLite file {self.path.name}: no table {table!r}")
                have = [str(r[1]) for r in self.db.execute(f'PRAGMA table_info("{table}")')]
                resolved: dict[str, str | None] = {}
                for name, (aliases, required) in wanted.items():
                    found = next((c for c in have if c.lower() in aliases), None)
                    if found is None and required:
                        raise LegacyError(
                            f"unexpected SQLite file {self.path.name}: table {table!r} has no column "
                            f"{'/'.join(aliases)} (columns: {', '.join(have)})"
                        )
                    resolved[name] = found
                self._columns[table] = resolved
            return Counts(
                bookings=self._scalar("SELECT count(*) FROM bookings"),
                services=self._scalar("SELECT count(*) FROM services"),
                users=self._scalar(
                    f"SELECT count(DISTINCT {self._col('users', 'telegram_id')}) FROM users"  # noqa: S608
                ),
            )
        except sqlite3.Error as exc:
            raise LegacyError(f"corrupt or unreadable SQLite file {self.path.name}: {exc}") from None

    def _scalar(self, sql: str) -> int:
        row = self.db.execute(sql).fetchone()
        return int(row[0])

    def _col(self, table: str, name: str, default: str = "NULL") -> str:
        column = self._columns[table][name]
        return f'"{column}"' if column else default

    def _select(self, table: str, names: list[str], order: str) -> str:
        cols = ", ".join(self._col(table, n) for n in names)
        return f'SELECT {cols} FROM "{table}" ORDER BY {order}'  # noqa: S608 - names from PRAGMA

    def read_services(self) -> list[ServiceRow]:
        names = ["id", "name", "duration", "price", "description", "active"]
        rows = self._fetch(self._select("services", names, self._col("services", "id")))
        for legacy_id_raw, name_raw, duration_raw, price_raw, description, active in rows:
            legacy_id = _int(legacy_id_raw, "services.id")
            name = " ".join(_text(name_raw).split())
            adjusted = not name or len(name) > 100
            name = (name or f"service #{legacy_id}")[:100]
            duration = DEFAULT_DURATION
            if duration_raw not in (None, ""):
                try:
                    duration = _int(duration_raw, "duration")
                except LegacyError:
                    adjusted = True
            if not 5 <= duration <= 720:
                duration, adjusted = min(max(duration, 5), 720), True
            price = Decimal(0)
            if price_raw not in (None, ""):
                try:
                    price = Decimal(str(price_raw)).quantize(Decimal("0.01"))
                except InvalidOperation:
                    adjusted = True
            if not Decimal(0) <= price <= MAX_PRICE:
                price, adjusted = Decimal(0), True
            if legacy_id in self.services:
                raise LegacyError(f"services: id {legacy_id} appears twice")
            if adjusted:
                self.notes.adjusted_services.append(legacy_id)
            self.services[legacy_id] = ServiceRow(
                legacy_id, name, _text(description)[:1000], duration, price, _bool(active)
            )
        return list(self.services.values())

    def read_users(self) -> list[tuple[Any, ...]]:
        names = ["telegram_id", "first_name", "last_name", "username", "language_code", "phone"]
        users: dict[int, tuple[Any, ...]] = {}
        rows = self._fetch(self._select("users", names, "rowid"))
        for tg_raw, first, last, username, language, phone in rows:
            telegram_id = _int(tg_raw, "users.user_id")
            if telegram_id <= 0:
                raise LegacyError(f"users: {telegram_id} is not a Telegram user id")
            if telegram_id in users:
                self.notes.duplicate_users += 1
            phone_text = _text(phone).strip() or None
            users[telegram_id] = (
                telegram_id,
                _text(first)[:256],
                _text(last)[:256],
                _text(username).strip().lstrip("@") or None,
                _text(language).strip()[:16] or None,
                phone_text if phone_text and len(phone_text) <= 32 else None,
                False,
            )
        self.user_ids = set(users)
        return list(users.values())

    def _fetch(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return self.db.execute(sql).fetchall()
        except sqlite3.Error as exc:
            raise LegacyError(f"corrupt or unreadable SQLite file {self.path.name}: {exc}") from None

    def _instant(self, date_raw: Any, time_raw: Any) -> dt.datetime:
        key = (date_raw, time_raw)
        cached = self._local_cache.get(key)
        if cached is None:
            local = dt.datetime.combine(parse_date(date_raw), parse_time(time_raw))
            cached = local.replace(tzinfo=self.tz).astimezone(UTC)
            self._local_cache[key] = cached
        return cached

    def iter_bookings(self, chunk_size: int = 20_000) -> Iterator[list[tuple[Any, ...]]]:
        """Validated booking records in chunks: (legacy_id, user_id, service_legacy_id, starts_at,
        ends_at, status, note, created_at)."""
        names = ["id", "user_id", "service_id", "date", "time", "status", "duration", "note", "created_at"]
        id_col = self._col("bookings", "id", "rowid")
        cols = ", ".join([id_col, *(self._col("bookings", n) for n in names[1:])])
        sql = f'SELECT {cols} FROM "bookings" ORDER BY {id_col}'  # noqa: S608 - names from PRAGMA
        try:
            cursor = self.db.execute(sql)
            while True:
                rows = cursor.fetchmany(chunk_size)
                if not rows:
                    return
                yield [self._booking(row) for row in rows]
        except sqlite3.Error as exc:
            raise LegacyError(f"corrupt or unreadable SQLite file {self.path.name}: {exc}") from None

    def _booking(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        legacy_raw, user_raw, service_raw, date_raw, time_raw, status_raw, duration_raw, note, created = row
        legacy_id = _int(legacy_raw, "bookings.id")
        where = f"booking {legacy_id}"
        user_id = _int(user_raw, f"{where}: user_id") if user_raw is not None else None
        if user_id is None or user_id <= 0:
            raise LegacyError(f"{where}: no valid customer (user_id {user_raw!r})")
        service_id = NO_SERVICE_ID if service_raw in (None, "") else _int(service_raw, f"{where}: service_id")
        service = self.services.get(service_id)
        if service is None:
            self.notes.missing_services[service_id] = self.notes.missing_services.get(service_id, 0) + 1
        if user_id not in self.user_ids:
            self.notes.missing_users.add(user_id)
        try:
            starts_at = self._instant(date_raw, time_raw)
        except ValueError as exc:
            raise LegacyError(f"{where}: cannot read {exc}") from None
        status = map_status(status_raw)
        if status is None:
            raise LegacyError(f"{where}: unknown status {_text(status_raw)!r}")
        duration = service.duration if service else DEFAULT_DURATION
        if duration_raw not in (None, ""):
            with contextlib.suppress(LegacyError):
                duration = min(max(_int(duration_raw, "duration"), 5), 720)
        created_at = None
        if created not in (None, ""):
            try:
                created_at = dt.datetime.fromisoformat(_text(created))
                if created_at.tzinfo is None:
                    created_at = created_at.replace(tzinfo=UTC)
            except ValueError:
                created_at = None
        return (
            legacy_id,
            user_id,
            service_id,
            starts_at,
            starts_at + dt.timedelta(minutes=duration),
            status,
            _text(note)[:1000],
            created_at,
        )

    def placeholder_services(self) -> list[ServiceRow]:
        """Hidden services for bookings whose service is gone (call after iter_bookings)."""
        return [
            ServiceRow(
                legacy_id=i,
                name=f"legacy service #{i}" if i != NO_SERVICE_ID else "legacy service (none)",
                description="kept by the legacy migration: the original service no longer existed",
                duration=DEFAULT_DURATION,
                price=Decimal(0),
                is_active=False,
                placeholder=True,
            )
            for i in sorted(self.notes.missing_services)
        ]

    def placeholder_users(self) -> list[tuple[Any, ...]]:
        return [(i, "", "", None, None, None, True) for i in sorted(self.notes.missing_users)]
