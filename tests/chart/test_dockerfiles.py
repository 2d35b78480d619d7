"""The images run what the tests run: `python -m <package>`, pinned base, never root."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from .conftest import ROOT

IMAGES = {"operator": "booking_operator", "bot_image": "booking_bot", "webhook_image": "booking_webhook"}


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _dockerfile(directory: str) -> Path:
    path = ROOT / directory / "Dockerfile"
    if not path.exists():
        pytest.fail(f"{directory}/Dockerfile is missing")
    return path


def _command(instructions: list[tuple[str, str]]) -> list[str]:
    entrypoint = [json.loads(rest) for keyword, rest in instructions if keyword == "ENTRYPOINT"]
    cmd = [json.loads(rest) for keyword, rest in instructions if keyword == "CMD"]
    assert entrypoint or cmd, "no ENTRYPOINT or CMD"
    return [*(entrypoint[-1] if entrypoint else []), *(cmd[-1] if cmd and not entrypoint else [])]


@pytest.mark.parametrize("directory", sorted(IMAGES))
def test_entrypoint_runs_an_existing_package_module(directory: str) -> None:
    command = _command(_instructions(_dockerfile(directory)))
    assert command[:2] == ["python", "-m"], f"exec form `python -m <package>` expected, got {command}"
    package = command[2]
    assert package == IMAGES[directory]
    assert (ROOT / directory / package / "__main__.py").is_file(), (
        f"{directory}/{package}/__main__.py is missing"
    )


@pytest.mark.parametrize("directory", sorted(IMAGES))
def test_base_image_tag_is_pinned(directory: str) -> None:
    instructions = _instructions(_dockerfile(directory))
    args = {}
    for keyword, rest in instructions:
        if keyword == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip().strip('"')
    for keyword, rest in instructions:
        if keyword != "FROM":
            continue
        image = shlex.split(rest)[0]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), image)
        name, _, tag = image.rpartition(":") if "@" not in image else (image, "", "digest")
        assert name and tag and tag != "latest" and "/" not in tag, (
            f"{directory}: base image {image!r} is not pinned"
        )


@pytest.mark.parametrize("directory", sorted(IMAGES))
def test_image_never_runs_as_root(directory: str) -> None:
    users = [rest for keyword, rest in _instructions(_dockerfile(directory)) if keyword == "USER"]
    assert users, f"{directory}: no USER instruction, the image would run as root"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, (
        f"{directory}: USER {users[-1]!r} must be a numeric non-root uid"
    )


@pytest.mark.parametrize("directory", sorted(IMAGES))
def test_requirements_are_pinned(directory: str) -> None:
    _dockerfile(directory)
    for line in (ROOT / directory / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert "==" in line, f"{directory}/requirements.txt: {line!r} is not pinned"


def _copy_sources(instructions: list[tuple[str, str]]) -> list[str]:
    sources = []
    for keyword, rest in instructions:
        if keyword == "COPY":
            parts = [p for p in shlex.split(rest) if not p.startswith("--")]
            sources += parts[:-1]
    return sources


@pytest.mark.parametrize("directory", sorted(IMAGES))
def test_every_copied_path_is_in_the_root_build_context(directory: str) -> None:
    """`docker build -f <dir>/Dockerfile .`: sources are relative to the root, not excluded."""
    included = [
        line[1:].strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    sources = _copy_sources(_instructions(_dockerfile(directory)))
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"{directory}/Dockerfile copies {source}, absent from the root"
        assert source.split("/")[0] in included, f"{source} is excluded by .dockerignore"


def test_the_build_context_holds_only_the_package_sources() -> None:
    """No .venv, .git, tests or charts in the context: everything is excluded, four folders return."""
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "**"
    assert sorted(r for r in rules if r.startswith("!")) == [
        "!bot_image/",
        "!contract/",
        "!operator/",
        "!webhook_image/",
    ]


@pytest.mark.parametrize("directory", sorted(IMAGES))
def test_each_image_installs_the_contract_package_with_its_pinned_requirements(directory: str) -> None:
    instructions = _instructions(_dockerfile(directory))
    sources = _copy_sources(instructions)
    assert "contract/booking_contract" in sources and "contract/requirements.txt" in sources
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "-r /app/contract/requirements.txt" in runs and "/app/contract " in runs
