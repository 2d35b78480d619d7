"""1000 tenants to Deployment available on a real API server, against the emulator in the same run.

For each N (``BENCH_REAL_TENANTS``, default ``100,1000``), twice in one session: the operator
(`python -m booking_operator`, real PostgreSQL and Redis) against the emulator, then against the
real kube-apiserver of `hack/cluster.sh` (etcd, admission, the controller-manager and scheduler,
the operator authenticated as the chart's ServiceAccount under the chart's RBAC). N
BookingTenants are created back to back; each is timed from its create to its status saying
``Ready`` (the Deployment condition True: the bot Deployment has an available replica), read
from a watch.

Availability is real on the real server: the pods are scheduled onto kubemark hollow nodes (the
real kubelet over a fake runtime), which report them Running and Ready, so the deployment and
replica-set controllers make the Deployment available, and the operator sees that from its
Deployment watch. On the emulator the bench plays that part: it marks each Deployment available
as soon as it asks for a replica.

API requests per tenant are the operator's own: on the real server from the API server's audit
log (`hack/cluster.sh` audits the operator ServiceAccounts only, one line per request, watches
and events included), on the emulator from its request log (requests with the operator's
token). The goal (issue 10): 1000 tenants in under 60 s on the real server of this 2-core
machine; the table says whether this run met it.

Runs with `make bench` when the env file of a control-plane-only cluster with hollow nodes is
loaded:

    BOOKING_CLUSTER_NODE=0 BOOKING_CLUSTER_HOLLOW_NODES=21 \
      BOOKING_CLUSTER_STATE=/tmp/booking-bench-cluster hack/cluster.sh up
    set -a; . /tmp/booking-bench-cluster/cluster.env; set +a; PATH="$BOOKING_KUBE_BIN:$PATH"
    .venv/bin/pytest tests/bench/test_operator_bench_real.py --run-bench -p no:randomly -q -s
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import ssl
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness import real_kube
from harness.kube import BOOKINGTENANTS, ApiServer, EmulatedCluster, KubeClient, resource_path
from harness.operator_process import OperatorProcess, Platform, create_token_secret, operator_env, tenant_body

pytestmark = [pytest.mark.bench, pytest.mark.timeout(3600)]
SIZES = [int(n) for n in os.environ.get("BENCH_REAL_TENANTS", "100,1000").split(",")]
GOAL_TENANTS, GOAL_SECONDS = 1000, 60.0
DEPLOYMENTS = "apps/v1/deployments"
HOLLOW_LABEL = "booking-e2e/hollow"
# A bot pod's requests (operator/booking_operator/manifests.py DEFAULT_RESOURCES): what a node must fit.
BOT_CPU_MILLI, BOT_MEMORY_MI = 20, 64


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def watch(
    url: str, ssl_context: ssl.SSLContext | None, path: str, on_object: Callable[[dict[str, Any]], bool]
) -> None:
    """List, then watch from the list's resourceVersion, until ``on_object`` has seen enough.

    A watch the server ends (it disconnects a consumer that falls behind: this process shares two
    cores with the whole cluster) is resumed from a fresh list, so no object is missed.
    """
    connector = aiohttp.TCPConnector(ssl=ssl_context) if ssl_context else None
    async with aiohttp.ClientSession(connector=connector) as session:
        while True:
            async with session.get(url + path) as resp:
                resp.raise_for_status()
                listing = await resp.json()
            for obj in listing.get("items") or []:
                if on_object(obj):
                    return
            version = (listing.get("metadata") or {}).get("resourceVersion")
            query = "?watch=true" + (f"&resourceVersion={version}" if version else "")
            async with session.get(url + path + query, timeout=aiohttp.ClientTimeout()) as resp:
                resp.raise_for_status()
                async for raw in resp.content:
                    event = json.loads(raw)
                    if event.get("type") == "ERROR":  # e.g. 410 Gone: list again
                        break
                    if on_object(event.get("object") or {}):
                        return


def ready_recorder(expected: int, seen: dict[str, float]) -> Callable[[dict[str, Any]], bool]:
    def on_tenant(obj: dict[str, Any]) -> bool:
        name = obj.get("metadata", {}).get("name", "")
        if (obj.get("status") or {}).get("phase") == "Ready" and name not in seen:
            seen[name] = time.monotonic()
        return len(seen) >= expected

    return on_tenant


async def play_the_kubelet(kube: KubeClient, url: str, namespace: str, expected: int) -> None:
    """Emulator only: each Deployment that asks for a replica is reported available at once."""
    marked: set[str] = set()
    pending: set[asyncio.Task[Any]] = set()

    def on_deployment(obj: dict[str, Any]) -> bool:
        name = obj.get("metadata", {}).get("name", "")
        if (obj.get("spec") or {}).get("replicas") and name not in marked:
            marked.add(name)
            status = {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}
            task = asyncio.create_task(kube.patch(DEPLOYMENTS, namespace, name, {"status": status}))
            pending.add(task)
            task.add_done_callback(pending.discard)
        return len(marked) >= expected

    await watch(url, None, resource_path(DEPLOYMENTS, namespace), on_deployment)
    await asyncio.gather(*pending)


def bot_pod_capacity(cluster: real_kube.RealCluster) -> tuple[int, int]:
    """(bot pods the hollow nodes fit, nodes that are not hollow) of the real cluster."""
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    fit, others = 0, 0
    for node in nodes:
        if (node["metadata"].get("labels") or {}).get(HOLLOW_LABEL) != "true":
            others += 1
            continue
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
        if not ready or node.get("spec", {}).get("unschedulable"):
            continue
        alloc = node["status"]["allocatable"]
        cpu_milli = (
            int(alloc["cpu"]) * 1000 if alloc["cpu"].isdigit() else int(alloc["cpu"].removesuffix("m"))
        )
        memory_mi = _quantity_bytes(alloc["memory"]) // 2**20
        fit += min(int(alloc["pods"]), cpu_milli // BOT_CPU_MILLI, memory_mi // BOT_MEMORY_MI)
    return fit, others


def _quantity_bytes(quantity: str) -> int:
    for suffix, factor in (("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30)):
        if quantity.endswith(suffix):
            return int(quantity.removesuffix(suffix)) * factor
    return int(quantity)


class AuditLog:
    """The real API server's audit log of the operator ServiceAccounts (hack/cluster.sh)."""

    def __init__(self, state: Path) -> None:
        self.path = state / "logs" / "audit.log"

    def offset(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def requests_since(self, offset: int, user: str) -> collections.Counter[str]:
        counts: collections.Counter[str] = collections.Counter()
        with self.path.open("rb") as log:
            log.seek(offset)
            for line in log:
                event = json.loads(line)
                if event.get("user", {}).get("username") != user:
                    continue
                ref = event.get("objectRef") or {}
                resource = ref.get("resource", event.get("requestURI", "?"))
                if ref.get("subresource"):
                    resource += "/" + ref["subresource"]
                code = int((event.get("responseStatus") or {}).get("code") or 0)
                failed = f" -> {code}" if code >= 400 else ""  # 409 races, 429 throttling, ...
                counts[f"{event['verb']} {resource}{failed}"] += 1
        return counts


def emulator_requests(cluster: EmulatedCluster, since: int) -> collections.Counter[str]:
    """The operator's requests (they carry its kubeconfig's token; the bench's carry none)."""
    assert cluster.emulator is not None
    counts: collections.Counter[str] = collections.Counter()
    for request in cluster.emulator.served[since:]:
        if not any(key.lower() == "authorization" for key in request.headers):
            continue
        resource = request.resource.plural if request.resource is not None else request.url.path
        if request.subresource:
            resource += "/" + request.subresource
        counts[f"{_audit_verb(request)} {resource}"] += 1
    return counts


def _audit_verb(request: Any) -> str:
    """The verb the API server's audit log would give this request (get, list, watch, create, patch...)."""
    if request.method.name == "GET":
        if request.name:
            return "get"
        return "watch" if request.params.get("watch") in ("true", "1") else "list"
    method = str(request.method.name)
    return {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}.get(
        method, method.lower()
    )


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes have used so far (what a shared machine cannot inflate)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def cluster_pids(state: Path) -> dict[str, int]:
    """etcd, the control plane and the hollow nodes of hack/cluster.sh (one pid file each)."""
    return {f.stem: int(f.read_text()) for f in sorted((state / "run").glob("*.pid"))}


def cpu_by_component(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far per component, the hollow nodes together."""
    result: dict[str, float] = {}
    for name, pid in pids.items():
        key = "hollow nodes" if name.startswith("hollow-node-") else name
        result[key] = result.get(key, 0.0) + cpu_seconds([pid])
    return result


class Run:
    """One tier's run of N tenants: wall time, latencies, the operator's requests by kind, and
    the CPU seconds the operator (and, on the real server, the cluster) used meanwhile."""

    def __init__(
        self,
        wall: float,
        latencies: list[float],
        requests: collections.Counter[str],
        operator_cpu: float,
        cluster_cpu: dict[str, float],
    ) -> None:
        self.wall, self.latencies, self.requests = wall, latencies, requests
        self.operator_cpu, self.components = operator_cpu, cluster_cpu
        self.cluster_cpu = sum(cluster_cpu.values())

    def per_tenant(self, n: int) -> float:
        return sum(self.requests.values()) / n


async def run(
    platform: Platform,
    tmp: Path,
    cluster: ApiServer,
    n: int,
    count_requests: Callable[[], Awaitable[Callable[[], collections.Counter[str]]]],
) -> Run:
    op = OperatorProcess(
        env=operator_env(
            platform, cluster, tmp, RESYNC_INTERVAL="3600", DEADLINE_CHECK_INTERVAL="15", LOG_LEVEL="WARNING"
        ),
        log_path=tmp / f"op-{type(cluster).__name__}-{n}.log",
    )
    kube: KubeClient = cluster.client()
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    run_id = uuid.uuid4().hex[:6]
    real = cluster if isinstance(cluster, real_kube.RealCluster) else None
    ssl_context = real.ssl_context() if real else None
    if real:
        await _earlier_runs_gone(kube)
    op.start()
    try:
        if real:
            await kube.create("v1/namespaces", None, {"metadata": {"name": namespace}})
        await create_token_secret(kube, namespace)
        seen: dict[str, float] = {}
        tenants = asyncio.create_task(
            watch(cluster.url, ssl_context, resource_path(BOOKINGTENANTS, namespace), ready_recorder(n, seen))
        )
        kubelet = None if real else asyncio.create_task(play_the_kubelet(kube, cluster.url, namespace, n))
        await asyncio.sleep(0.5)
        counted = await count_requests()
        assert op.proc is not None
        others = cluster_pids(real.state) if real else {}
        operator_cpu, cluster_cpu = cpu_seconds([op.proc.pid]), cpu_by_component(others)
        created: dict[str, float] = {}
        started = time.monotonic()
        for i in range(n):
            name = f"t{i}"
            created[name] = time.monotonic()
            await kube.create(BOOKINGTENANTS, namespace, tenant_body(name, f"r{run_id}_{i}"))
        await asyncio.wait_for(tenants, timeout=max(240, n * 1.0))
        wall = time.monotonic() - started
        requests = counted()
        operator_cpu = cpu_seconds([op.proc.pid]) - operator_cpu
        cluster_cpu = {k: v - cluster_cpu.get(k, 0.0) for k, v in cpu_by_component(others).items()}
        if kubelet is not None:
            await asyncio.wait_for(kubelet, timeout=30)
        latencies = [seen[name] - created[name] for name in created]
        return Run(wall, latencies, requests, operator_cpu, cluster_cpu)
    finally:
        op.stop()
        if real:
            await _delete_namespace(kube, namespace)
        await kube.close()


async def _delete_namespace(kube: KubeClient, namespace: str) -> None:
    """Tenants (finalizers dropped: no operator runs now) and their children go with the namespace."""
    for tenant in await kube.list(BOOKINGTENANTS, namespace):
        await kube.patch(
            BOOKINGTENANTS, namespace, tenant["metadata"]["name"], {"metadata": {"finalizers": []}}
        )
    await kube.delete("v1/namespaces", None, namespace)


async def _earlier_runs_gone(kube: KubeClient) -> None:
    """The garbage collector's work on an earlier run's namespace must not land in this run."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        names = [ns["metadata"]["name"] for ns in await kube.list("v1/namespaces", None)]
        if not any(name.startswith("bench-") for name in names):
            return
        await asyncio.sleep(2)


def _fmt(value: float | int | str) -> str:
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else f"{value:.2f}"


async def test_tenants_to_deployment_available_real_api_server_vs_emulator(
    platform_services: Platform, tmp_path: Path
) -> None:
    if not os.environ.get("BOOKING_CLUSTER_STATE"):
        pytest.skip(
            "needs a real API server: a control-plane-only cluster with hollow nodes (BOOKING_CLUSTER_NODE=0 "
            "BOOKING_CLUSTER_HOLLOW_NODES=21 hack/cluster.sh up) and its cluster.env loaded"
        )
    real = real_kube.RealCluster().start()
    fit, others = bot_pod_capacity(real)
    if others:
        pytest.skip(
            f"needs a real API server: with hollow nodes only ({others} real node(s) here would run "
            f"{max(SIZES)} bot pods for real); BOOKING_CLUSTER_NODE=0 BOOKING_CLUSTER_HOLLOW_NODES=21"
        )
    assert fit >= max(SIZES), (
        f"the hollow nodes fit {fit} bot pods, the bench needs {max(SIZES)}: "
        f"BOOKING_CLUSTER_HOLLOW_NODES={-(-max(SIZES) // 50) + 1} (50 bot pods per hollow node)"
    )
    audit = AuditLog(real.state)
    operator_user = f"system:serviceaccount:{real_kube.NAMESPACE}:{real_kube.SERVICE_ACCOUNT}"
    load_before = os.getloadavg()[0]
    rows, breakdown, components = [], {}, {}
    for n in SIZES:
        with EmulatedCluster() as emulated:

            async def emulator_counter(
                emulated: EmulatedCluster = emulated,
            ) -> Callable[[], collections.Counter[str]]:
                assert emulated.emulator is not None
                since = len(emulated.emulator.served)
                return lambda: emulator_requests(emulated, since)

            emu = await run(platform_services, tmp_path, emulated, n, emulator_counter)

        async def audit_counter() -> Callable[[], collections.Counter[str]]:
            offset = audit.offset()
            return lambda: audit.requests_since(offset, operator_user)

        real_run = await run(platform_services, tmp_path, real, n, audit_counter)
        print(f"N={n}: real {real_run.wall:.2f}s, emulator {emu.wall:.2f}s", flush=True)
        breakdown[n] = (real_run.requests, emu.requests)
        components[n] = real_run.components
        rows.append(
            (
                n,
                real_run.wall,
                n / real_run.wall,
                statistics.median(real_run.latencies),
                percentile(real_run.latencies, 0.99),
                real_run.per_tenant(n),
                emu.wall,
                statistics.median(emu.latencies),
                percentile(emu.latencies, 0.99),
                emu.per_tenant(n),
                real_run.wall / emu.wall,
                1000 * real_run.operator_cpu / n,
                1000 * real_run.cluster_cpu / n,
                1000 * emu.operator_cpu / n,
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
        "emulator p50 s",
        "emulator p99 s",
        "emulator requests/tenant",
        "ratio real/emulator",
        "real: operator CPU ms/tenant",
        "real: cluster CPU ms/tenant",
        "emulator: operator CPU ms/tenant",
    )
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    lines += [" | ".join(_fmt(v) for v in row) for row in rows]
    print(
        f"\nTenants to Deployment available (phase Ready), {fit} bot pods of hollow-node capacity; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores, shared)"
    )
    print("\n".join(lines))
    largest = max(breakdown)
    real_counts, emu_counts = breakdown[largest]
    print(f"\nThe operator's requests per tenant at N={largest} (real server / emulator):")
    for kind in sorted(set(real_counts) | set(emu_counts), key=lambda k: -real_counts.get(k, 0)):
        print(f"  {kind}: {real_counts.get(kind, 0) / largest:.2f} / {emu_counts.get(kind, 0) / largest:.2f}")
    cpu_floor = max(rows, key=lambda r: r[0])
    floor_s = cpu_floor[0] * max(cpu_floor[11], (cpu_floor[11] + cpu_floor[12]) / 2) / 1000
    print(
        f"\nCPU per tenant at N={cpu_floor[0]} on the real server: operator {cpu_floor[11]:.0f} ms, "
        f"etcd + control plane + hollow nodes {cpu_floor[12]:.0f} ms (PostgreSQL, Redis and this "
        f"process not counted): on two otherwise idle cores at least {floor_s:.0f} s of wall for "
        f"N={cpu_floor[0]} (the operator is one thread: its CPU alone, or half the total)"
    )
    shares = ", ".join(
        f"{k} {1000 * v / cpu_floor[0]:.0f}" for k, v in sorted(components[cpu_floor[0]].items())
    )
    print(f"  cluster CPU ms/tenant by component: {shares}")
    goal = next((r for r in rows if r[0] == GOAL_TENANTS), None)
    if goal is None:
        print(f"\ngoal ({GOAL_TENANTS} tenants in under {GOAL_SECONDS:.0f} s): not measured in this run")
    else:
        verdict = "MET" if goal[1] < GOAL_SECONDS else "NOT MET"
        print(f"\ngoal: {GOAL_TENANTS} tenants in under {GOAL_SECONDS:.0f} s on the real server: ", end="")
        print(f"{verdict} ({goal[1]:.1f} s)")
    assert all(r[1] > 0 and r[5] > 0 and r[9] > 0 for r in rows)
