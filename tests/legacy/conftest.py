"""Fixtures for the legacy migration tests: generated trees, a legacy Redis with 16 databases.

The session's shared Redis (``redis_server``) runs pytest-redis's default of 8 databases, so
the legacy server that holds DB 1..15 is a second throwaway redis-server started here with
``databases 16``: the realistic layout anyway (legacy server -> new server, DUMP/RESTORE).
Same-server moves (``COPY ... DB 0``) are tested on ``redis_server``'s DB 1..7.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pytest_redis import factories as redis_factories

from booking_legacy.importer import Target
from harness.operator_process import OPERATOR_PASSWORD, OPERATOR_ROLE
from harness.operator_process import Platform as OperatorPlatform
from harness.redis import ADMIN_PASSWORD
from legacy.legacy_tree import Tree, build_tree

NAMESPACE = "legacy"
ROOT = Path(__file__).resolve().parents[2]
# PYTHONPATH of a `python -m booking_legacy` subprocess: the tool and the packages it stands on.
PACKAGES = os.pathsep.join(str(ROOT / d) for d in ("legacy_migration", "contract", "operator", "bot_image"))

legacy_redis_proc = redis_factories.redis_proc(password=ADMIN_PASSWORD, port=None, db_count=16)  # type: ignore[arg-type]


@dataclass(frozen=True)
class LegacyRedis:
    host: str
    port: int
    password: str

    @property
    def admin_url(self) -> str:
        return f"redis://:{self.password}@{self.host}:{self.port}/0"


@pytest.fixture(scope="session")
def legacy_redis(legacy_redis_proc: object) -> LegacyRedis:
    return LegacyRedis(legacy_redis_proc.host, legacy_redis_proc.port, ADMIN_PASSWORD)  # type: ignore[attr-defined]


def new_stem() -> str:
    return f"lg{secrets.token_hex(3)}"


async def drop_clients(admin_dsn: str, client_ids: list[str]) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        for client_id in client_ids:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{client_id}" CASCADE')
            if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", client_id):
                await conn.execute(f'DROP OWNED BY "{client_id}" CASCADE')
                await conn.execute(f'DROP ROLE "{client_id}"')
    finally:
        await conn.close()


def operator_target(platform: OperatorPlatform, **kwargs: Any) -> Target:
    """The tool as the platform runs it: the operator's least-privilege admin role."""
    return Target(admin_dsn=platform.dsn(OPERATOR_ROLE, OPERATOR_PASSWORD), namespace=NAMESPACE, **kwargs)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory, platform_services: OperatorPlatform) -> Iterator[Tree]:
    """16 clients of varied sizes (one corrupt, one with odd data) and one invalid directory."""
    stem = new_stem()
    built = build_tree(tmp_path_factory.mktemp("legacy") / "clients", stem)
    try:
        yield built
    finally:
        ids = [c.client_id for c in built.clients.values()]
        asyncio.run(drop_clients(platform_services.admin_dsn, ids))


@pytest.fixture()
def small_tree(tmp_path: Path, platform_services: OperatorPlatform) -> Iterator[Tree]:
    """A fresh tree for tests that need untouched schemas; its schemas are dropped afterwards."""
    built = build_tree(tmp_path / "clients", new_stem())
    try:
        yield built
    finally:
        ids = [c.client_id for c in built.clients.values()]
        asyncio.run(drop_clients(platform_services.admin_dsn, ids))
