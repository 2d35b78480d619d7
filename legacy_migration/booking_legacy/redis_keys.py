"""Redis DB n -> DB 0: a legacy client's FSM keys under ``<client_id>:`` in the new bot's format.

Legacy bots (aiogram's default key builder, each on its own database ``REDIS_DB=n``) kept
``fsm:<chat_id>:<user_id>:state`` and ``...:data`` (aiogram 3 adds ``<thread_id>`` after the
chat in forum topics, and a destiny before the part when configured). The new bot reads
(``booking_bot.storage.TenantKeyBuilder``)::

    fsm:<chat>:<user>:state                 ->  <client_id>:fsm:<bot_id>:<chat>:<user>:default:state
    fsm:<chat>:<thread>:<user>:data         ->  <client_id>:fsm:<bot_id>:<chat>:<thread>:<user>:default:data
    fsm:<chat>:<user>:<destiny>:state       ->  <client_id>:fsm:<bot_id>:<chat>:<user>:<destiny>:state

``<bot_id>`` is the number before ``:`` in the client's bot token (the token itself is never
printed). Values are copied byte for byte with their remaining TTL: ``COPY ... DB 0`` when
both databases are on one server (atomic, keeps the TTL), else ``DUMP`` + ``PTTL`` +
``RESTORE`` (no ``REPLACE``). A key that already exists in DB 0 is never overwritten: it
counts as *skipped*. ``...:lock`` (aiogram's per-user event lock) and aiogram 2's
``...:bucket`` are transient and *ignored*; keys of any other shape are *unrecognised* and
left alone. The source keys are not deleted (rollback = use the legacy database again).
Keys are enumerated with ``SCAN`` (never ``KEYS``).
"""

from __future__ import annotations

import re
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from booking_legacy.tree import LegacyClient, LegacyError

LEGACY_KEY = re.compile(
    r"^fsm:(?P<ids>-?\d+:-?\d+(?::-?\d+)?)(?::(?P<destiny>[A-Za-z_][A-Za-z0-9_-]*))?:(?P<part>state|data|lock|bucket)$"
)
NEW_KEY = re.compile(r"^[a-z][a-z0-9_]{2,39}:fsm:")
TRANSIENT = frozenset({"lock", "bucket"})
SCAN_COUNT = 500


def new_key(legacy: str, client_id: str, bot_id: int) -> str | None:
    """The new bot's key for a legacy FSM key; None for transient or unrecognised keys."""
    match = LEGACY_KEY.match(legacy)
    if match is None or match["part"] in TRANSIENT:
        return None
    destiny = match["destiny"] or "default"
    return f"{client_id}:fsm:{bot_id}:{match['ids']}:{destiny}:{match['part']}"


@dataclass
class RedisResult:
    client_id: str
    db: int | None = None
    ok: bool = False
    dry_run: bool = False
    copied: int = 0
    skipped: int = 0
    ignored: int = 0
    unrecognised: int = 0
    examples: list[str] = field(default_factory=list)
    reason: str = ""

    def summary(self) -> str:
        if not self.ok:
            return f"Failed {self.client_id}: {self.reason}"
        if self.db is None:
            return f"Moved {self.client_id}: no REDIS_DB in .env, nothing to move"
        verb, did = ("Would move", "would be copied") if self.dry_run else ("Moved", "copied")
        return (
            f"{verb} {self.client_id}: DB {self.db} -> DB 0 under {self.client_id}:, "
            f"{self.copied} keys {did}, "
            f"{self.skipped} skipped (already in DB 0), {self.ignored} ignored (locks), "
            f"{self.unrecognised} unrecognised"
        )


