"""A new-bot checkout as the sales bot records it (booking_webhook.checkout.start_new), for tests
that apply a payment without going through the database."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

from booking_contract.client_id import tenant_name
from booking_webhook.naming import new_client_id
from booking_webhook.store import Checkout


def new_bot_checkout(namespace: str = "default", created_at: datetime.datetime | None = None) -> Checkout:
    client_id = new_client_id()
    name = tenant_name(client_id)
    return Checkout(
        id=uuid.uuid4(),
        kind="new",
        telegram_user_id=123456789,
        chat_id=123456789,
        plan="1m",
        days=30,
        amount=Decimal("299.00"),
        currency="RUB",
        company_name="Test Company",
        client_id=client_id,
        tenant_name=name,
        token_secret_name=f"{name}-bot-token",
        receipt_email=None,
        idempotence_key=uuid.uuid4(),
        return_token="t" * 32,
        payment_id=None,
        confirmation_url=None,
        status="pending",
        status_message=None,
        refunded_amount=Decimal(0),
        created_at=created_at or datetime.datetime.now(tz=datetime.UTC),
        namespace=namespace,
        bot_id=None,
    )
