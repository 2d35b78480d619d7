"""``KubeClient``: five verbs and a watch on namespaced objects, as plain dicts, over a transport.

Generic REST paths (``Resource`` + namespace + name) so every kind is handled the same way.
kopf keeps its own API access for the resources it watches; this is for everything else,
including the one watch of the platform that kopf does not run: a shard following its own
tenants Secret (``follow``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from booking_contract import crd
from booking_contract.kube.errors import KubeGone, KubeNotFound, KubeUnavailable, error_for
from booking_contract.kube.transport import HttpTransport, Transport, in_cluster

log = logging.getLogger("booking_contract.kube")

MERGE_PATCH = "application/merge-patch+json"
WATCH_SECONDS = 300  # the server ends a watch after this; the client then resumes it
# Pauses before reconnecting after the API server could not be reached (then the last, repeated).
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0)
_TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, asyncio.TimeoutError)


@dataclass(frozen=True)
class Resource:
    """A namespaced kind's REST coordinates: ("", "v1", "secrets") is the core group."""

    group: str
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str, name: str | None = None, sub: str | None = None) -> str:
        """The REST path; an empty namespace (lists only) means every namespace."""
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if not namespace:
            if name:
                raise ValueError("a namespaced object needs its namespace")
            return f"{base}/{self.plural}"
        result = f"{base}/namespaces/{namespace}/{self.plural}"
        if name:
            result += f"/{name}"
        if sub:
            result += f"/{sub}"
        return result


SECRETS = Resource("", "v1", "secrets")
PODS = Resource("", "v1", "pods")
CONFIGMAPS = Resource("", "v1", "configmaps")
DEPLOYMENTS = Resource("apps", "v1", "deployments")
BOOKINGTENANTS = Resource(crd.GROUP, crd.VERSION, crd.PLURAL)


@dataclass(frozen=True)
class WatchEvent:
    """One line of a watch: ``ADDED``, ``MODIFIED``, ``DELETED`` or ``BOOKMARK`` (object: its
    ``metadata.resourceVersion`` only, a point the watch can resume from)."""

    type: str
    object: dict[str, Any]

    @property
    def resource_version(self) -> str:
        return str((self.object.get("metadata") or {}).get("resourceVersion") or "")


