"""The client in a pod: the service account over TLS, and no kubernetes_asyncio needed.

A pod is played by a directory laid out as the kubelet mounts a service account (``token``,
``ca.crt``) and the two variables it sets; the API server is a local HTTPS server with a
certificate made for the test by ``openssl``, so the CA really is checked.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp.web
import pytest

from booking_contract.kube import SECRETS, KubeClient, KubeUnavailable, in_cluster
from booking_contract.kube import transport as transport_module
from booking_contract.settings import ConfigError
from harness.crd_schema import REPO_ROOT


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "server.crt", directory / "server.key"
    args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    args += ["-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=kubernetes"]
    subprocess.run(
        ["openssl", *args, "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture()
async def pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[str]]:
    """A service account directory and an HTTPS API server; yields the Authorization headers seen."""
    cert, key = _certificate(tmp_path)
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("pod-token\n")
    (account / "ca.crt").write_bytes(cert.read_bytes())
    seen: list[str] = []

    async def handle(request: aiohttp.web.Request) -> aiohttp.web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return aiohttp.web.json_response(
            {"kind": "Secret", "metadata": {"name": "s", "resourceVersion": "1"}}
        )

    app = aiohttp.web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setattr(transport_module, "SERVICE_ACCOUNT_DIR", account)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(port))
    try:
        yield seen
    finally:
        await runner.cleanup()


async def test_in_a_pod_the_client_uses_the_service_account_and_trusts_the_cluster_ca(pod: list[str]) -> None:
    assert in_cluster()
    kube = await KubeClient.connect()
    try:
        secret = await kube.get(SECRETS, "ns", "s")
    finally:
        await kube.close()
    assert secret is not None and secret["metadata"]["name"] == "s"
    assert pod == ["Bearer pod-token"]


async def test_a_server_the_cluster_ca_did_not_sign_is_refused(pod: list[str], tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other, _ = _certificate(tmp_path / "other")  # a new key pair: another CA
    account = transport_module.SERVICE_ACCOUNT_DIR
    (account / "ca.crt").write_bytes(other.read_bytes())
    kube = KubeClient.in_cluster()
    try:
        with pytest.raises(KubeUnavailable):
            await kube.get(SECRETS, "ns", "s")
    finally:
        await kube.close()
    assert pod == []  # the token never left the process


def test_outside_a_pod_in_cluster_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(transport_module, "SERVICE_ACCOUNT_DIR", tmp_path)
    assert not in_cluster()
    with pytest.raises(ConfigError, match="not in a Kubernetes pod"):
        KubeClient.in_cluster()


def test_the_bot_image_uses_the_client_without_kubernetes_asyncio(tmp_path: Path) -> None:
    """The bot image does not carry kubernetes_asyncio: the shard imports and builds its client
    without it, and a kubeconfig (which would need it) is refused in one line."""
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(json.dumps({"apiVersion": "v1", "kind": "Config"}))
    program = f"""
import asyncio, sys
sys.modules["kubernetes_asyncio"] = None  # as absent as in the bot image
import booking_bot.shard.__main__, booking_bot.shard.runtime
from booking_contract.kube import KubeClient
from booking_contract.settings import ConfigError
KubeClient("http://127.0.0.1:1")
try:
    asyncio.run(KubeClient.connect({str(kubeconfig)!r}))
except ConfigError as exc:
    print(exc)
print(sorted(m for m in sys.modules if m.startswith("kubernetes")))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    proc = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, env=env, cwd=REPO_ROOT
    )
    assert proc.returncode == 0, proc.stderr
    refusal, modules = proc.stdout.strip().splitlines()
    assert "needs kubernetes_asyncio" in refusal
    assert modules == "['kubernetes_asyncio']"  # only the blocked entry: nothing imported it
