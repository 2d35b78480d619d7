"""Where a shard learns its tenants: its own Secret through the API, or a directory.

Why the API and not a mounted volume: the kubelet refreshes mounted Secrets only every minute
or so, and a tenant added to a running shard must answer within seconds. A watch on the
shard's own Secret delivers a change in well under a second, and the shard's RBAC names that
one Secret (``resourceNames``), so a shard cannot read another shard's tenants. The directory
source (one file per tenant, the layout of a mounted Secret) is for development and for
clusters that prefer volumes over API access; it is re-read every second.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from booking_contract.kube import SECRETS, KubeClient, KubeError

log = logging.getLogger("booking_bot.shard")

Snapshot = dict[str, str]  # client id -> the tenant's JSON entry
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0)


class TenantSource(Protocol):
    def snapshots(self) -> AsyncIterator[Snapshot]:
        """The full tenant list, once at start and again after every change."""
        ...


class SecretSource:
    """The shard's own Secret (``data``: one key per client id), read and then watched.

    ``KubeClient.follow`` resumes the watch, re-reads after a 410 and waits out an unreachable
    API server; what ends it (a 403 while the shard's Role is not there yet, say) is retried here.
    A missing Secret is an empty tenant list.
    """

    def __init__(self, kube: KubeClient, namespace: str, name: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name

    async def snapshots(self) -> AsyncIterator[Snapshot]:
        failures = 0
        last: Snapshot | None = None
        while True:
            try:
                states = self.kube.follow(SECRETS, self.namespace, self.name, retry_delays=RETRY_SECONDS)
                async for secret in states:
                    failures = 0
                    snapshot = _decode(secret or {})
                    if snapshot != last:
                        last = snapshot
                        yield snapshot
            except KubeError as exc:
                pause = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning(
                    "tenant list unavailable", extra={"event": "source_failed", "error": str(exc)[:200]}
                )
                await asyncio.sleep(pause)


def _decode(secret: dict[str, object]) -> Snapshot:
    data = secret.get("data") or {}
    result: Snapshot = {}
    if isinstance(data, dict):
        for key, value in data.items():
            try:
                result[str(key)] = base64.b64decode(str(value)).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                result[str(key)] = ""  # becomes a tenant with a clear configuration error
    return result


class DirectorySource:
    """One file per tenant, named by its client id (dot-files, as a mounted Secret's, ignored)."""

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval

    def read(self) -> Snapshot:
        result: Snapshot = {}
        for entry in sorted(self.path.iterdir()):
            if entry.name.startswith(".") or not entry.is_file():
                continue
            try:
                result[entry.name] = entry.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                result[entry.name] = ""
        return result

    async def snapshots(self) -> AsyncIterator[Snapshot]:
        last: Snapshot | None = None
        while True:
            try:
                snapshot = await asyncio.to_thread(self.read)
            except OSError as exc:
                log.warning(
                    "tenant directory unreadable", extra={"event": "source_failed", "error": str(exc)}
                )
            else:
                if snapshot != last:
                    last = snapshot
                    yield snapshot
            await asyncio.sleep(self.interval)
