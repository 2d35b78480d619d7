"""How many paid days a refund takes back (tenants.refund_days): the edges of the arithmetic."""

from __future__ import annotations

from decimal import Decimal

from booking_webhook.tenants import refund_days


def test_a_refund_of_nothing_takes_back_no_day() -> None:
    assert refund_days(Decimal("0.00"), Decimal("299.00"), 30) == 0


def test_a_refund_of_a_free_payment_takes_back_no_day() -> None:
    """A zero payment (a 100 % promo) has no share to compute: nothing to take back, no error."""
    assert refund_days(Decimal("5.00"), Decimal("0.00"), 30) == 0


def test_a_one_rouble_payment_refunded_in_full_takes_back_every_day() -> None:
    assert refund_days(Decimal("1.00"), Decimal("1.00"), 30) == 30


def test_a_one_rouble_refund_takes_back_its_share() -> None:
    assert refund_days(Decimal("1.00"), Decimal("10.00"), 30) == 3
