"""The Kubernetes API for tests: KMock's emulator, made strict enough for kopf.

KMock's ``KubernetesEmulator`` stores objects and streams watch events, but never
assigns ``uid``/``resourceVersion``/``generation`` (kopf's JSON patches test
``resourceVersion``), replays every object as ADDED on each watch (so kopf would
see everything twice after its initial list) and does not separate the status
subresource. This subclass closes exactly those gaps; it still has no label
selectors, no garbage collection and no schema validation, which the tests cover
separately. Two test hooks come on top: a log of every request (``served``, and
``writes`` telling the operator's from the tests' own) and ``hold_writes``, which holds
one object's writes so a test can crash the operator exactly between two of them.

The emulator runs on its own event loop in a background thread, so that the
operator under test (a subprocess or a ``KopfRunner`` thread) and the async test
body can both talk to it over real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import itertools
import json
import os
import ssl as ssl_module
import threading
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import aiohttp.web
import kmock
from kmock._internal import dicts, enums, k8s, rendering
from kmock._internal import references as kmock_refs

BOOKINGTENANTS = "bookingsaas.dev/v1alpha1/bookingtenants"
# The User-Agent of the tests' own client (KubeClient): the request log tells the tests' writes
# from the operator's by it.
TESTS_USER_AGENT = "booking-tests"


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status_response(code: int, reason: str, message: str) -> aiohttp.web.Response:
    """A Kubernetes `Status` error body, as the API server sends it."""
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure"}
    body.update(code=code, reason=reason, message=message)
    return aiohttp.web.json_response(body, status=code)


@dataclass(frozen=True)
class Write:
    """One request that changes something (every verb but GET), as the request log saw it."""

    method: str  # POST, PATCH, PUT, DELETE
    resource: str  # ``group/version/plural`` (``v1/secrets`` for core), as harness paths name it
    subresource: str | None
    namespace: str | None
    name: str | None  # for a POST, the name in the body
    by_tests: bool  # sent by the tests' KubeClient, not by the operator


class WriteHold:
    """Writes of one object held back until released: a crash between two writes, made exact.

    A held write whose client goes away meanwhile (a SIGKILLed operator) is dropped, not
    stored: the object stays as it was, as when the operator died before sending the request.
    Counters are read by the test's thread; ``release`` may be called from any thread.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.arrived = 0  # writes that reached the hold
        self.dropped = 0  # of those, the ones whose client disconnected while held
        self.passed = 0  # of those, the ones let through after the release
        self._loop = loop
        self._released = asyncio.Event()

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self._released.set)

    async def admit(self, request: rendering.Request) -> bool:
        """Wait for the release; False when the client went away first."""
        self.arrived += 1
        raw = request._raw_request
        try:
            while not self._released.is_set():
                if raw is not None and (raw.transport is None or raw.transport.is_closing()):
                    self.dropped += 1
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), 0.02)
        except asyncio.CancelledError:  # the server cancels the handler of a client that went away
            self.dropped += 1
            raise
        self.passed += 1
        return True


def _resource_name(resource: Any) -> str:
    return "/".join(part for part in (resource.group, resource.version, resource.plural) if part)


class StrictEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    """An emulator that versions objects the way an API server does."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._rv = itertools.count(1)
        self._last_rv = 0
        self._status_resources: set[Any] = set()
        # Every request served, for assertions (e.g. the RBAC test). KMock's own list is kept
        # short, because KMock matches each new request by scanning all earlier ones (O(n^2)).
        self.served: list[rendering.Request] = []
        self._holds: dict[tuple[Any, str | None, str], WriteHold] = {}

    def hold_writes(self, resource: str, namespace: str | None, name: str) -> WriteHold:
        """Hold every write of one object (create, patch, delete) until the hold is released."""
        hold = WriteHold(asyncio.get_running_loop())
        self._holds[(kmock_refs.resource(resource), namespace, name)] = hold
        return hold

    def writes(self, since: int = 0) -> list[Write]:
        """The writes among the requests served since index ``since`` of ``served``."""
        found = []
        for request in self.served[since:]:
            method = str(request.method.value if request.method else "").upper()
            if method in ("GET", "HEAD", "") or request.resource is None:
                continue
            name = request.name
            if name is None and isinstance(request.data, dict):
                name = (request.data.get("metadata") or {}).get("name")
            agent = next((v for k, v in request.headers.items() if k.lower() == "user-agent"), None)
            by_tests = agent == TESTS_USER_AGENT
            resource = _resource_name(request.resource)
            found.append(Write(method, resource, request.subresource, request.namespace, name, by_tests))
        return found

    def _hold_for(self, request: rendering.Request) -> WriteHold | None:
        if not self._holds or request.action not in (
            enums.action.CREATE,
            enums.action.UPDATE,
            enums.action.DELETE,
        ):
            return None
        name = request.name
        if name is None and isinstance(request.data, dict):
            name = (request.data.get("metadata") or {}).get("name")
        namespace = request.namespace
        if namespace is None and isinstance(request.data, dict):
            namespace = (request.data.get("metadata") or {}).get("namespace")
        return self._holds.get((request.resource, namespace, name))

    def declare_status_subresource(self, resource: str) -> None:
        self._status_resources.add(kmock_refs.resource(resource))

    def _next_rv(self) -> str:
        self._last_rv = next(self._rv)
        return str(self._last_rv)

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        base = kmock.RawHandler  # skip the emulator's own storage: ours replaces it
        response: aiohttp.web.StreamResponse
        self.served.append(request)
        if len(self._requests) > 16:  # the request being served is always among the last ones
            del self._requests[:-4]
            for payload in self._payloads:
                del payload._requests[:-4]
        if request.resource is None:
            response = await base._handle(self, request)
            return response
        hold = self._hold_for(request)
        if hold is not None and not await hold.admit(request):
            return _status_response(503, "ServiceUnavailable", "held write dropped: its client went away")
        try:
            delete_key = await self._store(request)
        except k8s.KubernetesError as exc:
            return _status_response(exc.status, exc.reason or "Error", exc.message or "")
        try:
            # Plain request/response verbs are answered here directly: KMock's generic reaction
            # matching costs milliseconds per request, which a 1000-tenant benchmark would measure
            # instead of the operator. Watches (long-lived) still go through KMock.
            direct = {
                enums.action.FETCH: self._serve_fetch,
                enums.action.CREATE: self._serve_create,
                enums.action.UPDATE: self._serve_update,
                enums.action.DELETE: self._serve_delete,
                enums.action.LIST: self._serve_list,
            }.get(request.action)
            is_object = request.name is not None or request.action in (enums.action.CREATE, enums.action.LIST)
            if direct is not None and request.resource.plural and is_object:
                try:
                    payload = await direct(request)
                except k8s.KubernetesError as exc:
                    return _status_response(exc.status, exc.reason or "Error", exc.message or "")
                created = request.action == enums.action.CREATE
                return aiohttp.web.json_response(payload, status=201 if created else 200)
            response = await base._handle(self, request)
            return response
        finally:
            if delete_key is not None:
                async with self._lock:
                    obj = self._objects[delete_key]
                    raw = copy.deepcopy(obj.raw)
                    raw["metadata"]["resourceVersion"] = self._next_rv()
                    obj.delete()
                    await self._buses[request.resource].put({"type": "DELETED", "object": raw})

    async def _store(self, request: rendering.Request) -> Any:
        resource = request.resource
        async with self._lock:
            if request.action == enums.action.CREATE:
                data = request.data if isinstance(request.data, dict) else {}
                meta = data.setdefault("metadata", {})
                if not meta.get("name") and meta.get("generateName"):
                    meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
                if not meta.get("name"):
                    raise k8s.KubernetesError(status=422, reason="Invalid", message="metadata.name required")
                namespace = request.namespace or meta.get("namespace")
                key = (resource, namespace, meta["name"])
                if key in self._objects and not self._objects[key].deleted:
                    raise k8s.KubernetesError(
                        status=409, reason="AlreadyExists", message=f"{meta['name']!r} already exists"
                    )
                if namespace is not None:
                    meta["namespace"] = namespace
                meta.update(
                    uid=str(uuid.uuid4()),
                    resourceVersion=self._next_rv(),
                    generation=1,
                    creationTimestamp=_now(),
                )
                if resource in self._status_resources:
                    data.pop("status", None)
                if key in self._objects:
                    self._objects[key].create(data)
                else:
                    self._objects[key] = data
                await self._buses[resource].put({"type": "ADDED", "object": copy.deepcopy(data)})
                return None

            if request.name is None:
                return None
            key = (resource, request.namespace, request.name)
            if request.action == enums.action.DELETE:
                if key not in self._objects or self._objects[key].deleted:
                    raise k8s.KubernetesObjectNotFoundError()
                obj = self._objects[key]
                meta = obj.get("metadata", {})
                if meta.get("deletionTimestamp"):
                    return None
                if meta.get("finalizers"):
                    obj.patch({"metadata": {"deletionTimestamp": _now(), "resourceVersion": self._next_rv()}})
                    await self._buses[resource].put({"type": "MODIFIED", "object": copy.deepcopy(obj.raw)})
                    return None
                raw = copy.deepcopy(obj.raw)
                raw["metadata"]["resourceVersion"] = self._next_rv()
                obj.delete()
                await self._buses[resource].put({"type": "DELETED", "object": raw})
                return None

            if request.action == enums.action.UPDATE:
                if key not in self._objects or self._objects[key].deleted:
                    raise k8s.KubernetesObjectNotFoundError()
                if request.method == enums.method.PUT:
                    raise k8s.KubernetesError(status=405, reason="MethodNotAllowed", message="no PUT")
                obj = self._objects[key]
                old = copy.deepcopy(obj.raw)
                patch = self._restrict_patch(request, old)
                try:
                    new = dicts.patch_dict(old, patch)
                except Exception as exc:  # jsonpatch errors: a malformed patch is the client's fault
                    raise k8s.KubernetesError(status=422, reason="Invalid", message=str(exc)) from exc
                new = copy.deepcopy(dict(new))
                new_meta = new.setdefault("metadata", {})
                for immutable in ("uid", "name", "namespace", "creationTimestamp"):
                    if immutable in old.get("metadata", {}):
                        new_meta[immutable] = old["metadata"][immutable]
                if old.get("spec") != new.get("spec"):
                    new_meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
                new_meta["resourceVersion"] = self._next_rv()
                obj.create(new)
                await self._buses[resource].put({"type": "MODIFIED", "object": copy.deepcopy(new)})
                if new_meta.get("deletionTimestamp") and not new_meta.get("finalizers"):
                    return key
            return None

    def _restrict_patch(self, request: rendering.Request, old: Mapping[str, Any]) -> Any:
        """Optimistic concurrency and the status-subresource split of a real API server."""
        data = request.data
        current_rv = old.get("metadata", {}).get("resourceVersion")
        has_status = request.resource in self._status_resources
        if isinstance(data, list):
            for op in data:
                is_rv_test = op.get("op") == "test" and op.get("path") == "/metadata/resourceVersion"
                if is_rv_test and str(op.get("value")) != str(current_rv):
                    raise k8s.KubernetesError(status=422, reason="Invalid", message="stale resourceVersion")
            return data
        if not isinstance(data, dict):
            raise k8s.KubernetesError(status=400, reason="BadRequest", message="patch must be JSON")
        wanted_rv = data.get("metadata", {}).get("resourceVersion") if data.get("metadata") else None
        if wanted_rv is not None and str(wanted_rv) != str(current_rv):
            raise k8s.KubernetesError(
                status=409, reason="Conflict", message="the object has been modified; please retry"
            )
        data = dict(data)
        if has_status and request.subresource == "status":
            data = {k: v for k, v in data.items() if k == "status"}
        elif has_status:
            data.pop("status", None)
        return data

    # Direct lookups by key: the base class scans every stored object on every request,
    # which makes a suite with hundreds of objects (kopf posts events) crawl.
    def _stored(
        self, request: rendering.Request, name: str | None = None, namespace: str | None = None
    ) -> Any:
        key = (request.resource, namespace or request.namespace, name or request.name)
        obj = self._objects._objects.get(key)
        if obj is None:
            raise k8s.KubernetesObjectNotFoundError()
        if len(obj.history) > 6:
            del obj.history[:-3]  # keep memory flat: only the latest versions matter here
        return obj

    async def _serve_fetch(self, request: rendering.Request) -> rendering.Payload:
        obj = self._stored(request)
        if obj.deleted:
            raise k8s.KubernetesObjectNotFoundError()
        return obj.raw

    async def _serve_create(self, request: rendering.Request) -> rendering.Payload:
        meta = request.data.get("metadata", {})
        return self._stored(request, meta.get("name"), meta.get("namespace")).raw

    async def _serve_update(self, request: rendering.Request) -> rendering.Payload:
        return self._stored(request).last.raw

    async def _serve_delete(self, request: rendering.Request) -> rendering.Payload:
        return self._stored(request).last.raw

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        result = await super()._serve_list(request)
        result["metadata"]["resourceVersion"] = str(self._last_rv)
        return result

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        since = int(request.params.get("resourceVersion") or 0)
        async for event in super()._serve_watch(request):
            if isinstance(event, dict):
                rv = int(event.get("object", {}).get("metadata", {}).get("resourceVersion") or 0)
                if event.get("type") == "ADDED" and 0 < rv <= since:
                    continue
            yield event


class ApiServer(Protocol):
    """What the tests need of a Kubernetes API: the emulator here, or harness/real_kube.py's."""

    url: str

    def client(self) -> KubeClient: ...

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path: ...


