"""Benchmark of the shared runtime against today's one process per tenant (`make bench`).

One run, side by side, on this machine's shared 2 cores:
- ``SHARD_BENCH_TENANTS`` (default 1000) tenants, each with its own PostgreSQL role and schema
  and its own Redis ACL user, listed in one shard's Secret (emulated Kubernetes API) and
  served by one real ``python -m booking_bot.shard`` process over the fake Bot API. Measured:
  time until all are Serving (each migrated by the shard), total RSS once idle, PostgreSQL
  connections held by the idle tenants (peak over ``IDLE_WINDOW`` seconds).
- ``DEDICATED_SAMPLE`` (default 4) real ``python -m booking_bot`` processes, one tenant each,
  idle over the same window: RSS and connections, extrapolated to the same tenant count.
- Latency from pushing an update (``/start``) to the bot's answer reaching the fake Bot API,
  at ``RATE`` updates/s: spread round-robin across ``LOAD_TENANTS`` (500) tenants of the shard,
  and all to one dedicated bot. The load's first round (each tenant's first update after
  idling, ``LOAD_TENANTS / RATE`` = 10 s) is reported on its own; the headline is the
  ``LOAD_SECONDS`` after it, when every tenant is in the middle of a conversation.
- A tenant's first update after idling, one at a time on an otherwise quiet machine, in both
  runtimes (``COLD_ROUNDS`` rounds over the dedicated bots and as many idle shard tenants).
- A tenant added to the running shard's Secret: time to its first answered update
  (``ADDED`` tenants, one after the other, each migrated by the shard on arrival).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import port_for
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from booking_bot.migrate import migrate
from harness.kube import EmulatedCluster, KubeClient
from harness.postgres import PgServer, role_connections, start_postgres
from harness.redis import ADMIN_PASSWORD, RedisServer
from harness.telegram import FakeTelegram

TENANTS = int(os.environ.get("SHARD_BENCH_TENANTS", "1000"))
DEDICATED_SAMPLE = int(os.environ.get("DEDICATED_SAMPLE", "4"))
LOAD_TENANTS = min(TENANTS, 500)
RATE = 50
LOAD_SECONDS = int(os.environ.get("SHARD_BENCH_LOAD_SECONDS", "20"))
IDLE_WINDOW = 30.0
ADDED = 5
NAMESPACE = "bench-shard"
PREFIX = "bsh_"
# With LOAD_TENANTS round-robin at RATE/s, a tenant waits LOAD_TENANTS / RATE = 10 s between
# updates. Its connections close after its idle time: the shard's SHARD_DB_IDLE_SECONDS (60)
# and the dedicated bot's DB_IDLE_SECONDS (10), unless this sets DB_IDLE_SECONDS for every
# tenant of both (10 = every shard tenant's update finds its pool empty, as before session 6).
TENANT_DB_IDLE_SECONDS = os.environ.get("SHARD_BENCH_DB_IDLE_SECONDS", "")
DEDICATED_IDLE_SECONDS = float(TENANT_DB_IDLE_SECONDS or 10)
FIRST_ROUND = LOAD_TENANTS // RATE  # seconds: each load tenant's first update
COLD_ROUNDS = 4
# 500 tenants each getting an update every 10 s keep ~1 - e^-1 = 63 % of them connected: the
# server needs room for that (the session's test server allows 300).
BENCH_MAX_CONNECTIONS = 1200
# Development: a script run instead of `-m booking_bot.shard` (e.g. a profiler), sent SIGUSR1
# when the shared load starts and SIGUSR2 when it ends.
PROFILE_SIGNALS = os.environ.get("SHARD_BENCH_PROFILE_SCRIPT", "")
# Development: a file the latency of every update is written to (JSON, in the order they were
# sent, RATE per second), to see when in the load window the slow ones were.
LATENCIES_FILE = os.environ.get("SHARD_BENCH_LATENCIES", "")
# Development: the SCRAM iteration count the tenant roles' passwords are hashed with (both the
# client and the server compute it on every new connection).
SCRAM_ITERATIONS = os.environ.get("SHARD_BENCH_SCRAM_ITERATIONS", "")
JANITOR_SECONDS = 5.0  # booking_bot.shard.runtime.JANITOR_SECONDS


@dataclass(frozen=True)
class BenchTenant:
    client_id: str
    dsn: str
    redis_url: str
    token: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.fixture()
def roomy_postgres() -> Iterator[PgServer]:
    """A server of its own with room for BENCH_MAX_CONNECTIONS (the session's allows 300)."""
    base = Path(tempfile.mkdtemp(prefix="booking-pg-bench-"))
    os.chmod(base, 0o755)  # noqa: S103 - the `postgres` user must reach its data directory
    executor = start_postgres(base, port_for.select_random(), max_connections=BENCH_MAX_CONNECTIONS)
    try:
        yield PgServer(
            host="127.0.0.1", port=executor.port, superuser=executor.user, password=executor.password or ""
        )
    finally:
        executor.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def roomy_redis() -> Iterator[RedisServer]:
    """A Redis of its own without the test server's 15 s client timeout, logging to a file."""
    port = port_for.select_random()
    log = Path(tempfile.gettempdir()) / f"booking-redis-bench-{os.getpid()}.log"
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            ADMIN_PASSWORD,
            "--save",
            "",
            "--appendonly",
            "no",
            "--timeout",
            "0",
            "--maxclients",
            "20000",
            "--logfile",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        server = RedisServer(host="127.0.0.1", port=port, password=ADMIN_PASSWORD)

        async def ready() -> None:
            for _ in range(100):
                try:
                    client = Redis.from_url(server.admin_url)
                    await client.ping()
                    await client.aclose()
                    return
                except (OSError, RedisError):
                    await asyncio.sleep(0.1)
            raise RuntimeError("redis-server did not start")

        asyncio.run(ready())
        yield server
    finally:
        proc.terminate()
        proc.wait()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _median_max(values: list[float]) -> str:
    if not values:
        return "none"
    return f"{_pct(values, 0.5):.0f} / {max(values) * 1000:.0f} of {len(values)}"


async def _provision(
    pg: PgServer, redis_server: RedisServer, tg: FakeTelegram, n: int, start: int
) -> list[BenchTenant]:
    """What the operator does per tenant: role, schema it owns, Redis ACL user, bot token."""
    admin = await asyncpg.connect(pg.dsn())
    if SCRAM_ITERATIONS:  # PostgreSQL 16's default is 4096
        await admin.execute(f"SET scram_iterations = {int(SCRAM_ITERATIONS)}")
    redis = Redis.from_url(redis_server.admin_url)
    made = []
    try:
        for i in range(start, start + n):
            client_id = f"{PREFIX}{i:05d}"
            password = secrets.token_hex(16)
            await admin.execute(f"CREATE ROLE \"{client_id}\" LOGIN PASSWORD '{password}'")
            await admin.execute(f'CREATE SCHEMA "{client_id}" AUTHORIZATION "{client_id}"')
            redis_password = secrets.token_hex(16)
            await redis.acl_setuser(
                client_id,
                enabled=True,
                reset=True,
                passwords=[f"+{redis_password}"],
                keys=[f"{client_id}:*"],
                commands=["+@all", "-@dangerous"],
            )
            token = FakeTelegram.make_token(5_000_000_000 + i)
            tg.add_bot(token, username=f"{client_id}_bot")
            made.append(
                BenchTenant(
                    client_id=client_id,
                    dsn=pg.dsn(client_id, password),
                    redis_url=f"redis://{client_id}:{redis_password}@{redis_server.host}:{redis_server.port}/0",
                    token=token,
                )
            )
    finally:
        await admin.close()
        await redis.aclose()
    return made


async def _drop(pg: PgServer, redis_server: RedisServer, tenants: list[BenchTenant]) -> None:
    admin = await asyncpg.connect(pg.dsn())
    redis = Redis.from_url(redis_server.admin_url)
    try:
        for t in tenants:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{t.client_id}" CASCADE')
            await admin.execute(f'DROP ROLE IF EXISTS "{t.client_id}"')
            await redis.acl_deluser(t.client_id)
    finally:
        await admin.close()
        await redis.aclose()


def _entry(t: BenchTenant) -> str:
    return json.dumps(
        {
            "CLIENT_ID": t.client_id,
            "BOT_TOKEN": t.token,
            "DATABASE_URL": t.dsn,
            "REDIS_URL": t.redis_url,
            "DB_IDLE_SECONDS": TENANT_DB_IDLE_SECONDS,  # empty = the shard's SHARD_DB_IDLE_SECONDS
        }
    )


def _secret_data(tenants: list[BenchTenant]) -> dict[str, str]:
    return {t.client_id: base64.b64encode(_entry(t).encode()).decode() for t in tenants}


async def _get_json(url: str) -> dict[str, dict[str, str]] | None:
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            if resp.status != 200:
                return None
            body: dict[str, dict[str, str]] = await resp.json()
            return body
    except aiohttp.ClientError:
        return None


async def _wait_serving(
    proc: asyncio.subprocess.Process, port: int, client_ids: set[str], timeout: float
) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert proc.returncode is None, f"the shard exited with {proc.returncode}"
        status = await _get_json(f"http://127.0.0.1:{port}/tenants") or {}
        serving = {cid for cid, r in status.items() if r.get("state") == "Serving"}
        if client_ids <= serving:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    failed = {
        cid: r
        for cid, r in (await _get_json(f"http://127.0.0.1:{port}/tenants") or {}).items()
        if r.get("state") != "Serving"
    }
    raise TimeoutError(f"not serving after {timeout}s: {len(failed)} e.g. {list(failed.items())[:3]}")


@contextlib.asynccontextmanager
async def _process(
    args: list[str], env: dict[str, str], log: Path | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    with open(log or os.devnull, "ab") as out:  # noqa: ASYNC230 - opening a log file is instant
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, env={**os.environ, **env}, stdout=out, stderr=out
        )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


async def _answered(tg: FakeTelegram, token: str, user: int) -> float | None:
    """Seconds from the update to the bot's greeting; None for no answer or an error answer."""
    started = time.perf_counter()
    tg.push_message(token, {"id": user, "first_name": "C", "language_code": "en"}, "/start")
    try:
        answer = await tg.next_message(token, user, timeout=60)
    except TimeoutError:
        return None
    return time.perf_counter() - started if "Booking" in answer.text else None


class DriverPauses:
    """The garbage collections of this process (the fake Bot API and the load) during a load:
    a pause here delays pushes and answers alike and would be counted as the bot's latency."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._began = now
        else:
            self.pauses.append(now - self._began)

    def summary(self) -> str:
        return f"{max(self.pauses, default=0) * 1000:.0f}, {sum(self.pauses) * 1000:.0f}"

    def __enter__(self) -> DriverPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self)


@dataclass
class Load:
    latencies: list[float | None]
    warm_up: float | None  # the process' first update ever, not in the latencies
    driver: DriverPauses


async def _load(tg: FakeTelegram, tokens: list[str], first_user: int, warm_up_token: str) -> Load:
    """``RATE`` updates/s for ``FIRST_ROUND + LOAD_SECONDS``, round-robin over ``tokens``; latency
    of each.

    Before it, one update to ``warm_up_token`` (not one of ``tokens``' tenants where there are
    enough): a bot process' first update ever runs code paths for the first time (~100 ms in
    either runtime) and would otherwise queue the load's first updates behind it. And this
    process (the fake Bot API and the clock of every measurement) keeps its collector out of the
    load: its own collections, up to 170 ms (100 ms with its heap frozen, over 60 s), were counted
    as the bots' latency. What it allocates meanwhile is freed when the load is over.
    """
    loop = asyncio.get_running_loop()
    warm_up = await _answered(tg, warm_up_token, first_user - 1)
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        with DriverPauses() as pauses:
            start = loop.time()
            tasks = []
            for i in range(RATE * (FIRST_ROUND + LOAD_SECONDS)):
                await asyncio.sleep(max(0.0, start + i / RATE - loop.time()))
                tasks.append(asyncio.create_task(_answered(tg, tokens[i % len(tokens)], first_user + i)))
            return Load(list(await asyncio.gather(*tasks)), warm_up, pauses)
    finally:
        gc.enable()
        gc.unfreeze()


def _gc_pauses(log: Path, offset: int) -> list[float]:
    """Milliseconds of each garbage collection the shard logged as a pause (``gc_pause``) since ``offset``."""
    with log.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    pauses = []
    for line in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == "gc_pause":
                pauses.append(float(record["ms"]))
    return pauses


def _ok(latencies: list[float | None]) -> list[float]:
    return [x for x in latencies if x is not None]


def _dedicated_env(t: BenchTenant, tg: FakeTelegram, port: int) -> dict[str, str]:
    return {
        "CLIENT_ID": t.client_id,
        "BOT_TOKEN": t.token,
        "DATABASE_URL": t.dsn,
        "REDIS_URL": t.redis_url,
        "TELEGRAM_API_URL": tg.url,
        "HEALTH_PORT": str(port),
        "DB_IDLE_SECONDS": TENANT_DB_IDLE_SECONDS,  # empty = the bot's default
        "LOG_LEVEL": "WARNING",
    }


async def _wait_healthy(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await _get_json(f"http://127.0.0.1:{port}/healthz") is not None:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("a dedicated bot did not become healthy")


@pytest.mark.bench
@pytest.mark.timeout(3600)  # 1000 tenants migrated, then the idle window and the loads
async def test_shared_runtime_against_one_process_per_tenant(
    roomy_postgres: PgServer,
    roomy_redis: RedisServer,
    kube_cluster: EmulatedCluster,
    kube: KubeClient,
) -> None:
    pg_server, redis_server = roomy_postgres, roomy_redis
    async with FakeTelegram() as tg:
        tenants = await _provision(pg_server, redis_server, tg, TENANTS, 0)
        dedicated = await _provision(pg_server, redis_server, tg, DEDICATED_SAMPLE, TENANTS)
        added = await _provision(pg_server, redis_server, tg, ADDED, TENANTS + DEDICATED_SAMPLE)
        try:
            for t in dedicated:
                await migrate(t.dsn, t.client_id)
            await kube.create(
                "v1/secrets",
                NAMESPACE,
                {"metadata": {"name": "shard-0-tenants"}, "data": _secret_data(tenants)},
            )
            await kube.create(
                "v1/configmaps", NAMESPACE, {"metadata": {"name": "shard-0-status"}, "data": {}}
            )
            shard_port = _free_port()
            shard_env = {
                "SHARD_NAME": "shard-0",
                "SHARD_TENANTS_SECRET": "shard-0-tenants",
                "SHARD_STATUS_CONFIGMAP": "shard-0-status",
                "SHARD_NAMESPACE": NAMESPACE,
                "SHARD_KUBE_API_URL": kube_cluster.url,
                "TELEGRAM_API_URL": tg.url,
                "HEALTH_PORT": str(shard_port),
                "LOG_LEVEL": "WARNING",
            }
            ports = [_free_port() for _ in dedicated]
            async with contextlib.AsyncExitStack() as stack:
                # Outside pytest's numbered temp dirs, which other runs on this machine rotate away.
                shard_log = Path(tempfile.gettempdir()) / f"booking-shard-bench-{os.getpid()}.log"
                shard_args = [PROFILE_SIGNALS] if PROFILE_SIGNALS else ["-m", "booking_bot.shard"]
                shard = await stack.enter_async_context(_process(shard_args, shard_env, shard_log))
                print(f"\nshard log: {shard_log}")
                started_in = await _wait_serving(
                    shard, shard_port, {t.client_id for t in tenants}, timeout=1800
                )
                bots = [
                    await stack.enter_async_context(
                        _process(["-m", "booking_bot"], _dedicated_env(t, tg, port))
                    )
                    for t, port in zip(dedicated, ports, strict=True)
                ]
                for port in ports:
                    await _wait_healthy(port)
                await asyncio.sleep(DEDICATED_IDLE_SECONDS + 1)  # their startup check's connection closes

                # ---- idle: memory and connections, both runtimes over the same window ----------
                cpu_before = [_cpu_seconds(p.pid) for p in (shard, *bots)]
                window_started = time.monotonic()
                peak_shard, peak_dedicated = await asyncio.gather(
                    _peak_for(pg_server, {t.client_id for t in tenants}, IDLE_WINDOW),
                    _peak_for(pg_server, {t.client_id for t in dedicated}, IDLE_WINDOW),
                )
                window = time.monotonic() - window_started
                cpu = [
                    (_cpu_seconds(p.pid) - before) / window
                    for p, before in zip((shard, *bots), cpu_before, strict=True)
                ]
                shard_rss = _rss_mb(shard.pid)
                dedicated_rss = [_rss_mb(p.pid) for p in bots]

                # ---- latency: 50 updates/s over 500 shard tenants, and to one dedicated bot -------
                sampler = asyncio.create_task(
                    _peak_for(pg_server, {t.client_id for t in tenants}, FIRST_ROUND + LOAD_SECONDS + 2)
                )
                if PROFILE_SIGNALS:
                    os.kill(shard.pid, signal.SIGUSR1)
                load_cpu_before, load_started = _cpu_seconds(shard.pid), time.monotonic()
                log_offset = shard_log.stat().st_size
                shared_load = await _load(
                    tg, [t.token for t in tenants[:LOAD_TENANTS]], 100_000, tenants[-1].token
                )
                shared_cpu = _cpu_seconds(shard.pid) - load_cpu_before
                load_cpu = shared_cpu / (time.monotonic() - load_started)
                if PROFILE_SIGNALS:
                    os.kill(shard.pid, signal.SIGUSR2)
                load_peak = await sampler
                await asyncio.sleep(JANITOR_SECONDS + 0.5)  # the shard logs its GC pauses every 5 s
                pauses = _gc_pauses(shard_log, log_offset)
                dedicated_cpu_before = _cpu_seconds(bots[0].pid)
                alone_load = await _load(tg, [dedicated[0].token], 900_000, dedicated[0].token)
                dedicated_load_cpu = _cpu_seconds(bots[0].pid) - dedicated_cpu_before
                cold_shared, cold_dedicated = await _cold_rounds(
                    pg_server, tg, tenants[LOAD_TENANTS:-1], dedicated
                )

                # ---- a tenant added to the running shard: first answer ----------------------------
                firsts = []
                for i, t in enumerate(added):
                    begun = time.perf_counter()
                    await kube.patch("v1/secrets", NAMESPACE, "shard-0-tenants", {"data": _secret_data([t])})
                    tg.push_message(
                        t.token, {"id": 700_000 + i, "first_name": "C", "language_code": "en"}, "/start"
                    )
                    await tg.next_message(t.token, 700_000 + i, timeout=60)
                    firsts.append(time.perf_counter() - begun)
                shard_rss_after = _rss_mb(shard.pid)
        finally:
            await _drop(pg_server, redis_server, tenants + dedicated + added)

    shared_all, dedicated_all = shared_load.latencies, alone_load.latencies
    if LATENCIES_FILE:
        Path(LATENCIES_FILE).write_text(json.dumps({"shared": shared_all, "dedicated": dedicated_all}))  # noqa: ASYNC240
    shared_lat, dedicated_lat = _ok(shared_all[LOAD_TENANTS:]), _ok(dedicated_all[LOAD_TENANTS:])
    first_shared, first_dedicated = _ok(shared_all[:LOAD_TENANTS]), _ok(dedicated_all[:LOAD_TENANTS])
    whole_shared, whole_dedicated = _ok(shared_all), _ok(dedicated_all)
    per_dedicated = sum(dedicated_rss) / len(dedicated_rss)
    dedicated_cpu = sum(cpu[1:]) / len(cpu[1:])
    dedicated_total = per_dedicated * TENANTS
    gib = 1024.0
    rows = [
        (
            "a tenant's connections close after idling (s)",
            f"{TENANT_DB_IDLE_SECONDS} (DB_IDLE_SECONDS)"
            if TENANT_DB_IDLE_SECONDS
            else "60 (SHARD_DB_IDLE_SECONDS)",
            f"{DEDICATED_IDLE_SECONDS:.0f} (DB_IDLE_SECONDS)",
        ),
        (
            "tenants",
            f"{TENANTS} in 1 shard process",
            f"{DEDICATED_SAMPLE} processes measured, x{TENANTS // DEDICATED_SAMPLE}",
        ),
        ("time until all Serving (migrated by the shard)", f"{started_in:.0f} s", "-"),
        (
            "RSS, idle (MB)",
            f"{shard_rss:.0f} total",
            f"{per_dedicated:.0f} each -> {dedicated_total:.0f} total",
        ),
        (
            "CPU while idle (% of one core)",
            f"{cpu[0] * 100:.1f} total",
            f"{dedicated_cpu * 100:.2f} each -> {dedicated_cpu * 100 * TENANTS:.0f} total",
        ),
        ("RSS per tenant (MB)", f"{shard_rss / TENANTS:.2f}", f"{per_dedicated:.1f}"),
        ("tenants per GiB", f"{TENANTS * gib / shard_rss:.0f}", f"{gib / per_dedicated:.1f}"),
        (
            f"PostgreSQL connections, idle (peak over {IDLE_WINDOW:.0f}s)",
            f"{peak_shard} for {TENANTS}",
            f"{peak_dedicated} for {DEDICATED_SAMPLE}"
            f" -> ~{peak_dedicated * TENANTS / DEDICATED_SAMPLE:.0f} for {TENANTS}",
        ),
        (
            f"latency p50 / p99 (ms), {RATE} updates/s, {LOAD_SECONDS}s after the first round",
            f"{_pct(shared_lat, 0.5):.0f} / {_pct(shared_lat, 0.99):.0f} ({LOAD_TENANTS} tenants)",
            f"{_pct(dedicated_lat, 0.5):.0f} / {_pct(dedicated_lat, 0.99):.0f} (1 bot)",
        ),
        (
            f"  the first round ({FIRST_ROUND}s: each tenant's first update after idling)",
            f"{_pct(first_shared, 0.5):.0f} / {_pct(first_shared, 0.99):.0f}",
            f"{_pct(first_dedicated, 0.5):.0f} / {_pct(first_dedicated, 0.99):.0f}",
        ),
        (
            f"  the whole {FIRST_ROUND + LOAD_SECONDS}s",
            f"{_pct(whole_shared, 0.5):.0f} / {_pct(whole_shared, 0.99):.0f}",
            f"{_pct(whole_dedicated, 0.5):.0f} / {_pct(whole_dedicated, 0.99):.0f}",
        ),
        (
            "first update after idling, one at a time, quiet (ms: median / max of n)",
            _median_max(cold_shared),
            _median_max(cold_dedicated),
        ),
        (
            "updates unanswered or answered with an error",
            f"{len(shared_all) - len(whole_shared)}",
            f"{len(dedicated_all) - len(whole_dedicated)}",
        ),
        ("PostgreSQL connections during the shared load (peak)", f"{load_peak}", "-"),
        ("shard CPU during the shared load (% of one core)", f"{load_cpu * 100:.0f}", "-"),
        (
            "CPU per update during the load (ms; the bot process only)",
            f"{shared_cpu * 1000 / len(shared_all):.1f}",
            f"{dedicated_load_cpu * 1000 / len(dedicated_all):.1f}",
        ),
        (
            "shard GC pauses > 100 ms during the shared load",
            f"{len(pauses)}, max {max(pauses, default=0):.0f} ms, total {sum(pauses):.0f} ms",
            "-",
        ),
        (
            "the load driver's own GC during the load (max, total ms)",
            shared_load.driver.summary(),
            alone_load.driver.summary(),
        ),
        (
            "the bot process' first update ever (ms; before the load, not in it)",
            f"{(shared_load.warm_up or 0) * 1000:.0f}",
            f"{(alone_load.warm_up or 0) * 1000:.0f}",
        ),
        (
            f"added tenant: first answer (s), {ADDED} in a row",
            f"median {sorted(firsts)[len(firsts) // 2]:.2f}, max {max(firsts):.2f}",
            "-",
        ),
        ("shard RSS after the load (MB)", f"{shard_rss_after:.0f}", "-"),
    ]
    width = max(len(r[0]) for r in rows)
    col = max(len(r[1]) for r in rows)
    print(f"\nshared runtime vs one process per tenant ({os.cpu_count()} cores, shared)")
    print(f"  {'':<{width}}  {'shared (1 shard)':<{col}}  dedicated")
    for name, shared, ded in rows:
        print(f"  {name:<{width}}  {shared:<{col}}  {ded}")
    updates = RATE * (FIRST_ROUND + LOAD_SECONDS)
    assert len(shared_all) == updates and len(dedicated_all) == updates


async def _cold_rounds(
    pg: PgServer, tg: FakeTelegram, idle_shard: list[BenchTenant], dedicated: list[BenchTenant]
) -> tuple[list[float], list[float]]:
    """Each round: one update to every dedicated bot, once its idle time has closed its pool, and
    one each to as many shard tenants that have not talked yet; only updates that found no
    connection count (a dedicated bot's reminder pass, every minute, may have just opened one).
    Every dedicated bot answers one update first, not counted: all but the loaded one would
    otherwise run their very first update (~100-150 ms, see ``_load``) in the first round."""
    shared: list[float] = []
    alone: list[float] = []
    fresh = iter(idle_shard)
    for i, bot in enumerate(dedicated):
        await _answered(tg, bot.token, 799_000 + i)
    for r in range(COLD_ROUNDS):
        await asyncio.sleep(DEDICATED_IDLE_SECONDS + 1)
        for i, bot in enumerate(dedicated):
            for t, into in ((bot, alone), (next(fresh), shared)):
                if await role_connections(pg, t.client_id):
                    continue
                latency = await _answered(tg, t.token, 800_000 + r * 100 + i)
                if latency is not None:
                    into.append(latency)
    return shared, alone


async def _peak_for(pg: PgServer, roles: set[str], seconds: float) -> int:
    admin = await asyncpg.connect(pg.dsn())
    peak = 0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            # A join PostgreSQL can hash, not `usename = ANY($1)`: that compared every backend with
            # every one of 1000 names twice a second, server CPU the shared load paid for and the
            # dedicated one (no sampler runs then) did not.
            count: int = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity a"
                " JOIN unnest($1::text[]) AS r(name) ON a.usename = r.name",
                list(roles),
            )
            peak = max(peak, count)
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    return peak
