"""How a request reaches the API server: plain aiohttp, with the pod's service account or a URL.

A transport sends one request and hands back the unread ``aiohttp.ClientResponse``; the client
(``client.py``) reads it, decodes it, streams watches from it and turns failures into the one
error model. Two transports exist because there are two ways to be given the API server:
- ``HttpTransport`` (this module, aiohttp only): in a pod, the service account (its token file
  is re-read on every request, because projected tokens rotate, and the cluster CA is trusted);
  elsewhere a base URL (development, tests). Every component in a pod uses it, and it is all the
  bot image needs (``kubernetes_asyncio`` would grow every shard process by a third of its
  idle memory: measured in docs/shared-runtime.md).
- ``ApiClientTransport`` (``kubeconfig.py``): a kubeconfig, read by ``kubernetes_asyncio`` so
  that every authentication a kubeconfig can name (client certificates, exec plugins, OIDC)
  works; the operator, the webhook and the legacy tool outside a cluster.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from booking_contract.settings import ConfigError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
Query = Sequence[tuple[str, str]]


class Transport(Protocol):
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
        """Send one request; the response unread (the caller reads or streams and releases it)."""
        ...

    async def close(self) -> None: ...


def in_cluster(environ: Mapping[str, str] | None = None, directory: Path | None = None) -> bool:
    """Whether this process runs in a pod with a service account token mounted."""
    env = os.environ if environ is None else environ
    has_address = bool(env.get("KUBERNETES_SERVICE_HOST") and env.get("KUBERNETES_SERVICE_PORT"))
    return has_address and ((directory or SERVICE_ACCOUNT_DIR) / "token").is_file()


class HttpTransport:
    """The API server at ``base_url``; a bearer token from ``token_file`` read on every request."""

    def __init__(
        self,
        base_url: str,
        *,
        token_file: Path | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connection_limit: int = 100,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_file = token_file
        self.ssl_context = ssl_context
        self.connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def in_cluster(
        cls, environ: Mapping[str, str] | None = None, directory: Path | None = None
    ) -> HttpTransport:
        """The pod's service account: ``KUBERNETES_SERVICE_HOST``/``PORT``, its token and CA."""
        env = os.environ if environ is None else environ
        directory = directory or SERVICE_ACCOUNT_DIR
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
        if not host or not port or not (directory / "token").is_file():
            raise ConfigError(
                "not in a Kubernetes pod: no KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT "
                f"or no service account token in {directory}"
            )
        url = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
        try:
            context = ssl.create_default_context(cafile=str(directory / "ca.crt"))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"the service account's CA {directory / 'ca.crt'} is unusable: {exc}") from None
        return cls(url, token_file=directory / "token", ssl_context=context)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # trust_env=False: the API server's address comes from the pod or the caller, never from
            # proxy variables, and aiohttp would look up ~/.netrc in a thread on every request.
            connector = aiohttp.TCPConnector(limit=self.connection_limit, ssl=self.ssl_context or True)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    def _headers(self, content_type: str) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        if self.token_file is not None:
            headers["Authorization"] = f"Bearer {self.token_file.read_text().strip()}"
        return headers

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
        return await self._client().request(
            method,
            self.base_url + path,
            params=list(query) or None,
            data=None if body is None else json.dumps(body),
            headers=self._headers(content_type),
            timeout=timeouts,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
