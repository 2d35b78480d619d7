"""Garbage collection for a process that holds hundreds of tenants' long-lived objects.

CPython's cyclic collector walks every tracked object of the generations it collects, and a
full (generation 2) collection walks them all. A shard serving 500 tenants holds ~360 000
such objects (the routers, aiogram's models, and per tenant its pool, Redis client, settings,
texts...), nearly all of them as old as the tenant; a dedicated bot holds one tenant's share.

**Freezing.** The objects a started tenant keeps live as long as the tenant, so the shard moves
them out of the collector's way once tenants have started (``gc.freeze``: a permanent
generation the collector skips); collections then walk only what was allocated since. Frozen
objects are still freed by reference counting; only cycles among them wait, so after tenants
were removed the shard unfreezes, collects once (one pause, when the tenant list changed, not
per update) and freezes again.

**Its own schedule.** Freezing left the collections CPython triggers by itself, and under load
(50 updates/s over 500 tenants, each update ending one long poll and opening another, and most
opening connections) they were most of the shard's p99: with the collector off during the load
window it fell from 116-166 ms to 27 ms (docs/benchmarks.md). Two reasons. CPython starts a
young collection when allocations *minus deallocations* pass 700, and a shard frees old objects
(the last poll's request, a closed connection) about as fast as it makes new ones, so
generation 0 grew to tens of thousands of objects between collections and one young collection
stopped the loop for up to 45 ms (measured as CPU time, not preemption). And a full collection
walked the ~100 000 unfrozen objects of the tenants' live polls and connections for 105-150 ms
to free ~100 objects. So in the shard's own process the collector runs on a clock instead:

- generation 0 every ``young_seconds`` (0.1 s: what 5 updates leave), generation 1 with every
  ``middle_every``-th of them, each well under a millisecond to a few;
- a full collection every ``full_seconds`` (``SHARD_GC_FULL_SECONDS``), or sooner when the
  process' RSS grew by ``growth_bytes`` (``SHARD_GC_GROWTH_MB``) since the last one, which is
  what bounds the memory cycles can hold; it waits up to ``idle_wait_seconds`` for a moment
  with no update in flight, so no update is stopped half-way;
- CPython's own trigger stays as a safety net for a burst inside one callback (generation 0
  only, at ``SAFETY_THRESHOLD`` net allocations), when the loop cannot run the schedule.

Freezing and the schedule are process-wide, so only the shard's own process uses them
(``python -m booking_bot.shard`` asks for it); a shard started inside another process (the
tests) leaves that process' collector alone, and a shard that changed it undoes it when it
closes.

The shard also watches the collector: a collection that stops the loop for longer than
``PAUSE_WARNING_SECONDS`` is logged (``gc_pause``, by the janitor, outside the collector), so
a stall every tenant of the shard felt is visible.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("booking_bot.shard")

PAUSE_WARNING_SECONDS = 0.1
# CPython's automatic trigger, kept for generation 0 only: far above what the schedule lets
# accumulate, reached only when one callback allocates without yielding to the loop.
SAFETY_THRESHOLD = 50_000
NEVER = 1 << 30  # a threshold no count reaches


@dataclass(frozen=True)
class Schedule:
    young_seconds: float = 0.1
    middle_every: int = 10
    full_seconds: float = 300.0
    growth_bytes: int = 64 << 20
    idle_wait_seconds: float = 1.0


def rss_bytes() -> int:
    """The process' resident memory; 0 where /proc is not there (then only the clock counts)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Heap:
    """``watch()``, then ``settle()`` when tenants have started or stopped, and in the shard's own
    process ``run()`` as a task; ``close()`` gives the process' collector back as it was.

    ``own_process``: freeze and collect on the schedule (otherwise only watch the collector).
    ``busy``: whether an update is being handled right now (a full collection waits for a gap).
    """

    def __init__(
        self,
        *,
        own_process: bool = False,
        schedule: Schedule | None = None,
        busy: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.monotonic,
        rss: Callable[[], int] = rss_bytes,
    ) -> None:
        self.own_process = own_process
        self.schedule = schedule or Schedule()
        self._busy = busy
        self._clock = clock
        self._rss = rss
        self._froze = False
        self._thresholds: tuple[int, int, int] | None = None
        self._collect_next = True  # the first settle also collects what start-up left behind
        self._began = 0.0
        self._pauses: list[tuple[int, float]] = []  # (generation, seconds) above the warning
        self._young = 0
        self._full_at = clock()
        self._full_rss = rss()
        self._full_due_since: float | None = None

    def watch(self) -> None:
        gc.callbacks.append(self._on_gc)
        if self.own_process and self._thresholds is None:
            self._thresholds = gc.get_threshold()
            gc.set_threshold(SAFETY_THRESHOLD, NEVER, NEVER)

    def close(self) -> None:
        """Stop watching, and give back to the collector what this heap froze or took over."""
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
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
        if not self.own_process:
            return
        started = time.perf_counter()
        collected = 0
        if self._collect_next:
            gc.unfreeze()
            collected = gc.collect()
            self._collect_next = False
            self._collected_fully()
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

    def _collected_fully(self) -> None:
        self._full_at = self._clock()
        self._full_rss = self._rss()
        self._full_due_since = None

    def _full_reason(self) -> str | None:
        if self._clock() - self._full_at >= self.schedule.full_seconds:
            return "schedule"
        if self._rss() - self._full_rss >= self.schedule.growth_bytes:
            return "growth"
        return None

    def tick(self) -> None:
        """One step of the schedule: generation 0 (and 1 every ``middle_every``-th), a full
        collection when one is due and the shard is between updates (or has waited long enough)."""
        self._young += 1
        gc.collect(1 if self._young % self.schedule.middle_every == 0 else 0)
        reason = self._full_reason()
        if reason is None:
            return
        now = self._clock()
        if self._full_due_since is None:
            self._full_due_since = now
        if self._busy() and now - self._full_due_since < self.schedule.idle_wait_seconds:
            return
        started, rss_before = time.perf_counter(), self._rss()
        collected = gc.collect(2)
        self._collected_fully()
        log.info(
            "heap collected",
            extra={
                "event": "heap_collected",
                "reason": reason,
                "collected": collected,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "rss_mb_before": round(rss_before / 2**20),
                "rss_mb": round(self._full_rss / 2**20),
            },
        )

    async def run(self) -> None:
        """The schedule, until cancelled (the shard's own process only)."""
        while True:
            await asyncio.sleep(self.schedule.young_seconds)
            self.tick()