def db_url(url: str, db: int) -> str:
    """``url`` pointed at database ``db`` (redis-py lets the URL's path win over ``db=``)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{db}"))


@dataclass(frozen=True)
class RedisTarget:
    """``target_url``: the new server (DB 0); ``source_url``: the legacy server if it is another one."""

    target_url: str
    source_url: str | None = None
    method: str = "auto"  # auto (COPY on one server), copy, dump


async def move_client(
    client: LegacyClient,
    target: RedisTarget,
    *,
    dry_run: bool = False,
    shared_dbs: frozenset[int] = frozenset(),
) -> RedisResult:
    result = RedisResult(client.client_id, dry_run=dry_run)
    try:
        result.db = client.redis_db()
        if result.db is None:
            result.ok = True
            return result
        if result.db in shared_dbs:
            raise LegacyError(
                f"REDIS_DB={result.db} is shared with another client: whose keys are whose cannot be told"
            )
        bot_id = client.bot_id
        if bot_id is None:
            raise LegacyError("no bot token in .env: the new keys carry the bot id (the number before ':')")
        await _move(client.client_id, bot_id, result.db, target, result, dry_run)
        result.ok = True
    except LegacyError as exc:
        result.reason = str(exc)
    except (RedisError, OSError) as exc:
        result.reason = f"redis error: {type(exc).__name__}: {exc}"
    except Exception as exc:  # this client fails, the others go on
        result.reason = f"{type(exc).__name__}: {exc}"
    return result


async def _move(
    client_id: str, bot_id: int, db: int, target: RedisTarget, result: RedisResult, dry_run: bool
) -> None:
    same_server = target.source_url is None and target.method != "dump"
    source = Redis.from_url(db_url(target.source_url or target.target_url, db))
    dest = Redis.from_url(db_url(target.target_url, 0))
    try:
        cursor = 0
        use_copy = same_server
        while True:
            cursor, raw_keys = await source.scan(cursor=cursor, count=SCAN_COUNT)
            pairs: list[tuple[bytes, str]] = []
            for raw in raw_keys:
                raw = raw if isinstance(raw, bytes) else raw.encode()
                name = raw.decode("utf-8", errors="replace")
                mapped = new_key(name, client_id, bot_id)
                if mapped is not None:
                    pairs.append((raw, mapped))
                elif LEGACY_KEY.match(name):
                    result.ignored += 1
                elif not NEW_KEY.match(name):  # a legacy DB 0 also holds the new bots' keys
                    result.unrecognised += 1
                    if len(result.examples) < 3:
                        result.examples.append(name)
            if pairs:
                if dry_run:
                    await _count_existing(dest, pairs, result)
                elif use_copy:
                    try:
                        await _copy(source, pairs, result)
                    except ResponseError as exc:
                        if "unknown command" not in str(exc).lower():
                            raise
                        use_copy = False  # Redis < 6.2
                        await _dump_restore(source, dest, pairs, result)
                else:
                    await _dump_restore(source, dest, pairs, result)
            if cursor == 0:
                break
    finally:
        await source.aclose()
        await dest.aclose()


async def _count_existing(dest: Redis, pairs: list[tuple[bytes, str]], result: RedisResult) -> None:
    async with dest.pipeline(transaction=False) as pipe:
        for _, new in pairs:
            pipe.exists(new)
        found = await pipe.execute()
    taken = sum(1 for n in found if n)
    result.skipped += taken
    result.copied += len(pairs) - taken


async def _copy(source: Redis, pairs: list[tuple[bytes, str]], result: RedisResult) -> None:
    """COPY src dst DB 0 (no REPLACE): atomic, keeps the TTL, 0 when dst exists (or src vanished)."""
    async with source.pipeline(transaction=False) as pipe:
        for old, new in pairs:
            pipe.execute_command("COPY", old, new, "DB", 0)
        outcomes = await pipe.execute()
    done = sum(1 for o in outcomes if o == 1)
    result.copied += done
    result.skipped += len(pairs) - done


async def _dump_restore(
    source: Redis, dest: Redis, pairs: list[tuple[bytes, str]], result: RedisResult
) -> None:
    async with source.pipeline(transaction=False) as pipe:
        for old, _ in pairs:
            pipe.pttl(old)
            pipe.dump(old)
        raw = await pipe.execute()
    restores: list[tuple[str, int, bytes]] = []
    for i, (_, new) in enumerate(pairs):
        ttl, payload = raw[2 * i], raw[2 * i + 1]
        if payload is None or ttl == -2:  # expired between SCAN and DUMP
            result.skipped += 1
            continue
        restores.append((new, max(int(ttl), 0), payload))
    if not restores:
        return
    async with dest.pipeline(transaction=False) as pipe:
        for new, ttl, payload in restores:
            pipe.restore(new, ttl, payload)  # no REPLACE: BUSYKEY if it exists
        outcomes = await pipe.execute(raise_on_error=False)
    for outcome in outcomes:
        if isinstance(outcome, ResponseError):
            if "BUSYKEY" not in str(outcome):
                raise outcome
            result.skipped += 1
        else:
            result.copied += 1


def shared_databases(clients: list[LegacyClient]) -> frozenset[int]:
    """Database numbers claimed by more than one client (a legacy misconfiguration)."""
    seen: Counter[int] = Counter()
    for client in clients:
        try:
            db = client.redis_db()
        except LegacyError:
            continue
        if db is not None:
            seen[db] += 1
    return frozenset(db for db, n in seen.items() if n > 1)


async def move_all(
    clients: list[LegacyClient], target: RedisTarget, *, dry_run: bool = False
) -> list[RedisResult]:
    shared = shared_databases(clients)
    return [await move_client(c, target, dry_run=dry_run, shared_dbs=shared) for c in clients]
