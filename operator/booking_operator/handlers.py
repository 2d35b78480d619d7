"""The wiring module: every kopf decorator of the operator, and nothing else of substance.

Handlers are thin: they take the per-tenant lock and call `reconcile`/`retire`,
then publish the outcome (status, events, metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping
from typing import Any, cast

import asyncpg
import kopf
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from booking_contract import crd
from booking_contract.kube import BOOKINGTENANTS, KubeClient, KubeError
from booking_contract.telegram import TelegramClient
from booking_contract.times import utc_now
from booking_operator import (
    database,
    kopf_state,
    manifests,
    metrics,
    redis_acl,
    shard_manifests,
    shards,
    subscription,
    watchdog,
)
from booking_operator.config import get_settings
from booking_operator.errors import DB_ERRORS
from booking_operator.platform import Platform
from booking_operator.reconcile import ReconcileOutcome, reconcile
from booking_operator.retire import retire
from booking_operator.status import same_status, write_status

Logger = logging.Logger | logging.LoggerAdapter[Any]
GROUP, VERSION, PLURAL = crd.GROUP, crd.VERSION, crd.PLURAL
OURS = {manifests.MANAGED_BY: manifests.MANAGED_BY_VALUE}
SECRET_SELECTOR = crd.BOT_TOKEN_LABEL  # the key's existence, whatever its value


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: Any, logger: Logger, **_: Any) -> None:
    cfg = get_settings()
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
    # namespace (or, cluster-wide, of the cluster); `when=` below filters further, client-side.
    settings.watching.label_selectors["", "v1", "secrets"] = SECRET_SELECTOR
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    # Of all ConfigMaps only the shards' status ones (shard_reported), filtered by the API server.
    settings.watching.label_selectors["", "v1", "configmaps"] = shards.STATUS_SELECTOR
    pg = await asyncpg.create_pool(
        cfg.operator_database_url.get_secret_value(),
        min_size=0,
        max_size=5,
        max_inactive_connection_lifetime=60,
        command_timeout=30,
        timeout=10,
    )
    memo.platform = Platform(
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
    # Before kopf's first watch event: tenants of the first version keep their diff base.
    try:
        await kopf_state.migrate(memo.platform.kube, [cfg.watch_namespace], logger)
    except KubeError as exc:
        logger.warning(f"cannot move kopf's annotations to {crd.KOPF_PREFIX}/: {exc}")
    try:
        async with pg.acquire() as conn:
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
    memo.watchdog = asyncio.create_task(watchdog.run(pg, cfg.tenant_group_role, cfg.role_limits))
    metrics.serve(cfg.metrics_port)
    platform = memo.platform
    watch = redis_acl.RestartWatch(platform.redis, platform.redis_users)
    memo.redis_restarts = asyncio.create_task(watch.run(logger), name="redis-restart-watch")


@kopf.on.cleanup()
async def stop(memo: Any, **_: Any) -> None:
    platform: Platform = memo.platform
    memo.watchdog.cancel()
    if getattr(memo, "redis_restarts", None) is not None:
        memo.redis_restarts.cancel()
    await platform.telegram.close()
    await platform.redis.aclose()
    await platform.kube.close()
    await asyncio.wait_for(platform.pg.close(), timeout=10)


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def reconcile_tenant(
    body: kopf.Body, patch: kopf.Patch, memo: Any, uid: str, logger: Logger, **_: Any
) -> None:
    platform: Platform = memo.platform
    outcome = await _run(platform, body, uid, "event", logger)
    patch.status.update(outcome.status)
    if outcome.retry_after is not None:
        raise kopf.TemporaryError(outcome.status.get("message", "retrying"), delay=outcome.retry_after)


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10)
async def keep_converged(
    stopped: kopf.DaemonStopped, body: kopf.Body, memo: Any, uid: str, logger: Logger, **_: Any
) -> None:
    """Resync (drift repair) every RESYNC_INTERVAL, and act on paidUntil the moment it passes."""
    platform: Platform = memo.platform
    cfg = platform.settings
    next_resync = time.monotonic() + random.uniform(0.5, 1.0) * cfg.resync_interval  # noqa: S311 - jitter
    while not stopped:
        spec = body.get("spec") or {}
        phase = (body.get("status") or {}).get("phase")
        expired = subscription.is_expired(spec, utc_now())
        deadline_crossed = (expired and phase in ("Ready", "Provisioning")) or (
            not expired and phase == "Expired"
        )
        memory = platform.known(uid)
        retry_at = memory.retry_at if memory is not None and memory.retry_at is not None else float("inf")
        retry_due = time.monotonic() >= retry_at
        if deadline_crossed or time.monotonic() >= next_resync or retry_due:
            if body.get("metadata", {}).get("deletionTimestamp"):
                return
            await _run_and_report(
                platform, body, uid, "resync" if not deadline_crossed else "deadline", logger
            )
            next_resync = time.monotonic() + cfg.resync_interval
        delay = cfg.deadline_check_interval
        remaining = subscription.seconds_until_expiry(spec, utc_now())
        if remaining is not None and 0 < remaining < delay:
            delay = remaining + 0.05
        await stopped.wait(delay)


def _deployment_change(type: str | None, body: Mapping[str, Any], platform: Platform) -> bool | None:
    """What a bot Deployment event means for its tenant: None nothing; else whether it was
    deleted or edited by hand (True) or only became (un)available (False)."""
    if not type:  # the initial listing (type None): the resync covers it
        return None
    owner = _tenant_owner(body)
    if owner is None:
        return None
    memory = platform.known(owner.get("uid", ""))
    wanted = memory.desired if memory is not None else None
    available = int((body.get("status") or {}).get("availableReplicas") or 0)
    phase = memory.phase if memory is not None else None
    readiness_changed = (available >= 1 and phase == "Provisioning") or (available == 0 and phase == "Ready")
    drifted = wanted is not None and manifests.drifted(wanted, body)
    if type != "DELETED" and not readiness_changed and not drifted:
        return None
    return type == "DELETED" or drifted


def _deployment_matters(type: str | None, body: kopf.Body, memo: Any, **_: Any) -> bool:
    """A filter, so the Deployment's many status events that change nothing for its tenant (a
    real deployment controller writes several per new Deployment) cost no handler invocation."""
    platform: Platform | None = getattr(memo, "platform", None)
    return platform is not None and _deployment_change(type, body, platform) is not None


@kopf.on.event("apps", "v1", "deployments", labels=OURS, when=_deployment_matters)
async def bot_deployment_changed(type: str, body: kopf.Body, memo: Any, logger: Logger, **_: Any) -> None:
    """A bot Deployment was deleted, edited by hand, or became (un)available: re-reconcile its tenant."""
    platform: Platform = memo.platform
    restored = _deployment_change(type, body, platform)
    owner = _tenant_owner(body)
    if restored is None or owner is None:
        return
    uid = owner.get("uid", "")
    await _reconcile_parent(
        platform,
        body["metadata"]["namespace"],
        owner["name"],
        uid,
        "child",
        logger,
        event=("DeploymentRestored", "bot Deployment changed by hand") if restored else None,
        # What the watch just delivered is the live Deployment: the pass need not read it again.
        live_deployment=None if type == "DELETED" else dict(body),
    )


# async: kopf runs a sync handler in a thread pool, one hop per tenant event (py-spy: a tenth of
# the operator's samples while 1000 tenants were provisioned went to that hand-off).
@kopf.index(GROUP, VERSION, PLURAL)
async def tenants_by_token_secret(
    namespace: str | None, name: str, uid: str, spec: kopf.Spec, **_: Any
) -> dict[tuple[str | None, str], tuple[str, str, str]] | None:
    """Which tenants read which token Secret: (namespace, Secret name) -> (tenant, uid, key)."""
    ref = spec.get("botTokenSecretRef") or {}
    secret = ref.get("name") if isinstance(ref, Mapping) else None
    if not isinstance(secret, str) or not secret:
        return None
    if ref.get("namespace") not in (None, namespace):
        return None  # the token namespace: the webhook annotates the tenant when it writes there
    return {(namespace, secret): (name, uid, str(ref.get("key") or crd.TOKEN_SECRET_KEY))}


def _secret_matters(
    body: kopf.Body,
    namespace: str | None,
    name: str,
    tenants_by_token_secret: kopf.Index[tuple[str | None, str], tuple[str, str, str]] | None = None,
    **_: Any,
) -> bool:
    """Only a tenant's own Secret or a token Secret some tenant reads: no handler for the rest."""
    referenced = tenants_by_token_secret is not None and (namespace, name) in tenants_by_token_secret
    return referenced or _tenant_owner(body) is not None


