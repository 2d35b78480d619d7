"""The one Kubernetes REST client of the platform, with one error model.

Generic REST paths (``Resource`` + namespace + name) so every kind is handled the same way,
over kubernetes_asyncio's configured API client: the in-cluster service account when the pod
has one, else a kubeconfig (an explicit path, else ``KUBECONFIG``, else ``~/.kube/config``).
kopf keeps its own API access for the resources it watches; this is for everything else.

Every failure is a ``KubeError`` whose subclass says what the caller can do about it:
``KubeUnavailable`` (no answer, 5xx, 429: retry later), ``KubeConflict`` (409: re-read and
retry), ``KubeNotFound`` (404), ``KubeForbidden`` (401/403: RBAC), ``KubeInvalid`` (any other
4xx: the request itself is wrong). ``get`` and ``delete`` turn 404 into None/False, because a
missing object is an answer there, not a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from booking_contract import crd
from booking_contract.settings import ConfigError

MERGE_PATCH = "application/merge-patch+json"


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
DEPLOYMENTS = Resource("apps", "v1", "deployments")
BOOKINGTENANTS = Resource(crd.GROUP, crd.VERSION, crd.PLURAL)


class KubeError(Exception):
    """A Kubernetes API call that did not do what was asked. ``status``: HTTP code, 0 = no answer."""

    retryable: ClassVar[bool] = False

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


class KubeUnavailable(KubeError):
    """The API server could not be reached, or answered 5xx/429: the same call may work later."""

    retryable = True


class KubeConflict(KubeError):
    """409: AlreadyExists on create, a stale resourceVersion on patch."""


class KubeNotFound(KubeError):
    """404: the object, its namespace or its kind does not exist."""


class KubeForbidden(KubeError):
    """401/403: this identity may not do this (RBAC); retrying will not help."""


class KubeInvalid(KubeError):
    """Any other 4xx (400, 422 ...): the request itself was refused; retrying will not help."""


def error_for(status: int, message: str) -> KubeError:
    """The KubeError subclass for an HTTP status (0: no answer at all)."""
    if status == 0 or status == 429 or status >= 500:
        return KubeUnavailable(status, message)
    if status == 409:
        return KubeConflict(status, message)
    if status == 404:
        return KubeNotFound(status, message)
    if status in (401, 403):
        return KubeForbidden(status, message)
    return KubeInvalid(status, message)


_TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, asyncio.TimeoutError)


def check_access(kubeconfig: str | None = None) -> None:
    """Refuse to start, in one line, when there is no way to reach a cluster.

    In a pod the service account is used; elsewhere a kubeconfig must exist (the named one,
    else ``KUBECONFIG``, else ``~/.kube/config``). Every component that talks to the API calls
    this before it starts, so the error is a ``ConfigError`` line and exit 2, not a traceback
    from the first request.
    """
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not kubeconfig:
        return
    candidates = (
        [kubeconfig] if kubeconfig else [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    )
    candidates = candidates or [os.path.expanduser("~/.kube/config")]
    if not any(os.path.isfile(p) for p in candidates):
        raise ConfigError(
            "no Kubernetes access: not in a cluster and no kubeconfig at "
            + ", ".join(candidates)
            + " (set KUBECONFIG)"
        )


async def api_client(kubeconfig: str | None = None) -> k8s_client.ApiClient:
    """In-cluster config when a service account is mounted (and no kubeconfig is named), else a kubeconfig."""
    configuration: k8s_client.Configuration | None = None
    if not kubeconfig:
        try:
            configuration = k8s_client.Configuration()
            k8s_config.load_incluster_config(client_configuration=configuration)
        except ConfigException:  # not in a pod: no service account mounted
            configuration = None
    if configuration is None:
        configuration = k8s_client.Configuration()
        try:
            await k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        except ConfigException as exc:  # a kubeconfig that exists but says nothing usable
            raise ConfigError(f"unusable kubeconfig: {exc}") from None
    api = k8s_client.ApiClient(configuration=configuration)
    # kubernetes_asyncio opens its aiohttp session with trust_env=True, which makes aiohttp look
    # up ~/.netrc in a worker thread on every request (measured: a fifth of the operator's CPU
    # while provisioning 1000 tenants). The API server's address and proxy come from the
    # kubeconfig or the service account, never from netrc or the environment.
    session = getattr(api.rest_client, "pool_manager", None)
    if session is not None and hasattr(session, "_trust_env"):
        session._trust_env = False
    return api


class KubeClient:
    """Five verbs on namespaced objects as plain dicts; JSON in, JSON out."""

    def __init__(self, api: k8s_client.ApiClient, request_timeout: float = 30.0) -> None:
        self.api = api
        self.request_timeout = request_timeout

    @classmethod
    async def connect(cls, kubeconfig: str | None = None, request_timeout: float = 30.0) -> KubeClient:
        return cls(await api_client(kubeconfig), request_timeout)

    async def close(self) -> None:
        await self.api.close()

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
        try:
            response = await self.api.call_api(
                path,
                method,
                query_params=list((query or {}).items()) or None,
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )
            raw: bytes = await response.read()
        except ApiException as exc:
            raise error_for(exc.status or 0, _exception_message(exc)) from None
        except _TRANSPORT_ERRORS as exc:
            raise KubeUnavailable(0, f"API server unreachable: {type(exc).__name__}") from None
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:  # e.g. a proxy's HTML error page
            payload = None
        # Without preloading, the client leaves HTTP errors to us.
        if response.status >= 400:
            message = payload.get("message") if isinstance(payload, dict) else None
            raise error_for(response.status, str(message or response.reason))
        return payload

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self.request("GET", resource.path(namespace, name))
        except KubeNotFound:
            return None
        return result

    async def list(self, resource: Resource, namespace: str, *, limit: int | None = None) -> dict[str, Any]:
        """One page of the objects of a namespace (``""``: of every namespace)."""
        query = {"limit": limit} if limit is not None else None
        result: dict[str, Any] = await self.request("GET", resource.path(namespace), query=query)
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


def _exception_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or b"{}").get("message") or exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)
