"""Applying a confirmed payment to a BookingTenant, exactly once.

The payment id is written into `spec.payments` in the same write as its effect: the create
of a new tenant, or one merge patch that extends `spec.paidUntil` and carries
`metadata.resourceVersion` (a 409 means someone else wrote first: re-read, and stop if the
payment is already there). No separate bookkeeping step can be split from the effect.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import logging
import random
from dataclasses import dataclass
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


def tenant_manifest(checkout: Checkout, payment: ConfirmedPayment, now: datetime.datetime) -> dict[str, Any]:
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
            "botTokenSecretRef": {"name": checkout.token_secret_name, "key": crd.TOKEN_SECRET_KEY},
            "plan": payment.plan,
            "paidUntil": format_time(paid_until),
            "deletionPolicy": "Retain",
            "payments": [payment_entry(payment, now)],
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
) -> PaymentOutcome:
    now = now or utc_now()
    if checkout.kind == "new":
        try:
            created = await kube.create_tenant(tenant_manifest(checkout, payment, now))
        except KubeConflict:
            pass  # it exists: a redelivery, or a concurrent delivery won; the payment check decides
        else:
            await _adopt_token_secret(kube, checkout, created)
            log_event(log, "tenant created", tenant=checkout.tenant_name, payment_id=payment.id)
            return PaymentOutcome.CREATED
    return await _extend(kube, checkout, payment, now)


async def _extend(
    kube: Kube, checkout: Checkout, payment: ConfirmedPayment, now: datetime.datetime
) -> PaymentOutcome:
    for attempt in range(MAX_CONFLICT_RETRIES):
        tenant = await kube.get_tenant(checkout.tenant_name)
        if tenant is None:
            raise PaymentRejected(f"tenant {checkout.tenant_name} does not exist")
        spec = tenant.get("spec") or {}
        payments = [p for p in (spec.get("payments") or []) if isinstance(p, dict)]
        if any(p.get("id") == payment.id for p in payments):
            return PaymentOutcome.DUPLICATE
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
        return PaymentOutcome.EXTENDED
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
