"""Starting the operator with a broken environment: one clear line, exit code 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_operator(**env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPERATOR_", "BOT_", "KUBE", "REDIS_ACL"))
    }
    base["KUBECONFIG"] = "/dev/null"  # exists: the checks under test come first
    return subprocess.run(
        [sys.executable, "-m", "booking_operator"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "OPERATOR_DATABASE_URL is not set"),
        (
            {"OPERATOR_DATABASE_URL": "mysql://x", "OPERATOR_REDIS_URL": "redis://r", "BOT_IMAGE": "i"},
            "OPERATOR_DATABASE_URL",
        ),
        (
            {"OPERATOR_DATABASE_URL": "postgresql://u:p@h/db", "OPERATOR_REDIS_URL": "redis://r"},
            "BOT_IMAGE is not set",
        ),
        (
            {
                "OPERATOR_DATABASE_URL": "postgresql://u:p@h/db",
                "OPERATOR_REDIS_URL": "redis://r",
                "BOT_IMAGE": "i",
                "REDIS_ACL": "maybe",
            },
            "REDIS_ACL",
        ),
    ],
)
def test_bad_configuration_exits_2_with_one_line_naming_the_variable(
    env: dict[str, str], expected: str
) -> None:
    result = run_operator(**env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_no_kubernetes_access_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_operator(
        OPERATOR_DATABASE_URL="postgresql://u:p@h/db",
        OPERATOR_REDIS_URL="redis://r",
        BOT_IMAGE="i",
        KUBECONFIG=str(tmp_path / "missing"),
        HOME=str(tmp_path),
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"booking-operator: configuration error: no Kubernetes access: not in a cluster and no kubeconfig "
        f"at {tmp_path / 'missing'} (set KUBECONFIG)"
    ]


def test_configuration_errors_never_echo_the_database_password() -> None:
    result = run_operator(OPERATOR_DATABASE_URL="mysql://admin:hunter2@db/x", OPERATOR_REDIS_URL="redis://r")
    assert result.returncode == 2
    assert "hunter2" not in result.stderr


def test_help_prints_the_usage_and_needs_no_configuration() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "booking_operator", "--help"],
        env={k: v for k, v in os.environ.items() if not k.startswith(("OPERATOR_", "BOT_"))},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m booking_operator")
    assert result.stderr == ""
