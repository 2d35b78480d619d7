"""A deployable never imports another deployable's package; the contract imports none of them.

Imports are read from the sources (``import``/``from`` statements and ``importlib.import_module``
calls with a literal name), so a runtime import through ``importlib`` counts as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.crd_schema import REPO_ROOT

PACKAGES = {
    "booking_contract": REPO_ROOT / "contract" / "booking_contract",
    "booking_operator": REPO_ROOT / "operator" / "booking_operator",
    "booking_bot": REPO_ROOT / "bot_image" / "booking_bot",
    "booking_webhook": REPO_ROOT / "webhook_image" / "booking_webhook",
    "booking_legacy": REPO_ROOT / "legacy_migration" / "booking_legacy",
}
# What each package may import of ours besides itself.
ALLOWED = {
    "booking_contract": set(),
    "booking_operator": {"booking_contract"},
    "booking_bot": {"booking_contract"},
    "booking_webhook": {"booking_contract"},
    "booking_legacy": {"booking_contract", "booking_operator", "booking_bot"},
}


def imported_packages(source: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return {name.split(".")[0] for name in names} & PACKAGES.keys()


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_a_package_imports_only_what_it_stands_on(package: str) -> None:
    found = {
        f"{path.relative_to(REPO_ROOT)} imports {other}"
        for path in PACKAGES[package].rglob("*.py")
        for other in imported_packages(path) - {package} - ALLOWED[package]
    }
    assert sorted(found) == []


def test_no_image_ships_the_migration_tool() -> None:
    for directory in ("operator", "bot_image", "webhook_image"):
        dockerfile = (REPO_ROOT / directory / "Dockerfile").read_text(encoding="utf-8")
        assert "legacy_migration" not in dockerfile and "booking_legacy" not in dockerfile
