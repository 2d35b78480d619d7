"""Provisioning throughput of the operator: N tenants against the emulator + real PostgreSQL/Redis.

Run with `make bench` (BENCH_TENANTS=10,100,1000 by default). For each N: a fresh
emulated cluster and operator process; N BookingTenants created back to back; the
time from each create to its status saying every child exists (phase Provisioning,
Database/Redis/Secret True) is taken from a watch stream. The floor is the same N
schemas + roles created by plain SQL over one connection.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from booking_operator import passwords
from booking_operator.identifiers import quote_ident, quote_literal
from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient, resource_path
from harness.operator_process import OperatorProcess, Platform, create_token_secret, operator_env, tenant_body

pytestmark = [pytest.mark.bench, pytest.mark.timeout(3600)]
SIZES = [int(n) for n in os.environ.get("BENCH_TENANTS", "10,100,1000").split(",")]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def watch_ready(url: str, namespace: str, expected: int, seen: dict[str, float]) -> None:
    path = resource_path(BOOKINGTENANTS, namespace) + "?watch=true"
    async with aiohttp.ClientSession() as session, session.get(url + path, timeout=None) as resp:
        async for raw in resp.content:
            event = json.loads(raw)
            obj = event.get("object", {})
            status = obj.get("status") or {}
            conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
            done = all(conditions.get(t) == "True" for t in ("Database", "Redis", "Secret"))
            name = obj.get("metadata", {}).get("name", "")
            if done and name not in seen:
                seen[name] = time.monotonic()
                if len(seen) >= expected:
                    return


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))


async def provision_with_operator(platform: Platform, tmp: Path, n: int) -> tuple[float, list[float], int]:
    cluster = EmulatedCluster().start()
    op = OperatorProcess(
        env=operator_env(
            platform, cluster, tmp, RESYNC_INTERVAL="3600", DEADLINE_CHECK_INTERVAL="15", LOG_LEVEL="WARNING"
        ),
        log_path=tmp / f"op-{n}.log",
    )
    op.start()
    kube = KubeClient(cluster.url)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    run = uuid.uuid4().hex[:6]
    try:
        await create_token_secret(kube, namespace)
        seen: dict[str, float] = {}
        watcher = asyncio.create_task(watch_ready(cluster.url, namespace, n, seen))
        await asyncio.sleep(0.2)
        created: dict[str, float] = {}
        started = time.monotonic()
        for i in range(n):
            name = f"t{i}"
            created[name] = time.monotonic()
            await kube.create(BOOKINGTENANTS, namespace, tenant_body(name, f"b{run}_{i}"))
        await asyncio.wait_for(watcher, timeout=max(120, n * 0.6))
        wall = time.monotonic() - started
        latencies = [seen[name] - created[name] for name in created]
        assert op.proc is not None
        return wall, latencies, rss_kb(op.proc.pid)
    finally:
        await kube.close()
        op.stop()
        cluster.stop()


async def provision_with_sql(platform: Platform, n: int) -> float:
    conn = await asyncpg.connect(platform.admin_dsn)
    run = uuid.uuid4().hex[:6]
    try:
        started = time.monotonic()
        for i in range(n):
            q = quote_ident(f"f{run}_{i}")
            verifier = passwords.scram_sha256_verifier(passwords.generate())
            await conn.execute(f"CREATE ROLE {q} LOGIN PASSWORD {quote_literal(verifier)}")
            await conn.execute(f"CREATE SCHEMA {q} AUTHORIZATION {q}")
        return time.monotonic() - started
    finally:
        await conn.close()


async def test_provisioning_throughput(platform_services: Platform, tmp_path: Path) -> None:
    rows = []
    for n in SIZES:
        wall, latencies, rss = await provision_with_operator(platform_services, tmp_path, n)
        floor = await provision_with_sql(platform_services, n)
        print(f"N={n}: operator {wall:.2f}s, SQL floor {floor:.2f}s", flush=True)
        rows.append(
            (
                n,
                wall,
                n / wall,
                statistics.median(latencies),
                percentile(latencies, 0.99),
                rss / 1024,
                floor,
                wall / floor,
            )
        )
    header = ("N", "wall s", "tenants/s", "p50 s", "p99 s", "operator RSS MB", "SQL floor s", "ratio")
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for row in rows:
        lines.append(" | ".join(str(v) if isinstance(v, int) else f"{v:.2f}" for v in row))
    print("\n" + "\n".join(lines))
    assert all(r[1] > 0 for r in rows)
