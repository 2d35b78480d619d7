"""/status: each of the owner's bots with plan, phase, paid-until and refunds."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from booking_contract.kube import KubeError
from booking_webhook.salesbot import texts
from booking_webhook.salesbot.deps import SalesDeps
from booking_webhook.salesbot.notifier import human_date


def router() -> Router:
    r = Router(name="status")
    r.message.register(status, Command("status"))
    return r


async def status(message: Message, deps: SalesDeps) -> None:
    if message.from_user is None:
        return
    code = message.from_user.language_code
    lines: list[str] = []
    for checkout in await deps.store.owner_tenants(message.from_user.id, deps.settings.tenant_namespace):
        try:
            tenant = await deps.kube.get_tenant(checkout.tenant_name) or {}
        except KubeError:
            tenant = {}
        spec, state = tenant.get("spec") or {}, tenant.get("status") or {}
        phase = str(state.get("phase") or "Pending")
        username = state.get("botUsername")
        refunded = await deps.store.refunded_total(checkout.tenant_name)
        refund = texts.text(code, "status_refund", amount=f"{refunded:.2f}", currency=checkout.currency)
        lines.append(
            texts.text(
                code,
                "status_line",
                company=spec.get("companyName") or checkout.company_name,
                plan=spec.get("plan") or checkout.plan,
                phase=texts.phase(code, phase),
                paid_until=human_date(spec.get("paidUntil"), code),
                bot=texts.text(code, "status_bot", username=username) if username else "",
                refund=refund if refunded else "",
            )
        )
    latest = await deps.store.latest_checkout(message.from_user.id)
    if latest is not None and latest.status in ("created", "pending"):
        lines.append(texts.text(code, "pending_line", company=latest.company_name, plan=latest.plan))
    await message.answer("\n".join(lines) if lines else texts.text(code, "no_tenants"))
