"""The CRD the API server enforces says what the contract package says.

crds/bookingtenants.bookingsaas.dev.yaml (and the chart's identical copy) is what the API server
checks; booking_contract is what every component checks. A change to one without the other
fails here.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from booking_contract import crd
from booking_contract.client_id import CLIENT_ID_PATTERN, RESERVED_NAMES, RESERVED_PREFIX
from harness.crd_schema import BOOKINGTENANT_CRD

CRD: dict[str, Any] = yaml.safe_load(BOOKINGTENANT_CRD.read_text(encoding="utf-8"))
(VERSION,) = CRD["spec"]["versions"]
SCHEMA: dict[str, Any] = VERSION["schema"]["openAPIV3Schema"]
CLIENT_ID: dict[str, Any] = SCHEMA["properties"]["spec"]["properties"]["clientId"]


def test_group_version_kind_plural_and_short_name() -> None:
    names = CRD["spec"]["names"]
    assert CRD["metadata"]["name"] == f"{crd.PLURAL}.{crd.GROUP}"
    assert CRD["spec"]["group"] == crd.GROUP
    assert VERSION["name"] == crd.VERSION
    assert (names["kind"], names["plural"], names["singular"]) == (crd.KIND, crd.PLURAL, crd.SINGULAR)
    assert names["shortNames"] == [crd.SHORT_NAME]


def test_the_client_id_pattern_is_the_packages() -> None:
    assert CLIENT_ID["pattern"] == CLIENT_ID_PATTERN


def test_the_reserved_prefix_is_the_packages() -> None:
    rules = [r["rule"] for r in CLIENT_ID["x-kubernetes-validations"]]
    assert f"!self.startsWith('{RESERVED_PREFIX}')" in rules


def test_the_reserved_names_are_the_packages() -> None:
    (rule,) = [r["rule"] for r in CLIENT_ID["x-kubernetes-validations"] if " in [" in r["rule"]]
    listed = set(re.findall(r"'([^']*)'", rule))
    assert listed == RESERVED_NAMES


def test_the_phases_are_the_packages() -> None:
    assert tuple(SCHEMA["properties"]["status"]["properties"]["phase"]["enum"]) == crd.PHASES


def test_the_token_secret_key_default_is_the_packages() -> None:
    ref = SCHEMA["properties"]["spec"]["properties"]["botTokenSecretRef"]
    assert ref["properties"]["key"]["default"] == crd.TOKEN_SECRET_KEY


def test_the_deletion_policies_are_the_packages() -> None:
    policy = SCHEMA["properties"]["spec"]["properties"]["deletionPolicy"]
    assert tuple(policy["enum"]) == crd.DELETION_POLICIES


def test_the_time_zone_rules_are_the_packages() -> None:
    zone = SCHEMA["properties"]["spec"]["properties"]["timezone"]
    assert (zone["pattern"], zone["maxLength"], zone["default"]) == (
        crd.TIMEZONE_PATTERN,
        crd.TIMEZONE_MAX_LENGTH,
        crd.DEFAULT_TIMEZONE,
    )


def test_a_time_zone_must_be_a_known_region_or_utc() -> None:
    assert crd.valid_timezone("Asia/Yekaterinburg") and crd.valid_timezone("UTC")
    for bad in ("Mars/Olympus", "MSK", "+05:00", "Europe/Moscow; rm", "", "A/" + "b" * 70):
        assert not crd.valid_timezone(bad), bad
