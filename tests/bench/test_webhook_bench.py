"""Benchmark of the webhook (`make bench`): notifications/s and latency percentiles.

Three streams against real servers on this machine (uvicorn, the fake YooKassa API, the
Kubernetes emulator, PostgreSQL), each sent with 10 concurrent clients:
- valid notifications, each a new paid checkout (GET payment + create BookingTenant + Secret
  adoption + two database writes);
- duplicates of already applied payments (recorded, then answered from the record);
- forged notifications (a real payment that is not ours): record + GET payment + checkout
  lookup, no Kubernetes write - the service's own cost without the emulator's;
- a bare FastAPI endpoint served the same way, as the floor of the HTTP stack itself.

Everything runs in one process on 2 cores (the emulator in a thread), so absolute numbers are
lower bounds; compare the streams within one run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import uvicorn
from fastapi import FastAPI
from webhook.conftest import YOOKASSA_SOURCE, Platform, WebhookServer, ensure_webhook_database, make_settings

from harness.kube import EmulatedCluster
from harness.postgres import PgServer
from harness.yookassa import FakeYooKassa

N = int(os.environ.get("WEBHOOK_BENCH_N", "100"))
CONCURRENCY = 10


@pytest.fixture()
async def fake_yookassa() -> AsyncIterator[FakeYooKassa]:
    fake = await FakeYooKassa().start()
    try:
        yield fake
    finally:
        await fake.stop()


async def _measure(n: int, send: Callable[[int], Awaitable[int]]) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        nonlocal failures
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            status = await send(i)
            latencies.append(time.perf_counter() - started)
            failures += status != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started, latencies, failures


def _row(name: str, elapsed: float, latencies: list[float], failures: int) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    rate = len(ordered) / elapsed
    return f"| {name:<28} | {len(ordered):>5} | {rate:>9.1f} | {p50:>8.2f} | {p99:>8.2f} | {failures:>5} |"


async def _bare_server() -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    app = FastAPI()

    @app.post("/webhook/yookassa")
    async def bare() -> dict[str, str]:
        return {"outcome": "ignored"}

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/webhook/yookassa"
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, proxy_headers=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    return server, task, url


@pytest.mark.bench
@pytest.mark.timeout(600)
async def test_webhook_throughput_and_latency(
    pg_server: PgServer, kube_cluster: EmulatedCluster, fake_yookassa: FakeYooKassa, tmp_path: Path
) -> None:
    dsn = ensure_webhook_database(pg_server)
    kubeconfig = kube_cluster.write_kubeconfig(tmp_path / "config")
    settings = make_settings(
        fake_yookassa, dsn, kubeconfig, "bench", rate_limit_per_second=1e6, rate_limit_burst=1_000_000
    )
    webhook = await WebhookServer(settings).start()
    platform = await _platform(settings, fake_yookassa)
    bare, bare_task, bare_url = await _bare_server()
    try:
        payments = []
        setup_started = time.perf_counter()
        for i in range(N):
            _, payment_id = await platform.new_checkout(owner=10_000 + i)
            fake_yookassa.succeed(payment_id)
            payments.append(payment_id)
        print(f"\nsetup: {N} checkouts in {time.perf_counter() - setup_started:.1f}s")
        bodies = [fake_yookassa.notification("payment.succeeded", p) for p in payments]
        forged = [
            fake_yookassa.notification("payment.succeeded", fake_yookassa.add_payment("299.00"))
            for _ in range(N)
        ]
        headers = {"X-Forwarded-For": YOOKASSA_SOURCE}

        async def valid(i: int) -> int:
            async with webhook.http.post(
                webhook.url + "/webhook/yookassa", json=bodies[i], headers=headers
            ) as r:
                await r.read()
                status: int = r.status
                return status

        async def rejected(i: int) -> int:
            async with webhook.http.post(
                webhook.url + "/webhook/yookassa", json=forged[i], headers=headers
            ) as r:
                await r.read()
                status: int = r.status
                return status

        async with aiohttp.ClientSession() as http:

            async def bare_call(i: int) -> int:
                async with http.post(bare_url, json=bodies[i % N], headers=headers) as r:
                    await r.read()
                    return r.status

            rows = [
                _row("valid (new tenant each)", *(await _measure(N, valid))),
                _row("duplicates", *(await _measure(N, valid))),
                _row("forged (API check rejects)", *(await _measure(N, rejected))),
                _row("bare FastAPI endpoint", *(await _measure(N, bare_call))),
            ]
        print()
        print(f"webhook benchmark: {N} notifications per stream, {CONCURRENCY} concurrent clients")
        print("| stream                       |     n | notif/s   | p50 ms   | p99 ms   | fail  |")
        print("|------------------------------|-------|-----------|----------|----------|-------|")
        for row in rows:
            print(row)
    finally:
        bare.should_exit = True
        await bare_task
        await _close_platform(platform)
        await webhook.stop()


async def _platform(settings: object, fake: FakeYooKassa) -> Platform:
    from booking_webhook.core.config import Settings
    from booking_webhook.kube import Kube
    from booking_webhook.store import Store
    from booking_webhook.yookassa_api import YooKassaClient

    assert isinstance(settings, Settings)
    store = await Store.connect(settings.database_url.get_secret_value(), max_size=3)
    kube = await Kube.connect(settings.tenant_namespace, settings.kubeconfig)
    client = YooKassaClient(
        settings.yookassa_api_url,
        settings.yookassa_shop_id,
        settings.yookassa_secret_key.get_secret_value(),
        10,
    )
    return Platform(settings, store, kube, client, fake)


async def _close_platform(platform: Platform) -> None:
    await platform.yookassa_client.close()
    await platform.kube.close()
    await platform.store.close()
