"""A kubeconfig as a transport, read by kubernetes_asyncio (the ``kube`` extra).

Only this module imports ``kubernetes_asyncio``, and only when a kubeconfig is used, so the bot
image (which has no kubeconfig and does not carry the library) imports ``booking_contract.kube``
without it. kubernetes_asyncio is worth its weight here: it implements every authentication a
kubeconfig can name (client certificates, tokens, exec plugins, OIDC) and refreshes them.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import aiohttp

from booking_contract.kube.errors import error_for
from booking_contract.kube.transport import Query
from booking_contract.settings import ConfigError

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient


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


async def api_client(kubeconfig: str | None = None) -> ApiClient:
    """kubernetes_asyncio's client for a kubeconfig: the named one, else ``KUBECONFIG``, else
    ``~/.kube/config``."""
    try:
        from kubernetes_asyncio import client as k8s_client
        from kubernetes_asyncio import config as k8s_config
        from kubernetes_asyncio.config.config_exception import ConfigException
    except ImportError:
        raise ConfigError(
            "a kubeconfig needs kubernetes_asyncio (booking-contract[kube]); in a pod none is needed"
        ) from None
    configuration = k8s_client.Configuration()
    try:
        await k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    except ConfigException as exc:  # a kubeconfig that exists but says nothing usable
        raise ConfigError(f"unusable kubeconfig: {exc}") from None
    api = k8s_client.ApiClient(configuration=configuration)
    # kubernetes_asyncio opens its aiohttp session with trust_env=True, which makes aiohttp look
    # up ~/.netrc in a worker thread on every request (measured: a fifth of the operator's CPU
    # while provisioning 1000 tenants). The API server's address and proxy come from the
    # kubeconfig, never from netrc or the environment.
    session = getattr(api.rest_client, "pool_manager", None)
    if session is not None and hasattr(session, "_trust_env"):
        session._trust_env = False
    return api


class ApiClientTransport:
    """Requests through kubernetes_asyncio's configured client (its auth, TLS and refreshes)."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    @classmethod
    async def from_kubeconfig(cls, kubeconfig: str | None = None) -> ApiClientTransport:
        return cls(await api_client(kubeconfig))

    async def open(
        self,
        method: str,
        path: str,
        *,
        query: Query,
        body: Any,
        content_type: str,
        timeouts: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            response: aiohttp.ClientResponse = await self.api.call_api(
                path,
                method,
                query_params=list(query) or None,
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,  # HTTP errors and streaming are the client's
                _request_timeout=timeouts,
            )
        except ApiException as exc:
            raise error_for(exc.status or 0, _exception_message(exc)) from None
        return response

    async def close(self) -> None:
        await self.api.close()


def _exception_message(exc: Any) -> str:
    try:
        return str(json.loads(exc.body or b"{}").get("message") or exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)
