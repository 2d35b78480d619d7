"""Telling owners what happened: their bot is ready (from the BookingTenant's status, which
the operator writes), their renewal went through, or their payment was canceled."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from booking_contract.kube import KubeError
from booking_contract.times import parse_time
from booking_webhook.core.logging import log_event
from booking_webhook.ledger import Ledger
from booking_webhook.salesbot import texts
from booking_webhook.salesbot.deps import SalesDeps
from booking_webhook.store import Checkout
from booking_webhook.yookassa_api import PaymentNotFound, YooKassaError

log = logging.getLogger(__name__)


def human_date(value: str | None, code: str | None = None) -> str:
    moment = parse_time(value)
    return moment.strftime("%d.%m.%Y %H:%M UTC") if moment else texts.text(code, "forever")


async def _ready_message(deps: SalesDeps, checkout: Checkout) -> str | None:
    tenant = await deps.kube.get_tenant(checkout.tenant_name)
    if tenant is None:
        return None
    spec, status = tenant.get("spec") or {}, tenant.get("status") or {}
    code = checkout.language  # the owner's language at checkout (None before it was recorded: Russian)
    paid_until = human_date(spec.get("paidUntil"), code)
    if checkout.kind == "renewal":
        key = "auto_renewed" if checkout.auto_for_paid_until else "renewed"
        return texts.text(code, key, company=checkout.company_name, paid_until=paid_until)
    username = status.get("botUsername")
    if status.get("phase") == "Ready" and username:
        return texts.text(code, "ready", username=username, paid_until=paid_until)
    return None


async def notify_once(bot: Bot, deps: SalesDeps) -> int:
    """One pass over checkouts that owe their owner a message; returns how many were sent."""
    sent = 0
    for checkout in await deps.store.checkouts_awaiting_ready_message(
        deps.settings.tenant_namespace, READY_WAIT_SECONDS
    ):
        try:
            text = await _ready_message(deps, checkout)
        except KubeError:
            continue
        if text is not None and await _send(bot, checkout, text):
            await deps.store.mark_ready_notified(checkout.id)
            sent += 1
    for checkout in await deps.store.checkouts_awaiting_cancel_message(deps.settings.tenant_namespace):
        reason = checkout.status_message or "canceled"
        if checkout.auto_for_paid_until:
            text = texts.text(
                checkout.language, "auto_declined", company=checkout.company_name, reason=reason
            )
        else:
            text = texts.text(checkout.language, "canceled", reason=reason)
        if await _send(bot, checkout, text):
            await deps.store.mark_cancel_notified(checkout.id)
            sent += 1
    return sent


async def _send(bot: Bot, checkout: Checkout, text: str) -> bool:
    try:
        await bot.send_message(checkout.chat_id, text)
    except TelegramAPIError as exc:
        log_event(
            log, "owner not told", logging.WARNING, checkout_id=str(checkout.id), error=type(exc).__name__
        )
        # a blocked bot or a deleted chat will not get better: do not retry forever
        return "forbidden" in str(exc).lower() or "not found" in str(exc).lower()
    return True


# How long after payment the notifier keeps waiting for the tenant to become Ready.
READY_WAIT_SECONDS = 24 * 3600.0

# A checkout unpaid for this long will not be paid: YooKassa cancels unconfirmed payments
# much sooner. Its token Secret is deleted, so abandoned tokens do not pile up in the cluster.
ABANDONED_AFTER_SECONDS = 7 * 24 * 3600.0


async def _token_still_needed(deps: SalesDeps, ledger: Ledger, checkout: Checkout) -> bool:
    """Whether anything says the token may still be used: a tenant of that name exists, or one
    of the checkout's payments is not known to be canceled (a paid one whose notification was
    lost is applied by the reconciliation pass; a pending one may still be paid)."""
    if await deps.kube.get_tenant(checkout.tenant_name) is not None:
        await deps.store.mark_token_secret_kept(checkout.id)
        return True
    for payment_id in await ledger.checkout_payment_ids(checkout):
        try:
            payment = await deps.yookassa.get_payment(payment_id)
        except PaymentNotFound:
            continue
        if payment.get("status") != "canceled":
            log_event(
                log,
                "token secret kept",
                logging.WARNING if payment.get("status") == "succeeded" else logging.INFO,
                checkout_id=str(checkout.id),
                tenant=checkout.tenant_name,
                payment_id=payment_id,
                payment_status=str(payment.get("status")),
            )
            return True
    return False


async def remove_abandoned_tokens(
    deps: SalesDeps, older_than_seconds: float = ABANDONED_AFTER_SECONDS
) -> int:
    """Delete the token Secrets of new-bot checkouts that were never paid and never will be."""
    removed = 0
    ledger = Ledger(deps.store)
    namespace = deps.settings.tenant_namespace
    for checkout in await deps.store.abandoned_token_secrets(namespace, older_than_seconds):
        secret = str(checkout.token_secret_name)
        try:
            if await _token_still_needed(deps, ledger, checkout):
                continue
            await deps.kube.delete_secret(secret)
        except (KubeError, YooKassaError):
            continue  # cannot be sure now: ask again on a later pass
        await deps.store.mark_token_secret_removed(checkout.id)
        log_event(
            log,
            "abandoned token secret removed",
            checkout_id=str(checkout.id),
            tenant=checkout.tenant_name,
            secret=secret,
        )
        removed += 1
    return removed


async def run_notifier(bot: Bot, deps: SalesDeps, interval: float, remind_every: float | None = None) -> None:
    from booking_webhook.autorenewal import charge_due
    from booking_webhook.salesbot.reminders import REMIND_EVERY_SECONDS, remind_once

    every = REMIND_EVERY_SECONDS if remind_every is None else remind_every
    last_reminders = float("-inf")
    while True:
        try:
            await notify_once(bot, deps)
            await remove_abandoned_tokens(deps)
            if asyncio.get_running_loop().time() - last_reminders >= every:
                await remind_once(bot, deps)
                await charge_due(deps.store, deps.kube, deps.yookassa, deps.settings)
                last_reminders = asyncio.get_running_loop().time()
        except Exception as exc:  # keep the loop alive through database hiccups
            log_event(log, "notifier pass failed", logging.WARNING, error=type(exc).__name__)
        await asyncio.sleep(interval)
