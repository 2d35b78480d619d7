"""The legacy `.env` files, read as docker-compose reads them."""

from __future__ import annotations

from booking_contract.dotenv import first_value, parse_env


def test_comments_export_quotes_and_trailing_comments() -> None:
    text = "# c\nexport BOT_TOKEN='1:x'\nCOMPANY_NAME=\"A # B\"\nREDIS_DB=3 # legacy\n\nBROKEN\n"
    assert parse_env(text) == {"BOT_TOKEN": "1:x", "COMPANY_NAME": "A # B", "REDIS_DB": "3"}


def test_a_later_line_wins() -> None:
    assert parse_env("A=1\nA=2\n") == {"A": "2"}


def test_the_first_non_blank_spelling_wins() -> None:
    env = {"TOKEN": "t2", "BOT_TOKEN": " ", "TELEGRAM_BOT_TOKEN": "t1"}
    assert first_value(env, ("BOT_TOKEN", "TELEGRAM_BOT_TOKEN", "TOKEN")) == "t1"
    assert first_value(env, ("MISSING",)) is None
