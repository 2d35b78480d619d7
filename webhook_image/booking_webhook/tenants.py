"""Applying a confirmed payment to a BookingTenant, exactly once.

The payment id is written into `spec.payments` in the same write as its effect: the create
of a new tenant, or one merge patch that extends `spec.paidUntil` and carries
`metadata.resourceVersion` (a 409 means someone else wrote first: re-read, and stop if the
payment is already there). No separate bookkeeping step can be split from the effect.
A refund shortens `spec.paidUntil` the same way: its id goes into `spec.refunds` in the write
that takes the days off.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import logging
import math
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from booking_contract import crd
from booking_contract.kube import KubeConflict, KubeError
from booking_contract.times import format_time, parse_time, utc_now
from booking_webhook.core.logging import log_event
from booking_webhook.kube import Kube
from booking_webhook.store import Checkout

log = logging.getLogger(__name__)

MAX_PAYMENTS = 1000  # the CRD's maxItems for spec.payments
MAX_CONFLICT_RETRIES = 20


class PaymentOutcome(enum.StrEnum):
    """What applying one confirmed payment did to its tenant."""

    CREATED = "created"
    EXTENDED = "extended"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Applied:
    """What applying a payment did, and the period it bought (unknown for a duplicate, absent
    for a tenant without an end date)."""

    outcome: PaymentOutcome
    period_start: datetime.datetime | None = None
    period_end: datetime.datetime | None = None


@dataclass(frozen=True)
class ConfirmedRefund:
    id: str
    payment_id: str
    days: int  # the days it takes off paidUntil (see refund_days)
    amount: str
    currency: str


class PaymentRejected(Exception):
    """The payment cannot be applied (wrong owner, tenant gone): retrying will not help."""


@dataclass(frozen=True)
class ConfirmedPayment:
    id: str
    plan: str
    days: int
    amount: str
    currency: str


def payment_entry(payment: ConfirmedPayment, now: datetime.datetime) -> dict[str, Any]:
    return {
        "id": payment.id,
        "plan": payment.plan,
        "days": payment.days,
        "amount": payment.amount,
        "currency": payment.currency,
        "appliedAt": format_time(now),
    }


def tenant_manifest(
    checkout: Checkout, payment: ConfirmedPayment, now: datetime.datetime, token_ref: dict[str, str]
) -> dict[str, Any]:
    """A new BookingTenant per docs/contracts.md; the token stays in its Secret."""
    paid_until = now + datetime.timedelta(days=payment.days)
    return {
        "apiVersion": crd.API_VERSION,
        "kind": crd.KIND,
        "metadata": {
            "name": checkout.tenant_name,
            "labels": {
                crd.MANAGED_BY_LABEL: crd.MANAGED_BY_WEBHOOK,
                crd.CLIENT_ID_LABEL: checkout.client_id,
            },
            "annotations": {crd.CHECKOUT_ID_ANNOTATION: str(checkout.id)},
        },
        "spec": {
            "clientId": checkout.client_id,
            "companyName": checkout.company_name[:128],
            "ownerTelegramId": checkout.telegram_user_id,
            "botTokenSecretRef": token_ref,
            "plan": payment.plan,
            "paidUntil": format_time(paid_until),
            "deletionPolicy": "Retain",
            "payments": [payment_entry(payment, now)],
            # Absent: the CRD's default (Moscow), as for every tenant bought before the question.
            **({"timezone": checkout.time_zone} if checkout.time_zone else {}),
        },
    }


def extended_paid_until(current: str | None, days: int, now: datetime.datetime) -> str | None:
    """Renewal adds the plan's days to the later of now and the current end; absent stays absent."""
    if current is None:
        return None
    base = parse_time(current) or now
    return format_time(max(base, now) + datetime.timedelta(days=days))


async def apply_payment(
    kube: Kube, checkout: Checkout, payment: ConfirmedPayment, now: datetime.datetime | None = None
) -> Applied:
    now = now or utc_now()
    if checkout.kind == "new":
        manifest = tenant_manifest(checkout, payment, now, kube.token_ref(str(checkout.token_secret_name)))
        try:
            created = await kube.create_tenant(manifest)
        except KubeConflict:
            pass  # it exists: a redelivery, or a concurrent delivery won; the payment check decides
        else:
            await _adopt_token_secret(kube, checkout, created)
            log_event(log, "tenant created", tenant=checkout.tenant_name, payment_id=payment.id)
            start = now.replace(microsecond=0)  # paidUntil is written to the second
            return Applied(PaymentOutcome.CREATED, start, parse_time(manifest["spec"]["paidUntil"]))
    return await _extend(kube, checkout, payment, now)


def refund_days(refund_amount: Decimal, payment_amount: Decimal, payment_days: int) -> int:
    """The days a refund takes back: its share of the payment, in whole days, rounded down
    (the owner keeps a started day). A full refund takes back every day the payment bought."""
    if payment_amount <= 0 or refund_amount <= 0:
        return 0
    share = min(refund_amount, payment_amount) / payment_amount
    return min(payment_days, math.floor(share * payment_days))


