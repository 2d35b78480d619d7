"""Prometheus metrics, one registry per application instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.notifications = Counter(
            "booking_webhook_notifications",
            "YooKassa notifications by event and outcome",
            ["event", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "booking_webhook_notification_duration_seconds",
            "Time to answer a YooKassa notification",
            ["outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.tenants_created = Counter(
            "booking_webhook_tenants_created", "BookingTenants created from payments", registry=self.registry
        )
        self.tenants_extended = Counter(
            "booking_webhook_tenants_extended",
            "BookingTenants whose paid period a payment extended",
            registry=self.registry,
        )
        self.refunds = Counter("booking_webhook_refunds", "Refunds recorded", registry=self.registry)
