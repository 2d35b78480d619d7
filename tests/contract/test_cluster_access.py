"""Without a way to reach a cluster, every component says so in one line and exits 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from booking_contract.kube import api_client, check_access
from booking_contract.settings import ConfigError


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No service account, no KUBECONFIG, an empty home: nothing to reach a cluster with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "YOOKASSA", "WEBHOOK", "SALES"))}
    env.update(HOME=str(tmp_path), **extra)
    return env


def test_no_service_account_and_no_kubeconfig_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="no Kubernetes access"):
        check_access()


def test_a_named_kubeconfig_that_exists_is_access(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\n")
    check_access(str(kubeconfig))


async def test_a_kubeconfig_without_a_context_is_a_configuration_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    with pytest.raises(ConfigError, match="unusable kubeconfig"):
        await api_client(str(kubeconfig))


def _one_line_exit_2(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "no Kubernetes access" in lines[0]
    return lines[0]


def test_the_webhook_without_a_kubeconfig_says_so_in_one_line(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        YOOKASSA_SHOP_ID="123456",
        YOOKASSA_SECRET_KEY="test_abcdefghijklmnopqrstuvwxyz",
        WEBHOOK_DATABASE_URL="postgresql://u:p@127.0.0.1:1/db",
    )
    line = _one_line_exit_2(["-m", "booking_webhook"], env)
    assert line.startswith("booking-webhook: configuration error:")


def test_the_legacy_apply_without_a_kubeconfig_says_so_in_one_line(tmp_path: Path) -> None:
    clients = tmp_path / "clients"
    clients.mkdir()
    _one_line_exit_2(["-m", "booking_legacy", "manifests", str(clients), "--apply"], _env(tmp_path))