@dataclass(frozen=True)
class RefundApplied:
    """What a refund did to its tenant: the new paidUntil ("" when the tenant has no end date)
    and the days it took back (0 for a payment this tenant never got: see apply_refund)."""

    paid_until: str
    days: int


async def apply_refund(
    kube: Kube, name: str, refund: ConfirmedRefund, now: datetime.datetime | None = None
) -> RefundApplied | None:
    """Take the refund's days off paidUntil once; None when the tenant no longer exists.

    Only a payment in the tenant's `spec.payments` bought it days: a refund of one that was
    refused (another owner's tenant, a price that did not match) is recorded with 0 days."""
    now = now or utc_now()
    for attempt in range(MAX_CONFLICT_RETRIES):
        tenant = await kube.get_tenant(name)
        if tenant is None:
            return None
        spec = tenant.get("spec") or {}
        refunds = [r for r in (spec.get("refunds") or []) if isinstance(r, dict)]
        done = [r for r in refunds if r.get("id") == refund.id]
        if done:
            return RefundApplied(str(spec.get("paidUntil") or ""), int(done[0].get("days") or 0))
        paid_here = any(
            isinstance(p, dict) and p.get("id") == refund.payment_id for p in spec.get("payments") or []
        )
        days = refund.days if paid_here else 0
        entry = {
            "id": refund.id,
            "paymentId": refund.payment_id,
            "days": days,
            "amount": refund.amount,
            "currency": refund.currency,
            "appliedAt": format_time(now),
        }
        spec_patch: dict[str, Any] = {"refunds": [*refunds, entry][-MAX_PAYMENTS:]}
        current = parse_time(spec.get("paidUntil"))
        if current is not None:
            spec_patch["paidUntil"] = format_time(current - datetime.timedelta(days=days))
        patch = {"metadata": {"resourceVersion": tenant["metadata"]["resourceVersion"]}, "spec": spec_patch}
        try:
            patched = await kube.merge_patch_tenant(name, patch)
        except KubeConflict:
            await asyncio.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # noqa: S311 - jitter
            continue
        if patched is None:
            continue
        log_event(
            log,
            "tenant shortened by a refund",
            tenant=name,
            refund_id=refund.id,
            days=days,
            paid_until=spec_patch.get("paidUntil"),
        )
        return RefundApplied(str(spec_patch.get("paidUntil") or ""), days)
    raise KubeConflict(409, f"too many resourceVersion conflicts ({MAX_CONFLICT_RETRIES})")


async def _extend(
    kube: Kube, checkout: Checkout, payment: ConfirmedPayment, now: datetime.datetime
) -> Applied:
    for attempt in range(MAX_CONFLICT_RETRIES):
        tenant = await kube.get_tenant(checkout.tenant_name)
        if tenant is None:
            raise PaymentRejected(f"tenant {checkout.tenant_name} does not exist")
        spec = tenant.get("spec") or {}
        payments = [p for p in (spec.get("payments") or []) if isinstance(p, dict)]
        if any(p.get("id") == payment.id for p in payments):
            return Applied(PaymentOutcome.DUPLICATE)
        owner = spec.get("ownerTelegramId")
        if owner is not None and int(owner) != checkout.telegram_user_id:
            raise PaymentRejected(f"tenant {checkout.tenant_name} belongs to another owner")
        payments = [*payments, payment_entry(payment, now)][-MAX_PAYMENTS:]
        spec_patch: dict[str, Any] = {"payments": payments, "plan": payment.plan}
        paid_until = extended_paid_until(spec.get("paidUntil"), payment.days, now)
        if paid_until is not None:
            spec_patch["paidUntil"] = paid_until
        patch = {"metadata": {"resourceVersion": tenant["metadata"]["resourceVersion"]}, "spec": spec_patch}
        try:
            patched = await kube.merge_patch_tenant(checkout.tenant_name, patch)
        except KubeConflict:
            await asyncio.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # noqa: S311 - jitter
            continue
        if patched is None:  # deleted between the read and the write: the next read says so
            continue
        log_event(
            log, "tenant extended", tenant=checkout.tenant_name, payment_id=payment.id, paid_until=paid_until
        )
        if paid_until is None:
            return Applied(PaymentOutcome.EXTENDED)
        end = parse_time(paid_until)
        start = end - datetime.timedelta(days=payment.days) if end else None
        return Applied(PaymentOutcome.EXTENDED, start, end)
    raise KubeConflict(409, f"too many resourceVersion conflicts ({MAX_CONFLICT_RETRIES})")


async def _adopt_token_secret(kube: Kube, checkout: Checkout, tenant: dict[str, Any]) -> None:
    if not checkout.token_secret_name:
        return
    try:
        await kube.adopt_secret(checkout.token_secret_name, tenant)
    except KubeError as exc:  # best effort: the tenant is what matters
        log_event(
            log, "token secret not adopted", logging.WARNING, tenant=checkout.tenant_name, error=str(exc)
        )
