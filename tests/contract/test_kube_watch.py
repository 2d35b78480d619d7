"""Watching with the one client: ``watch`` (one stream) and ``follow`` (one object, for ever).

Against the emulated API server, through both transports: the states of an object as it is
created, changed and deleted, and that following asks only for what a Role naming that one
object allows. Against a scripted server of this test, speaking the watch wire protocol line by
line: what a real API server does that the emulator does not (bookmarks, 410 Gone in the stream
and as a status, a watch ended by the server's timeout, a connection dropped, 5xx, 403).
The same behaviours against a real API server are in tests/e2e/test_kube_client.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp.web
import pytest

from booking_contract.kube import (
    SECRETS,
    HttpTransport,
    KubeClient,
    KubeForbidden,
    KubeGone,
    KubeUnavailable,
)
from harness.kube import EmulatedCluster

NS = "watching"
NO_PAUSE = (0.01,)


def _secret(name: str, value: str = "dg==", rv: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS, "resourceVersion": rv},
        "data": {"k": value},
    }


class Follower:
    """Drives ``follow`` in a task of its own (as a shard does), so the watch keeps going while
    the test looks; ``next()`` is the next state, or the error that ended following."""

    def __init__(self, kube: KubeClient, name: str, retry_delays: tuple[float, ...] = NO_PAUSE) -> None:
        self.states: asyncio.Queue[Any] = asyncio.Queue()
        self._task = asyncio.create_task(
            self._pump(kube.follow(SECRETS, NS, name, retry_delays=retry_delays))
        )

    async def _pump(self, states: AsyncIterator[Any]) -> None:
        try:
            async for state in states:
                await self.states.put(state)
        except Exception as exc:  # handed to the test
            await self.states.put(exc)

    async def next(self, timeout: float = 5.0) -> Any:
        item = await asyncio.wait_for(self.states.get(), timeout)
        if isinstance(item, Exception):
            raise item
        return item

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_follow_reports_the_object_then_every_change_and_its_deletion(client: KubeClient) -> None:
    name = f"s-{uuid.uuid4().hex[:8]}"
    await client.create(SECRETS, NS, _secret(name, "MQ=="))
    states = Follower(client, name)
    try:
        assert (await states.next())["data"] == {"k": "MQ=="}
        await client.patch(SECRETS, NS, name, {"data": {"k": "Mg=="}})
        assert (await states.next())["data"] == {"k": "Mg=="}
        await client.delete(SECRETS, NS, name)
        assert await states.next() is None
        await client.create(SECRETS, NS, _secret(name, "Mw=="))
        assert (await states.next())["data"] == {"k": "Mw=="}
    finally:
        await states.stop()


async def test_following_a_missing_object_reports_none_then_its_creation(client: KubeClient) -> None:
    name = f"s-{uuid.uuid4().hex[:8]}"
    states = Follower(client, name)
    try:
        assert await states.next() is None
        await client.create(SECRETS, NS, _secret(name, "NA=="))
        assert (await states.next())["data"] == {"k": "NA=="}
    finally:
        await states.stop()


async def test_following_asks_only_for_the_named_object(
    kube_cluster: EmulatedCluster, client: KubeClient
) -> None:
    """What a Role with ``resourceNames: [name]`` and get/watch authorises: get by name, and a
    watch with ``fieldSelector=metadata.name=<name>``; never a list or another object."""
    name, other = f"s-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}"
    await client.create(SECRETS, NS, _secret(name))
    assert kube_cluster.emulator is not None
    first = len(kube_cluster.emulator.served)
    states = Follower(client, name)
    try:
        await states.next()
        await client.create(SECRETS, NS, _secret(other))  # seen by the emulator's watch, skipped
        await client.patch(SECRETS, NS, name, {"data": {"k": "NQ=="}})
        assert (await states.next())["data"] == {"k": "NQ=="}
    finally:
        await states.stop()
    asked = [
        r
        for r in kube_cluster.emulator.served[first:]
        if r.resource is not None and r.resource.plural == "secrets" and r.method.value == "GET"
    ]
    assert len(asked) == 2
    get, watch = asked
    assert get.name == name and not get.params.get("watch")
    assert watch.name is None and watch.params.get("watch") == "true"
    assert watch.params.get("fieldSelector") == f"metadata.name={name}"


# --- the wire protocol, as a real API server speaks it ------------------------------------------

DROP = "drop"  # close the connection in the middle of the stream
HANG = "hang"  # keep the stream open until the test ends


@dataclass
class ScriptedApi:
    """GET answers ``objects[name]`` (404 without); each watch request plays the next script:
    a list of event dicts, ``DROP``, ``HANG``, or an int (an HTTP status instead of a stream).
    When the scripts run out, a watch hangs. Every request is recorded."""

    url: str = ""
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    scripts: list[list[Any] | int] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def watches(self) -> list[dict[str, str]]:
        return [query for _, _, query, _ in self.requests if query.get("watch") == "true"]

    async def until_watches(self, count: int, timeout: float = 5.0) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.watches()) >= count), timeout)

    def gets(self) -> int:
        return sum(1 for method, _, query, _ in self.requests if method == "GET" and "watch" not in query)

    async def handle(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.query), dict(request.headers)))
        async with self.arrived:
            self.arrived.notify_all()
        if request.query.get("watch") != "true":
            name = request.path.rsplit("/", 1)[-1]
            if name in self.objects:
                return aiohttp.web.json_response(self.objects[name])
            return _status(404, "NotFound", f'secrets "{name}" not found')
        script: list[Any] | int = self.scripts.pop(0) if self.scripts else [HANG]
        if isinstance(script, int):
            return _status(script, "Refused", f"refused with {script}")
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for step in script:
            if step == DROP:
                assert request.transport is not None
                request.transport.close()
                return response
            if step == HANG:
                await asyncio.Event().wait()
            await response.write(json.dumps(step).encode() + b"\n")
        await response.write_eof()
        return response


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason}
    return aiohttp.web.json_response({**body, "message": message}, status=code)


def _gone() -> dict[str, Any]:
    status = {"kind": "Status", "status": "Failure", "code": 410, "reason": "Expired"}
    return {"type": "ERROR", "object": {**status, "message": "too old resource version: 5 (90)"}}


def _bookmark(rv: str) -> dict[str, Any]:
    return {"type": "BOOKMARK", "object": {"kind": "Secret", "metadata": {"resourceVersion": rv}}}


@pytest.fixture()
async def api() -> AsyncIterator[ScriptedApi]:
    scripted = ScriptedApi()
    app = aiohttp.web.Application()
    app.router.add_route("*", "/{tail:.*}", scripted.handle)
    runner = aiohttp.web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    scripted.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield scripted
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def _following(api: ScriptedApi, retry_delays: tuple[float, ...] = NO_PAUSE) -> AsyncIterator[Follower]:
    kube = KubeClient(api.url, request_timeout=5)
    states = Follower(kube, "s", retry_delays)
    try:
        yield states
    finally:
        await states.stop()
        await kube.close()


async def test_a_watch_ended_by_the_server_resumes_from_the_last_version_without_reading_again(
    api: ScriptedApi,
) -> None:
    api.objects["s"] = _secret("s", "MQ==", rv="10")
    api.scripts = [[{"type": "MODIFIED", "object": _secret("s", "Mg==", rv="11")}], []]
    async with _following(api) as states:
        assert (await states.next())["data"] == {"k": "MQ=="}
        assert (await states.next())["data"] == {"k": "Mg=="}
        await api.until_watches(3)
    assert [w.get("resourceVersion") for w in api.watches()] == ["10", "11", "11"]
    assert api.gets() == 1
    assert all(
        w["allowWatchBookmarks"] == "true" and w["fieldSelector"] == "metadata.name=s" for w in api.watches()
    )


async def test_a_bookmark_moves_the_point_a_watch_resumes_from(api: ScriptedApi) -> None:
    api.objects["s"] = _secret("s", rv="10")
    api.scripts = [[_bookmark("57")]]
    async with _following(api) as states:
        await states.next()
        await api.until_watches(2)
    assert [w.get("resourceVersion") for w in api.watches()] == ["10", "57"]


async def test_410_gone_in_the_stream_reads_the_object_again(api: ScriptedApi) -> None:
    api.objects["s"] = _secret("s", "MQ==", rv="10")
    api.scripts = [[_gone()]]
    async with _following(api) as states:
        assert (await states.next())["data"] == {"k": "MQ=="}
        api.objects["s"] = _secret("s", "Mg==", rv="95")  # changed while the watch was too far behind
        assert (await states.next())["data"] == {"k": "Mg=="}
        await api.until_watches(2)
    assert api.gets() == 2
    assert [w.get("resourceVersion") for w in api.watches()] == ["10", "95"]


async def test_410_gone_as_the_http_status_reads_the_object_again(api: ScriptedApi) -> None:
    api.objects["s"] = _secret("s", rv="10")
    api.scripts = [410]
    async with _following(api) as states:
        await states.next()
        await states.next()  # read again
    assert api.gets() == 2


async def test_a_dropped_connection_or_a_5xx_is_retried_from_the_last_version(api: ScriptedApi) -> None:
    api.objects["s"] = _secret("s", rv="10")
    api.scripts = [[{"type": "MODIFIED", "object": _secret("s", "Mg==", rv="12")}, DROP], 503, 500]
    async with _following(api) as states:
        await states.next()
        assert (await states.next())["data"] == {"k": "Mg=="}
        await api.until_watches(4)
    assert [w.get("resourceVersion") for w in api.watches()] == ["10", "12", "12", "12"]
    assert api.gets() == 1


async def test_a_watch_that_ends_at_once_is_not_retried_in_a_busy_loop(api: ScriptedApi) -> None:
    api.objects["s"] = _secret("s", rv="10")
    api.scripts = [[], [], [], []]
    async with _following(api, retry_delays=(0.3,)) as states:
        await states.next()
        await asyncio.sleep(1.0)
    assert 2 <= len(api.watches()) <= 5


async def test_a_refused_watch_ends_following_with_its_error(api: ScriptedApi) -> None:
    api.objects["s"] = _secret("s", rv="10")
    api.scripts = [403]
    async with _following(api) as states:
        await states.next()
        with pytest.raises(KubeForbidden):
            await states.next()


async def test_an_error_event_raises_its_error_from_watch(api: ScriptedApi) -> None:
    api.scripts = [
        [_gone()],
        [{"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "etcd"}}],
    ]
    kube = KubeClient(api.url, request_timeout=5)
    try:
        with pytest.raises(KubeGone):
            async for _ in kube.watch(SECRETS, NS, resource_version="5"):
                pass
        with pytest.raises(KubeUnavailable, match="etcd"):
            async for _ in kube.watch(SECRETS, NS):
                pass
    finally:
        await kube.close()


async def test_an_event_larger_than_a_read_buffer_arrives_whole(api: ScriptedApi) -> None:
    big = "QUFB" * 300_000  # a 1.2 MB line: a full shard's tenants Secret is of this order
    api.objects["s"] = _secret("s", rv="10")
    api.scripts = [[{"type": "MODIFIED", "object": _secret("s", big, rv="11")}]]
    async with _following(api) as states:
        await states.next()
        assert (await states.next())["data"]["k"] == big


async def test_the_service_account_token_is_read_again_for_every_request(
    api: ScriptedApi, tmp_path: Path
) -> None:
    """Projected service account tokens rotate: a token read once would expire within the hour."""
    token = tmp_path / "token"
    token.write_text("first-token\n")
    kube = KubeClient(HttpTransport(api.url, token_file=token))
    try:
        await kube.get(SECRETS, NS, "s")
        token.write_text("rotated-token\n")
        await kube.get(SECRETS, NS, "s")
    finally:
        await kube.close()
    assert [headers["Authorization"] for _, _, _, headers in api.requests] == [
        "Bearer first-token",
        "Bearer rotated-token",
    ]
