"""getMe against a Bot API server over HTTP (the fake one speaks Telegram's wire protocol)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from booking_contract.telegram import (
    TelegramClient,
    TelegramUnavailable,
    TokenRejected,
    looks_like_token,
    token_fingerprint,
)
from harness.telegram import FakeTelegram

TOKEN = "4200001:TEST-contract-token-abcdef"


@pytest.fixture()
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


async def test_a_known_token_gives_the_bots_id_and_username(telegram: FakeTelegram) -> None:
    telegram.add_bot(TOKEN, username="salon_bot")
    async with TelegramClient(telegram.url) as client:
        identity = await client.get_me(TOKEN)
    assert (identity.id, identity.username) == (4200001, "salon_bot")


async def test_a_second_check_of_the_same_token_asks_telegram_once(telegram: FakeTelegram) -> None:
    telegram.add_bot(TOKEN, username="salon_bot")
    async with TelegramClient(telegram.url) as client:
        await client.get_me(TOKEN)
        await client.get_me(TOKEN)
    assert len(telegram.calls_of("getMe", TOKEN)) == 1


async def test_an_unknown_token_is_rejected(telegram: FakeTelegram) -> None:
    async with TelegramClient(telegram.url) as client:
        with pytest.raises(TokenRejected, match="401"):
            await client.get_me(TOKEN)


async def test_a_server_error_means_telegram_is_unavailable(telegram: FakeTelegram) -> None:
    telegram.add_bot(TOKEN)
    telegram.fail_next("getMe", TOKEN, error_code=500)
    async with TelegramClient(telegram.url) as client:
        with pytest.raises(TelegramUnavailable, match="HTTP 500"):
            await client.get_me(TOKEN)


async def test_an_unreachable_server_is_unavailable_and_the_error_omits_the_token() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with TelegramClient(f"http://127.0.0.1:{port}", timeout=2) as client:
        with pytest.raises(TelegramUnavailable) as error:
            await client.get_me(TOKEN)
    assert TOKEN not in str(error.value) and TOKEN.split(":")[1] not in str(error.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (TOKEN, True),
        (f"  {TOKEN}\n", True),
        ("1234567890:AAE2E-fake-token-no-bot-has-this-0000", True),
        ("1:x", False),
        ("123456:short", False),
        ("not-a-token", False),
        ("123:" + "a" * 101, False),
    ],
)
def test_the_token_shape(text: str, expected: bool) -> None:
    assert looks_like_token(text) is expected


def test_the_fingerprint_is_short_stable_and_not_the_token() -> None:
    assert token_fingerprint(TOKEN) == token_fingerprint(TOKEN)
    assert len(token_fingerprint(TOKEN)) == 16 and "TEST" not in token_fingerprint(TOKEN)
