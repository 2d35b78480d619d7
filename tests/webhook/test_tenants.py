"""Applying a payment or a refund to a BookingTenant: dates, names, the manifest, and the writes
on the API server (the emulator) with what they report back for the ledger."""

import asyncio
import dataclasses
import datetime
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from booking_contract.client_id import is_valid_client_id, tenant_name
from booking_webhook.kube import Kube
from booking_webhook.naming import new_client_id
from booking_webhook.store import Checkout
from booking_webhook.tenants import (
    Applied,
    ConfirmedPayment,
    ConfirmedRefund,
    PaymentOutcome,
    RefundApplied,
    apply_payment,
    apply_refund,
    extended_paid_until,
    tenant_manifest,
)
from harness.checkouts import new_bot_checkout
from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.yookassa import FakeYooKassa

from .conftest import Platform
from .test_background import wait_until

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
FIRST_PAYMENT = "2f0c7e59-000f-5000-9000-1b68e7b15f3f"  # the payment that created each tenant here


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


def test_the_new_tenant_manifest_carries_its_checkout_owner_and_first_payment() -> None:
    checkout = _checkout()
    payment = ConfirmedPayment(id=str(uuid.uuid4()), plan="1m", days=30, amount="299.00", currency="RUB")
    manifest = tenant_manifest(checkout, payment, NOW, {"name": "t", "key": "token"})

    meta, spec = manifest["metadata"], manifest["spec"]
    assert (manifest["apiVersion"], manifest["kind"]) == ("bookingsaas.dev/v1alpha1", "BookingTenant")
    assert meta["name"] == checkout.tenant_name
    assert meta["labels"] == {
        "app.kubernetes.io/managed-by": "booking-webhook",
        "bookingsaas.dev/client-id": checkout.client_id,
    }
    assert meta["annotations"] == {"bookingsaas.dev/checkout-id": str(checkout.id)}
    assert (spec["clientId"], spec["companyName"], spec["ownerTelegramId"], spec["plan"]) == (
        checkout.client_id,
        "Test Company",
        123456789,
        "1m",
    )
    assert spec["deletionPolicy"] == "Retain"  # a paying customer's data outlives a mistaken delete
    assert spec["payments"] == [
        {
            "id": payment.id,
            "plan": "1m",
            "days": 30,
            "amount": "299.00",
            "currency": "RUB",
            "appliedAt": "2026-03-01T12:00:00Z",
        }
    ]
    assert "timezone" not in spec  # the CRD's default zone, as for tenants bought before the question


def test_the_new_tenant_gets_the_zone_chosen_when_buying_and_a_company_name_the_crd_accepts(
    crd_errors: Callable[..., list[str]],
) -> None:
    checkout = dataclasses.replace(_checkout(), time_zone="Asia/Yekaterinburg", company_name="Ы" * 200)
    payment = ConfirmedPayment(id=str(uuid.uuid4()), plan="1m", days=30, amount="299.00", currency="RUB")
    manifest = tenant_manifest(checkout, payment, NOW, {"name": "t", "key": "token"})

    assert manifest["spec"]["timezone"] == "Asia/Yekaterinburg"
    assert manifest["spec"]["companyName"] == "Ы" * 128
    assert crd_errors(manifest) == []


def test_a_renewal_of_a_tenant_whose_end_cannot_be_read_counts_from_now() -> None:
    assert extended_paid_until("not a time", 30, NOW) == "2026-03-31T12:00:00Z"


# --- applying to a BookingTenant on the API server (the emulator) ---


async def _created(
    platform: Platform, yookassa: FakeYooKassa, now: datetime.datetime
) -> tuple[Checkout, Applied]:
    checkout, _ = await platform.new_checkout(plan="1m")
    payment = ConfirmedPayment(id=FIRST_PAYMENT, plan="1m", days=30, amount="299.00", currency="RUB")
    applied = await apply_payment(platform.kube, checkout, payment, now)
    return checkout, applied


async def test_a_created_tenant_reports_the_period_it_bought_to_the_second(
    platform: Platform, yookassa: FakeYooKassa
) -> None:
    now = datetime.datetime(2026, 3, 1, 12, 0, 0, 654321, tzinfo=datetime.UTC)

    _, applied = await _created(platform, yookassa, now)

    assert applied == Applied(
        PaymentOutcome.CREATED,
        datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.UTC),
        datetime.datetime(2026, 3, 31, 12, 0, 0, tzinfo=datetime.UTC),
    )


