"""Garbage collection for a process that holds hundreds of tenants' long-lived objects.

CPython's cyclic collector walks every tracked object of the generations it collects, and a
full (generation 2) collection walks them all. A shard serving 500 tenants holds ~360 000
such objects (the routers, aiogram's models, and per tenant its pool, Redis client, settings,
texts...), nearly all of them as old as the tenant. Under the benchmark's load (50 updates/s,
each opening connections) the collector ran a full collection every few seconds and each one
stopped the event loop, and so every tenant's updates, for 0.3-1.7 s (docs/benchmarks.md);
a dedicated bot holds one tenant's share and never pays that.

The objects a started tenant keeps live as long as the tenant, so the shard moves them out of
the collector's way once tenants have started (``gc.freeze``: a permanent generation the
collector skips); collections then walk only what was allocated since. Frozen objects are
still freed by reference counting; only cycles among them wait, so after tenants were removed
the shard unfreezes, collects once (one pause, when the tenant list changed, not per update)
and freezes again.

Freezing is process-wide, so only the shard's own process freezes (``python -m
booking_bot.shard`` asks for it); a shard started inside another process (the tests) does not
move that process' objects, and a shard that froze undoes it when it closes.

The shard also watches the collector: a collection that stops the loop for longer than
``PAUSE_WARNING_SECONDS`` is logged (``gc_pause``, by the janitor, outside the collector), so
a stall every tenant of the shard felt is visible.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("booking_bot.shard")

PAUSE_WARNING_SECONDS = 0.1


class Heap:
    """Call ``settle()`` when tenants have started or stopped; with ``freeze`` it freezes what
    they keep (otherwise it leaves the collector alone and only watches it)."""

    def __init__(self, *, freeze: bool = False) -> None:
        self.freeze = freeze
        self._froze = False
        self._collect_next = True  # the first settle also collects what start-up left behind
        self._began = 0.0
        self._pauses: list[tuple[int, float]] = []  # (generation, seconds) above the warning

    def watch(self) -> None:
        gc.callbacks.append(self._on_gc)

    def close(self) -> None:
        """Stop watching, and give back to the collector what this heap froze."""
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._froze:
            gc.unfreeze()
            self._froze = False

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        """Called by the collector itself: only arithmetic here, no logging, no allocation to speak of."""
        now = time.perf_counter()
        if phase == "start":
            self._began = now
        elif now - self._began > PAUSE_WARNING_SECONDS and len(self._pauses) < 100:
            self._pauses.append((info["generation"], now - self._began))

    def report_pauses(self) -> None:
        pauses, self._pauses = self._pauses, []
        for generation, seconds in pauses:
            log.warning(
                "gc pause",
                extra={"event": "gc_pause", "generation": generation, "ms": round(seconds * 1000)},
            )

    def tenants_removed(self) -> None:
        self._collect_next = True

    def settle(self) -> None:
        if not self.freeze:
            return
        started = time.perf_counter()
        collected = 0
        if self._collect_next:
            gc.unfreeze()
            collected = gc.collect()
            self._collect_next = False
        gc.freeze()
        self._froze = True
        log.info(
            "heap settled",
            extra={
                "event": "heap_settled",
                "frozen": gc.get_freeze_count(),
                "collected": collected,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
