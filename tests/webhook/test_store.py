"""The platform tables answer what the sales bot, the notifier and the background passes ask
(store.py), against the real PostgreSQL: each query returns exactly the rows its docstring
promises, in its namespace only, and each mark is made once."""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import socket
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from booking_webhook.store import Checkout, Store


@pytest.fixture()
async def store(webhook_dsn: str) -> AsyncIterator[Store]:
    connected = await Store.connect(webhook_dsn, max_size=3)
    try:
        yield connected
    finally:
        await connected.close()


@pytest.fixture()
def namespace() -> str:
    """A namespace of this test's own: the platform tables are shared by the session."""
    return f"st-{uuid.uuid4().hex[:10]}"


async def _checkout(store: Store, namespace: str, **fields: Any) -> Checkout:
    client_id = f"client_{uuid.uuid4().hex[:12]}"
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "kind": "new",
        "telegram_user_id": random.randint(10_000, 2**40),
        "chat_id": 1,
        "plan": "1m",
        "days": 30,
        "amount": Decimal("299.00"),
        "currency": "RUB",
        "company_name": "Store Co",
        "client_id": client_id,
        "tenant_name": client_id.replace("_", "-"),
        "token_secret_name": f"token-{client_id.replace('_', '-')}",
        "idempotence_key": uuid.uuid4(),
        "return_token": secrets.token_urlsafe(24),
        "namespace": namespace,
    }
    row.update(fields)
    return await store.create_checkout(**row)


