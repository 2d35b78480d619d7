"""The clientId rules every component applies (operator, bot, webhook, legacy migration)."""

from __future__ import annotations

import pytest

from booking_contract.client_id import (
    CLIENT_ID_PATTERN,
    InvalidClientId,
    client_id_problem,
    is_valid_client_id,
    tenant_name,
    validate_client_id,
)


@pytest.mark.parametrize("client_id", ["abc", "client_001", "a" * 40, "shop_2_spb"])
def test_ids_inside_the_pattern_are_valid(client_id: str) -> None:
    assert validate_client_id(client_id) == client_id
    assert is_valid_client_id(client_id)


@pytest.mark.parametrize(
    "client_id", ["ab", "a" * 41, "1client", "client-001", "_client", "", "Client", 'x"; DROP']
)
def test_ids_outside_the_pattern_must_match_it(client_id: str) -> None:
    assert client_id_problem(client_id) == f"must match {CLIENT_ID_PATTERN}"
    with pytest.raises(InvalidClientId, match="must match"):
        validate_client_id(client_id)


@pytest.mark.parametrize("value", [None, 1, ["client_001"]])
def test_a_non_string_is_no_client_id(value: object) -> None:
    assert not is_valid_client_id(value)


@pytest.mark.parametrize("client_id", ["pg_catalog", "pg_salon", "public", "postgres", "default", "platform"])
def test_reserved_ids_are_refused_as_reserved(client_id: str) -> None:
    assert client_id_problem(client_id) == "is reserved"
    with pytest.raises(InvalidClientId, match="reserved"):
        validate_client_id(client_id)


def test_an_invalid_id_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="clientId 'Bad-Id'"):
        validate_client_id("Bad-Id")


def test_the_tenant_name_is_a_dns_label() -> None:
    assert tenant_name("client_001") == "client-001"
