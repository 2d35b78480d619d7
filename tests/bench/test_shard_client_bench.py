"""What the shard's Kubernetes client costs in memory (`make bench`): the reason for its transport.

A real ``python -m booking_bot.shard`` follows its (empty) tenants Secret and patches its status
ConfigMap through the emulated API, idle, with ``booking_contract.kube`` over its plain aiohttp
transport (what the bot image runs), and the same process with ``kubernetes_asyncio`` imported
as well (what carrying that library into the bot image would cost every shard). Side by side
in one run, ``RUNS`` processes each, median RSS once idle.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time

import pytest

from harness.kube import EmulatedCluster, KubeClient

pytestmark = pytest.mark.bench

RUNS = int(os.environ.get("SHARD_CLIENT_BENCH_RUNS", "3"))
SETTLE_SECONDS = 8.0
NAMESPACE = "bench-client"
VARIANTS = {
    "booking_contract.kube (aiohttp transport)": "",
    "+ kubernetes_asyncio imported": "import kubernetes_asyncio.client, kubernetes_asyncio.config; ",
}


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _shard_rss(cluster: EmulatedCluster, preload: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHARD_", "KUBE"))}
    env.update(
        SHARD_NAME="bench",
        SHARD_TENANTS_SECRET="bench-tenants",
        SHARD_STATUS_CONFIGMAP="bench-status",
        SHARD_NAMESPACE=NAMESPACE,
        SHARD_KUBE_API_URL=cluster.url,
        HEALTH_PORT="0",
    )
    code = preload + "import runpy; runpy.run_module('booking_bot.shard', run_name='__main__')"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL)
    try:
        time.sleep(SETTLE_SECONDS)  # imports done, the Secret read and watched: idle from here
        assert proc.poll() is None, "the shard exited"
        return _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_shards_client_against_carrying_kubernetes_asyncio(kube_cluster: EmulatedCluster) -> None:
    async def seed() -> None:
        async with KubeClient(kube_cluster.url) as kube:
            await kube.create("v1/secrets", NAMESPACE, {"metadata": {"name": "bench-tenants"}, "data": {}})
            await kube.create("v1/configmaps", NAMESPACE, {"metadata": {"name": "bench-status"}, "data": {}})

    asyncio.run(seed())
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(RUNS):  # interleaved, so a change of load on the shared machine hits both
        for name, preload in VARIANTS.items():
            samples[name].append(_shard_rss(kube_cluster, preload))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians[next(iter(VARIANTS))]
    width = max(len(n) for n in VARIANTS)
    print(f"\nshard process RSS, idle, 0 tenants ({RUNS} runs each, {os.cpu_count()} cores, shared)")
    for name, value in medians.items():
        print(f"  {name:<{width}}  {value:6.1f} MB  (+{value - base:.1f})")
    assert all(v > 0 for v in medians.values())