async def test_a_renewal_reports_the_period_from_the_old_end(
    platform: Platform, yookassa: FakeYooKassa
) -> None:
    first, _ = await _created(platform, yookassa, NOW)
    renewal = ConfirmedPayment(id=str(uuid.uuid4()), plan="3m", days=90, amount="799.00", currency="RUB")

    applied = await apply_payment(platform.kube, dataclasses.replace(first, kind="renewal"), renewal, NOW)

    assert applied == Applied(
        PaymentOutcome.EXTENDED,
        datetime.datetime(2026, 3, 31, 12, 0, tzinfo=datetime.UTC),
        datetime.datetime(2026, 6, 29, 12, 0, tzinfo=datetime.UTC),
    )
    tenant = await platform.kube.get_tenant(first.tenant_name)
    assert tenant is not None and (tenant["spec"]["plan"], tenant["spec"]["paidUntil"]) == (
        "3m",
        "2026-06-29T12:00:00Z",
    )


async def test_a_renewal_of_a_tenant_without_an_end_records_the_payment_and_keeps_it_endless(
    platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    first, _ = await _created(platform, yookassa, NOW)
    await kube.patch(
        BOOKINGTENANTS, platform.kube.namespace, first.tenant_name, {"spec": {"paidUntil": None}}
    )
    renewal = ConfirmedPayment(id=str(uuid.uuid4()), plan="12m", days=365, amount="2990.00", currency="RUB")

    applied = await apply_payment(platform.kube, dataclasses.replace(first, kind="renewal"), renewal, NOW)

    assert applied == Applied(PaymentOutcome.EXTENDED)
    tenant = await platform.kube.get_tenant(first.tenant_name)
    assert tenant is not None and "paidUntil" not in tenant["spec"]
    assert [p["id"] for p in tenant["spec"]["payments"]][-1] == renewal.id and tenant["spec"]["plan"] == "12m"


async def test_a_tenant_made_by_hand_without_an_owner_can_be_renewed(
    platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    first, _ = await _created(platform, yookassa, NOW)
    await kube.patch(
        BOOKINGTENANTS, platform.kube.namespace, first.tenant_name, {"spec": {"ownerTelegramId": None}}
    )
    renewal = ConfirmedPayment(id=str(uuid.uuid4()), plan="1m", days=30, amount="299.00", currency="RUB")

    applied = await apply_payment(platform.kube, dataclasses.replace(first, kind="renewal"), renewal, NOW)

    assert applied.outcome is PaymentOutcome.EXTENDED


async def test_a_tenant_keeps_its_newest_thousand_payments(
    platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    first, _ = await _created(platform, yookassa, NOW)
    old = [
        {
            "id": f"old-{i}",
            "plan": "1m",
            "days": 30,
            "amount": "299.00",
            "currency": "RUB",
            "appliedAt": "2026-01-01T00:00:00Z",
        }
        for i in range(1000)
    ]
    await kube.patch(BOOKINGTENANTS, platform.kube.namespace, first.tenant_name, {"spec": {"payments": old}})
    renewal = ConfirmedPayment(id=str(uuid.uuid4()), plan="1m", days=30, amount="299.00", currency="RUB")

    await apply_payment(platform.kube, dataclasses.replace(first, kind="renewal"), renewal, NOW)

    tenant = await platform.kube.get_tenant(first.tenant_name)
    assert tenant is not None
    ids = [p["id"] for p in tenant["spec"]["payments"]]
    assert len(ids) == 1000 and ids[0] == "old-1" and ids[-1] == renewal.id


def _refund(days: int, payment_id: str = FIRST_PAYMENT) -> ConfirmedRefund:
    return ConfirmedRefund(str(uuid.uuid4()), payment_id, days, "100.00", "RUB")


async def test_a_refund_takes_its_days_off_and_is_recorded_with_the_tenant(
    platform: Platform, yookassa: FakeYooKassa
) -> None:
    first, _ = await _created(platform, yookassa, NOW)
    refund = _refund(10)

    assert await apply_refund(platform.kube, first.tenant_name, refund, NOW) == RefundApplied(
        "2026-03-21T12:00:00Z", 10
    )

    tenant = await platform.kube.get_tenant(first.tenant_name)
    assert tenant is not None and tenant["spec"]["refunds"] == [
        {
            "id": refund.id,
            "paymentId": FIRST_PAYMENT,
            "days": 10,
            "amount": "100.00",
            "currency": "RUB",
            "appliedAt": "2026-03-01T12:00:00Z",
        }
    ]


async def test_a_refund_applied_again_changes_nothing_and_answers_the_current_end(
    platform: Platform, yookassa: FakeYooKassa
) -> None:
    first, _ = await _created(platform, yookassa, NOW)
    refund = _refund(10)
    await apply_refund(platform.kube, first.tenant_name, refund, NOW)

    assert await apply_refund(platform.kube, first.tenant_name, refund, NOW) == RefundApplied(
        "2026-03-21T12:00:00Z", 10
    )

    tenant = await platform.kube.get_tenant(first.tenant_name)
    assert tenant is not None and len(tenant["spec"]["refunds"]) == 1


async def test_a_refund_of_a_tenant_without_an_end_is_recorded_and_answers_empty(
    platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    first, _ = await _created(platform, yookassa, NOW)
    await kube.patch(
        BOOKINGTENANTS, platform.kube.namespace, first.tenant_name, {"spec": {"paidUntil": None}}
    )

    assert await apply_refund(platform.kube, first.tenant_name, _refund(10), NOW) == RefundApplied("", 10)

    tenant = await platform.kube.get_tenant(first.tenant_name)
    assert tenant is not None and "paidUntil" not in tenant["spec"] and len(tenant["spec"]["refunds"]) == 1


async def test_a_refund_of_a_deleted_tenant_answers_none(platform: Platform) -> None:
    assert await apply_refund(platform.kube, "no-such-tenant", _refund(10), NOW) is None


async def test_a_tenant_keeps_its_newest_thousand_refunds(
    platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    first, _ = await _created(platform, yookassa, NOW)
    old = [
        {
            "id": f"old-{i}",
            "paymentId": "p",
            "days": 0,
            "amount": "1.00",
            "currency": "RUB",
            "appliedAt": "2026-01-01T00:00:00Z",
        }
        for i in range(1000)
    ]
    await kube.patch(BOOKINGTENANTS, platform.kube.namespace, first.tenant_name, {"spec": {"refunds": old}})
    refund = _refund(1)

    await apply_refund(platform.kube, first.tenant_name, refund, NOW)

    tenant = await platform.kube.get_tenant(first.tenant_name)
    assert tenant is not None
    ids = [r["id"] for r in tenant["spec"]["refunds"]]
    assert len(ids) == 1000 and ids[0] == "old-1" and ids[-1] == refund.id


async def test_with_tokens_next_to_the_tenant_the_tenant_owns_its_token_secret(
    platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    namespace = platform.kube.namespace
    beside = await Kube.connect(namespace, platform.settings.kubeconfig, namespace)
    try:
        checkout = new_bot_checkout(namespace)
        await beside.create_token_secret(
            str(checkout.token_secret_name), "1:TEST-token", checkout.tenant_name, checkout.client_id
        )
        payment = ConfirmedPayment(id=str(uuid.uuid4()), plan="1m", days=30, amount="299.00", currency="RUB")

        applied = await apply_payment(beside, checkout, payment, NOW)
    finally:
        await beside.close()

    assert applied.outcome is PaymentOutcome.CREATED
    tenant = await kube.get(BOOKINGTENANTS, namespace, checkout.tenant_name)
    secret = await kube.get("v1/secrets", namespace, str(checkout.token_secret_name))
    [ref] = secret["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["uid"]) == (
        "BookingTenant",
        checkout.tenant_name,
        tenant["metadata"]["uid"],
    )


async def _both_written_after_reading(
    kube_cluster: EmulatedCluster, platform: Platform, name: str, writes: list[Coroutine[Any, Any, Any]]
) -> list[Any]:
    """Both writers read the tenant before either writes: the second write is the stale one."""
    hold = kube_cluster.hold_writes(BOOKINGTENANTS, platform.kube.namespace, name)
    tasks = [asyncio.ensure_future(w) for w in writes]

    async def both_held() -> bool:
        return hold.arrived == 2

    await wait_until(both_held)
    hold.release()
    return list(await asyncio.gather(*tasks))


async def test_two_refunds_at_once_both_take_their_days_off(
    platform: Platform, yookassa: FakeYooKassa, kube_cluster: EmulatedCluster
) -> None:
    first, _ = await _created(platform, yookassa, NOW)
    refunds = [_refund(3), _refund(7)]

    await _both_written_after_reading(
        kube_cluster,
        platform,
        first.tenant_name,
        [apply_refund(platform.kube, first.tenant_name, r, NOW) for r in refunds],
    )

    tenant = await platform.kube.get_tenant(first.tenant_name)
    assert tenant is not None and tenant["spec"]["paidUntil"] == "2026-03-21T12:00:00Z"
    assert sorted(r["id"] for r in tenant["spec"]["refunds"]) == sorted(r.id for r in refunds)


async def test_two_renewals_at_once_both_add_their_days(
    platform: Platform, yookassa: FakeYooKassa, kube_cluster: EmulatedCluster
) -> None:
    first, _ = await _created(platform, yookassa, NOW)
    renewal = dataclasses.replace(first, kind="renewal")
    payments = [
        ConfirmedPayment(id=str(uuid.uuid4()), plan="1m", days=30, amount="299.00", currency="RUB")
        for _ in range(2)
    ]

    results = await _both_written_after_reading(
        kube_cluster,
        platform,
        first.tenant_name,
        [apply_payment(platform.kube, renewal, p, NOW) for p in payments],
    )

    assert [r.outcome for r in results] == [PaymentOutcome.EXTENDED] * 2
    tenant = await platform.kube.get_tenant(first.tenant_name)
    assert tenant is not None and tenant["spec"]["paidUntil"] == "2026-05-30T12:00:00Z"
    assert len(tenant["spec"]["payments"]) == 3


async def test_a_refund_is_logged_with_its_tenant_days_and_new_end(
    platform: Platform, yookassa: FakeYooKassa, caplog: pytest.LogCaptureFixture
) -> None:
    first, _ = await _created(platform, yookassa, NOW)
    refund = _refund(10)
    caplog.set_level(logging.INFO)

    await apply_refund(platform.kube, first.tenant_name, refund, NOW)

    [record] = [r for r in caplog.records if r.getMessage() == "tenant shortened by a refund"]
    fields = vars(record)
    assert (fields["tenant"], fields["refund_id"], fields["days"], fields["paid_until"]) == (
        first.tenant_name,
        refund.id,
        10,
        "2026-03-21T12:00:00Z",
    )


async def test_a_renewal_is_logged_with_its_tenant_payment_and_new_end(
    platform: Platform, yookassa: FakeYooKassa, caplog: pytest.LogCaptureFixture
) -> None:
    first, _ = await _created(platform, yookassa, NOW)
    payment = ConfirmedPayment(id=str(uuid.uuid4()), plan="1m", days=30, amount="299.00", currency="RUB")
    caplog.set_level(logging.INFO)

    await apply_payment(platform.kube, dataclasses.replace(first, kind="renewal"), payment, NOW)

    [record] = [r for r in caplog.records if r.getMessage() == "tenant extended"]
    fields = vars(record)
    assert (fields["tenant"], fields["payment_id"], fields["paid_until"]) == (
        first.tenant_name,
        payment.id,
        "2026-04-30T12:00:00Z",
    )


async def test_a_created_tenant_is_logged_with_its_payment(
    platform: Platform, yookassa: FakeYooKassa, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    checkout, _ = await _created(platform, yookassa, NOW)

    [record] = [r for r in caplog.records if r.getMessage() == "tenant created"]
    assert (vars(record)["tenant"], vars(record)["payment_id"]) == (checkout.tenant_name, FIRST_PAYMENT)


async def test_a_refund_of_a_payment_the_tenant_never_got_is_recorded_with_no_days(
    platform: Platform, yookassa: FakeYooKassa
) -> None:
    first, _ = await _created(platform, yookassa, NOW)

    applied = await apply_refund(
        platform.kube, first.tenant_name, _refund(30, payment_id="refused-renewal"), NOW
    )

    assert applied == RefundApplied("2026-03-31T12:00:00Z", 0)
    tenant = await platform.kube.get_tenant(first.tenant_name)
    assert tenant is not None and tenant["spec"]["paidUntil"] == "2026-03-31T12:00:00Z"
    assert [(r["paymentId"], r["days"]) for r in tenant["spec"]["refunds"]] == [("refused-renewal", 0)]
