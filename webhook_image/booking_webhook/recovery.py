"""Finishing notifications that were recorded but never completed (a crash, a 503 that YooKassa
stopped redelivering), in the background.

One bad row must not stop the pass: every error of a row is caught, counted on that row and
retried later with an exponential back-off; rows are taken least-tried first, so a row that
keeps failing goes to the back and cannot starve the others; after `max_attempts` the row is
given up as `failed` with an alert (a redelivery from YooKassa still processes it).
"""

from __future__ import annotations

import asyncio
import logging

from booking_webhook.alerts import NOTIFICATION_GIVEN_UP, raise_alert
from booking_webhook.core.logging import log_event
from booking_webhook.notifications import Clients, process

log = logging.getLogger(__name__)

BASE_DELAY_SECONDS = 30.0
MAX_DELAY_SECONDS = 3600.0


def backoff(attempts: int, base: float = BASE_DELAY_SECONDS) -> float:
    return float(min(base * 2 ** max(attempts - 1, 0), MAX_DELAY_SECONDS))


async def recover_once(
    clients: Clients,
    older_than_seconds: float,
    max_attempts: int = 20,
    row_timeout: float = 20.0,
    backoff_base: float = BASE_DELAY_SECONDS,
) -> int:
    """One pass; returns how many rows it finished. Safe next to live traffic (applying is
    idempotent)."""
    finished = 0
    for row in await clients.store.unfinished_notifications(older_than_seconds):
        notification_id, event, object_id = int(row["id"]), str(row["event"]), str(row["object_id"])
        try:
            outcome, reason = await asyncio.wait_for(process(clients, event, object_id), row_timeout)
        except Exception as exc:  # any error of this row: it waits, the others go on
            error = f"{type(exc).__name__}: {exc}"[:300]
            attempts = int(row["recovery_attempts"]) + 1
            if attempts >= max_attempts:
                await clients.store.defer_notification(notification_id, error, 0)
                await clients.store.finish_notification(notification_id, "failed", error)
                raise_alert(
                    clients.metrics,
                    NOTIFICATION_GIVEN_UP,
                    "notification given up",
                    notification_event=event,
                    object_id=object_id,
                    attempts=attempts,
                    error=error,
                )
            else:
                await clients.store.defer_notification(
                    notification_id, error, backoff(attempts, backoff_base)
                )
                log_event(
                    log,
                    "notification recovery failed",
                    logging.WARNING,
                    notification_event=event,
                    object_id=object_id,
                    attempts=attempts,
                    error=error,
                )
            continue
        await clients.store.finish_notification(notification_id, outcome, reason)
        clients.metrics.notifications.labels(event=event, outcome=f"recovered_{outcome}").inc()
        finished += 1
    return finished
