"""The shard's log lines: the bot's JSON format, with the tenant of the task that logs.

Each tenant's work runs in tasks started with ``CURRENT_TENANT`` set (asyncio copies the
context into every task a task starts), so a line logged while handling a tenant's update,
reminder or startup names that tenant; the shard's own lines name the shard.
"""

from __future__ import annotations

import contextvars
import logging

from booking_bot.logs import JsonFormatter, setup_logging

CURRENT_TENANT: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_tenant", default=None)


class ShardJsonFormatter(JsonFormatter):
    def __init__(self, shard_name: str) -> None:
        super().__init__(client_id=shard_name)
        self.shard_name = shard_name

    def format(self, record: logging.LogRecord) -> str:
        # Handlers format under their lock, one record at a time.
        self.client_id = CURRENT_TENANT.get() or getattr(record, "client_id", None) or ""
        if not hasattr(record, "shard"):
            record.shard = self.shard_name
        return super().format(record)


def setup_shard_logging(shard_name: str, level: str = "INFO") -> None:
    setup_logging(shard_name, level, ShardJsonFormatter(shard_name))
