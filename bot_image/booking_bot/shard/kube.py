"""The little of the Kubernetes API a shard uses: read and watch one Secret, patch one ConfigMap.

In a cluster it authenticates with its service account (the token file is re-read on every
request: projected tokens rotate) and trusts the cluster CA; outside one, ``SHARD_KUBE_API_URL``
names the API (development, tests). Its RBAC allows exactly ``get``/``watch`` on its own Secret
and ``get``/``patch`` on its own status ConfigMap, by resource name; the watch is therefore sent
with ``fieldSelector=metadata.name=<name>``, the form such a rule authorises.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from booking_bot.shard.config import SERVICE_ACCOUNT_DIR

WATCH_SECONDS = 300


class KubeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class KubeApi:
    def __init__(self, base_url: str, *, token_file: Path | None = None, ca_file: Path | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token_file = token_file
        self._ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        )
        self._http: aiohttp.ClientSession | None = None

    @classmethod
    def in_cluster(cls) -> KubeApi:
        import os

        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
        if not host or not port:
            raise KubeError(0, "not in a cluster: set SHARD_KUBE_API_URL")
        url = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
        return cls(url, token_file=SERVICE_ACCOUNT_DIR / "token", ca_file=SERVICE_ACCOUNT_DIR / "ca.crt")

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._token_file is not None:
            headers["Authorization"] = f"Bearer {self._token_file.read_text().strip()}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(trust_env=False)
        return self._http

    async def get(self, path: str) -> dict[str, Any]:
        async with self._session().get(self.base_url + path, headers=self._headers(), ssl=self._ssl) as resp:
            return await _json(resp)

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self._session().patch(
            self.base_url + path,
            data=json.dumps(body),
            headers=self._headers("application/merge-patch+json"),
            ssl=self._ssl,
        ) as resp:
            return await _json(resp)

    async def watch(self, path: str, params: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Watch events until the server ends the stream."""
        query = {**params, "watch": "true", "timeoutSeconds": str(WATCH_SECONDS)}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=WATCH_SECONDS + 30)
        async with self._session().get(
            self.base_url + path, params=query, headers=self._headers(), ssl=self._ssl, timeout=timeout
        ) as resp:
            if resp.status >= 400:
                await _json(resp)
            # One event per line, and one line can be the whole Secret (hundreds of KiB for a
            # full shard): longer than aiohttp's readline limit, so split the stream ourselves.
            pending = b""
            async for chunk in resp.content.iter_any():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        event: dict[str, Any] = json.loads(line)
                        yield event

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


async def _json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    text = await resp.text()
    if resp.status >= 400:
        try:
            message = str(json.loads(text).get("message", ""))
        except ValueError:
            message = text[:200]
        raise KubeError(resp.status, message)
    body: dict[str, Any] = json.loads(text)
    return body
