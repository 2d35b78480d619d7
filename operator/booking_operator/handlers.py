"""The wiring module: every kopf decorator of the operator, and nothing else of substance.

Handlers are thin: they pick what an event is about and call the modules that own the work:
``startup`` (the process's clients, checks and tasks), ``passes`` (one pass over one tenant:
``reconcile``, then status, Events, metrics), ``wakeups`` (which tenants a child, Secret or
shard-report event concerns), ``retire`` (deletion).

Every decorator stays here (crate-operator's layout: one wiring module), and every handler
keeps its name: kopf's handler id is the function's name (``reconcile_tenant``), kopf persists
progress under it in each tenant's annotations (the retry count of a delayed deletion, for one),
and an index's name is the keyword its consumers ask for. Renaming one would orphan that state
on every tenant at the next upgrade (tests/operator_tests/test_wiring.py pins the ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from booking_contract import crd
from booking_contract.kube import KubeError
from booking_operator import manifests, metrics, passes, shard_manifests, shards, startup
from booking_operator.config import get_settings
from booking_operator.platform import Platform
from booking_operator.retire import retire
from booking_operator.status import write_status
from booking_operator.wakeups import ClientIdIndex, TokenIndex, deployment_change, secret_wakes, shard_wakes

Logger = logging.Logger | logging.LoggerAdapter[Any]
GROUP, VERSION, PLURAL = crd.GROUP, crd.VERSION, crd.PLURAL
OURS = {manifests.MANAGED_BY: manifests.MANAGED_BY_VALUE}
REPORTS = shards.Reports()
WAKE_CONCURRENCY = 8  # passes at once when a starting shard reports many tenants in one patch


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: Any, logger: Logger, **_: Any) -> None:
    cfg = get_settings()
    startup.tune(settings, cfg)
    memo.platform = await startup.open_platform(cfg)
    await startup.prepare(memo.platform, logger)
    memo.background = startup.start_background(memo.platform, logger)


@kopf.on.cleanup()
async def stop(memo: Any, **_: Any) -> None:
    background: startup.Background | None = getattr(memo, "background", None)
    if background is not None:
        background.cancel()
    await startup.close_platform(memo.platform)


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def reconcile_tenant(
    body: kopf.Body, patch: kopf.Patch, memo: Any, uid: str, logger: Logger, **_: Any
) -> None:
    outcome = await passes.run_pass(memo.platform, body, uid, "event", logger)
    patch.status.update(outcome.status)
    if outcome.retry_after is not None:
        raise kopf.TemporaryError(outcome.status.get("message", "retrying"), delay=outcome.retry_after)


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10)
async def keep_converged(
    stopped: kopf.DaemonStopped, body: kopf.Body, memo: Any, uid: str, logger: Logger, **_: Any
) -> None:
    """Resync (drift repair) every RESYNC_INTERVAL, and act on paidUntil the moment it passes."""
    await passes.keep_converged(memo.platform, body, uid, stopped, logger)


def _deployment_matters(type: str | None, body: kopf.Body, memo: Any, **_: Any) -> bool:
    """A filter, so the Deployment's many status events that change nothing for its tenant (a
    real deployment controller writes several per new Deployment) cost no handler invocation."""
    platform: Platform | None = getattr(memo, "platform", None)
    return platform is not None and deployment_change(type, body, platform) is not None


@kopf.on.event("apps", "v1", "deployments", labels=OURS, when=_deployment_matters)
async def bot_deployment_changed(type: str, body: kopf.Body, memo: Any, logger: Logger, **_: Any) -> None:
    """A bot Deployment was deleted, edited by hand, or became (un)available: re-reconcile its tenant."""
    platform: Platform = memo.platform
    restored = deployment_change(type, body, platform)
    owner = passes.tenant_owner(body)
    if restored is None or owner is None:
        return
    await passes.reconcile_parent(
        platform,
        body["metadata"]["namespace"],
        owner["name"],
        owner.get("uid", ""),
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
    tenants_by_token_secret: TokenIndex | None = None,
    **_: Any,
) -> bool:
    """Only a tenant's own Secret or a token Secret some tenant reads: no handler for the rest."""
    referenced = tenants_by_token_secret is not None and (namespace, name) in tenants_by_token_secret
    return referenced or passes.tenant_owner(body) is not None


@kopf.on.event("", "v1", "secrets", when=_secret_matters)
async def secret_changed(
    type: str,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: Any,
    logger: Logger,
    tenants_by_token_secret: TokenIndex | None = None,
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
    wake = secret_wakes(type, body, namespace, name, platform, tenants_by_token_secret)
    for uid, (tenant, event) in wake.items():
        await passes.reconcile_parent(platform, namespace, tenant, uid, "secret", logger, event=event)


@kopf.index(GROUP, VERSION, PLURAL)
def tenants_by_client_id(
    namespace: str | None, name: str, uid: str, spec: kopf.Spec, **_: Any
) -> dict[tuple[str | None, str], tuple[str, str]] | None:
    """(namespace, clientId) -> (tenant, uid): whom a shard's report is about."""
    client_id = spec.get("clientId")
    return {(namespace, client_id): (name, uid)} if isinstance(client_id, str) and client_id else None


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
    tenants_by_client_id: ClientIdIndex | None = None,
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
    gate = asyncio.Semaphore(WAKE_CONCURRENCY)

    async def wake_one(tenant: str, uid: str) -> None:
        async with gate:
            await passes.reconcile_parent(platform, namespace, tenant, uid, "shard", logger)

    wake = shard_wakes(changed, namespace, platform, tenants_by_client_id)
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
