"""Enforce the tenant roles' time limits from outside their sessions.

`statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout` are set on
every tenant role (database.py), but they are session defaults: a hostile bot can `SET
statement_timeout = 0` and hold a lock or a CPU for ever. Every CHECK_INTERVAL seconds this
cancels any statement of a tenant-group member that has run longer than its limit plus a
grace, and terminates sessions idle in a transaction past theirs. The operator may signal
those backends because it is a member of every tenant role (it creates them).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from booking_operator.database import RoleLimits

CHECK_INTERVAL = 5.0
GRACE_MS = 2_000
log = logging.getLogger("booking_operator.watchdog")

# Backends of direct members of the tenant group (not the operator: it holds the group WITH ADMIN).
_OVERRUN = """
WITH tenants AS (
    SELECT m.member FROM pg_auth_members AS m JOIN pg_roles AS g ON g.oid = m.roleid
    WHERE g.rolname = $1 AND NOT m.admin_option
)
SELECT a.pid, a.usename, a.state,
       CASE WHEN a.state = 'active' THEN pg_cancel_backend(a.pid)
            ELSE pg_terminate_backend(a.pid) END AS signalled
FROM pg_stat_activity AS a
WHERE a.usesysid IN (SELECT member FROM tenants)
  AND a.pid <> pg_backend_pid()
  AND (
    ($2 > 0 AND a.state = 'active' AND now() - a.query_start > make_interval(secs => $2 / 1000.0))
    OR ($3 > 0 AND a.state IN ('idle in transaction', 'idle in transaction (aborted)')
        AND now() - a.state_change > make_interval(secs => $3 / 1000.0))
  )
"""


async def enforce(conn: asyncpg.Connection, group: str, limits: RoleLimits) -> list[dict[str, Any]]:
    """One sweep; returns the sessions signalled (pid, role, state)."""
    statement = limits.statement_timeout_ms + GRACE_MS if limits.statement_timeout_ms else 0
    idle = limits.idle_in_transaction_timeout_ms + GRACE_MS if limits.idle_in_transaction_timeout_ms else 0
    rows = await conn.fetch(_OVERRUN, group, float(statement), float(idle))
    return [{"pid": r["pid"], "role": r["usename"], "state": r["state"]} for r in rows if r["signalled"]]


async def run(pool: asyncpg.Pool, group: str, limits: RoleLimits, interval: float = CHECK_INTERVAL) -> None:
    """Sweep for ever; PostgreSQL being away only delays the next sweep."""
    while True:
        try:
            async with pool.acquire() as conn:
                for session in await enforce(conn, group, limits):
                    log.warning(
                        "tenant session over its time limit signalled",
                        extra={"tenant": session["role"], "pid": session["pid"], "state": session["state"]},
                    )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.info(f"watchdog sweep skipped: {type(exc).__name__}")
        await asyncio.sleep(interval)
