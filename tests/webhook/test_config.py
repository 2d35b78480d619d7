"""Configuration: one settings object, refusing missing or placeholder values with one line."""

import os
import subprocess
import sys

import pytest

from booking_contract.settings import ConfigError
from booking_webhook.core.config import YOOKASSA_NOTIFICATION_NETWORKS, load_settings

GOOD = {
    "YOOKASSA_SHOP_ID": "123456",
    "YOOKASSA_SECRET_KEY": "live_real_looking_key_1234567890",
    "WEBHOOK_DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/db",
}


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        [sys.executable, "-m", "booking_webhook"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_missing_configuration_exits_2_with_one_line() -> None:
    result = _run({})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "YOOKASSA_SHOP_ID" in lines[0] and "Traceback" not in result.stderr


def test_a_placeholder_secret_key_is_refused() -> None:
    result = _run({**GOOD, "YOOKASSA_SECRET_KEY": "changeme"})
    assert result.returncode == 2
    assert "YOOKASSA_SECRET_KEY" in result.stderr and "changeme" not in result.stderr


def test_a_malformed_trusted_proxy_list_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GOOD.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WEBHOOK_TRUSTED_PROXIES", "10.0.0.0/8, nonsense")
    with pytest.raises(ConfigError, match="WEBHOOK_TRUSTED_PROXIES"):
        load_settings()


def test_production_defaults_trust_no_proxy_and_only_yookassa_networks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in GOOD.items():
        monkeypatch.setenv(key, value)
    for key in (
        "WEBHOOK_TRUSTED_PROXIES",
        "WEBHOOK_SOURCE_NETWORKS",
        "WEBHOOK_EXTRA_SOURCE_NETWORKS",
        "PORT",
    ):
        monkeypatch.delenv(key, raising=False)
    settings = load_settings()
    assert settings.trusted_proxies == []
    assert [str(n) for n in settings.allowed_sources] == list(YOOKASSA_NOTIFICATION_NETWORKS)
    assert settings.port == 8001
    assert settings.yookassa_api_url == "https://api.yookassa.ru/v3"
    assert settings.yookassa_test_shop is False  # a live shop: test payments are refused


def test_plans_come_from_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GOOD.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(
        "PLANS", '{"1m": {"days": 30, "amount": "350.00"}, "trial": {"days": 7, "amount": "1.00"}}'
    )
    settings = load_settings()
    assert settings.plans["1m"].amount_str == "350.00" and settings.plans["trial"].days == 7


def test_an_empty_sales_bot_token_means_no_sales_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GOOD.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SALES_BOT_TOKEN", "")
    monkeypatch.setenv("TELEGRAM_API_URL", "")
    settings = load_settings()
    assert settings.sales_bot_token is None and settings.telegram_api_url is None


def test_the_charts_plan_json_with_numbers_is_understood(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GOOD.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PLANS", '{"1m": {"days": 30, "amount": 299}, "12m": {"days": 365, "amount": 2990.5}}')
    settings = load_settings()
    assert (settings.plans["1m"].amount_str, settings.plans["12m"].amount_str) == ("299.00", "2990.50")


def test_an_empty_source_network_list_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GOOD.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WEBHOOK_SOURCE_NETWORKS", "")
    with pytest.raises(ConfigError, match="WEBHOOK_SOURCE_NETWORKS"):
        load_settings()


def test_help_prints_the_usage_and_needs_no_configuration() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "booking_webhook", "--help"],
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout
        == "usage: python -m booking_webhook [serve|salesbot|refund PAYMENT_ID [AMOUNT] --reason TEXT]\n"
    )
    assert result.stderr == ""
