"""The platform's one Kubernetes client against the real API server.

As the cluster admin (the kubeconfig, read by kubernetes_asyncio): following an object through
real watch events, and a watch resumed from a resourceVersion. Bookmarks and 410 Gone are tested
against a scripted server (tests/contract/test_kube_watch.py): on this fresh cluster a 5 s watch
got no bookmark, and the watch cache still reached back to resourceVersion 1, so no 410 could be
provoked. The same client as a shard's ServiceAccount, over the transport a shard pod uses, is
in test_shared_runtime.py (the shard's RBAC).
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from booking_contract.kube import SECRETS, KubeClient


@pytest.fixture()
async def admin() -> AsyncIterator[KubeClient]:
    if not os.environ.get("KUBECONFIG"):
        pytest.skip("e2e: needs KUBECONFIG (the env file of hack/cluster.sh): run through `make e2e`")
    kube = await KubeClient.connect(os.environ["KUBECONFIG"])
    try:
        yield kube
    finally:
        await kube.close()


def _secret(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"k": value}}


async def _next(states: AsyncIterator[Any], timeout: float = 20) -> Any:
    return await asyncio.wait_for(anext(states), timeout)


async def test_following_an_object_sees_its_changes_its_deletion_and_its_return(
    admin: KubeClient, namespace: str
) -> None:
    name = f"follow-{uuid.uuid4().hex[:8]}"
    await admin.create(SECRETS, namespace, _secret(name, "one"))
    states = admin.follow(SECRETS, namespace, name)
    try:
        assert base64.b64decode((await _next(states))["data"]["k"]) == b"one"
        await admin.patch(SECRETS, namespace, name, {"stringData": {"k": "two"}})
        assert base64.b64decode((await _next(states))["data"]["k"]) == b"two"
        await admin.delete(SECRETS, namespace, name)
        assert await _next(states) is None
        await admin.create(SECRETS, namespace, _secret(name, "three"))
        assert base64.b64decode((await _next(states))["data"]["k"]) == b"three"
    finally:
        await states.aclose()


async def test_a_watch_from_a_resource_version_sends_each_later_change_in_order(
    admin: KubeClient, namespace: str
) -> None:
    name = f"versions-{uuid.uuid4().hex[:8]}"
    created = await admin.create(SECRETS, namespace, _secret(name, "one"))
    await admin.patch(SECRETS, namespace, name, {"stringData": {"k": "two"}})
    await admin.patch(SECRETS, namespace, name, {"stringData": {"k": "three"}})
    seen: list[tuple[str, bytes]] = []
    async for event in admin.watch(
        SECRETS,
        namespace,
        resource_version=created["metadata"]["resourceVersion"],
        field_selector=f"metadata.name={name}",
        timeout_seconds=3,
    ):
        if event.type != "BOOKMARK":
            seen.append((event.type, base64.b64decode(event.object["data"]["k"])))
    assert seen == [("MODIFIED", b"two"), ("MODIFIED", b"three")]