async def _sql(dsn: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _applied(store: Store, checkout: Checkout) -> Checkout:
    assert await store.attach_payment(checkout.id, f"pay-{uuid.uuid4()}", None)
    assert await store.mark_applied(checkout.id, str(checkout.payment_id))
    stored = await store.checkout(checkout.id)
    assert stored is not None
    return stored


# --- checkouts by key ---


async def test_a_checkout_is_found_by_its_id_and_by_its_return_token_and_nothing_else_is(
    store: Store, namespace: str
) -> None:
    checkout = await _checkout(store, namespace)
    await _checkout(store, namespace)

    assert await store.checkout(checkout.id) == checkout
    assert await store.checkout_by_return_token(checkout.return_token) == checkout
    assert await store.checkout(uuid.uuid4()) is None
    assert await store.checkout_by_return_token("no-such-token") is None


async def test_the_newest_new_bot_checkout_of_a_bot_in_the_namespace_is_the_bots_checkout(
    store: Store, namespace: str
) -> None:
    bot_id = random.randint(10_000, 2**40)
    await _checkout(store, namespace, bot_id=bot_id)
    newest = await _checkout(store, namespace, bot_id=bot_id)
    await _checkout(store, f"{namespace}-other", bot_id=bot_id)

    assert await store.checkout_by_bot(bot_id, namespace) == newest
    assert await store.checkout_by_bot(bot_id + 1, namespace) is None


async def test_a_client_id_is_taken_once_a_checkout_holds_it(store: Store, namespace: str) -> None:
    checkout = await _checkout(store, namespace)

    assert await store.client_id_taken(checkout.client_id) is True
    assert await store.client_id_taken(f"client_{uuid.uuid4().hex[:12]}") is False


async def test_an_owners_latest_checkout_is_the_newest_of_theirs(store: Store, namespace: str) -> None:
    owner = random.randint(10_000, 2**40)
    await _checkout(store, namespace, telegram_user_id=owner)
    newest = await _checkout(store, namespace, telegram_user_id=owner)
    await _checkout(store, namespace)

    assert await store.latest_checkout(owner) == newest
    assert await store.latest_checkout(owner + 1) is None


# --- tenants sold ---


async def test_an_owners_tenants_are_their_applied_new_bot_checkouts_in_the_namespace(
    store: Store, namespace: str
) -> None:
    owner = random.randint(10_000, 2**40)
    first = await _applied(store, await _checkout(store, namespace, telegram_user_id=owner))
    second = await _applied(store, await _checkout(store, namespace, telegram_user_id=owner))
    await _checkout(store, namespace, telegram_user_id=owner)  # never paid
    await _applied(store, await _checkout(store, f"{namespace}-other", telegram_user_id=owner))
    await _applied(store, await _checkout(store, namespace))  # another owner's

    tenants = await store.owner_tenants(owner, namespace)

    assert sorted(c.id for c in tenants) == sorted([first.id, second.id])


async def test_the_tenants_sold_in_a_namespace_are_its_applied_new_bot_checkouts(
    store: Store, namespace: str
) -> None:
    sold = [await _applied(store, await _checkout(store, namespace)) for _ in range(2)]
    await _checkout(store, namespace)  # never paid
    await _applied(store, await _checkout(store, f"{namespace}-other"))

    assert sorted(c.id for c in await store.tenants_sold(namespace)) == sorted(c.id for c in sold)


# --- what the notifier tells owners ---


async def test_an_applied_checkout_awaits_its_ready_message_until_it_is_marked_once(
    store: Store, namespace: str
) -> None:
    applied = await _applied(store, await _checkout(store, namespace))
    await _checkout(store, namespace)  # not paid: nothing to tell
    await _applied(store, await _checkout(store, f"{namespace}-other"))

    assert [c.id for c in await store.checkouts_awaiting_ready_message(namespace, 3600)] == [applied.id]
    assert await store.mark_ready_notified(applied.id) is True
    assert await store.mark_ready_notified(applied.id) is False
    assert await store.checkouts_awaiting_ready_message(namespace, 3600) == []


async def test_the_ready_message_is_given_up_after_its_window(
    store: Store, namespace: str, webhook_dsn: str
) -> None:
    applied = await _applied(store, await _checkout(store, namespace))
    await _sql(
        webhook_dsn,
        "UPDATE platform.checkouts SET updated_at = now() - interval '2 hours' WHERE id = $1",
        applied.id,
    )

    assert await store.checkouts_awaiting_ready_message(namespace, 3600) == []
    assert [c.id for c in await store.checkouts_awaiting_ready_message(namespace, 3 * 3600)] == [applied.id]


async def test_a_canceled_checkout_awaits_its_cancel_message_until_it_is_marked_once(
    store: Store, namespace: str
) -> None:
    checkout = await _checkout(store, namespace)
    payment_id = f"pay-{uuid.uuid4()}"
    assert await store.attach_payment(checkout.id, payment_id, None)
    assert await store.mark_canceled(checkout.id, payment_id, "expired_on_confirmation")
    await _checkout(store, namespace)  # pending: nothing to tell

    assert [c.id for c in await store.checkouts_awaiting_cancel_message(namespace)] == [checkout.id]
    assert await store.checkouts_awaiting_cancel_message(f"{namespace}-other") == []
    assert await store.mark_cancel_notified(checkout.id) is True
    assert await store.mark_cancel_notified(checkout.id) is False
    assert await store.checkouts_awaiting_cancel_message(namespace) == []


# --- abandoned token Secrets ---


async def test_an_old_unpaid_new_bot_checkout_is_a_token_cleanup_candidate_until_marked(
    store: Store, namespace: str, webhook_dsn: str
) -> None:
    removed = await _checkout(store, namespace)
    kept = await _checkout(store, namespace)
    fresh = await _checkout(store, namespace)
    for old in (removed, kept):
        await _sql(
            webhook_dsn,
            "UPDATE platform.checkouts SET created_at = now() - interval '8 days' WHERE id = $1",
            old.id,
        )
    week = 7 * 24 * 3600

    assert sorted(c.id for c in await store.abandoned_token_secrets(namespace, week)) == sorted(
        [removed.id, kept.id]
    )
    assert fresh.id in {c.id for c in await store.abandoned_token_secrets(namespace, 0)}
    assert await store.abandoned_token_secrets(f"{namespace}-other", 0) == []

    await store.mark_token_secret_removed(removed.id)
    await store.mark_token_secret_kept(kept.id)

    assert await store.abandoned_token_secrets(namespace, week) == []


async def test_a_checkout_with_a_succeeded_payment_is_no_token_cleanup_candidate(
    store: Store, namespace: str, webhook_dsn: str
) -> None:
    checkout = await _checkout(store, namespace)
    await _sql(
        webhook_dsn,
        "INSERT INTO platform.payments (payment_id, checkout_id, kind, amount, currency, status)"
        " VALUES ($1, $2, 'new', 299, 'RUB', 'succeeded')",
        f"pay-{uuid.uuid4()}",
        checkout.id,
    )

    assert await store.abandoned_token_secrets(namespace, 0) == []


# --- refunds ---


async def test_a_refund_is_recorded_and_counted_once(store: Store, namespace: str, webhook_dsn: str) -> None:
    checkout = await _applied(store, await _checkout(store, namespace))
    refund_id = f"refund-{uuid.uuid4()}"
    args = (refund_id, str(checkout.payment_id), checkout.id, Decimal("100.00"), "RUB", checkout.tenant_name)

    assert await store.record_refund(*args) is True
    assert await store.record_refund(*args) is False

    stored = await store.checkout(checkout.id)
    assert stored is not None and stored.refunded_amount == Decimal("100.00")
    assert await store.refunded_total(checkout.tenant_name) == Decimal("100.00")
    row = await _sql(
        webhook_dsn,
        "SELECT row(payment_id, checkout_id, amount, currency, tenant_name) FROM platform.refunds"
        " WHERE id = $1",
        refund_id,
    )
    assert tuple(row) == (checkout.payment_id, checkout.id, Decimal("100.00"), "RUB", checkout.tenant_name)
    assert await store.refunded_total("no-such-tenant") == Decimal(0)


async def test_a_refund_is_applied_once_its_days_are_taken_off(
    store: Store, namespace: str, webhook_dsn: str
) -> None:
    checkout = await _applied(store, await _checkout(store, namespace))
    refund_id = f"refund-{uuid.uuid4()}"
    await store.record_refund(refund_id, str(checkout.payment_id), checkout.id, Decimal("100.00"), "RUB")

    assert await store.refund_is_applied(refund_id) is False
    await store.refund_applied(refund_id, 10)

    assert await store.refund_is_applied(refund_id) is True
    assert await store.refund_is_applied(f"refund-{uuid.uuid4()}") is False
    days = await _sql(webhook_dsn, "SELECT days_removed FROM platform.refunds WHERE id = $1", refund_id)
    assert days == 10


# --- notifications and the background pass ---


async def test_a_failed_background_attempt_keeps_its_error_and_waits_its_delay(
    store: Store, webhook_dsn: str
) -> None:
    object_id = f"pay-{uuid.uuid4()}"
    notification_id, outcome = await store.record_notification("payment.succeeded", object_id, None, {})
    assert outcome == "received"

    assert await store.defer_notification(notification_id, "KubeUnavailable: down", 600) == 1

    row = await _sql(
        webhook_dsn,
        "SELECT row(outcome, error, recovery_attempts, next_attempt_at > now() + interval '9 minutes')"
        " FROM platform.notifications WHERE id = $1",
        notification_id,
    )
    assert tuple(row) == ("retry", "KubeUnavailable: down", 1, True)
    assert object_id not in {r["object_id"] for r in await store.unfinished_notifications(0, limit=1000)}


async def test_a_redelivered_notification_is_one_row_counting_its_deliveries(
    store: Store, webhook_dsn: str
) -> None:
    object_id = f"pay-{uuid.uuid4()}"
    first = await store.record_notification("payment.succeeded", object_id, "185.71.76.10", {"n": 1})
    await store.finish_notification(first[0], "created")

    again = await store.record_notification("payment.succeeded", object_id, "185.71.76.10", {"n": 2})

    assert again == (first[0], "created")
    deliveries = await _sql(
        webhook_dsn, "SELECT deliveries FROM platform.notifications WHERE id = $1", first[0]
    )
    assert deliveries == 2


async def test_one_holder_at_a_time_gets_the_pass_lock(store: Store) -> None:
    key = random.randint(1, 2**40)
    async with store.try_lock(key) as first, store.try_lock(key) as second:
        assert (first, second) == (True, False)
    async with store.try_lock(key) as again:
        assert again is True


async def test_the_store_connects_lazily_and_answers_once_postgres_is_reachable(webhook_dsn: str) -> None:
    store = Store(webhook_dsn, max_size=2)
    try:
        await asyncio.wait_for(store.ping(), 10)
        assert await store.client_id_taken(f"client_{uuid.uuid4().hex[:12]}") is False
    finally:
        await store.close()


async def test_due_notifications_are_the_least_tried_first_and_as_many_as_asked(
    store: Store, webhook_dsn: str
) -> None:
    ids = {}
    for attempts in (2, 0, 1):
        object_id = f"pay-{uuid.uuid4()}"
        ids[object_id], _ = await store.record_notification("payment.succeeded", object_id, None, {})
        await _sql(
            webhook_dsn,
            "UPDATE platform.notifications SET recovery_attempts = $2,"
            " last_received_at = now() - interval '1 minute' WHERE id = $1",
            ids[object_id],
            attempts,
        )

    due = [r for r in await store.unfinished_notifications(30, limit=100_000) if r["object_id"] in ids]

    assert [r["recovery_attempts"] for r in due] == [0, 1, 2]
    assert len(await store.unfinished_notifications(0, limit=1)) == 1


async def test_a_notification_younger_than_asked_is_not_due_yet(store: Store) -> None:
    object_id = f"pay-{uuid.uuid4()}"
    await store.record_notification("payment.succeeded", object_id, None, {})

    assert object_id not in {
        r["object_id"] for r in await store.unfinished_notifications(3600, limit=100_000)
    }


async def test_a_finished_notification_keeps_its_outcome_and_reason_and_is_not_due(
    store: Store, webhook_dsn: str
) -> None:
    object_id = f"pay-{uuid.uuid4()}"
    notification_id, _ = await store.record_notification(
        "payment.succeeded", object_id, "185.71.76.10", {"a": 1}
    )

    await store.finish_notification(notification_id, "rejected", "payment unknown to the YooKassa API")

    row = await _sql(
        webhook_dsn,
        "SELECT row(outcome, error, processed_at IS NOT NULL, host(source_ip), body->>'a')"
        " FROM platform.notifications WHERE id = $1",
        notification_id,
    )
    assert tuple(row) == ("rejected", "payment unknown to the YooKassa API", True, "185.71.76.10", "1")
    assert object_id not in {r["object_id"] for r in await store.unfinished_notifications(0, limit=100_000)}


async def test_an_applied_checkout_keeps_the_first_payment_tied_to_it(store: Store, namespace: str) -> None:
    pay_first = f"pay-first-{uuid.uuid4()}"
    pay_second = f"pay-second-{uuid.uuid4()}"
    pay_only = f"pay-only-{uuid.uuid4()}"
    attached = await _checkout(store, namespace)
    assert await store.attach_payment(attached.id, pay_first, "https://pay.example/confirm")
    bare = await _checkout(store, namespace)

    assert await store.mark_applied(attached.id, pay_second) is True
    assert await store.mark_applied(bare.id, pay_only) is True

    first, only = await store.checkout(attached.id), await store.checkout(bare.id)
    assert first is not None and (first.status, first.payment_id) == ("applied", pay_first)
    assert first.confirmation_url == "https://pay.example/confirm"
    assert only is not None and (only.status, only.payment_id) == ("applied", pay_only)


async def test_an_applied_checkout_is_neither_canceled_nor_reopened(store: Store, namespace: str) -> None:
    pay_new = f"pay-new-{uuid.uuid4()}"
    checkout = await _applied(store, await _checkout(store, namespace))

    assert await store.mark_canceled(checkout.id, str(checkout.payment_id), "late") is False
    assert await store.attach_payment(checkout.id, pay_new, None) is False
    assert await store.mark_applied(checkout.id, str(checkout.payment_id)) is False
    stored = await store.checkout(checkout.id)
    assert stored is not None and stored.status == "applied"


async def test_only_the_current_payment_cancels_a_checkout(store: Store, namespace: str) -> None:
    pay_current = f"pay-current-{uuid.uuid4()}"
    pay_older = f"pay-older-{uuid.uuid4()}"
    checkout = await _checkout(store, namespace)
    assert await store.attach_payment(checkout.id, pay_current, None)

    assert await store.mark_canceled(checkout.id, pay_older, "expired") is False
    assert await store.mark_canceled(checkout.id, pay_current, "expired") is True

    stored = await store.checkout(checkout.id)
    assert stored is not None and (stored.status, stored.status_message) == ("canceled", "expired")


async def test_a_canceled_checkout_takes_a_new_payment_but_not_the_canceled_one_again(
    store: Store, namespace: str
) -> None:
    pay_a = f"pay-a-{uuid.uuid4()}"
    pay_b = f"pay-b-{uuid.uuid4()}"
    checkout = await _checkout(store, namespace)
    assert await store.attach_payment(checkout.id, pay_a, None)
    assert await store.mark_canceled(checkout.id, pay_a, "expired")

    assert await store.attach_payment(checkout.id, pay_a, None) is False
    assert await store.attach_payment(checkout.id, pay_b, None) is True

    stored = await store.checkout(checkout.id)
    assert stored is not None and (stored.status, stored.payment_id, stored.status_message) == (
        "pending",
        pay_b,
        None,
    )


async def test_a_store_whose_database_is_unreachable_raises_on_use_and_closes_harmlessly(
    webhook_dsn: str,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = re.sub(r"@[^/]+/", f"@127.0.0.1:{port}/", webhook_dsn, count=1)
    broken = Store(unreachable, max_size=1)

    with pytest.raises(OSError):
        await broken.ping()
    with pytest.raises(OSError):  # not remembered as connected: every call tries again
        await broken.client_id_taken("client_abc")
    await broken.close()
