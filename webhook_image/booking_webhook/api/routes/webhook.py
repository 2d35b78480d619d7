"""POST /webhook/yookassa: authenticate, record durably, confirm with the API, apply once."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from booking_webhook.api.deps import ClientsDep, RateLimiterDep, SettingsDep
from booking_webhook.core.config import Settings
from booking_webhook.core.logging import log_event
from booking_webhook.notifications import FINAL_OUTCOMES, HANDLED_EVENTS, Clients, process
from booking_webhook.ratelimit import RateLimiter
from booking_webhook.sources import BadSourceAddress, client_address, is_allowed

router = APIRouter()
log = logging.getLogger(__name__)


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, outcome: str) -> JSONResponse:
    return JSONResponse({"outcome": outcome}, status_code=status)


@router.post("/webhook/yookassa")
async def yookassa_notification(
    request: Request, settings: SettingsDep, clients: ClientsDep, limiter: RateLimiterDep
) -> JSONResponse:
    started = time.perf_counter()
    event = "unknown"
    status, outcome = 500, "error"
    try:
        status, outcome, event = await _handle(request, settings, clients, limiter)
    finally:
        clients.metrics.notifications.labels(event=event, outcome=outcome).inc()
        clients.metrics.latency.labels(outcome=outcome).observe(time.perf_counter() - started)
    return _answer(status, outcome)


async def _handle(
    request: Request, settings: Settings, clients: Clients, limiter: RateLimiter
) -> tuple[int, str, str]:
    peer = request.client.host if request.client else None
    try:
        source = client_address(peer, request.headers.getlist("x-forwarded-for"), settings.trusted_proxies)
    except BadSourceAddress:
        log_event(log, "notification refused", logging.WARNING, reason="malformed source address", peer=peer)
        return 403, "forbidden", "unknown"
    # The allowlist first: a source that may not notify never touches a bucket, so it cannot
    # drain the one YooKassa's deliveries use. The bucket is per (direct peer, source): a pod that
    # is a trusted proxy and claims a YooKassa address spends its own tokens, not the ingress's.
    if not is_allowed(source, settings.allowed_sources):
        log_event(log, "notification refused", logging.WARNING, reason="untrusted source", source=str(source))
        return 403, "forbidden", "unknown"
    if not limiter.allow(f"{peer}>{source}"):
        return 429, "rate_limited", "unknown"
    try:
        raw = await _read_body(request, settings.max_body_bytes)
    except _TooLarge:
        return 413, "too_large", "unknown"
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested deeper than the parser goes
        return 400, "bad_request", "unknown"
    if not isinstance(body, dict):
        return 400, "bad_request", "unknown"
    event = body.get("event")
    if not isinstance(event, str) or event not in HANDLED_EVENTS:
        log_event(log, "notification ignored", notification_event=str(event)[:64])
        return 200, "ignored", "other"
    obj = body.get("object")
    object_id = obj.get("id") if isinstance(obj, dict) else None
    if not isinstance(object_id, str) or not object_id or len(object_id) > 64:
        return 400, "bad_request", event

    try:
        notification_id, previous = await clients.store.record_notification(
            event, object_id, str(source), body
        )
    except Exception as exc:  # the database is down: not durably accepted, so not acknowledged
        log_event(
            log,
            "notification not recorded",
            logging.ERROR,
            notification_event=event,
            object_id=object_id,
            error=type(exc).__name__,
        )
        return 503, "retry", event
    if previous in FINAL_OUTCOMES:
        return 200, "duplicate", event

    try:
        outcome, reason = await asyncio.wait_for(
            process(clients, event, object_id), settings.processing_timeout
        )
    except Exception as exc:  # Kubernetes, YooKassa or the database failed: not done, so not acknowledged
        error = f"{type(exc).__name__}: {exc}"[:300]
        log_event(
            log,
            "notification deferred",
            logging.WARNING,
            notification_event=event,
            object_id=object_id,
            error=error,
        )
        await _finish(clients, notification_id, "retry", error)
        return 503, "retry", event
    await _finish(clients, notification_id, outcome, reason)
    log_event(
        log,
        "notification processed",
        notification_event=event,
        object_id=object_id,
        outcome=outcome,
        source=str(source),
    )
    return 200, outcome, event


async def _finish(clients: Clients, notification_id: int, outcome: str, error: str | None) -> None:
    try:
        await clients.store.finish_notification(notification_id, outcome, error)
    except Exception as exc:  # the effect is done (or deferred); the record says 'received' until redelivery
        log_event(log, "notification outcome not stored", logging.WARNING, error=type(exc).__name__)
