"""docs/contracts.md is the map of the contract package, and stays inside the repository."""

from __future__ import annotations

import pkgutil
import re

import booking_contract
from harness.crd_schema import REPO_ROOT

MAP = (REPO_ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")


def test_every_module_of_the_package_is_on_the_map() -> None:
    modules = [m.name for m in pkgutil.iter_modules(booking_contract.__path__)]
    assert modules, "booking_contract has no modules"
    missing = [m for m in modules if f"`booking_contract.{m}`" not in MAP]
    assert missing == []


def test_the_map_points_nowhere_outside_the_repository() -> None:
    links = re.findall(r"\]\(([^)]+)\)", MAP) + re.findall(r"`(\.\./[^`]*)`", MAP)
    assert [link for link in links if link.startswith("../") or "://" in link] == []
