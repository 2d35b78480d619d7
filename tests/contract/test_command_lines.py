"""Every component's ``python -m`` reads its command line the same way, before its configuration.

An unknown argument is the usage on stderr and exit 2, ``--help`` the usage on stdout and exit 0,
with an environment that configures nothing: neither may depend on a variable being set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

COMPONENTS = [
    ("booking_operator", "usage: python -m booking_operator\n"),
    ("booking_bot", "usage: python -m booking_bot [run|migrate]\n"),
    ("booking_bot.shard", "usage: python -m booking_bot.shard "),
    ("booking_webhook", "usage: python -m booking_webhook [serve|salesbot|refund "),
]


def _run(module: str, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}  # no configuration at all
    return subprocess.run(
        [sys.executable, "-m", module, *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(("module", "usage"), COMPONENTS)
def test_an_unknown_argument_is_the_usage_on_stderr_and_exit_2(
    module: str, usage: str, tmp_path: Path
) -> None:
    result = _run(module, ["--bogus"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(usage), result.stderr
    assert "error" not in result.stderr and "Traceback" not in result.stderr  # no configuration was read
    assert result.stdout == ""


@pytest.mark.parametrize(("module", "usage"), COMPONENTS)
def test_help_is_the_usage_on_stdout_and_exit_0(module: str, usage: str, tmp_path: Path) -> None:
    result = _run(module, ["--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(usage) and result.stderr == ""
