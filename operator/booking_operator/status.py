"""Status of a BookingTenant: standard conditions and the phase derived from them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from booking_contract.crd import CONDITION_TYPES, PHASES
from booking_contract.kube import BOOKINGTENANTS, KubeClient

__all__ = ["CONDITION_TYPES", "PHASES", "Conditions", "same_status", "write_status"]

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


class Conditions:
    """Builds the conditions list, keeping lastTransitionTime when a status does not change."""

    def __init__(self, previous: Iterable[Mapping[str, Any]] | None, generation: int, now: str) -> None:
        self._previous: dict[str, Mapping[str, Any]] = {str(c.get("type")): c for c in previous or []}
        self._generation = generation
        self._now = now
        self._current: dict[str, dict[str, Any]] = {}

    def set(self, type_: str, status: bool | None, reason: str, message: str = "") -> None:
        value = UNKNOWN if status is None else TRUE if status else FALSE
        old = self._previous.get(type_)
        since = self._now if old is None or old.get("status") != value else old.get("lastTransitionTime")
        self._current[type_] = {
            "type": type_,
            "status": value,
            "reason": reason,
            "message": message,
            "lastTransitionTime": since or self._now,
            "observedGeneration": self._generation,
        }

    def is_true(self, type_: str) -> bool:
        return self._current.get(type_, {}).get("status") == TRUE

    def get(self, type_: str) -> dict[str, Any] | None:
        return self._current.get(type_)

    def as_list(self) -> list[dict[str, Any]]:
        kept = {
            t: dict(c) for t, c in self._previous.items() if t not in self._current and t in CONDITION_TYPES
        }
        merged = {**kept, **self._current}
        return [merged[t] for t in CONDITION_TYPES if t in merged]


def same_status(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether writing `new` would change nothing (so 1000 idle tenants cost no API writes)."""
    old = old or {}
    return all(old.get(k) == v for k, v in new.items())


async def write_status(kube: KubeClient, body: Mapping[str, Any], status: Mapping[str, Any]) -> None:
    """Write a BookingTenant's status through its status subresource (outside a kopf handler)."""
    meta = body["metadata"]
    await kube.patch(BOOKINGTENANTS, meta["namespace"], meta["name"], {"status": dict(status)}, sub="status")