class EmulatedCluster:
    """The emulator on its own loop in a daemon thread, reachable at ``url``."""

    def __init__(self) -> None:
        self.url = ""
        self.emulator: StrictEmulator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kube-emulator", daemon=True)

    def start(self) -> EmulatedCluster:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the Kubernetes emulator did not start")
        return self

    def __enter__(self) -> EmulatedCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        emulator = StrictEmulator()
        emulator.resources.load_bundled()
        emulator.resources[BOOKINGTENANTS] = kmock.ResourceInfo(
            kind="BookingTenant",
            singular="bookingtenant",
            namespaced=True,
            verbs={"get", "list", "watch", "create", "patch", "delete"},
            shortnames={"bt"},
            subresources={"status"},
        )
        emulator.declare_status_subresource(BOOKINGTENANTS)
        async with emulator, kmock.Server(emulator) as server:
            self.emulator = emulator
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def client(self) -> KubeClient:
        return KubeClient(self.url)

    def hold_writes(self, resource: str, namespace: str | None, name: str) -> WriteHold:
        """See StrictEmulator.hold_writes; callable from the test's thread."""
        assert self._loop is not None and self.emulator is not None
        emulator = self.emulator

        async def hold() -> WriteHold:
            return emulator.hold_writes(resource, namespace, name)

        return asyncio.run_coroutine_threadsafe(hold(), self._loop).result(10)

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulated", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "emulated-cluster-token"}}],
            "contexts": [
                {
                    "name": "emulated",
                    "context": {"cluster": "emulated", "user": "tester", "namespace": namespace},
                }
            ],
            "current-context": "emulated",
        }
        path.write_text(json.dumps(config))
        os.chmod(path, 0o600)
        return path


