"""FSM storage: Redis (DB 0, every key under ``<CLIENT_ID>:``) or memory when REDIS_URL is unset.

aiogram's ``DefaultKeyBuilder`` joins ``prefix:bot_id:chat_id:user_id:destiny?:field`` with
``:``; giving it ``prefix="<REDIS_KEY_PREFIX>fsm"`` (e.g. ``client_001:fsm``) yields keys like
``client_001:fsm:<bot_id>:<chat_id>:<user_id>:state`` (``...:data``, ``...:lock`` for the
event isolation), so a Redis ACL ``~client_001:*`` covers every key this bot touches.
"""

from __future__ import annotations

from typing import Literal

from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis

# FSM state of an abandoned conversation expires after a week.
STATE_TTL_SECONDS = 7 * 24 * 3600


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


def create_storage(redis_url: str | None, key_prefix: str) -> BaseStorage:
    if not redis_url:
        return MemoryStorage()
    redis = Redis.from_url(redis_url, health_check_interval=30, socket_timeout=10, socket_connect_timeout=5)
    return RedisStorage(
        redis=redis,
        key_builder=TenantKeyBuilder(key_prefix),
        state_ttl=STATE_TTL_SECONDS,
        data_ttl=STATE_TTL_SECONDS,
    )