@kopf.on.event("", "v1", "secrets", when=_secret_matters)
async def secret_changed(
    type: str,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: Any,
    logger: Logger,
    tenants_by_token_secret: kopf.Index[tuple[str | None, str], tuple[str, str, str]] | None = None,
    **_: Any,
) -> None:
    """A token Secret a tenant reads, or a tenant Secret the operator owns, changed: act at once.

    A fixed token wakes its Failed tenant, a new token is checked with Telegram and restarts the
    bot, a deleted or hand-edited tenant Secret is written back: within seconds, not at the next
    resync. The initial listing (type None) is left to the resync.
    """
    if not type or namespace is None or tenants_by_token_secret is None:
        return
    platform: Platform = memo.platform
    wake: dict[str, tuple[str, tuple[str, str] | None]] = {}  # uid -> (tenant name, event)
    for tenant, uid, key in tenants_by_token_secret.get((namespace, name), ()):
        token = manifests.decode(body.get("data")).get(key, "")
        if token:
            platform.telegram.forget(token)
        wake[uid] = (tenant, None)
    owner = _tenant_owner(body)
    if owner is not None:
        uid = owner.get("uid", "")
        memory = platform.known(uid)
        wanted = memory.secret if memory is not None else None
        if type == "DELETED":
            wake[uid] = (owner["name"], ("SecretRestored", "tenant Secret deleted; written again"))
        elif wanted is not None and manifests.drifted(wanted, body):
            wake[uid] = (owner["name"], None)  # the pass reports SecretRestored itself
    for uid, (tenant, event) in wake.items():
        await _reconcile_parent(platform, namespace, tenant, uid, "secret", logger, event=event)


