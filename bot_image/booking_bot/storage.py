"""FSM storage: Redis (DB 0, every key under ``<CLIENT_ID>:``) or memory when REDIS_URL is unset.

aiogram's ``DefaultKeyBuilder`` joins ``prefix:bot_id:chat_id:user_id:destiny?:field`` with
``:``; giving it ``prefix="<REDIS_KEY_PREFIX>fsm"`` (e.g. ``client_001:fsm``) yields keys like
``client_001:fsm:<bot_id>:<chat_id>:<user_id>:state`` (``...:data``, ``...:lock`` for the
event isolation), so a Redis ACL ``~client_001:*`` covers every key this bot touches.

The operator's ACL for a tenant is an allow-list of exactly the commands this module sends:
GET, SETEX, DEL and PING (booking_operator/redis_acl.py). Writes go through SETEX, never SET,
so every key a tenant can create expires: the shared server (``volatile-lru``) can always
reclaim memory, and one tenant cannot fill it with keys nothing will ever remove. No Lua
either (aiogram's Redis event isolation releases its lock with a script): one tenant's
updates are handled by one process (one replica per token, ``Recreate``), so an in-process
lock isolates them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Literal

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import ConnectionPool, Redis
from redis.maint_notifications import MaintNotificationsConfig

# FSM state of an abandoned conversation expires after a week.
STATE_TTL_SECONDS = 7 * 24 * 3600
# A conversation's FSM data is a few fields; anything larger is a bug, refused before Redis.
MAX_DATA_BYTES = 16 * 1024


class FsmDataTooLarge(ValueError):
    """The FSM data of one conversation outgrew MAX_DATA_BYTES."""


class TenantKeyBuilder(DefaultKeyBuilder):
    """aiogram's key builder, refusing to build a key outside the tenant's prefix."""

    def __init__(self, key_prefix: str) -> None:
        if not key_prefix.endswith(":"):
            raise ValueError("the Redis key prefix must end with ':'")
        super().__init__(prefix=f"{key_prefix}fsm", with_bot_id=True, with_destiny=True)
        self.key_prefix = key_prefix

    def build(self, key: StorageKey, part: Literal["data", "state", "lock"] | None = None) -> str:
        built = super().build(key, part)
        if not built.startswith(self.key_prefix):
            raise RuntimeError("FSM key outside the tenant prefix")
        return built


class TenantRedisStorage(RedisStorage):
    """aiogram's RedisStorage writing with SETEX (a TTL on every key) and bounded data."""

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        if state is None:
            await super().set_state(key, None)
            return
        value = state.state if isinstance(state, State) else state
        await self._setex(self.key_builder.build(key, "state"), str(value), self.state_ttl)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict) or not data:
            await super().set_data(key, data)  # aiogram's own checks; an empty dict is a DEL
            return
        encoded = self.json_dumps(data)
        if len(encoded.encode()) > MAX_DATA_BYTES:
            raise FsmDataTooLarge(f"FSM data of {len(encoded)} bytes exceeds {MAX_DATA_BYTES}")
        await self._setex(self.key_builder.build(key, "data"), encoded, self.data_ttl)

    async def _setex(self, redis_key: str, value: str, ttl: Any) -> None:
        seconds = int(ttl.total_seconds()) if hasattr(ttl, "total_seconds") else int(ttl or STATE_TTL_SECONDS)
        await self.redis.execute_command("SETEX", redis_key, seconds, value)  # type: ignore[no-untyped-call]


class TenantConnectionPool(ConnectionPool):
    """redis-py's pool, able to close its idle connections without cutting one in use.

    ``ConnectionPool.disconnect(inuse_connections=False)`` closes the connections that are in
    the pool when it is called, but closing yields to the loop: a command that takes one of
    them from the pool meanwhile has its socket closed under it (``ConnectionError: Error
    UNKNOWN while writing to socket. Connection lost.``, and the user gets the error answer).
    Here the idle connections leave the pool under the pool's own lock first, so a command can
    no longer take them, and are closed after; the next command opens a new one.
    """

    async def close_idle(self) -> int:
        """Close the connections no command holds; returns how many."""
        async with self._get_pool_lock():
            idle, self._available_connections = self._available_connections, []
        await asyncio.gather(*(connection.disconnect() for connection in idle), return_exceptions=True)
        return len(idle)


def create_storage(redis_url: str | None, key_prefix: str) -> BaseStorage:
    if not redis_url:
        return MemoryStorage()
    pool = TenantConnectionPool.from_url(
        redis_url,
        health_check_interval=30,
        socket_timeout=10,
        socket_connect_timeout=5,
        # No CLIENT SETINFO and no CLIENT MAINT_NOTIFICATIONS handshake: the tenant's ACL allows
        # only the commands the bot sends, so the server refused both on every new connection
        # (Redis 7.2+ writes each refusal to its ACL log, where an operator looks for a tenant
        # trying what it may not), and they cost a round trip per tenant's first update.
        driver_info=None,
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
    )
    redis = Redis.from_pool(pool)  # the client owns the pool: closing the storage closes both
    return TenantRedisStorage(
        redis=redis,
        key_builder=TenantKeyBuilder(key_prefix),
        state_ttl=STATE_TTL_SECONDS,
        data_ttl=STATE_TTL_SECONDS,
    )
