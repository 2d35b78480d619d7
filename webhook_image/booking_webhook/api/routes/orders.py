"""The return page: where YooKassa sends the buyer back, showing the order's progress.

`GET /pay/return/{token}` serves a static page that polls `GET /api/orders/{token}`. The
token is a random value made per checkout (not the checkout id), so an order's page cannot
be found by guessing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from importlib import resources
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from booking_contract.kube import KubeError
from booking_webhook.api.deps import ClientsDep
from booking_webhook.core.logging import log_event
from booking_webhook.notifications import reconcile_payment

router = APIRouter()
log = logging.getLogger(__name__)
RECONCILE_EVERY = 10.0  # seconds between API checks of one pending order from its return page
RECONCILE_TIMEOUT = 5.0


def _due(request: Request, checkout_id: str) -> bool:
    """At most one API check per order every RECONCILE_EVERY seconds, however many pages poll."""
    last: dict[str, float] = request.app.state.reconciled
    now = time.monotonic()
    if now - last.get(checkout_id, -RECONCILE_EVERY) < RECONCILE_EVERY:
        return False
    if len(last) > 10_000:
        last.clear()
    last[checkout_id] = now
    return True


CSP = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _page() -> str:
    return resources.files("booking_webhook").joinpath("static/return.html").read_text(encoding="utf-8")


@router.get("/pay/return/{token}", response_class=HTMLResponse)
async def return_page(token: str) -> HTMLResponse:
    if not TOKEN_RE.fullmatch(token):
        raise HTTPException(status_code=404)
    return HTMLResponse(
        _page(),
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": CSP,
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/api/orders/{token}")
async def order_status(token: str, request: Request, clients: ClientsDep) -> dict[str, Any]:
    if not TOKEN_RE.fullmatch(token):
        raise HTTPException(status_code=404)
    checkout = await clients.store.checkout_by_return_token(token)
    if checkout is None:
        raise HTTPException(status_code=404)
    if checkout.status == "pending" and checkout.payment_id and _due(request, str(checkout.id)):
        try:
            await asyncio.wait_for(reconcile_payment(clients, checkout.payment_id), RECONCILE_TIMEOUT)
        except Exception as exc:  # the notification will still come; the page just waits for it
            log_event(log, "return page reconcile failed", logging.INFO, error=type(exc).__name__)
        checkout = await clients.store.checkout(checkout.id) or checkout
    order: dict[str, Any] = {
        "companyName": checkout.company_name,
        "plan": checkout.plan,
        "amount": f"{checkout.amount:.2f}",
        "currency": checkout.currency,
        "kind": checkout.kind,
        "stage": "awaiting_payment",
    }
    if checkout.status == "canceled":
        order["stage"] = "canceled"
        return order
    if checkout.status != "applied":
        return order
    order["stage"] = "paid"
    try:
        tenant = await clients.kube.get_tenant(checkout.tenant_name)
    except KubeError:
        return order
    if tenant is None:
        return order
    status = tenant.get("status") or {}
    order["paidUntil"] = (tenant.get("spec") or {}).get("paidUntil")
    order["phase"] = status.get("phase") or "Pending"
    username = status.get("botUsername")
    if status.get("phase") == "Ready" and username:
        order["stage"] = "ready"
        order["botUsername"] = username
        order["botLink"] = f"https://t.me/{username}"
    elif status.get("phase") == "Failed":
        order["stage"] = "failed"
    else:
        order["stage"] = "creating"
    return order
