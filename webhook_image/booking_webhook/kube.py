"""Kubernetes access through kubernetes_asyncio: in-cluster service account, else KUBECONFIG.

Thin on purpose: the domain code in `tenants.py` speaks in these few verbs and the errors
below, not in the client library's types.
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

GROUP, VERSION, PLURAL = "bookingsaas.dev", "v1alpha1", "bookingtenants"
MANAGED_BY = {"app.kubernetes.io/managed-by": "booking-webhook"}


class KubeUnavailable(Exception):
    """The API server could not be reached or answered 5xx: retry later."""


class KubeConflict(Exception):
    """409: AlreadyExists on create, a stale resourceVersion on patch."""


class KubeError(Exception):
    """Any other refusal (4xx): retrying the same request will not help."""


async def api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """In-cluster config when a service account is mounted, else the kubeconfig file."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not kubeconfig:
        try:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            return _without_netrc(client.ApiClient(configuration=configuration))
        except ConfigException:
            pass
    return _without_netrc(await config.new_client_from_config(config_file=kubeconfig))


def _without_netrc(api: client.ApiClient) -> client.ApiClient:
    """kubernetes_asyncio's aiohttp session trusts the environment, so aiohttp reads ~/.netrc in a
    worker thread on every request; the API server's address and proxy come from the config."""
    session = getattr(api.rest_client, "pool_manager", None)
    if session is not None and hasattr(session, "_trust_env"):
        session._trust_env = False
    return api


def _translate(exc: BaseException) -> Exception:
    if isinstance(exc, ApiException):
        if exc.status == 409:
            return KubeConflict(exc.reason or "conflict")
        if exc.status is None or exc.status >= 500 or exc.status == 429:
            return KubeUnavailable(f"HTTP {exc.status}")
        return KubeError(f"HTTP {exc.status}: {exc.reason}")
    return KubeUnavailable(type(exc).__name__)


_TRANSIENT = (aiohttp.ClientError, OSError, TimeoutError, asyncio.TimeoutError)


class Kube:
    def __init__(self, api: client.ApiClient, namespace: str, request_timeout: float = 10.0) -> None:
        self.api = api
        self.namespace = namespace
        self.timeout = request_timeout
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    @classmethod
    async def connect(cls, namespace: str, kubeconfig: str | None = None) -> Kube:
        return cls(await api_client(kubeconfig), namespace)

    async def close(self) -> None:
        await self.api.close()

    async def _call(self, coro: Any) -> Any:
        try:
            return await coro
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _translate(exc) from None
        except _TRANSIENT as exc:
            raise KubeUnavailable(type(exc).__name__) from None

    # --- BookingTenants ---
    async def get_tenant(self, name: str) -> dict[str, Any] | None:
        result = await self._call(
            self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, _request_timeout=self.timeout
            )
        )
        return dict(result) if result else None

    async def create_tenant(self, body: dict[str, Any]) -> dict[str, Any]:
        result = await self._call(
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, body, _request_timeout=self.timeout
            )
        )
        if result is None:
            # Either a 404 (no such namespace/CRD) or a 200 where the client maps only 201 to a body
            # (the test emulator answers creates with 200): the object itself tells which.
            created = await self.get_tenant(body["metadata"]["name"])
            if created is None:
                raise KubeError(f"namespace {self.namespace!r} or the BookingTenant CRD is missing")
            return created
        return dict(result)

    async def merge_patch_tenant(self, name: str, patch: dict[str, Any]) -> dict[str, Any] | None:
        result = await self._call(
            self.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                name,
                patch,
                _content_type="application/merge-patch+json",
                _request_timeout=self.timeout,
            )
        )
        return dict(result) if result else None

    async def list_tenants(self) -> list[dict[str, Any]]:
        """Every BookingTenant of the namespace, in one call (the sales bot's expiry reminders)."""
        result = await self._call(
            self.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, _request_timeout=self.timeout
            )
        )
        return [dict(item) for item in (result or {}).get("items") or []]

    async def ping(self) -> None:
        await self._call(
            self.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, limit=1, _request_timeout=self.timeout
            )
        )

    # --- Secrets (bot tokens) ---
    async def create_token_secret(self, name: str, token: str, labels: dict[str, str]) -> None:
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, labels={**MANAGED_BY, **labels}),
            type="Opaque",
            data={"token": base64.b64encode(token.encode()).decode()},
        )
        try:
            await self._call(
                self.core.create_namespaced_secret(self.namespace, body, _request_timeout=self.timeout)
            )
        except KubeConflict:
            await self._call(
                self.core.patch_namespaced_secret(
                    name,
                    self.namespace,
                    {"data": body.data},
                    _content_type="application/merge-patch+json",
                    _request_timeout=self.timeout,
                )
            )

    async def secret_exists(self, name: str) -> bool:
        result = await self._call(
            self.core.read_namespaced_secret(name, self.namespace, _request_timeout=self.timeout)
        )
        return result is not None

    async def delete_secret(self, name: str) -> None:
        await self._call(
            self.core.delete_namespaced_secret(name, self.namespace, _request_timeout=self.timeout)
        )

    async def adopt_secret(self, name: str, owner: dict[str, Any]) -> None:
        """Make the tenant own its token Secret, so deleting the tenant deletes the token."""
        meta = owner["metadata"]
        ref = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "BookingTenant",
            "name": meta["name"],
            "uid": meta["uid"],
            "blockOwnerDeletion": False,
        }
        await self._call(
            self.core.patch_namespaced_secret(
                name,
                self.namespace,
                {"metadata": {"ownerReferences": [ref]}},
                _content_type="application/merge-patch+json",
                _request_timeout=self.timeout,
            )
        )
