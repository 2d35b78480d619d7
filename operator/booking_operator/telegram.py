"""Asking Telegram who a bot token belongs to (getMe): validates the token, finds the @username."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import aiohttp

PUBLIC_API = "https://api.telegram.org"


class TokenRejected(Exception):
    """Telegram says the token is not valid (401/404)."""


class TelegramUnavailable(Exception):
    """Telegram (or the configured Bot API server) could not be asked; says why without the URL."""


@dataclass(frozen=True)
class BotIdentity:
    id: int
    username: str


def token_fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class TelegramClient:
    """getMe with a short timeout; results cached per token so a resync costs no request."""

    def __init__(self, api_url: str = "", timeout: float = 5.0) -> None:
        self.api_url = (api_url or PUBLIC_API).rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._cache: dict[str, BotIdentity] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def get_me(self, token: str) -> BotIdentity:
        """Raises TokenRejected for a bad token, TelegramUnavailable when it cannot be asked."""
        key = token_fingerprint(token)
        if key in self._cache:
            return self._cache[key]
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        # The token is part of the URL by Telegram's design: errors must not carry the URL.
        try:
            async with self._session.get(f"{self.api_url}/bot{token}/getMe") as resp:
                if resp.status in (401, 404):
                    raise TokenRejected(f"Telegram rejected the bot token ({resp.status})")
                if resp.status >= 400:
                    raise TelegramUnavailable(f"getMe answered HTTP {resp.status}")
                payload = await resp.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TelegramUnavailable(f"getMe failed: {type(exc).__name__}") from None
        result = payload.get("result") or {}
        identity = BotIdentity(id=int(result["id"]), username=str(result.get("username") or ""))
        self._cache[key] = identity
        return identity
