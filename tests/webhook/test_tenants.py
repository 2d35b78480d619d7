"""The pure parts of applying a payment: dates, names, the manifest."""

import datetime
import uuid
from collections.abc import Callable

from booking_contract.client_id import is_valid_client_id, tenant_name
from booking_webhook.naming import new_client_id
from booking_webhook.store import Checkout
from booking_webhook.tenants import ConfirmedPayment, extended_paid_until, tenant_manifest
from harness.checkouts import new_bot_checkout

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


def _checkout() -> Checkout:
    return new_bot_checkout(created_at=NOW)


def test_a_renewal_before_expiry_adds_days_to_the_current_end() -> None:
    assert extended_paid_until("2026-03-10T00:00:00Z", 30, NOW) == "2026-04-09T00:00:00Z"


def test_a_renewal_after_expiry_counts_from_now() -> None:
    assert extended_paid_until("2026-01-01T00:00:00Z", 30, NOW) == "2026-03-31T12:00:00Z"


def test_a_tenant_that_never_expires_stays_so() -> None:
    assert extended_paid_until(None, 30, NOW) is None


def test_generated_client_ids_are_valid_distinct_and_dns_safe() -> None:
    ids = {new_client_id() for _ in range(500)}
    assert len(ids) == 500
    for client_id in ids:
        assert is_valid_client_id(client_id)
        name = tenant_name(client_id)
        assert len(name) <= 48 and name.replace("-", "").isalnum() and name == name.lower()


def test_reserved_and_malformed_client_ids_are_invalid() -> None:
    for bad in ("public", "pg_catalog", "Client_1", "1abc", "ab", "a" * 41, "client-1"):
        assert not is_valid_client_id(bad), bad


def test_the_new_tenant_manifest_satisfies_the_crd(crd_errors: Callable[..., list[str]]) -> None:
    checkout = _checkout()
    payment = ConfirmedPayment(id=str(uuid.uuid4()), plan="1m", days=30, amount="299.00", currency="RUB")
    ref = {"name": str(checkout.token_secret_name), "key": "token", "namespace": "booking-system-tokens"}
    manifest = tenant_manifest(checkout, payment, NOW, ref)
    assert crd_errors(manifest) == []
    assert manifest["spec"]["paidUntil"] == "2026-03-31T12:00:00Z"
    assert manifest["spec"]["botTokenSecretRef"] == ref
