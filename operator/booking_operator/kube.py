"""The Kubernetes calls the operator makes for children, as plain dicts.

kopf talks to the API for the BookingTenant itself; children go through
kubernetes_asyncio's configured client (in-cluster service account, else
KUBECONFIG), using generic REST paths so every kind is handled the same way.
Every verb used here is listed in the chart's RBAC rules (tests check that).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

SECRETS = ("", "v1", "secrets")
DEPLOYMENTS = ("apps", "v1", "deployments")
BOOKINGTENANTS = ("bookingsaas.dev", "v1alpha1", "bookingtenants")


class KubeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def path(
    resource: tuple[str, str, str], namespace: str, name: str | None = None, sub: str | None = None
) -> str:
    group, version, plural = resource
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    result = f"{base}/namespaces/{namespace}/{plural}"
    if name:
        result += f"/{name}"
    if sub:
        result += f"/{sub}"
    return result


class Kube:
    def __init__(self, api: k8s_client.ApiClient) -> None:
        self.api = api

    @classmethod
    async def connect(cls) -> Kube:
        try:
            k8s_config.load_incluster_config()
            configuration = k8s_client.Configuration.get_default_copy()
        except k8s_config.ConfigException:
            configuration = k8s_client.Configuration()
            await k8s_config.load_kube_config(client_configuration=configuration)
        api = k8s_client.ApiClient(configuration=configuration)
        # kubernetes_asyncio opens its aiohttp session with trust_env=True, which makes aiohttp
        # look up ~/.netrc in a worker thread on every request (measured: a fifth of the
        # operator's CPU while provisioning 1000 tenants). The API server's address and proxy
        # come from the kubeconfig or the service account, never from netrc/env.
        session = getattr(api.rest_client, "pool_manager", None)
        if session is not None and hasattr(session, "_trust_env"):
            session._trust_env = False
        return cls(api)

    async def close(self) -> None:
        await self.api.close()

    async def _call(
        self, method: str, url: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        try:
            response = await self.api.call_api(
                url,
                method,
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=30,
            )
            raw: bytes = await response.read()
        except ApiException as exc:
            raise KubeError(exc.status or 0, _reason(exc)) from None
        payload = json.loads(raw) if raw else None
        # Without preloading, the client leaves HTTP errors to us.
        if response.status >= 400:
            message = payload.get("message") if isinstance(payload, dict) else None
            raise KubeError(response.status, str(message or response.reason))
        return payload

    async def get(self, resource: tuple[str, str, str], namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self._call("GET", path(resource, namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    async def create(
        self, resource: tuple[str, str, str], namespace: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", path(resource, namespace), body)
        return result

    async def patch(
        self,
        resource: tuple[str, str, str],
        namespace: str,
        name: str,
        body: dict[str, Any],
        sub: str | None = None,
    ) -> dict[str, Any]:
        """JSON merge patch: lists we set are replaced whole, so hand-made additions are undone."""
        result: dict[str, Any] = await self._call(
            "PATCH", path(resource, namespace, name, sub), body, "application/merge-patch+json"
        )
        return result

    async def patch_tenant_status(self, body: Mapping[str, Any], status: dict[str, Any]) -> None:
        """Write a BookingTenant's status through its status subresource."""
        meta = body["metadata"]
        await self.patch(BOOKINGTENANTS, meta["namespace"], meta["name"], {"status": status}, sub="status")

    async def delete(self, resource: tuple[str, str, str], namespace: str, name: str) -> bool:
        try:
            await self._call("DELETE", path(resource, namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _reason(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or b"{}").get("message") or exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)
