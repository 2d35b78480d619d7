"""Running the operator for real (`python -m booking_operator`) in tests and benchmarks.

Against the emulated Kubernetes API (harness.kube), a real PostgreSQL and a real Redis.
The operator's database role is deliberately not a superuser: it has CREATEROLE and
CREATE/CONNECT on the platform database, as a managed Postgres service would give.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import port_for
import pytest

from harness.kube import BOOKINGTENANTS, ApiServer, KubeClient
from harness.postgres import PgServer
from harness.redis import RedisServer

PLATFORM_DB = "booking_saas"
OPERATOR_ROLE = "booking_operator"
OPERATOR_PASSWORD = "operator-test-password"
BOT_IMAGE = "registry.example/booking-bot:test"
TENANT_GROUP = "booking_tenants"  # the operator's default TENANT_GROUP_ROLE
TOKEN_LABELS = {"bookingsaas.dev/bot-token": "true"}  # what the operator requires on a token Secret


@dataclass
class OperatorProcess:
    """A running `python -m booking_operator` with its environment and log file."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    extra_logs: list[str] = field(default_factory=list)

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "booking_operator"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        port = int(self.env["LIVENESS_PORT"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited early:\n{self.logs()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"operator did not become live:\n{self.logs()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no finalizer work, as if the node died."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass(frozen=True)
class Platform:
    pg: PgServer
    redis: RedisServer
    admin_dsn: str  # superuser, for assertions only

    def dsn(self, user: str, password: str) -> str:
        return str(self.pg.dsn(user=user, password=password, dbname=PLATFORM_DB))


def operator_env(platform: Platform, cluster: ApiServer, workdir: Path, **overrides: str) -> dict[str, str]:
    kubeconfig = cluster.write_kubeconfig(workdir / "kubeconfig")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "OPERATOR_", "TENANT_"))}
    env.update(
        KUBECONFIG=str(kubeconfig),
        OPERATOR_DATABASE_URL=platform.dsn(OPERATOR_ROLE, OPERATOR_PASSWORD),
        OPERATOR_REDIS_URL=platform.redis.admin_url,
        BOT_IMAGE=BOT_IMAGE,
        TELEGRAM_CHECK_TOKENS="false",
        LIVENESS_PORT=str(port_for.select_random()),
        METRICS_PORT=str(port_for.select_random()),
        LOG_FORMAT="json",
        LOG_LEVEL=os.environ.get("TEST_OPERATOR_LOG_LEVEL", "INFO"),
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


@contextlib.contextmanager
def own_operator(
    platform: Platform, cluster: ApiServer, workdir: Path, *, start: bool = True, **overrides: str
) -> Iterator[OperatorProcess]:
    """An operator of a test's own (environment `overrides` on top of operator_env), stopped after."""
    env = operator_env(platform, cluster, workdir, **overrides)
    op = OperatorProcess(env=env, log_path=workdir / "op.log")
    if start:
        op.start()
    try:
        yield op
    finally:
        op.stop()


def tenant_body(name: str, client_id: str, *, token_secret: str = "bot-token", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "bookingsaas.dev/v1alpha1",
        "kind": "BookingTenant",
        "metadata": {"name": name},
        "spec": {
            "clientId": client_id,
            "companyName": "Test Company",
            "ownerTelegramId": 123456789,
            "botTokenSecretRef": {"name": token_secret, "key": "token"},
            "plan": "1m",
            "deletionPolicy": "Retain",
            "timezone": "Europe/Moscow",
            "language": "ru",
            "suspended": False,
        },
    }
    body["spec"].update(spec)
    return body


async def create_token_secret(
    kube: KubeClient,
    namespace: str,
    name: str = "bot-token",
    token: str = "123:abc",
    labels: dict[str, str] | None = None,
) -> None:
    """A bot token Secret as the docs and the sales bot make it (labelled as a token by default)."""
    await kube.create(
        "v1/secrets",
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "labels": TOKEN_LABELS if labels is None else labels},
            "data": {"token": base64.b64encode(token.encode()).decode()},
        },
    )


async def eventually(
    probe: Callable[[], Awaitable[Any]], *, timeout: float = 20.0, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll `probe` until it returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await probe()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        await asyncio.sleep(interval)
    pytest.fail(f"timed out waiting for {what or probe}: last={last!r}")


async def wait_phase(
    kube: KubeClient, namespace: str, name: str, phase: str, timeout: float = 20
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await kube.get(BOOKINGTENANTS, namespace, name)
        return obj if obj and (obj.get("status") or {}).get("phase") == phase else None

    result: dict[str, Any] = await eventually(probe, timeout=timeout, what=f"{name} phase {phase}")
    return result


async def mark_bot_available(kube: KubeClient, namespace: str, name: str, replicas: int = 1) -> None:
    """What the kubelet and the deployment controller would report (the emulator has neither)."""
    if not kube.emulated:
        # A real deployment controller owns the status and would overwrite this; a bot pod that
        # really becomes available needs a real Telegram-facing bot: tests/e2e/test_bot.py.
        pytest.skip("faked bot availability is for the emulator only (real tier: tests/e2e/test_bot.py)")
    await kube.patch(
        "apps/v1/deployments",
        namespace,
        f"{name}-bot",
        {"status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}},
    )


def parse_log_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            lines.append({"unparsed": line})
    return lines


def metric_total(operator: OperatorProcess, metric: str, **labels: str) -> float:
    """A counter of the operator's /metrics, summed over the series whose labels include `labels`."""
    port = operator.env["METRICS_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    total = 0.0
    for line in text.splitlines():
        if line.startswith(metric + "{") and all(label in line for label in wanted):
            total += float(line.rsplit(" ", 1)[1])
    return total