@kopf.index(GROUP, VERSION, PLURAL)
def tenants_by_client_id(
    namespace: str | None, name: str, uid: str, spec: kopf.Spec, **_: Any
) -> dict[tuple[str | None, str], tuple[str, str]] | None:
    """(namespace, clientId) -> (tenant, uid): whom a shard's report is about."""
    client_id = spec.get("clientId")
    return {(namespace, client_id): (name, uid)} if isinstance(client_id, str) and client_id else None


REPORTS = shards.Reports()
WAKE_CONCURRENCY = 8  # passes at once when a starting shard reports many tenants in one patch


@kopf.on.event(
    "", "v1", "configmaps", labels={**shards.STATUS_LABELS, shard_manifests.SHARD_LABEL: kopf.PRESENT}
)
async def shard_reported(
    type: str,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: Any,
    logger: Logger,
    tenants_by_client_id: kopf.Index[tuple[str | None, str], tuple[str, str]] | None = None,
    **_: Any,
) -> None:
    """A shard reported a change of its tenants (Serving, Failed, or no longer polling): pass
    those tenants now, so Ready (or the handover to the dedicated bot) follows the shard within
    a second instead of at the next retry. The initial listing only records what is there."""
    if namespace is None or tenants_by_client_id is None:
        return
    if type == "DELETED":
        REPORTS.forget(namespace, name)
        return
    changed = REPORTS.changed(namespace, name, body.get("data"))
    if not type:
        return
    platform: Platform = memo.platform
    wake: list[tuple[str, str]] = []
    for client_id, report in changed.items():
        for tenant, uid in tenants_by_client_id.get((namespace, client_id), ()):
            memory = platform.known(uid)
            serving = report is not None and report.get("state") == "Serving"
            if not (serving and memory is not None and memory.phase == "Ready"):  # else nothing to do
                wake.append((tenant, uid))
    gate = asyncio.Semaphore(WAKE_CONCURRENCY)

    async def wake_one(tenant: str, uid: str) -> None:
        async with gate:
            await _reconcile_parent(platform, namespace, tenant, uid, "shard", logger)

    await asyncio.gather(*(wake_one(tenant, uid) for tenant, uid in wake))


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def delete_tenant(body: kopf.Body, memo: Any, uid: str, retry: int, logger: Logger, **_: Any) -> None:
    platform: Platform = memo.platform
    policy = (body.get("spec") or {}).get("deletionPolicy") or "Retain"
    with contextlib.suppress(KubeError):  # best effort: the finalizer work below is what matters
        await write_status(platform.kube, body, {"phase": "Deleting"})
    async with platform.lock(uid):
        try:
            summary = await retire(platform, body, logger, retry=retry)
        except kopf.TemporaryError as exc:
            kopf.warn(body, reason="DeletionDelayed", message=str(exc))
            with contextlib.suppress(KubeError):
                await write_status(platform.kube, body, {"message": str(exc)})
            raise
    kopf.event(body, type="Normal", reason="Deleted", message=summary)  # kopf.info is below posting.level
    logger.info(summary)
    metrics.DELETIONS.labels(policy=policy).inc()
    platform.forget(uid)
    metrics.record_phases(platform.phases())


