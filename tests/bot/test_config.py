"""Bad configuration: one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from booking_bot.__main__ import main

GOOD = {
    "CLIENT_ID": "client_001",
    "BOT_TOKEN": "1:x",
    "DATABASE_URL": "postgresql://u:secretpw@127.0.0.1:1/db",
}
OURS = (*GOOD, "REDIS_KEY_PREFIX", "REDIS_URL", "OWNER_TELEGRAM_ID", "ADMIN_TELEGRAM_IDS", "TENANT_TIMEZONE")


def _main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str
) -> tuple[int, str]:
    """Run ``python -m booking_bot`` in this process; (exit code, stderr)."""
    monkeypatch.setattr("booking_bot.__main__.setup_logging", lambda *_: None)  # keep pytest's handlers
    for name in OURS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    code = exit_info.value.code
    return int(code) if isinstance(code, int) else 1, capsys.readouterr().err


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({**GOOD, "CLIENT_ID": "Bad-Id"}, "CLIENT_ID"),
        ({**GOOD, "CLIENT_ID": "pg_catalog"}, "CLIENT_ID"),
        ({k: v for k, v in GOOD.items() if k != "BOT_TOKEN"}, "BOT_TOKEN is not set"),
        ({**GOOD, "BOT_TOKEN": ""}, "BOT_TOKEN is not set"),
        ({k: v for k, v in GOOD.items() if k != "DATABASE_URL"}, "DATABASE_URL is not set"),
        ({**GOOD, "REDIS_KEY_PREFIX": "other:"}, "REDIS_KEY_PREFIX must start with 'client_001:'"),
        ({**GOOD, "TENANT_TIMEZONE": "Mars/Olympus"}, "TENANT_TIMEZONE"),
        ({**GOOD, "ADMIN_TELEGRAM_IDS": "1,abc"}, "ADMIN_TELEGRAM_IDS"),
        ({**GOOD, "DB_STATEMENT_CACHE_SIZE": "-1"}, "DB_STATEMENT_CACHE_SIZE"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], needle: str
) -> None:
    code, err = _main(monkeypatch, capsys, env)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("booking_bot: configuration error: ")
    assert needle in lines[0]
    assert "secretpw" not in err


def test_bad_config_from_a_real_process_has_no_traceback() -> None:
    env = {k: v for k, v in os.environ.items() if k not in OURS}
    result = subprocess.run(
        [sys.executable, "-m", "booking_bot"],
        env={**env, **GOOD, "CLIENT_ID": "Bad-Id"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_migrate_does_not_need_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _main(monkeypatch, capsys, {k: v for k, v in GOOD.items() if k != "BOT_TOKEN"}, "migrate")
    # The configuration is fine; the database is unreachable: one line, exit 1.
    assert code == 1
    assert err.strip().splitlines() == [
        "booking_bot: database error: cannot migrate: ConnectionRefusedError: "
        "[Errno 111] Connect call failed ('127.0.0.1', 1)"
    ]


def test_unreachable_database_at_start_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _main(monkeypatch, capsys, GOOD)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("booking_bot: startup error: cannot reach the database")
    assert "secretpw" not in err


def test_empty_optional_variables_count_as_unset(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**GOOD, "OWNER_TELEGRAM_ID": "", "ADMIN_TELEGRAM_IDS": "", "REDIS_URL": "", "TELEGRAM_API_URL": ""}
    code, err = _main(monkeypatch, capsys, env)
    assert code == 1 and "cannot reach the database" in err  # past the configuration


def test_unknown_command_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _main(monkeypatch, capsys, GOOD, "serve")
    assert code == 2
    assert err.strip() == "usage: python -m booking_bot [run|migrate]"


def test_the_platform_schema_is_no_client_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `platform` holds the webhook's tables; the operator and the CRD refuse it, so must the bot.
    code, err = _main(monkeypatch, capsys, {**GOOD, "CLIENT_ID": "platform"})
    assert code == 2
    assert err.startswith("booking_bot: configuration error: CLIENT_ID 'platform' is reserved")


def test_help_prints_the_usage_and_needs_no_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--help"])
    out = capsys.readouterr()
    assert out.out == "usage: python -m booking_bot [run|migrate]\n" and out.err == ""
