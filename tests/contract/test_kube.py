"""The one Kubernetes client: five verbs over real HTTP, and one error model.

The happy paths run against the emulated API server through both transports (a kubeconfig read
by kubernetes_asyncio, and plain aiohttp as in a pod); the refusals a real API server sends
(403, 422, 429, 5xx, a proxy's HTML page) come from a small HTTP server of this test that
answers with Kubernetes `Status` bodies, so each maps to the error class its callers rely on.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp.web
import pytest

from booking_contract.kube import (
    BOOKINGTENANTS,
    SECRETS,
    KubeClient,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeGone,
    KubeInvalid,
    KubeNotFound,
    KubeUnavailable,
    Resource,
)
from booking_contract.kube.kubeconfig import ApiClientTransport
from booking_contract.kube.transport import HttpTransport


def _kubeconfig(path: Path, server: str) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "contract-test-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path.write_text(json.dumps(config))
    return str(path)


def _secret(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": {"k": "dg=="}}


def test_paths_follow_the_api_servers_layout() -> None:
    assert SECRETS.path("ns", "s") == "/api/v1/namespaces/ns/secrets/s"
    assert BOOKINGTENANTS.path("ns", "t", "status") == (
        "/apis/bookingsaas.dev/v1alpha1/namespaces/ns/bookingtenants/t/status"
    )
    assert Resource("apps", "v1", "deployments").api_version == "apps/v1"
    assert SECRETS.api_version == "v1"


def test_an_empty_namespace_lists_every_namespace() -> None:
    assert BOOKINGTENANTS.path("") == "/apis/bookingsaas.dev/v1alpha1/bookingtenants"
    assert SECRETS.path("") == "/api/v1/secrets"
    with pytest.raises(ValueError, match="namespace"):
        SECRETS.path("", "s")


async def test_create_get_patch_delete_round_trip(client: KubeClient) -> None:
    name = f"s-{uuid.uuid4().hex[:8]}"
    created = await client.create(SECRETS, "contract", _secret(name))
    assert created["metadata"]["name"] == name
    patched = await client.patch(SECRETS, "contract", name, {"metadata": {"labels": {"a": "b"}}})
    assert patched["metadata"]["labels"] == {"a": "b"}
    got = await client.get(SECRETS, "contract", name)
    assert got is not None and got["metadata"]["labels"] == {"a": "b"}
    assert await client.delete(SECRETS, "contract", name) is True
    assert await client.get(SECRETS, "contract", name) is None


async def test_a_missing_object_is_none_on_get_and_false_on_delete(client: KubeClient) -> None:
    assert await client.get(SECRETS, "contract", "never-there") is None
    assert await client.delete(SECRETS, "contract", "never-there") is False


async def test_patching_a_missing_object_is_not_found(client: KubeClient) -> None:
    with pytest.raises(KubeNotFound) as error:
        await client.patch(SECRETS, "contract", "never-there", {"data": {}})
    assert error.value.status == 404 and not error.value.retryable


async def test_creating_an_existing_object_is_a_conflict(client: KubeClient) -> None:
    name = f"s-{uuid.uuid4().hex[:8]}"
    await client.create(SECRETS, "contract", _secret(name))
    with pytest.raises(KubeConflict) as error:
        await client.create(SECRETS, "contract", _secret(name))
    assert error.value.status == 409 and "already exists" in str(error.value)


async def test_list_returns_the_list_object(client: KubeClient) -> None:
    name, namespace = f"s-{uuid.uuid4().hex[:8]}", f"contract-list-{uuid.uuid4().hex[:8]}"
    await client.create(SECRETS, namespace, _secret(name))
    listed = await client.list(SECRETS, namespace, limit=1)
    assert [item["metadata"]["name"] for item in listed["items"]] == [name]


async def test_the_client_ignores_netrc_and_the_environment(client: KubeClient) -> None:
    # aiohttp's trust_env reads ~/.netrc in a worker thread on every request.
    await client.get(SECRETS, "contract", "any")  # the aiohttp transport opens its session lazily
    transport = client.transport
    if isinstance(transport, ApiClientTransport):
        session = transport.api.rest_client.pool_manager
    else:
        assert isinstance(transport, HttpTransport)
        session = transport._session
    assert session is not None and session._trust_env is False


@pytest.fixture()
async def refusing_server(tmp_path: Path) -> AsyncIterator[tuple[dict[str, object], str]]:
    """An HTTP server answering every request with the status (and body) the test sets."""
    answer: dict[str, object] = {"status": 500, "body": None}

    async def handle(request: aiohttp.web.Request) -> aiohttp.web.Response:
        status = int(str(answer["status"]))
        body = answer["body"]
        if body is None:
            body = {
                "kind": "Status",
                "status": "Failure",
                "code": status,
                "message": f"refused with {status}",
            }
        if isinstance(body, str):
            return aiohttp.web.Response(status=status, text=body, content_type="text/html")
        return aiohttp.web.json_response(body, status=status)

    app = aiohttp.web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        answer["url"] = f"http://127.0.0.1:{port}"
        yield answer, _kubeconfig(tmp_path / "refusing", f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("transport", ["kubeconfig", "http"])
@pytest.mark.parametrize(
    ("status", "error_class", "retryable"),
    [
        (401, KubeForbidden, False),
        (403, KubeForbidden, False),
        (400, KubeInvalid, False),
        (422, KubeInvalid, False),
        (409, KubeConflict, False),
        (410, KubeGone, False),
        (429, KubeUnavailable, True),
        (500, KubeUnavailable, True),
        (503, KubeUnavailable, True),
    ],
)
async def test_each_refusal_maps_to_the_error_its_callers_handle(
    refusing_server: tuple[dict[str, object], str],
    status: int,
    error_class: type[KubeError],
    retryable: bool,
    transport: str,
) -> None:
    answer, kubeconfig = refusing_server
    answer["status"] = status
    kube = (
        await KubeClient.connect(kubeconfig) if transport == "kubeconfig" else KubeClient(str(answer["url"]))
    )
    try:
        with pytest.raises(error_class) as error:
            await kube.create(SECRETS, "ns", _secret("x"))
    finally:
        await kube.close()
    assert error.value.status == status
    assert error.value.retryable is retryable
    assert str(error.value) == f"{status}: refused with {status}"


async def test_a_proxys_html_error_page_is_unavailable_not_a_crash(
    refusing_server: tuple[dict[str, object], str],
) -> None:
    answer, kubeconfig = refusing_server
    answer.update(status=502, body="<html>Bad Gateway</html>")
    kube = await KubeClient.connect(kubeconfig)
    try:
        with pytest.raises(KubeUnavailable) as error:
            await kube.get(SECRETS, "ns", "x")
    finally:
        await kube.close()
    assert error.value.status == 502


async def test_an_unreachable_api_server_is_unavailable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kube = await KubeClient.connect(_kubeconfig(tmp_path / "config", f"http://127.0.0.1:{port}"), 5)
    try:
        with pytest.raises(KubeUnavailable) as error:
            await kube.get(SECRETS, "ns", "x")
    finally:
        await kube.close()
    assert error.value.status == 0 and error.value.retryable