@kopf.on.probe(id="tenants")
def tenants_known(memo: Any, **_: Any) -> int:
    platform: Platform | None = getattr(memo, "platform", None)
    return sum(1 for _ in platform.phases()) if platform else 0


async def _run(
    platform: Platform,
    body: Mapping[str, Any],
    uid: str,
    trigger: str,
    logger: Any,
    live_deployment: dict[str, Any] | None = None,
) -> ReconcileOutcome:
    started = time.perf_counter()
    memory = platform.memory(uid)
    async with memory.lock:
        outcome = await reconcile(platform, body, logger, live_deployment=live_deployment)
    metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
    phase = outcome.status.get("phase", "Pending")
    result = "retry" if outcome.retry_after is not None else phase.lower()
    metrics.RECONCILES.labels(trigger=trigger, outcome=result).inc()
    phase_changed = memory.phase != phase
    memory.phase = phase
    if outcome.retry_after is not None:
        outcome.retry_after = memory.backoff(outcome.retry_after)
        memory.retry_at = time.monotonic() + outcome.retry_after
    else:
        memory.succeeded()
    if phase_changed:  # a count over every tenant: per pass it made 1000 tenants cost O(N^2)
        metrics.record_phases(platform.phases())
    for kind, reason, message in outcome.events:
        kopf.event(cast(kopf.Body, body), type=kind, reason=reason, message=message)
    if outcome.status.get("phase") != (body.get("status") or {}).get("phase"):
        logger.info(f"phase {phase}: {outcome.status.get('message', '')}")
    return outcome


async def _run_and_report(
    platform: Platform,
    body: Mapping[str, Any],
    uid: str,
    trigger: str,
    logger: Any,
    live_deployment: dict[str, Any] | None = None,
) -> None:
    """Reconcile outside a kopf event handler, writing status through the status subresource."""
    outcome = await _run(platform, body, uid, trigger, logger, live_deployment)
    if same_status(body.get("status"), outcome.status):
        return
    try:
        await write_status(platform.kube, body, outcome.status)
    except KubeError as exc:
        logger.warning(f"cannot write status: {exc}")


def _tenant_owner(child: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference of a child to its BookingTenant, if it has one."""
    for ref in child.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == crd.KIND and ref.get("apiVersion") == crd.API_VERSION:
            return cast(Mapping[str, Any], ref)
    return None


async def _reconcile_parent(
    platform: Platform,
    namespace: str,
    name: str,
    uid: str,
    trigger: str,
    logger: Any,
    *,
    event: tuple[str, str] | None = None,
    live_deployment: dict[str, Any] | None = None,
) -> None:
    """Reconcile the tenant a child or a token Secret belongs to, read fresh from the API."""
    try:
        parent = await platform.kube.get(BOOKINGTENANTS, namespace, name)
    except KubeError as exc:
        logger.warning(f"cannot read BookingTenant {name}: {exc}")
        return
    if parent is None or parent["metadata"].get("uid") != uid or parent["metadata"].get("deletionTimestamp"):
        return
    if event is not None:
        kopf.event(cast(kopf.Body, parent), type="Normal", reason=event[0], message=event[1])
    await _run_and_report(platform, parent, uid, trigger, logger, live_deployment)
