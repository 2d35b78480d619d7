"""Prometheus metrics, one registry per application instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.alerts = Counter(
            "booking_webhook_alerts",
            "Things a human must look at: money taken but not applied, notifications given up",
            ["reason"],
            registry=self.registry,
        )
        self.payments_needing_attention = Gauge(
            "booking_webhook_payments_needing_attention",
            "Succeeded payments in the ledger that are not applied (as of the last reconciliation pass)",
            registry=self.registry,
        )
        self.reconciled = Counter(
            "booking_webhook_reconciled",
            "Payments and refunds the reconciliation pass found unapplied, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.reconcile_passes = Counter(
            "booking_webhook_reconcile_passes",
            "Reconciliation passes by result (ok, failed, skipped: another replica held the lock)",
            ["result"],
            registry=self.registry,
        )
        self.test_shop = Gauge(
            "booking_webhook_test_shop",
            "1 when YOOKASSA_TEST_SHOP accepts test payments (never in production)",
            registry=self.registry,
        )
