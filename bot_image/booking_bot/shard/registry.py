"""The shard's tenants, changed live: entries in, runners started, replaced or stopped.

``apply`` compares the wanted entries with the running ones and returns at once; it never
touches a tenant whose entry did not change. A changed entry (a rotated password or token, a
new setting) replaces that tenant's runner, and the new runner waits for the old one's stop,
so its token never has two pollers. Two entries with the same bot token cannot both poll: the
first by client id serves, the other fails with a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from booking_bot.shard.config import TenantEntry
from booking_bot.shard.runner import ShardContext, State, TenantRunner

log = logging.getLogger("booking_bot.shard")


class Registry:
    def __init__(self, shard: ShardContext) -> None:
        self.shard = shard
        self.runners: dict[str, TenantRunner] = {}
        self._stopping: dict[str, asyncio.Task[None]] = {}
        # Counts the changes (the heap is settled after each batch, see heap.py).
        self.changes = 0
        self.removals = 0

    def apply(self, entries: Mapping[str, TenantEntry]) -> None:
        wanted = dict(_without_shared_tokens(entries))
        for client_id in sorted(self.runners.keys() - wanted.keys()):
            self._retire(client_id)
            log.info("tenant removed", extra={"event": "tenant_removed", "client_id": client_id})
        for client_id, entry in sorted(wanted.items()):
            running = self.runners.get(client_id)
            if running is not None and (running.entry.fingerprint, running.entry.error) == (
                entry.fingerprint,
                entry.error,
            ):
                continue
            after = self._retire(client_id) if running is not None else self._stopping.get(client_id)
            runner = TenantRunner(entry, self.shard)
            self.changes += 1
            self.runners[client_id] = runner
            runner.start(after=after)
            log.info(
                "tenant replaced" if running else "tenant added",
                extra={"event": "tenant_replaced" if running else "tenant_added", "client_id": client_id},
            )

    def starting(self) -> bool:
        """Some tenant has not finished starting (or failing) yet."""
        return any(r.report is None or r.report.state == State.STARTING for r in self.runners.values())

    def _retire(self, client_id: str) -> asyncio.Task[None]:
        self.changes += 1
        self.removals += 1
        runner = self.runners.pop(client_id)
        task = asyncio.create_task(runner.stop(), name=f"stop:{client_id}")
        self._stopping[client_id] = task

        def done(_: asyncio.Task[None]) -> None:
            if self._stopping.get(client_id) is task:
                del self._stopping[client_id]

        task.add_done_callback(done)
        return task

    async def wait_stopped(self, client_id: str) -> None:
        """Returns once a removed or replaced tenant's old runner (and its poller) is gone."""
        task = self._stopping.get(client_id)
        if task is not None:
            await asyncio.shield(task)

    async def close(self) -> None:
        """Stop every tenant (each within its grace period)."""
        for client_id in list(self.runners):
            self._retire(client_id)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._stopping.values(), return_exceptions=True)


def _without_shared_tokens(entries: Mapping[str, TenantEntry]) -> Mapping[str, TenantEntry]:
    """Entries whose token another entry (earlier by client id) already uses become errors."""
    owner: dict[int, str] = {}
    result: dict[str, TenantEntry] = {}
    for client_id, entry in sorted(entries.items()):
        bot_id = entry.bot_id
        if bot_id is not None and bot_id in owner:
            entry = TenantEntry(
                client_id=client_id,
                fingerprint=entry.fingerprint,
                settings=None,
                error=f"the bot token is already served for {owner[bot_id]}",
            )
        elif bot_id is not None:
            owner[bot_id] = client_id
        result[client_id] = entry
    return result
