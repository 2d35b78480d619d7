"""``python -m booking_legacy import-sqlite|move-redis``: the commands, their output and exit codes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.operator_process import OPERATOR_PASSWORD, OPERATOR_ROLE
from harness.operator_process import Platform as OperatorPlatform
from harness.redis import RedisServer
from legacy.conftest import PACKAGES, drop_clients, new_stem
from legacy.legacy_tree import CORRUPT, INVALID_NAME, Tree, build_tree, write_sqlite

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("ADMIN_DATABASE_URL", "DATABASE_URL", "REDIS_URL")
    }
    return subprocess.run(
        [sys.executable, "-m", "booking_legacy", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, "PYTHONPATH": PACKAGES, **env},
        timeout=120,
    )


@pytest.fixture()
def cli_tree(tmp_path: Path, platform_services: OperatorPlatform) -> Iterator[Tree]:
    built = build_tree(tmp_path / "clients", new_stem())
    for index in range(2, 17):  # keep the subprocess runs short: clients 1 and CORRUPT only
        if index != CORRUPT:
            folder = built.root / built.client(index).client_id
            for f in folder.iterdir():
                f.unlink()
            folder.rmdir()
            del built.clients[index]
    try:
        yield built
    finally:
        asyncio.run(drop_clients(platform_services.admin_dsn, [c.client_id for c in built.clients.values()]))


def test_import_prints_one_line_per_client_and_exits_1_when_one_failed(
    cli_tree: Tree, platform_services: OperatorPlatform
) -> None:
    admin = platform_services.dsn(OPERATOR_ROLE, OPERATOR_PASSWORD)
    args = ["import-sqlite", str(cli_tree.root), "--create-schemas", "--namespace", "legacy"]
    proc = run(args, {"ADMIN_DATABASE_URL": admin})
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    stem = cli_tree.stem
    assert f"Migrated {stem}_001: 45 bookings, 5 services, 12 users" in lines
    assert any(line.startswith(f"Failed {stem}_011: corrupt") for line in lines)
    assert f"Skipped {INVALID_NAME}: not a valid client id (must match ^[a-z][a-z0-9_]{{2,39}}$)" in lines
    assert lines[-1] == "1 of 3 clients done, 2 failed or skipped"
    assert OPERATOR_PASSWORD not in proc.stdout + proc.stderr


def test_rerun_with_the_tenants_own_database_url_is_a_noop_and_exits_0(
    cli_tree: Tree, platform_services: OperatorPlatform
) -> None:
    admin = platform_services.dsn(OPERATOR_ROLE, OPERATOR_PASSWORD)
    client_id = cli_tree.client(1).client_id
    first = run(
        ["import-sqlite", str(cli_tree.root), "--client", client_id, "--create-schemas"],
        {"ADMIN_DATABASE_URL": admin},
    )
    assert first.returncode == 0, first.stdout + first.stderr

    async def tenant_password() -> None:
        import asyncpg

        conn = await asyncpg.connect(platform_services.admin_dsn)
        try:
            await conn.execute(f"ALTER ROLE \"{client_id}\" PASSWORD 'tenant-test-pw'")
        finally:
            await conn.close()

    asyncio.run(tenant_password())
    tenant_dsn = platform_services.dsn(client_id, "tenant-test-pw")
    second = run(["import-sqlite", str(cli_tree.root)], {"DATABASE_URL": tenant_dsn, "CLIENT_ID": client_id})
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.splitlines()[:2] == [
        f"Migrated {client_id}: 45 bookings, 5 services, 12 users",
        f"  {client_id}: written: 0 new bookings, 0 new services, 0 new users (nothing to do)",
    ]
    assert "tenant-test-pw" not in second.stdout + second.stderr


def test_missing_connection_settings_are_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "client_001").mkdir()
    write_sqlite(tmp_path / "client_001" / "bookings.db", 1, 1, 1, 1, __import__("datetime").date(2030, 1, 1))
    assert run(["import-sqlite", str(tmp_path)], {}).returncode == 2
    assert run(["move-redis", str(tmp_path)], {}).returncode == 2


def test_move_redis_dry_run_prints_counts_and_exits_0(cli_tree: Tree, redis_server: RedisServer) -> None:
    ids = ["--client", cli_tree.client(1).client_id]
    proc = run(["move-redis", str(cli_tree.root), *ids, "--dry-run"], {"REDIS_URL": redis_server.admin_url})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(f"Would move {cli_tree.client(1).client_id}: DB 1 -> DB 0")
    assert redis_server.password not in proc.stdout + proc.stderr
