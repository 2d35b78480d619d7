"""Which failures of the operator's dependencies are transient, and how they are told in status.

A status message and a log line carry the exception's type and first line only: never a DSN,
never a password (asyncpg and redis-py keep those out of their messages' first line).
"""

from __future__ import annotations

import asyncpg
from redis.exceptions import RedisError

# PostgreSQL cannot be used right now; the same statement may work in a moment.
DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.TransactionRollbackError,  # serialization failure, deadlock: just retry
)
# Redis cannot be used right now.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)


def short(exc: BaseException) -> str:
    """``TypeName: first line`` (at most 300 characters), for a status message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