class KubeClient:
    """JSON in, JSON out; every failure a ``KubeError`` (see ``errors``)."""

    def __init__(self, transport: Transport | str, request_timeout: float = 30.0) -> None:
        """``transport``: a Transport, or the base URL of an API server that needs no credentials."""
        self.transport: Transport = HttpTransport(transport) if isinstance(transport, str) else transport
        self.request_timeout = request_timeout

    @classmethod
    async def connect(cls, kubeconfig: str | None = None, request_timeout: float = 30.0) -> KubeClient:
        """In a pod (and no kubeconfig named) its service account, else a kubeconfig."""
        if kubeconfig is None and in_cluster():
            return cls.in_cluster(request_timeout)
        from booking_contract.kube.kubeconfig import ApiClientTransport  # needs kubernetes_asyncio

        return cls(await ApiClientTransport.from_kubeconfig(kubeconfig), request_timeout)

    @classmethod
    def in_cluster(cls, request_timeout: float = 30.0) -> KubeClient:
        """The pod's service account (raises ConfigError outside a pod)."""
        return cls(HttpTransport.in_cluster(), request_timeout)

    async def close(self) -> None:
        await self.transport.close()

    async def _open(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        content_type: str,
        query: Sequence[tuple[str, str]],
        timeouts: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        try:
            response = await self.transport.open(
                method, path, query=query, body=body, content_type=content_type, timeouts=timeouts
            )
        except _TRANSPORT_ERRORS as exc:
            raise KubeUnavailable(0, f"API server unreachable: {type(exc).__name__}") from None
        if response.status >= 400:
            try:
                raw = await response.read()
            except _TRANSPORT_ERRORS:
                raw = b""
            finally:
                response.release()
            raise error_for(response.status, _message(raw, response.reason))
        return response

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        query: Mapping[str, str | int] | None = None,
    ) -> Any:
        """One API call; the decoded JSON answer, or a KubeError saying what went wrong."""
        timeouts = aiohttp.ClientTimeout(total=self.request_timeout)
        pairs = [(k, str(v)) for k, v in (query or {}).items()]
        response = await self._open(
            method, path, body, content_type=content_type, query=pairs, timeouts=timeouts
        )
        try:
            raw = await response.read()
        except _TRANSPORT_ERRORS as exc:
            raise KubeUnavailable(0, f"API server unreachable: {type(exc).__name__}") from None
        finally:
            response.release()
        try:
            return json.loads(raw) if raw else None
        except ValueError:  # e.g. a proxy's HTML page with a 2xx status
            return None

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self.request("GET", resource.path(namespace, name))
        except KubeNotFound:
            return None
        return result

    async def list(
        self,
        resource: Resource,
        namespace: str,
        *,
        limit: int | None = None,
        label_selector: str | None = None,
    ) -> dict[str, Any]:
        """One page of the objects of a namespace (``""``: of every namespace)."""
        query: dict[str, str | int] = {}
        if limit is not None:
            query["limit"] = limit
        if label_selector:
            query["labelSelector"] = label_selector
        result: dict[str, Any] = await self.request("GET", resource.path(namespace), query=query or None)
        return result

    async def create(self, resource: Resource, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", resource.path(namespace), dict(body))
        return result

    async def patch(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        body: Mapping[str, Any],
        sub: str | None = None,
    ) -> dict[str, Any]:
        """JSON merge patch: lists we set are replaced whole, so hand-made additions are undone."""
        result: dict[str, Any] = await self.request(
            "PATCH", resource.path(namespace, name, sub), dict(body), content_type=MERGE_PATCH
        )
        return result

    async def delete(self, resource: Resource, namespace: str, name: str) -> bool:
        """True when it was deleted now, False when it did not exist."""
        try:
            await self.request("DELETE", resource.path(namespace, name))
        except KubeNotFound:
            return False
        return True

    async def watch(
        self,
        resource: Resource,
        namespace: str,
        *,
        resource_version: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = WATCH_SECONDS,
    ) -> AsyncGenerator[WatchEvent, None]:
        """One watch stream, until the server ends it (after about ``timeout_seconds``).

        Bookmarks are asked for and passed on (type ``BOOKMARK``); an ``ERROR`` event raises its
        KubeError (``KubeGone`` for 410: ``resource_version`` is too old, read again). A stream
        silent for longer than the server's own timeout is dead: ``KubeUnavailable``.
        """
        query = [("watch", "true"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", str(timeout_seconds))]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        if label_selector:
            query.append(("labelSelector", label_selector))
        timeouts = aiohttp.ClientTimeout(
            total=None, sock_connect=self.request_timeout, sock_read=timeout_seconds + self.request_timeout
        )
        path = resource.path(namespace)
        response = await self._open(
            "GET", path, None, content_type="application/json", query=query, timeouts=timeouts
        )
        try:
            # One event per line, and one line can be a whole Secret (hundreds of KiB for a full
            # shard): longer than aiohttp's readline limit, so the stream is split here.
            pending = b""
            try:
                async for chunk in response.content.iter_any():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield _event(line)
            except _TRANSPORT_ERRORS as exc:
                raise KubeUnavailable(0, f"watch interrupted: {type(exc).__name__}") from None
        finally:
            response.release()

    async def follow(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        *,
        timeout_seconds: int = WATCH_SECONDS,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> AsyncGenerator[dict[str, Any] | None, None]:
        """One object's state (None while it does not exist), at once and after every change.

        Asks for exactly what a Role with ``resourceNames: [name]`` and ``get``/``watch`` allows:
        ``get`` of the object, then a watch with ``fieldSelector=metadata.name=<name>``, resumed
        from the last resourceVersion seen (bookmarks included) whenever the server ends it; a
        410 reads the object again; an unreachable API server is retried after ``retry_delays``.
        A state may be repeated (after a re-read). Refusals (403, 4xx) end the iteration.
        """
        version: str | None = None  # None: the object has to be read (again)
        failures = 0
        while True:
            try:
                if version is None:
                    obj = await self.get(resource, namespace, name)
                    # Absent: watch from "now"; the server then reports its creation.
                    version = str((obj or {}).get("metadata", {}).get("resourceVersion") or "")
                    failures = 0
                    yield obj
                started, seen = asyncio.get_running_loop().time(), False
                events = self.watch(
                    resource,
                    namespace,
                    resource_version=version or None,
                    field_selector=f"metadata.name={name}",
                    timeout_seconds=timeout_seconds,
                )
                async with contextlib.aclosing(events):  # the stream is released when we stop
                    async for event in events:
                        seen, failures = True, 0
                        version = event.resource_version or version
                        if event.type == "BOOKMARK" or event.object.get("metadata", {}).get("name") != name:
                            continue  # (a server that ignores the field selector)
                        yield None if event.type == "DELETED" else event.object
                if not seen and asyncio.get_running_loop().time() - started < 1.0:
                    raise KubeUnavailable(0, "the watch ended at once")  # never spin on a bad server
            except KubeGone:
                version = None
            except KubeUnavailable as exc:
                delay = retry_delays[min(failures, len(retry_delays) - 1)]
                failures += 1
                log.warning(
                    "watch interrupted",
                    extra={
                        "event": "watch_retry",
                        "object": f"{resource.plural}/{name}",
                        "error": str(exc)[:200],
                    },
                )
                await asyncio.sleep(delay)


def _event(line: bytes) -> WatchEvent:
    try:
        raw = json.loads(line)
        kind, obj = str(raw["type"]), raw.get("object") or {}
    except (ValueError, KeyError, TypeError):
        raise KubeUnavailable(0, "the watch sent a line that is not an event") from None
    if kind == "ERROR":
        message = obj.get("message") or obj.get("reason") or "watch error"
        raise error_for(int(obj.get("code") or 0), str(message))
    return WatchEvent(kind, obj if isinstance(obj, dict) else {})


def _message(raw: bytes, reason: str | None) -> str:
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:  # e.g. a proxy's HTML error page
        payload = None
    message = payload.get("message") if isinstance(payload, dict) else None
    return str(message or reason or "")
