"""The operator *image* provisions a tenant, run the way the chart runs it.

Opt-in: set BOOKING_OPERATOR_IMAGE to a built image (e.g. `localhost/booking-operator:dev`, see
docs/deploy.md "Building the images without Docker") and have podman installed. The container
runs as uid 10001 with a read-only root filesystem, no capabilities and no privilege escalation,
on the host network, against the emulated Kubernetes API, a real PostgreSQL and a real Redis.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import (
    Platform,
    create_token_secret,
    mark_bot_available,
    operator_env,
    tenant_body,
    wait_phase,
)

IMAGE = os.environ.get("BOOKING_OPERATOR_IMAGE", "")
PASSED = ("OPERATOR_", "BOT_IMAGE", "RESYNC_", "DEADLINE_", "TELEGRAM_", "LIVENESS_", "METRICS_", "LOG_")

pytestmark = pytest.mark.skipif(
    not IMAGE or shutil.which("podman") is None,
    reason="set BOOKING_OPERATOR_IMAGE to a built operator image (and install podman) to run the image",
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmulatedCluster]:
    emulated = EmulatedCluster().start()
    yield emulated
    emulated.stop()


@pytest.fixture()
def container(platform_services: Platform, cluster: EmulatedCluster, tmp_path: Path) -> Iterator[str]:
    env = operator_env(platform_services, cluster, tmp_path)
    name = f"booking-operator-test-{uuid.uuid4().hex[:8]}"
    kubeconfig = Path(env["KUBECONFIG"])
    kubeconfig.chmod(0o644)  # readable by the container's uid 10001 (it points at the emulator only)
    args = [f"--env={k}={v}" for k, v in env.items() if k.startswith(PASSED)]
    command = [
        "podman", "run", "--rm", "--name", name, "--network=host",
        "--user=10001:10001", "--read-only", "--tmpfs=/tmp", "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        f"--volume={kubeconfig}:/etc/booking/kubeconfig:ro",
        "--env=KUBECONFIG=/etc/booking/kubeconfig",
        *args, IMAGE,
    ]  # fmt: skip
    log = (tmp_path / "container.log").open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "container.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{env['LIVENESS_PORT']}/healthz", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "container.log").read_text()
                time.sleep(0.5)
        yield name
    finally:
        subprocess.run(["podman", "stop", "--time=20", name], capture_output=True, check=False)
        proc.wait(30)


async def test_the_image_takes_a_tenant_to_ready(container: str, cluster: EmulatedCluster) -> None:
    kube = KubeClient(cluster.url)
    namespace, name = f"img-{uuid.uuid4().hex[:6]}", "salon"
    try:
        await create_token_secret(kube, namespace)
        await kube.create(BOOKINGTENANTS, namespace, tenant_body(name, f"img_{uuid.uuid4().hex[:10]}"))
        await wait_phase(kube, namespace, name, "Provisioning", timeout=60)
        secret = await kube.get("v1/secrets", namespace, f"{name}-credentials")
        assert set(secret["data"]) >= {"CLIENT_ID", "REDIS_KEY_PREFIX", "DATABASE_URL", "REDIS_URL"}
        await mark_bot_available(kube, namespace, name)
        await wait_phase(kube, namespace, name, "Ready", timeout=60)
    finally:
        await kube.close()
