"""Generated legacy trees: ``clients/<client_id>/.env`` plus the legacy bot's SQLite file.

The SQLite schema is the legacy bot's (``services``, ``users``, ``bookings`` with ``date`` and
``time`` as local text). Every client's Telegram user ids live in their own range
(``index * 1_000_000``), so a row found in the wrong schema names its owner.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

LEGACY_SCHEMA = """
CREATE TABLE services (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
                       duration INTEGER DEFAULT 60, price REAL DEFAULT 0, is_active INTEGER DEFAULT 1);
CREATE TABLE users (user_id INTEGER PRIMARY KEY, username TEXT, first_name TEXT, last_name TEXT,
                    phone TEXT, created_at TEXT);
CREATE TABLE bookings (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER, date TEXT, time TEXT,
                       service_id INTEGER, status TEXT DEFAULT 'active', created_at TEXT);
"""
# (bookings, services, users) per client, by index 1..16: varied sizes, one empty client.
SIZES = [
    (45, 5, 12),
    (0, 0, 0),
    (1, 1, 1),
    (10, 2, 5),
    (120, 4, 30),
    (300, 6, 60),
    (25, 3, 8),  # odd data added on top (see ODD)
    (800, 8, 150),
    (60, 2, 20),
    (5, 1, 2),
    (40, 3, 10),  # corrupt file (see CORRUPT)
    (1500, 10, 300),
    (75, 5, 25),
    (200, 3, 40),
    (15, 2, 6),
    (500, 7, 90),
]
ODD = 7
CORRUPT = 11
NO_REDIS = 16
INVALID_NAME = "Client-17"
BOT_ID_BASE = 7_000_000_000


def bot_token(index: int) -> str:
    return f"{BOT_ID_BASE + index}:AAF-legacy-test-token-{index:03d}-xyzXYZ0123456789"


@dataclass
class ClientData:
    client_id: str
    index: int
    bookings: int
    services: int
    users: int
    redis_db: int | None
    user_ids: list[int] = field(default_factory=list)
    sqlite: Path | None = None

    @property
    def bot_id(self) -> int:
        return BOT_ID_BASE + self.index

    @property
    def summary(self) -> str:
        counts = f"{self.bookings} bookings, {self.services} services, {self.users} users"
        return f"Migrated {self.client_id}: {counts}"


@dataclass
class Tree:
    root: Path
    stem: str
    clients: dict[int, ClientData]

    def client(self, index: int) -> ClientData:
        return self.clients[index]

    @property
    def valid(self) -> list[ClientData]:
        return [c for i, c in sorted(self.clients.items()) if i != CORRUPT]


def write_sqlite(
    path: Path, index: int, bookings: int, services: int, users: int, today: dt.date
) -> list[int]:
    rng = random.Random(index)
    db = sqlite3.connect(path)
    db.executescript(LEGACY_SCHEMA)
    db.executemany(
        "INSERT INTO services (id, name, duration, price) VALUES (?, ?, ?, ?)",
        [
            (s, f"Service {s}", rng.choice([30, 45, 60, 90]), rng.choice([500, 1500.5, 2000]))
            for s in range(1, services + 1)
        ],
    )
    user_ids = [index * 1_000_000 + u for u in range(1, users + 1)]
    if index == 1 and users:
        user_ids[0] = 123456789  # the seed's example customer
    db.executemany(
        "INSERT INTO users (user_id, username, first_name, last_name, phone) VALUES (?, ?, ?, ?, ?)",
        [(u, f"user{u}", f"Name{u}", "", f"+7900{u % 10_000_000:07d}") for u in user_ids],
    )
    rows = []
    for b in range(1, bookings + 1):
        day = today + dt.timedelta(days=rng.randint(-60, 30))
        at = dt.time(rng.randint(10, 18), rng.choice([0, 30]))
        status = rng.choice(["active", "active", "active", "cancelled", "completed"])
        rows.append(
            (b, rng.choice(user_ids), day.isoformat(), at.strftime("%H:%M"), rng.randint(1, services), status)
        )
    if index == 1 and rows:
        rows[0] = (1, 123456789, "2026-02-20", "14:00", 1, "active")  # the seed's example booking
    db.executemany(
        "INSERT INTO bookings (id, user_id, date, time, service_id, status) VALUES (?, ?, ?, ?, ?, ?)", rows
    )
    db.commit()
    db.close()
    return user_ids


def add_odd_rows(path: Path, index: int) -> None:
    """A booking of a deleted service, one of a customer missing from users, Russian date format,
    an unpadded time, 'canceled' spelling, a service with no price and zero duration."""
    db = sqlite3.connect(path)
    db.execute("INSERT INTO services (id, name, duration, price) VALUES (50, 'Free consult', 0, NULL)")
    db.execute("DELETE FROM services WHERE id = 3")  # bookings of service 3 stay
    user = index * 1_000_000 + 1
    ghost = index * 1_000_000 + 999
    db.executemany(
        "INSERT INTO bookings (id, user_id, date, time, service_id, status) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (1001, user, "2030-03-01", "12:00", 99, "active"),  # service 99 never existed any more
            (1002, ghost, "2030-03-02", "12:00", 1, "active"),  # customer not in users
            (1003, user, "05.03.2030", "9:30", 50, "canceled"),
            (1004, user, "2030-03-04", "12:00", None, "done"),
        ],
    )
    db.commit()
    db.close()


def corrupt(path: Path) -> None:
    """Overwrite the pages after the header page: SQLite still opens it, reading fails."""
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(4096)
        f.write(b"\xde\xad\xbe\xef" * ((size - 4096) // 4))


def build_tree(root: Path, stem: str, today: dt.date | None = None) -> Tree:
    today = today or dt.datetime.now(dt.UTC).date()
    root.mkdir(parents=True, exist_ok=True)
    clients: dict[int, ClientData] = {}
    for index, (bookings, services, users) in enumerate(SIZES, start=1):
        client_id = f"{stem}_{index:03d}"
        folder = root / client_id
        folder.mkdir()
        redis_db = None if index == NO_REDIS else index
        env = [f"BOT_TOKEN={bot_token(index)}", f"CLIENT_ID={client_id}", f'COMPANY_NAME="Salon #{index}"']
        if redis_db is not None:
            env.append(f"REDIS_DB={redis_db}")
        env += [
            "TIMEZONE=Europe/Moscow",
            f"OWNER_ID={index * 1_000_000 + 1}",
            "# legacy compose settings",
            "",
        ]
        (folder / ".env").write_text("\n".join(env), encoding="utf-8")
        db_path = folder / "bookings.db"
        user_ids = write_sqlite(db_path, index, bookings, services, users, today)
        data = ClientData(client_id, index, bookings, services, users, redis_db, user_ids, db_path)
        if index == ODD:
            add_odd_rows(db_path, index)
            data.bookings += 4
            data.services += 0  # +1 (id 50) -1 (id 3 deleted)
        if index == CORRUPT:
            corrupt(db_path)
        clients[index] = data
    invalid = root / INVALID_NAME
    invalid.mkdir()
    (invalid / ".env").write_text(f"BOT_TOKEN={bot_token(17)}\nREDIS_DB=3\n", encoding="utf-8")
    write_sqlite(invalid / "bookings.db", 17, 3, 1, 1, today)
    return Tree(root, stem, clients)
