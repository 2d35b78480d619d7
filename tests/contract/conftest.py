"""The contract's client on the emulated API server, through each of its two transports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from booking_contract.kube import KubeClient
from harness.kube import EmulatedCluster


@pytest.fixture(params=["kubeconfig", "http"])
async def client(
    kube_cluster: EmulatedCluster, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[KubeClient]:
    """``kubeconfig``: read by kubernetes_asyncio (outside a pod); ``http``: plain aiohttp (a pod)."""
    if request.param == "kubeconfig":
        kube = await KubeClient.connect(str(kube_cluster.write_kubeconfig(tmp_path / "config")))
    else:
        kube = KubeClient(kube_cluster.url)
    try:
        yield kube
    finally:
        await kube.close()