def resource_path(
    resource: str, namespace: str | None, name: str | None = None, sub: str | None = None
) -> str:
    """URL path of a resource given as ``group/version/plural`` (``v1/secrets`` for core)."""
    parts = resource.split("/")
    if len(parts) == 2:
        base = f"/api/{parts[0]}"
        plural = parts[1]
    else:
        base = f"/apis/{parts[0]}/{parts[1]}"
        plural = parts[2]
    path = base + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
    if name:
        path += f"/{name}"
    if sub:
        path += f"/{sub}"
    return path


class KubeClient:
    """A deliberately small async client the tests use to act like `kubectl`.

    `ssl` carries the CA and client certificate of a real API server (harness/real_kube.py);
    `emulated` says whether the server behind `url` is the emulator (no kubelet, no controllers).
    """

    def __init__(self, url: str, ssl: ssl_module.SSLContext | None = None, emulated: bool = True) -> None:
        self.url = url
        self.emulated = emulated
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl) if ssl else None, headers={"User-Agent": TESTS_USER_AGENT}
        )

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, method: str, path: str, body: Any = None, content_type: str | None = None) -> Any:
        headers = {"Content-Type": content_type or "application/json"}
        async with self._session.request(
            method, self.url + path, data=None if body is None else json.dumps(body), headers=headers
        ) as resp:
            payload = await resp.json(content_type=None)
            if resp.status == 404:
                return None
            if resp.status >= 400:
                raise RuntimeError(f"{method} {path} -> {resp.status}: {payload}")
            return payload

    async def create(self, resource: str, namespace: str | None, body: dict[str, Any]) -> Any:
        return await self._call("POST", resource_path(resource, namespace), body)

    async def get(self, resource: str, namespace: str | None, name: str) -> Any:
        return await self._call("GET", resource_path(resource, namespace, name))

    async def list(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        result = await self._call("GET", resource_path(resource, namespace))
        return list(result["items"]) if result else []

    async def patch(
        self, resource: str, namespace: str | None, name: str, body: dict[str, Any], sub: str | None = None
    ) -> Any:
        return await self._call(
            "PATCH", resource_path(resource, namespace, name, sub), body, "application/merge-patch+json"
        )

    async def delete(self, resource: str, namespace: str | None, name: str) -> Any:
        return await self._call("DELETE", resource_path(resource, namespace, name))
