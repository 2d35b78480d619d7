"""Bad configuration: one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

GOOD = {
    "CLIENT_ID": "client_001",
    "BOT_TOKEN": "1:x",
    "DATABASE_URL": "postgresql://u:secretpw@127.0.0.1:1/db",
}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {*GOOD, "REDIS_KEY_PREFIX", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, "-m", "booking_bot", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({**GOOD, "CLIENT_ID": "Bad-Id"}, "CLIENT_ID"),
        ({**GOOD, "CLIENT_ID": "pg_catalog"}, "CLIENT_ID"),
        ({k: v for k, v in GOOD.items() if k != "BOT_TOKEN"}, "BOT_TOKEN is not set"),
        ({k: v for k, v in GOOD.items() if k != "DATABASE_URL"}, "DATABASE_URL is not set"),
        ({**GOOD, "REDIS_KEY_PREFIX": "other:"}, "REDIS_KEY_PREFIX must start with 'client_001:'"),
        ({**GOOD, "TENANT_TIMEZONE": "Mars/Olympus"}, "TENANT_TIMEZONE"),
        ({**GOOD, "ADMIN_TELEGRAM_IDS": "1,abc"}, "ADMIN_TELEGRAM_IDS"),
    ],
)
def test_bad_config_prints_one_line_and_exits_2(env: dict[str, str], needle: str) -> None:
    result = _run(env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr
    assert "secretpw" not in result.stderr + result.stdout


def test_migrate_does_not_need_a_token() -> None:
    env = {k: v for k, v in GOOD.items() if k != "BOT_TOKEN"}
    result = _run(env, "migrate")
    # Config is fine; the database is unreachable: a clear line and a non-zero exit.
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "secretpw" not in result.stderr + result.stdout


def test_unreachable_database_at_start_is_one_line_and_non_zero() -> None:
    result = _run(GOOD)
    assert result.returncode not in (0, 2) or "database" in result.stderr
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_empty_optional_variables_count_as_unset() -> None:
    env = {**GOOD, "OWNER_TELEGRAM_ID": "", "ADMIN_TELEGRAM_IDS": "", "REDIS_URL": "", "TELEGRAM_API_URL": ""}
    result = _run(env)
    assert "configuration error" not in result.stderr  # it gets as far as the database
    assert "cannot reach the database" in result.stderr


def test_empty_bot_token_is_missing() -> None:
    result = _run({**GOOD, "BOT_TOKEN": ""})
    assert result.returncode == 2
    assert result.stderr.strip() == "booking_bot: configuration error: BOT_TOKEN is not set"
