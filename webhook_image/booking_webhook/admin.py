"""Admin commands, run in the webhook's pod (`kubectl exec deploy/...-webhook -- python -m
booking_webhook refund ...`): no HTTP endpoint, so nothing on the network can issue a refund."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from decimal import Decimal, InvalidOperation

from booking_webhook.core.config import Settings
from booking_webhook.kube import Kube
from booking_webhook.metrics import Metrics
from booking_webhook.notifications import REFUND_SUCCEEDED, Clients, process
from booking_webhook.refunds import RefundRefused, RefundRequest, issue_refund
from booking_webhook.store import Store
from booking_webhook.yookassa_api import YooKassaClient, YooKassaError

REFUND_USAGE = "python -m booking_webhook refund PAYMENT_ID [AMOUNT] --reason TEXT"


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError("the amount must be positive")
    return value


def parse_refund(argv: list[str]) -> RefundRequest:
    parser = argparse.ArgumentParser(prog="booking_webhook refund", usage=REFUND_USAGE)
    parser.add_argument("payment_id")
    parser.add_argument("amount", nargs="?", type=_amount, help="default: all that is not refunded yet")
    parser.add_argument("--reason", required=True, help="why (goes to YooKassa as the description)")
    args = parser.parse_args(argv)
    return RefundRequest(payment_id=args.payment_id, amount=args.amount, reason=args.reason)


async def refund_command(settings: Settings, request: RefundRequest) -> int:
    """Issue the refund; when YooKassa already reports it succeeded, apply it now through the
    notification path (a later notification then answers `duplicate`)."""
    store = await Store.connect(settings.database_url.get_secret_value(), max_size=2)
    yookassa = YooKassaClient(
        settings.yookassa_api_url,
        settings.yookassa_shop_id,
        settings.yookassa_secret_key.get_secret_value(),
        settings.yookassa_timeout,
    )
    kube = await Kube.connect(settings.tenant_namespace, settings.kubeconfig, settings.token_namespace)
    try:
        try:
            refund = await issue_refund(store, yookassa, settings, request)
        except (RefundRefused, YooKassaError) as exc:
            sys.stderr.write(f"booking-webhook: refund refused: {exc}\n")
            return 1
        outcome = None
        if refund.get("status") == "succeeded":
            clients = Clients(store, kube, yookassa, Metrics(), test_shop=settings.yookassa_test_shop)
            notification_id, _ = await store.record_notification(
                REFUND_SUCCEEDED, str(refund["id"]), None, {"type": "admin", "object": {"id": refund["id"]}}
            )
            outcome, reason = await process(clients, REFUND_SUCCEEDED, str(refund["id"]))
            await store.finish_notification(notification_id, outcome, reason)
        summary = {"refund_id": refund.get("id"), "status": refund.get("status"), "applied": outcome}
        sys.stdout.write(json.dumps(summary) + "\n")
        return 0
    finally:
        await kube.close()
        await yookassa.close()
        await store.close()


def run_refund(settings: Settings, argv: list[str]) -> int:
    return asyncio.run(refund_command(settings, parse_refund(argv)))
