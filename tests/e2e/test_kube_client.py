"""The platform's one Kubernetes client against the real API server.

As the cluster admin (the kubeconfig, read by kubernetes_asyncio): following an object through
real watch events, the bookmarks a real API server sends, and 410 for a resourceVersion it no
longer keeps. The same client as a shard's ServiceAccount, over the transport a shard pod uses,
is in test_shared_runtime.py (the shard's RBAC).
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from booking_contract.kube import SECRETS, KubeClient, KubeGone


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


async def test_the_api_server_sends_bookmarks_to_a_watch_from_a_resource_version(
    admin: KubeClient, namespace: str
) -> None:
    """It sends one shortly before the watch's timeout (and every minute otherwise)."""
    name = f"bookmark-{uuid.uuid4().hex[:8]}"
    created = await admin.create(SECRETS, namespace, _secret(name, "x"))
    version = created["metadata"]["resourceVersion"]
    events = [
        event
        async for event in admin.watch(
            SECRETS,
            namespace,
            resource_version=version,
            field_selector=f"metadata.name={name}",
            timeout_seconds=5,
        )
    ]
    bookmarks = [e for e in events if e.type == "BOOKMARK"]
    assert bookmarks, [e.type for e in events]
    assert int(bookmarks[-1].resource_version) >= int(version)


async def test_a_resource_version_the_api_server_no_longer_keeps_is_gone(
    admin: KubeClient, namespace: str
) -> None:
    with pytest.raises(KubeGone):
        async for _ in admin.watch(SECRETS, namespace, resource_version="1", timeout_seconds=5):
            pass
