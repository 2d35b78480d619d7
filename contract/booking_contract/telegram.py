"""Telegram bot tokens: their shape, and asking Telegram (``getMe``) whose token it is.

The operator checks every tenant's token, the sales bot checks an owner's token before the
owner pays, the legacy migration checks the tokens it moves: all with this one client, which
speaks the Bot API over plain HTTP (any Bot API server: the public one, a self-hosted one or a
test double).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Final

import aiohttp

PUBLIC_API: Final = "https://api.telegram.org"
# ``<bot id>:<secret>``; BotFather's secrets are 35 characters today, the bounds leave room.
TOKEN_PATTERN: Final = r"^\d{1,20}:[A-Za-z0-9_-]{20,100}$"  # noqa: S105 - a shape, not a token
TOKEN_RE: Final = re.compile(TOKEN_PATTERN)


def looks_like_token(text: str) -> bool:
    """The shape only; whether Telegram knows the token is what ``get_me`` finds out."""
    return bool(TOKEN_RE.fullmatch(text.strip()))


def token_fingerprint(token: str) -> str:
    """A short non-reversible tag of a token, safe to store and compare (never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class TokenRejected(Exception):
    """Telegram says the token is not valid (401/404)."""


class TelegramUnavailable(Exception):
    """Telegram (or the configured Bot API server) could not be asked; says why without the URL."""


@dataclass(frozen=True)
class BotIdentity:
    id: int
    username: str


class TelegramClient:
    """getMe with a short timeout; answers cached per token so a resync costs no request.

    A cached answer is trusted for ``cache_ttl`` seconds (None: for ever): a token can be
    revoked in BotFather at any time, and only asking again notices it. Rejections are never
    cached, so a fixed token is believed at once.
    """

    def __init__(
        self, api_url: str | None = "", timeout: float = 5.0, cache_ttl: float | None = None
    ) -> None:
        self.api_url = (api_url or PUBLIC_API).rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._cache_ttl = cache_ttl
        self._cache: dict[str, tuple[float, BotIdentity]] = {}

    def forget(self, token: str) -> None:
        """Ask Telegram again next time (the token's Secret changed)."""
        self._cache.pop(token_fingerprint(token.strip()), None)

    async def __aenter__(self) -> TelegramClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get_me(self, token: str) -> BotIdentity:
        """Raises TokenRejected for a bad token, TelegramUnavailable when it cannot be asked."""
        token = token.strip()
        key = token_fingerprint(token)
        cached = self._cache.get(key)
        if cached is not None and (self._cache_ttl is None or time.monotonic() - cached[0] < self._cache_ttl):
            return cached[1]
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
            result = payload.get("result") or {}
            identity = BotIdentity(id=int(result["id"]), username=str(result.get("username") or ""))
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TelegramUnavailable(f"getMe failed: {type(exc).__name__}") from None
        self._cache[key] = (time.monotonic(), identity)
        return identity
