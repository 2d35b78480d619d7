"""Prometheus metrics of the operator (served on METRICS_PORT)."""

from __future__ import annotations

import contextlib
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from booking_operator.status import PHASES

RECONCILES = Counter(
    "booking_operator_reconciles_total", "Reconcile passes by trigger and outcome", ["trigger", "outcome"]
)
RECONCILE_SECONDS = Histogram(
    "booking_operator_reconcile_duration_seconds",
    "Wall time of one reconcile pass",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TENANTS = Gauge("booking_operator_tenants", "Tenants known to this operator by phase", ["phase"])
REDIS_BYTES = Gauge(
    "booking_operator_tenant_redis_bytes",
    "Bytes (MEMORY USAGE) of a tenant's Redis keys at its last reconcile; quota TENANT_REDIS_MAX_BYTES",
    ["client_id"],
)
DELETIONS = Counter("booking_operator_deletions_total", "Tenants deleted by deletion policy", ["policy"])


def record_phases(phases: Iterable[str]) -> None:
    tally = Tally(phases)
    for phase in PHASES:
        TENANTS.labels(phase=phase).set(tally.get(phase, 0))


def forget_tenant(client_id: str) -> None:
    """A deleted tenant's per-tenant series go with it (the label set stays bounded by live tenants)."""
    with contextlib.suppress(KeyError):
        REDIS_BYTES.remove(client_id)


def serve(port: int) -> None:
    if port:
        start_http_server(port)
