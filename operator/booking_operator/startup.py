"""The operator process's own life: kopf's tuning, its clients, its startup checks, its tasks.

Called by ``handlers.start``/``handlers.stop`` (kopf's startup and cleanup). The order matters:
kopf's first-version annotations move before kopf's first watch event (so existing tenants are
resumed, not created again), and a PostgreSQL that is down at startup is a warning, not a
crash: tenants wait for it in their own passes with their own back-off.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import kopf
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from booking_contract import crd
from booking_contract.kube import KubeClient, KubeError
from booking_contract.telegram import TelegramClient
from booking_operator import database, kopf_state, metrics, redis_acl, shards, watchdog
from booking_operator.config import OperatorSettings
from booking_operator.errors import DB_ERRORS
from booking_operator.platform import Platform

Logger = logging.Logger | logging.LoggerAdapter[Any]
SECRET_SELECTOR = crd.BOT_TOKEN_LABEL  # the key's existence, whatever its value


def tune(settings: kopf.OperatorSettings, cfg: OperatorSettings) -> None:
    """All of kopf's settings, once (kopf's own advice: in the startup handler)."""
    settings.persistence.finalizer = crd.FINALIZER
    # A prefix of kopf's own, never the platform's: see kopf_state.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=crd.KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=crd.KOPF_PREFIX, key=kopf_state.DIFF_BASE_KEY
    )
    settings.posting.level = logging.WARNING  # our own events are posted explicitly
    # Watching one namespace needs no cluster-wide discovery of namespaces and CRDs, which a
    # namespaced Role could not grant anyway.
    settings.scanning.disabled = bool(cfg.watch_namespace)
    # Server-side: the Secret watch streams only Secrets carrying the bot-token label (tokens
    # say "true", every Secret the operator writes says "false"), not every Secret of the
    # namespace (or, cluster-wide, of the cluster); `when=` in handlers filters further, client-side.
    settings.watching.label_selectors["", "v1", "secrets"] = SECRET_SELECTOR
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    # Of all ConfigMaps only the shards' status ones (shard_reported), filtered by the API server.
    settings.watching.label_selectors["", "v1", "configmaps"] = shards.STATUS_SELECTOR


async def open_platform(cfg: OperatorSettings) -> Platform:
    pg = await asyncpg.create_pool(
        cfg.operator_database_url.get_secret_value(),
        min_size=0,
        max_size=5,
        max_inactive_connection_lifetime=60,
        command_timeout=30,
        timeout=10,
    )
    return Platform(
        settings=cfg,
        kube=await KubeClient.connect(),
        pg=pg,
        # Servers (and proxies) drop idle connections: check them and retry once broken.
        redis=aioredis.from_url(
            cfg.operator_redis_url.get_secret_value(),
            socket_timeout=10,
            socket_connect_timeout=5,
            health_check_interval=15,
            retry=Retry(ExponentialBackoff(cap=2), retries=3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        ),
        telegram=TelegramClient(cfg.telegram_api_url, cache_ttl=cfg.token_recheck_interval),
    )


async def prepare(platform: Platform, logger: Logger) -> None:
    """Before kopf's first watch event; raises kopf.PermanentError when the operator's role may
    not be trusted with tenants (CREATEROLE before PostgreSQL 16, unless allowed)."""
    cfg = platform.settings
    # Tenants of the first version keep their diff base.
    try:
        await kopf_state.migrate(platform.kube, [cfg.watch_namespace], logger)
    except KubeError as exc:
        logger.warning(f"cannot move kopf's annotations to {crd.KOPF_PREFIX}/: {exc}")
    try:
        async with platform.pg.acquire() as conn:
            risk = await database.operator_role_risk(conn)
            if risk and not cfg.allow_createrole_before_pg16:
                raise kopf.PermanentError(
                    f"{risk}; refusing to start (ALLOW_CREATEROLE_BEFORE_PG16=true overrides)"
                )
            if risk:
                logger.warning(f"{risk}; started anyway (ALLOW_CREATEROLE_BEFORE_PG16)")
            for problem in await database.harden_database(conn):
                logger.warning(problem)
            await database.ensure_group(conn, cfg.tenant_group_role, cfg.tenant_database_name or "postgres")
    except database.GroupUnavailable as exc:
        logger.warning(f"{exc}; new tenants cannot log in until it exists")
    except DB_ERRORS as exc:
        logger.warning(f"PostgreSQL not reachable at startup; tenants will wait for it: {type(exc).__name__}")


@dataclass
class Background:
    """The operator's own tasks beside kopf's: cancelled at cleanup."""

    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()


def start_background(platform: Platform, logger: Logger) -> Background:
    cfg = platform.settings
    background = Background()
    background.tasks.append(
        asyncio.create_task(watchdog.run(platform.pg, cfg.tenant_group_role, cfg.role_limits))
    )
    metrics.serve(cfg.metrics_port)
    watch = redis_acl.RestartWatch(platform.redis, platform.redis_users)
    background.tasks.append(asyncio.create_task(watch.run(logger), name="redis-restart-watch"))
    return background


async def close_platform(platform: Platform) -> None:
    await platform.telegram.close()
    await platform.redis.aclose()
    await platform.kube.close()
    await asyncio.wait_for(platform.pg.close(), timeout=10)
