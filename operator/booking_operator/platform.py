"""The operator's long-lived clients and what it remembers of each tenant between passes.

Memory is one ``TenantMemory`` per tenant uid in one dict, so forgetting a tenant is one
``pop`` and a new field cannot be forgotten there. It is a cache, not a source of truth:
after a restart the next pass of each tenant rebuilds it from the cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from booking_contract.kube import KubeClient
from booking_contract.telegram import TelegramClient
from booking_operator import redis_acl
from booking_operator.config import OperatorSettings

MAX_BACKOFF = 300.0


@dataclass
class TenantMemory:
    """One tenant, as the last pass left it."""

    # Passes of one tenant never overlap (event, resync, child change, deadline).
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The bot Deployment and the tenant Secret last written: lets child events tell hand edits
    # from the operator's own writes.
    desired: dict[str, Any] | None = None
    secret: dict[str, Any] | None = None
    # (clientId, password) of the tenant's Redis ACL user as last applied: what a restarted
    # Redis gets back at once (redis_acl.RestartWatch), without waiting for a resync.
    redis_user: tuple[str, str] | None = None
    phase: str | None = None
    # Monotonic time after which a tenant whose last pass hit a transient failure is retried.
    retry_at: float | None = None
    failures: int = 0  # consecutive transient failures

    def backoff(self, base: float) -> float:
        """Delay before retrying after a transient failure: doubling, at most 5 minutes."""
        count = self.failures
        self.failures = count + 1
        return float(min(base * 2 ** min(count, 8), MAX_BACKOFF))

    def succeeded(self) -> None:
        self.retry_at = None
        self.failures = 0


@dataclass
class Platform:
    """Long-lived clients and per-tenant memory, built once at operator startup."""

    settings: OperatorSettings
    kube: KubeClient
    pg: asyncpg.Pool
    redis: aioredis.Redis
    telegram: TelegramClient
    tenants: dict[str, TenantMemory] = field(default_factory=dict)
    _acl: bool | None = None

    def memory(self, uid: str) -> TenantMemory:
        """The tenant's memory, made on first use."""
        return self.tenants.setdefault(uid, TenantMemory())

    def known(self, uid: str) -> TenantMemory | None:
        """The tenant's memory if a pass has made it (a look that creates nothing)."""
        return self.tenants.get(uid)

    def forget(self, uid: str) -> None:
        self.tenants.pop(uid, None)

    def lock(self, uid: str) -> asyncio.Lock:
        return self.memory(uid).lock

    def backoff(self, uid: str, base: float) -> float:
        return self.memory(uid).backoff(base)

    def redis_users(self) -> list[tuple[str, str]]:
        return [m.redis_user for m in self.tenants.values() if m.redis_user is not None]

    def phases(self) -> Iterator[str]:
        """The phase of every tenant a pass has finished for (for the metrics and the probe)."""
        return (m.phase for m in self.tenants.values() if m.phase is not None)

    async def acl_enabled(self) -> bool:
        if self.settings.redis_acl == "off":
            return False
        if self._acl is None:
            self._acl = await redis_acl.supports_acl(self.redis)
        return self._acl
