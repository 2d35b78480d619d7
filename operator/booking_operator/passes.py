"""One pass over one tenant, whatever woke it, and what the pass's outcome is turned into.

Every trigger (a kopf event, the daemon's resync or deadline, a child or a Secret changed, a
shard's report) ends in ``run_pass``: under the tenant's lock, so passes of one tenant never
overlap, with the metrics, the back-off and the Events of every pass recorded in one place.
Outside a kopf event handler the status goes through the status subresource
(``run_and_report``), and only when it changed: the steady state writes nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any, cast

import kopf

from booking_contract import crd
from booking_contract.kube import BOOKINGTENANTS, KubeError
from booking_contract.times import utc_now
from booking_operator import metrics, subscription
from booking_operator.platform import Platform
from booking_operator.reconcile import ReconcileOutcome, reconcile
from booking_operator.status import same_status, write_status


async def run_pass(
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


async def run_and_report(
    platform: Platform,
    body: Mapping[str, Any],
    uid: str,
    trigger: str,
    logger: Any,
    live_deployment: dict[str, Any] | None = None,
) -> None:
    """Reconcile outside a kopf event handler, writing status through the status subresource."""
    outcome = await run_pass(platform, body, uid, trigger, logger, live_deployment)
    if same_status(body.get("status"), outcome.status):
        return
    try:
        await write_status(platform.kube, body, outcome.status)
    except KubeError as exc:
        logger.warning(f"cannot write status: {exc}")


def tenant_owner(child: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference of a child to its BookingTenant, if it has one."""
    for ref in child.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == crd.KIND and ref.get("apiVersion") == crd.API_VERSION:
            return cast(Mapping[str, Any], ref)
    return None


async def reconcile_parent(
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
    await run_and_report(platform, parent, uid, trigger, logger, live_deployment)


async def keep_converged(
    platform: Platform, body: kopf.Body, uid: str, stopped: kopf.DaemonStopped, logger: Any
) -> None:
    """Resync (drift repair) every RESYNC_INTERVAL, and act on paidUntil the moment it passes."""
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
            trigger = "resync" if not deadline_crossed else "deadline"
            await run_and_report(platform, body, uid, trigger, logger)
            next_resync = time.monotonic() + cfg.resync_interval
        delay = cfg.deadline_check_interval
        remaining = subscription.seconds_until_expiry(spec, utc_now())
        if remaining is not None and 0 < remaining < delay:
            delay = remaining + 0.05
        await stopped.wait(delay)
