"""A small async client for the YooKassa API calls this service makes.

Why not the `yookassa` SDK for these calls: it is synchronous (requests), sets no socket
timeout (its `timeout` setting is a retry back-off), keeps its credentials in process-wide
class attributes, and turns a connection error into an AttributeError. A hanging API would
park worker threads forever (a thread cannot be cancelled) and starve the default
executor. aiohttp with a total timeout gives a bounded, cancellable call on the event loop.
The SDK is still used for what is pure and local: building and validating payment requests.
"""

from __future__ import annotations

import base64
import datetime
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

log = logging.getLogger(__name__)


class YooKassaError(Exception):
    """The API refused the request (a 4xx other than 404/429): retrying will not help."""


class YooKassaUnavailable(YooKassaError):
    """Timeout, connection error, 5xx or 429: try again later."""


class PaymentNotFound(YooKassaError):
    """The API does not know this object."""


class YooKassaClient:
    def __init__(self, api_url: str, shop_id: str, secret_key: str, timeout: float) -> None:
        self.api_url = api_url.rstrip("/")
        credentials = base64.b64encode(f"{shop_id}:{secret_key}".encode()).decode()
        self._headers = {"Accept": "application/json", "Authorization": f"Basic {credentials}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.api_url}{path}"
        try:
            async with self._client().request(method, url, json=body, headers=headers, params=params) as resp:
                if resp.status == 404:
                    raise PaymentNotFound(path)
                if resp.status == 429 or resp.status >= 500:
                    raise YooKassaUnavailable(f"{method} {path}: HTTP {resp.status}")
                if resp.status >= 400:
                    text = (await resp.text())[:200]
                    raise YooKassaError(f"{method} {path}: HTTP {resp.status}: {text}")
                data = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise YooKassaUnavailable(f"{method} {path}: {type(exc).__name__}") from exc
        except ValueError as exc:  # not JSON
            raise YooKassaUnavailable(f"{method} {path}: unreadable response") from exc
        if not isinstance(data, dict):
            raise YooKassaUnavailable(f"{method} {path}: unexpected response")
        return data

    async def create_payment(self, request: dict[str, Any], idempotence_key: str) -> dict[str, Any]:
        return await self._request("POST", "/payments", request, {"Idempotence-Key": idempotence_key})

    async def get_payment(self, payment_id: str) -> dict[str, Any]:
        return await self._request("GET", f"/payments/{_safe_id(payment_id)}")

    async def get_refund(self, refund_id: str) -> dict[str, Any]:
        return await self._request("GET", f"/refunds/{_safe_id(refund_id)}")

    async def create_refund(self, request: dict[str, Any], idempotence_key: str) -> dict[str, Any]:
        return await self._request("POST", "/refunds", request, {"Idempotence-Key": idempotence_key})

    async def list_payments(
        self, created_since: datetime.datetime, status: str | None = None, page_size: int = 100
    ) -> AsyncIterator[dict[str, Any]]:
        """Every payment created since `created_since`, following `next_cursor` page by page."""
        async for item in self._list("/payments", created_since, status, page_size):
            yield item

    async def list_refunds(
        self, created_since: datetime.datetime, status: str | None = None, page_size: int = 100
    ) -> AsyncIterator[dict[str, Any]]:
        async for item in self._list("/refunds", created_since, status, page_size):
            yield item

    async def _list(
        self, path: str, created_since: datetime.datetime, status: str | None, page_size: int
    ) -> AsyncIterator[dict[str, Any]]:
        params = {
            "created_at.gte": created_since.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "limit": str(page_size),
        }
        if status:
            params["status"] = status
        seen_cursors: set[str] = set()
        while True:
            page = await self._request("GET", path, params=params)
            for item in page.get("items") or []:
                if isinstance(item, dict) and item.get("id"):
                    yield item
            cursor = page.get("next_cursor")
            if not isinstance(cursor, str) or not cursor or cursor in seen_cursors:
                return
            seen_cursors.add(cursor)
            params["cursor"] = cursor


def _safe_id(value: str) -> str:
    if not value or len(value) > 64 or not all(c.isalnum() or c in "-_" for c in value):
        raise PaymentNotFound("malformed object id")
    return value
