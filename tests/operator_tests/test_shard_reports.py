"""Which tenants a shard's status ConfigMap event is about (the operator passes only those)."""

from __future__ import annotations

import json

from booking_operator.shards import STATUS_SELECTOR, Reports


def _report(state: str) -> str:
    return json.dumps({"state": state, "config": "abc", "reason": "", "since": "", "username": "b"})


def test_only_the_reports_that_changed_are_named() -> None:
    reports = Reports()
    assert reports.changed("ns", "s-status", {"a": _report("Starting"), "b": _report("Serving")}).keys() == {
        "a",
        "b",
    }
    changed = reports.changed("ns", "s-status", {"a": _report("Serving"), "b": _report("Serving")})
    assert changed == {"a": json.loads(_report("Serving"))}


def test_a_tenant_no_longer_reported_is_named_with_none() -> None:
    reports = Reports()
    reports.changed("ns", "s-status", {"a": _report("Serving")})
    assert reports.changed("ns", "s-status", {}) == {"a": None}


def test_shards_and_namespaces_are_kept_apart() -> None:
    reports = Reports()
    reports.changed("ns", "s0-status", {"a": _report("Serving")})
    assert reports.changed("other", "s0-status", {"a": _report("Serving")}).keys() == {"a"}
    assert reports.changed("ns", "s1-status", {"a": _report("Serving")}).keys() == {"a"}


def test_the_api_server_sends_only_the_shards_status_configmaps() -> None:
    assert STATUS_SELECTOR == (
        "app.kubernetes.io/managed-by=booking-operator,app.kubernetes.io/component=status,bookingsaas.dev/shard"
    )
