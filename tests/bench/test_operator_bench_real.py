"""Provisioning throughput on the real API server of `hack/cluster.sh`, against the emulator.

Same workload as test_operator_bench.py (N BookingTenants created back to back, timed from each
create to its status saying Database/Redis/Secret are True, read from a watch), run twice per N
in the same session: the operator against the emulator, then against the real kube-apiserver
(etcd, admission, RBAC as the chart's ServiceAccount). The tenants are `suspended`, so their
Deployments have no replicas: this measures the operator and the API server, not 1000 bot pods
on one 2-core node. Real-server API requests are counted from `apiserver_request_total`
(bookingtenants, secrets and deployments, without the bench's own creates and the deployment
controller's status writes).

Runs with `make bench` when the cluster env file is loaded (`hack/cluster.sh up`, then
`set -a; . $BOOKING_CLUSTER_STATE/cluster.env`), else it is skipped with that reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import statistics
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from harness import real_kube
from harness.kube import BOOKINGTENANTS, ApiServer, EmulatedCluster, KubeClient, resource_path
from harness.operator_process import OperatorProcess, Platform, create_token_secret, operator_env, tenant_body

pytestmark = [pytest.mark.bench, pytest.mark.timeout(3600)]
SIZES = [int(n) for n in os.environ.get("BENCH_REAL_TENANTS", "100,1000").split(",")]
COUNTED = {"bookingtenants", "secrets", "deployments"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def watch_provisioned(
    url: str, ssl_context: ssl.SSLContext | None, namespace: str, expected: int, seen: dict[str, float]
) -> None:
    path = resource_path(BOOKINGTENANTS, namespace) + "?watch=true&allowWatchBookmarks=false"
    connector = aiohttp.TCPConnector(ssl=ssl_context) if ssl_context else None
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(url + path, timeout=None) as resp,
    ):
        async for raw in resp.content:
            obj = json.loads(raw).get("object", {})
            conditions = {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions", [])}
            name = obj.get("metadata", {}).get("name", "")
            if all(conditions.get(t) == "True" for t in ("Database", "Redis", "Secret")) and name not in seen:
                seen[name] = time.monotonic()
                if len(seen) >= expected:
                    return


async def request_count(cluster: real_kube.RealCluster) -> int:
    """The API server's own count of requests on the resources the operator works with."""
    connector = aiohttp.TCPConnector(ssl=cluster.ssl_context())
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(cluster.url + "/metrics") as resp,
    ):
        text = await resp.text()
    total = 0
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(part.split("=", 1) for part in line[line.index("{") + 1 : line.index("}")].split(","))
        resource = labels.get("resource", "").strip('"')
        subresource = labels.get("subresource", "").strip('"')
        if resource in COUNTED and not (resource == "deployments" and subresource == "status"):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


async def run(platform: Platform, tmp: Path, cluster: ApiServer, n: int) -> tuple[float, list[float]]:
    op = OperatorProcess(
        env=operator_env(
            platform, cluster, tmp, RESYNC_INTERVAL="3600", DEADLINE_CHECK_INTERVAL="15", LOG_LEVEL="WARNING"
        ),
        log_path=tmp / f"op-{type(cluster).__name__}-{n}.log",
    )
    kube: KubeClient = cluster.client()
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    run_id = uuid.uuid4().hex[:6]
    ssl_context = cluster.ssl_context() if isinstance(cluster, real_kube.RealCluster) else None
    op.start()
    try:
        if not kube.emulated:
            await kube.create("v1/namespaces", None, {"metadata": {"name": namespace}})
        await create_token_secret(kube, namespace)
        seen: dict[str, float] = {}
        watcher = asyncio.create_task(watch_provisioned(cluster.url, ssl_context, namespace, n, seen))
        await asyncio.sleep(0.5)
        created: dict[str, float] = {}
        started = time.monotonic()
        for i in range(n):
            name = f"t{i}"
            created[name] = time.monotonic()
            await kube.create(BOOKINGTENANTS, namespace, tenant_body(name, f"r{run_id}_{i}", suspended=True))
        await asyncio.wait_for(watcher, timeout=max(180, n * 1.0))
        wall = time.monotonic() - started
        return wall, [seen[name] - created[name] for name in created]
    finally:
        op.stop()
        if not kube.emulated:  # tenants and their children go with the namespace (GC)
            for tenant in await kube.list(BOOKINGTENANTS, namespace):
                await kube.patch(
                    BOOKINGTENANTS, namespace, tenant["metadata"]["name"], {"metadata": {"finalizers": []}}
                )
            await kube.delete("v1/namespaces", None, namespace)
        await kube.close()


async def test_provisioning_throughput_real_api_server_vs_emulator(
    platform_services: Platform, tmp_path: Path
) -> None:
    if not os.environ.get("BOOKING_CLUSTER_STATE"):
        pytest.skip("needs the local real cluster: hack/cluster.sh up, then load its cluster.env")
    real = real_kube.RealCluster().start()
    rows = []
    for n in SIZES:
        with EmulatedCluster() as emulated:
            emu_wall, _ = await run(platform_services, tmp_path, emulated, n)
        before = await request_count(real)
        real_wall, real_lat = await run(platform_services, tmp_path, real, n)
        requests = await request_count(real) - before - n - 2  # the bench's creates, namespace, token Secret
        print(f"N={n}: real {real_wall:.2f}s, emulator {emu_wall:.2f}s", flush=True)
        rows.append(
            (
                n,
                real_wall,
                n / real_wall,
                statistics.median(real_lat),
                percentile(real_lat, 0.99),
                requests / n,
                emu_wall,
                real_wall / emu_wall,
            )
        )
    header = (
        "N",
        "real wall s",
        "tenants/s",
        "p50 s",
        "p99 s",
        "API requests/tenant",
        "emulator wall s",
        "ratio",
    )
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for row in rows:
        lines.append(" | ".join(str(v) if isinstance(v, int) else f"{v:.2f}" for v in row))
    print("\n" + "\n".join(lines))
    assert all(r[1] > 0 and r[5] > 0 for r in rows)
