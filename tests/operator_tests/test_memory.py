"""What the operator remembers per tenant: one object per tenant, forgotten in one piece."""

from __future__ import annotations

from typing import Any, cast

from booking_operator.platform import Platform


def _platform() -> Platform:
    return Platform(*(cast(Any, None) for _ in range(5)))


def test_a_look_at_an_unknown_tenant_creates_no_memory() -> None:
    platform = _platform()
    assert platform.known("uid") is None
    assert platform.tenants == {}


def test_forgetting_a_tenant_drops_everything_remembered_of_it_and_nothing_else() -> None:
    platform = _platform()
    for uid in ("gone", "kept"):
        memory = platform.memory(uid)
        memory.desired, memory.phase, memory.retry_at = {"kind": "Deployment"}, "Ready", 1.0
        platform.backoff(uid, 15)
    platform.forget("gone")
    assert list(platform.tenants) == ["kept"]
    fresh = platform.memory("gone")
    assert (fresh.desired, fresh.phase, fresh.retry_at, fresh.failures) == (None, None, None, 0)
    assert not fresh.lock.locked()


def test_phases_lists_only_tenants_a_pass_has_finished_for() -> None:
    platform = _platform()
    platform.lock("locked-only")
    platform.memory("ready").phase = "Ready"
    assert list(platform.phases()) == ["Ready"]


def test_a_success_clears_the_retry_and_the_failure_count() -> None:
    platform = _platform()
    failing = platform.memory("uid")
    failing.retry_at = failing.backoff(15)
    failing.succeeded()
    memory = platform.memory("uid")
    assert memory.retry_at is None and memory.failures == 0
    assert memory.backoff(15) == 15
