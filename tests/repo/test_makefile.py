"""`make test` with a complete .venv must not touch the package index (it has to work offline).

Each test runs the real Makefile with `make -n` (print, do not run) against a throwaway VENV
whose stamp is made newer or older than the requirement files, so what make *would* run is
exactly what a developer's `make test` runs.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The Makefile's own list, so a package added there needs no edit here.
PACKAGES = next(
    line.split(":=", 1)[1].strip()
    for line in (ROOT / "Makefile").read_text().splitlines()
    if line.startswith("PACKAGES :=")
)


def _venv(tmp_path: Path, installed: str | None = PACKAGES) -> Path:
    """A stand-in .venv: bin/python and, unless None, a stamp recording the installed packages."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    if installed is not None:
        stamp = venv / ".installed"
        stamp.write_text(installed + "\n")
        later = time.time() + 60
        os.utime(stamp, (later, later))
    return venv


def _would_run(venv: Path, *args: str) -> list[str]:
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", f"VENV={venv}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def _installs(lines: list[str]) -> bool:
    return any("pip install" in line for line in lines)


def test_make_test_with_a_complete_venv_runs_pytest_and_installs_nothing(tmp_path: Path) -> None:
    lines = _would_run(_venv(tmp_path), "test")
    assert not _installs(lines), lines
    assert lines[-1].endswith("bin/pytest")


def test_make_test_on_a_fresh_checkout_installs_every_package(tmp_path: Path) -> None:
    lines = _would_run(_venv(tmp_path, installed=None), "test")
    assert _installs(lines)
    editable = next(line for line in lines if "--no-deps" in line)
    for package in PACKAGES.split():
        assert f"-e ./{package}" in editable


def test_a_changed_requirements_file_reinstalls(tmp_path: Path) -> None:
    venv = _venv(tmp_path)
    for changed in ("bot_image/requirements.txt", "operator/pyproject.toml", "requirements-dev.txt"):
        assert _installs(_would_run(venv, "-W", changed, "test")), changed


def test_a_package_added_to_packages_reinstalls_even_without_requirements_txt(tmp_path: Path) -> None:
    """`PACKAGES += contract` is all a new package needs; one without requirements.txt is fine."""
    package = tmp_path / "newpkg"
    package.mkdir()
    (package / "pyproject.toml").write_text("")
    lines = _would_run(_venv(tmp_path), f"PACKAGES={PACKAGES} {package}", "test")
    install = next(line for line in lines if "pip install -q -r" in line)
    assert f"{package}/requirements.txt" not in install
    assert f"-e ./{package}" in next(line for line in lines if "--no-deps" in line)
