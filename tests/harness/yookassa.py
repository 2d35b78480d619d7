"""A fake YooKassa API v3 over real HTTP, for the webhook's and the sales bot's tests.

`FakeYooKassa` serves on 127.0.0.1 (a free port) with the parts of the API this project
uses, as the real API has them: basic auth shop_id:secret_key; `POST /v3/payments` and
`POST /v3/refunds` with `Idempotence-Key` semantics (the same key returns the same object for
24 hours of the fake's clock, after which the key is forgotten, as YooKassa does);
`GET /v3/payments/{id}`, `GET /v3/refunds/{id}`; and the lists `GET /v3/payments` and
`GET /v3/refunds` (filters `created_at.gte`/`created_at.lt`, `status`, `payment_id`; `limit`
1-100; newest first; an opaque `next_cursor` while more items remain).
Test helpers move payments along (`succeed`, `cancel`, `refund`), add payments the shop
never created (`add_payment`, for forged notifications), move the fake's clock (`advance`),
mark payments as made in a test shop or not (`test_mode`), and switch the whole API to
hang (`hang = True`) or to answer 500 (`fail = True`).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import uuid
from decimal import Decimal
from typing import Any

import aiohttp.web

IDEMPOTENCE_WINDOW = datetime.timedelta(hours=24)  # YooKassa keeps an Idempotence-Key this long


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


class FakeYooKassa:
    def __init__(self, shop_id: str = "123456", secret_key: str = "test_fake_secret_key_for_tests") -> None:
        self.shop_id = shop_id
        self.secret_key = secret_key
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.idempotence: dict[str, tuple[str, datetime.datetime]] = {}
        self.refund_idempotence: dict[str, tuple[str, datetime.datetime]] = {}
        self.created_refund_requests: list[dict[str, Any]] = []
        self.clock_offset = datetime.timedelta()
        self.commission = Decimal("0.035")  # YooKassa's fee: income_amount = amount - 3.5 %
        self.test_mode = True  # the `test` flag of new payments (a test shop's payments carry true)
        self.saved_methods: dict[str, dict[str, Any]] = {}
        self.decline_saved_method: str | None = None  # a reason: the next charges of saved methods fail
        self.requests: list[tuple[str, str]] = []
        self.created_requests: list[dict[str, Any]] = []
        self.list_requests: list[dict[str, str]] = []
        self.hang = False
        self.fail = False
        self.fail_after_refund = False  # make the refund, then answer 500 (a lost answer)
        self.fail_after_charge = False  # charge a saved method, then answer 500 (a lost answer)
        self.failing_ids: set[str] = set()  # GET of these payments answers 500
        self.url = ""
        self._runner: aiohttp.web.AppRunner | None = None
        self._release = asyncio.Event()

    # --- lifecycle ---
    async def start(self) -> FakeYooKassa:
        app = aiohttp.web.Application(middlewares=[self._middleware])
        app.router.add_post("/v3/payments", self._create_payment)
        app.router.add_get("/v3/payments", self._list_payments)
        app.router.add_get("/v3/payments/{id}", self._get_payment)
        app.router.add_post("/v3/refunds", self._create_refund)
        app.router.add_get("/v3/refunds", self._list_refunds)
        app.router.add_get("/v3/refunds/{id}", self._get_refund)
        self._runner = aiohttp.web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v3"
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the fake's clock ---
    def now(self) -> datetime.datetime:
        return datetime.datetime.now(tz=datetime.UTC) + self.clock_offset

    def _now(self) -> str:
        return _stamp(self.now())

    def advance(self, **delta: float) -> None:
        """Move the fake's clock forward (e.g. past the 24-hour idempotence window)."""
        self.clock_offset += datetime.timedelta(**delta)

    # --- test helpers ---
    def succeed(self, payment_id: str) -> dict[str, Any]:
        payment = self.payments[payment_id]
        payment.update(status="succeeded", paid=True, captured_at=self._now(), refundable=True)
        value = Decimal(payment["amount"]["value"])
        income = (value * (1 - self.commission)).quantize(Decimal("0.01"))
        payment["income_amount"] = {"value": f"{income:.2f}", "currency": payment["amount"]["currency"]}
        payment.pop("confirmation", None)
        if payment.pop("save_payment_method", False) and "payment_method" not in payment:
            method: dict[str, Any] = {
                "type": "bank_card",
                "id": str(uuid.uuid4()),
                "saved": True,
                "title": "Bank card *4444",
                "card": {"first6": "555555", "last4": "4444", "expiry_year": "2030", "expiry_month": "12"},
            }
            self.saved_methods[method["id"]] = method
            payment["payment_method"] = method
        return copy.deepcopy(payment)

    def cancel(self, payment_id: str, reason: str = "expired_on_confirmation") -> dict[str, Any]:
        payment = self.payments[payment_id]
        payment.update(
            status="canceled", paid=False, cancellation_details={"party": "yoo_money", "reason": reason}
        )
        return copy.deepcopy(payment)

    def refund(self, payment_id: str, value: str | None = None) -> str:
        """A refund made outside our code (the merchant's YooKassa dashboard)."""
        payment = self.payments[payment_id]
        return str(self._make_refund(payment, value or payment["amount"]["value"], {})["id"])

    def _make_refund(self, payment: dict[str, Any], value: str, body: dict[str, Any]) -> dict[str, Any]:
        refund_id = str(uuid.uuid4())
        currency = payment["amount"]["currency"]
        refund = {
            "id": refund_id,
            "payment_id": payment["id"],
            "status": "succeeded",
            "created_at": self._now(),
            "amount": {"value": value, "currency": currency},
        }
        if body.get("description"):
            refund["description"] = body["description"]
        if body.get("receipt"):
            refund["receipt_registration"] = "pending"
        self.refunds[refund_id] = refund
        already = Decimal((payment.get("refunded_amount") or {}).get("value") or "0")
        payment["refunded_amount"] = {"value": f"{already + Decimal(value):.2f}", "currency": currency}
        payment["refundable"] = already + Decimal(value) < Decimal(payment["amount"]["value"])
        return refund

    def add_payment(
        self,
        value: str,
        currency: str = "RUB",
        status: str = "succeeded",
        metadata: dict[str, str] | None = None,
    ) -> str:
        """A payment the shop's own code never created (for forged notifications)."""
        payment_id = str(uuid.uuid4())
        self.payments[payment_id] = self._payment(
            payment_id, {"value": value, "currency": currency}, metadata or {}
        )
        self.payments[payment_id].update(status=status, paid=status == "succeeded")
        return payment_id

    def notification(self, event: str, object_id: str) -> dict[str, Any]:
        """The body YooKassa would POST for `event` about `object_id`."""
        obj = self.refunds.get(object_id) if event.startswith("refund.") else self.payments.get(object_id)
        return {
            "type": "notification",
            "event": event,
            "object": copy.deepcopy(obj) if obj else {"id": object_id},
        }

    def payment_for_checkout(self, checkout_id: str) -> dict[str, Any]:
        for payment in self.payments.values():
            metadata = payment.get("metadata")
            if isinstance(metadata, dict) and metadata.get("checkout_id") == checkout_id:
                return payment
        raise KeyError(checkout_id)

    # --- the API ---
    @aiohttp.web.middleware
    async def _middleware(self, request: aiohttp.web.Request, handler: Any) -> aiohttp.web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self.hang:
            await self._release.wait()
        if self.fail:
            return self._error(500, "internal_server_error", "fake failure")
        expected = "Basic " + base64.b64encode(f"{self.shop_id}:{self.secret_key}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return self._error(401, "invalid_credentials", "Login or password is incorrect")
        response: aiohttp.web.StreamResponse = await handler(request)
        return response

    @staticmethod
    def _error(status: int, code: str, description: str) -> aiohttp.web.Response:
        return aiohttp.web.json_response(
            {"type": "error", "id": str(uuid.uuid4()), "code": code, "description": description},
            status=status,
        )

    def _payment(self, payment_id: str, amount: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": payment_id,
            "status": "pending",
            "paid": False,
            "amount": amount,
            "created_at": self._now(),
            "metadata": metadata,
            "recipient": {"account_id": self.shop_id, "gateway_id": "100500"},
            "refundable": False,
            "test": self.test_mode,
        }

    async def _create_payment(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        key = request.headers.get("Idempotence-Key")
        if not key:
            return self._error(400, "invalid_request", "Idempotence-Key header is required")
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "invalid_request", "malformed JSON")
        known = self.idempotence.get(key)
        if known is not None and self.now() - known[1] < IDEMPOTENCE_WINDOW:
            return aiohttp.web.json_response(self.payments[known[0]])
        amount = body.get("amount") or {}
        confirmation = body.get("confirmation") or {}
        if not amount.get("value") or not amount.get("currency"):
            return self._error(400, "invalid_request", "amount is required")
        if body.get("payment_method_id"):
            return self._charge_saved_method(key, body)
        if confirmation.get("type") != "redirect" or not confirmation.get("return_url"):
            return self._error(400, "invalid_request", "redirect confirmation with return_url is required")
        self.created_requests.append(copy.deepcopy(body))
        payment_id = str(uuid.uuid4())
        payment = self._payment(payment_id, amount, body.get("metadata") or {})
        payment["description"] = body.get("description", "")
        payment["capture"] = body.get("capture")
        payment["confirmation"] = {
            "type": "redirect",
            "return_url": confirmation["return_url"],
            "confirmation_url": f"https://yoomoney.ru/checkout/payments/v2/contract?orderId={payment_id}",
        }
        if body.get("save_payment_method"):
            payment["save_payment_method"] = True
        if body.get("receipt"):
            payment["receipt_registration"] = "pending"
        self.payments[payment_id] = payment
        self.idempotence[key] = (payment_id, self.now())
        return aiohttp.web.json_response(payment)

    def _charge_saved_method(self, key: str, body: dict[str, Any]) -> aiohttp.web.Response:
        """An autopayment: no confirmation, the answer is final at once (succeeded or declined)."""
        method = self.saved_methods.get(str(body["payment_method_id"]))
        if method is None:
            return self._error(400, "invalid_request", "payment_method_id is not a saved method of this shop")
        self.created_requests.append(copy.deepcopy(body))
        payment_id = str(uuid.uuid4())
        payment = self._payment(payment_id, body["amount"], body.get("metadata") or {})
        payment.update(description=body.get("description", ""), capture=body.get("capture"))
        payment["payment_method"] = copy.deepcopy(method)
        self.payments[payment_id] = payment
        self.idempotence[key] = (payment_id, self.now())
        if self.decline_saved_method:
            self.cancel(payment_id, reason=self.decline_saved_method)
        else:
            self.succeed(payment_id)
        if self.fail_after_charge:
            return self._error(500, "internal_server_error", "fake failure after the charge was made")
        return aiohttp.web.json_response(payment)

    @staticmethod
    def _page(request: aiohttp.web.Request, objects: list[dict[str, Any]]) -> aiohttp.web.Response:
        """One page of a list, filtered and newest first, as YooKassa's list endpoints answer."""
        query = request.query
        try:
            limit = int(query.get("limit", "10"))
            offset = int(base64.urlsafe_b64decode(query["cursor"]).decode()) if "cursor" in query else 0
            gte = _parse(query["created_at.gte"]) if "created_at.gte" in query else None
            lt = _parse(query["created_at.lt"]) if "created_at.lt" in query else None
        except (ValueError, UnicodeDecodeError):
            return FakeYooKassa._error(400, "invalid_request", "bad list parameters")
        if not 1 <= limit <= 100:
            return FakeYooKassa._error(400, "invalid_request", "limit must be 1..100")
        chosen = [
            obj
            for obj in objects
            if (gte is None or _parse(obj["created_at"]) >= gte)
            and (lt is None or _parse(obj["created_at"]) < lt)
            and ("status" not in query or obj.get("status") == query["status"])
            and ("payment_id" not in query or obj.get("payment_id") == query["payment_id"])
        ]
        chosen.sort(key=lambda obj: obj["created_at"], reverse=True)
        page: dict[str, Any] = {"type": "list", "items": chosen[offset : offset + limit]}
        if offset + limit < len(chosen):
            page["next_cursor"] = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
        return aiohttp.web.json_response(page)

    async def _list_payments(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        self.list_requests.append(dict(request.query))
        return self._page(request, list(self.payments.values()))

    async def _list_refunds(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        return self._page(request, list(self.refunds.values()))

    async def _create_refund(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        key = request.headers.get("Idempotence-Key")
        if not key:
            return self._error(400, "invalid_request", "Idempotence-Key header is required")
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "invalid_request", "malformed JSON")
        known = self.refund_idempotence.get(key)
        if known is not None and self.now() - known[1] < IDEMPOTENCE_WINDOW:
            return aiohttp.web.json_response(self.refunds[known[0]])
        payment = self.payments.get(str(body.get("payment_id")))
        if payment is None:
            return self._error(404, "not_found", "payment not found")
        amount = body.get("amount") or {}
        try:
            value = Decimal(str(amount.get("value")))
        except ArithmeticError:
            return self._error(400, "invalid_request", "amount is required")
        refunded = Decimal((payment.get("refunded_amount") or {}).get("value") or "0")
        if payment.get("status") != "succeeded" or value <= 0:
            return self._error(400, "invalid_request", "payment is not refundable")
        if amount.get("currency") != payment["amount"]["currency"]:
            return self._error(400, "invalid_request", "currency differs from the payment's")
        if refunded + value > Decimal(payment["amount"]["value"]):
            return self._error(400, "invalid_request", "refund amount exceeds the payment amount")
        self.created_refund_requests.append(copy.deepcopy(body))
        refund = self._make_refund(payment, f"{value:.2f}", body)
        self.refund_idempotence[key] = (refund["id"], self.now())
        if self.fail_after_refund:
            return self._error(500, "internal_server_error", "fake failure after the refund was made")
        return aiohttp.web.json_response(refund)

    async def _get_payment(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        if request.match_info["id"] in self.failing_ids:
            return self._error(500, "internal_server_error", "fake failure of this payment")
        payment = self.payments.get(request.match_info["id"])
        if payment is None:
            return self._error(404, "not_found", "payment not found")
        return aiohttp.web.json_response(payment)

    async def _get_refund(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        refund = self.refunds.get(request.match_info["id"])
        if refund is None:
            return self._error(404, "not_found", "refund not found")
        return aiohttp.web.json_response(refund)
