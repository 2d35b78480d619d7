"""What a tenant's first update after idling pays for its connections, in CPU of the shard's one
event loop (the benchmark's cold updates: docs/benchmarks.md)."""

from __future__ import annotations

from unittest import mock

import redis.utils

from booking_bot.storage import TenantRedisStorage, create_storage


def test_a_new_redis_connection_does_not_look_up_the_library_version_again() -> None:
    """redis-py would read the installed packages' metadata (~0.7 ms) for every connection."""
    storage = create_storage("redis://tenant:pw@127.0.0.1:6379/0", "t:")
    assert isinstance(storage, TenantRedisStorage)
    with mock.patch.object(redis.utils, "get_lib_version", side_effect=AssertionError("looked up")):
        connection = storage.redis.connection_pool.make_connection()  # type: ignore[no-untyped-call]
    # Nothing sent at all: the tenant's ACL refuses CLIENT SETINFO (tests/bot/test_redis_isolation.py).
    assert connection.driver_info is None
