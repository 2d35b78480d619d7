"""Telling owners before their bot stops: 3 days and 1 day before `paidUntil`, and once it is
suspended for non-payment (the operator's `Expired` phase; the data is kept). Each message
carries one button that starts a renewal on the same plan.

Each reminder is claimed in `platform.owner_reminders` under (tenant, kind, paidUntil) before it
is sent, so it goes out once per period however often the pass runs and however many times the
sales bot restarts; a renewal moves `paidUntil`, so the next period's reminders are due again.
One LIST of the namespace's BookingTenants per pass, every REMIND_EVERY_SECONDS.
"""

from __future__ import annotations

import datetime
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup

from booking_contract.times import parse_time
from booking_webhook.core.logging import log_event
from booking_webhook.salesbot import keyboards, texts
from booking_webhook.salesbot.deps import SalesDeps
from booking_webhook.salesbot.notifier import human_date

log = logging.getLogger(__name__)

REMIND_EVERY_SECONDS = 600.0


def due_reminder(
    paid_until: datetime.datetime | None, phase: str | None, now: datetime.datetime
) -> str | None:
    """The one reminder a tenant is due now, the most urgent first (a tenant first seen 20 hours
    before its end gets the 1-day message only)."""
    if phase == "Expired" or (paid_until is not None and paid_until <= now):
        return "suspended"
    if paid_until is None:
        return None
    left = paid_until - now
    if left <= datetime.timedelta(days=1):
        return "expires_in_1_day"
    if left <= datetime.timedelta(days=3):
        return "expires_in_3_days"
    return None


async def remind_once(bot: Bot, deps: SalesDeps, now: datetime.datetime | None = None) -> int:
    """One pass; returns how many reminders were sent."""
    now = now or datetime.datetime.now(tz=datetime.UTC)
    namespace = deps.settings.tenant_namespace
    sold = {checkout.tenant_name: checkout for checkout in await deps.store.tenants_sold(namespace)}
    automatic = {str(r["tenant_name"]): r for r in await deps.store.autorenewals(namespace)}
    languages = await deps.store.tenant_languages(namespace)
    sent = 0
    for tenant in await deps.kube.list_tenants():
        name = str((tenant.get("metadata") or {}).get("name"))
        checkout = sold.get(name)
        spec, status = tenant.get("spec") or {}, tenant.get("status") or {}
        if checkout is None or spec.get("suspended") or tenant.get("metadata", {}).get("deletionTimestamp"):
            continue  # not sold here, suspended on purpose, or going away
        paid_until = str(spec.get("paidUntil") or "")
        kind = due_reminder(parse_time(paid_until), status.get("phase"), now)
        if kind is None or not await deps.store.claim_reminder(namespace, name, kind, paid_until):
            continue
        plan_name = str(spec.get("plan") or checkout.plan)
        plan = deps.settings.plans.get(plan_name)
        if plan is None:
            plan_name, plan = next(iter(deps.settings.plans.items()))
        company = spec.get("companyName") or checkout.company_name
        auto = automatic.get(name)
        code = languages.get(name, checkout.language)
        markup: InlineKeyboardMarkup | None = keyboards.renew_now(plan_name, plan, name, code)
        if auto is not None and kind == "expires_in_3_days":  # announce the charge instead
            method = f" ({auto['method_title']})" if auto["method_title"] else ""
            charged = deps.settings.plans.get(str(auto["plan"])) or plan
            text = texts.text(
                code,
                "auto_upcoming",
                company=company,
                paid_until=human_date(paid_until, code),
                amount=charged.amount_str,
                currency=charged.currency,
                method=method,
            )
            markup = None
        else:
            text = texts.text(code, kind, company=company, paid_until=human_date(paid_until, code))
        try:
            await bot.send_message(checkout.chat_id, text, reply_markup=markup)
        except TelegramForbiddenError:
            continue  # the owner blocked the bot: nothing to retry
        except TelegramAPIError as exc:
            await deps.store.release_reminder(namespace, name, kind, paid_until)  # try again next pass
            log_event(
                log, "reminder not sent", logging.WARNING, tenant=name, kind=kind, error=type(exc).__name__
            )
            continue
        log_event(log, "owner reminded", tenant=name, kind=kind, paid_until=paid_until)
        sent += 1
    return sent
