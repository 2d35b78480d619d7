"""A fake YooKassa API v3 over real HTTP, for the webhook's and the sales bot's tests.

`FakeYooKassa` serves on 127.0.0.1 (a free port) with the parts of the API this project
uses: `POST /v3/payments` (basic auth shop_id:secret_key, `Idempotence-Key` semantics: the
same key returns the same payment), `GET /v3/payments/{id}`, `GET /v3/refunds/{id}`.
Test helpers move payments along (`succeed`, `cancel`, `refund`), add payments the shop
never created (`add_payment`, for forged notifications), and switch the whole API to
hang (`hang = True`) or to answer 500 (`fail = True`).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import uuid
from typing import Any

import aiohttp.web


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeYooKassa:
    def __init__(self, shop_id: str = "123456", secret_key: str = "test_fake_secret_key_for_tests") -> None:
        self.shop_id = shop_id
        self.secret_key = secret_key
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.idempotence: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        self.created_requests: list[dict[str, Any]] = []
        self.hang = False
        self.fail = False
        self.url = ""
        self._runner: aiohttp.web.AppRunner | None = None
        self._release = asyncio.Event()

    # --- lifecycle ---
    async def start(self) -> FakeYooKassa:
        app = aiohttp.web.Application(middlewares=[self._middleware])
        app.router.add_post("/v3/payments", self._create_payment)
        app.router.add_get("/v3/payments/{id}", self._get_payment)
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

    # --- test helpers ---
    def succeed(self, payment_id: str) -> dict[str, Any]:
        payment = self.payments[payment_id]
        payment.update(status="succeeded", paid=True, captured_at=_now(), refundable=True)
        payment.pop("confirmation", None)
        return copy.deepcopy(payment)

    def cancel(self, payment_id: str, reason: str = "expired_on_confirmation") -> dict[str, Any]:
        payment = self.payments[payment_id]
        payment.update(
            status="canceled", paid=False, cancellation_details={"party": "yoo_money", "reason": reason}
        )
        return copy.deepcopy(payment)

    def refund(self, payment_id: str, value: str | None = None) -> str:
        payment = self.payments[payment_id]
        refund_id = str(uuid.uuid4())
        amount = {"value": value or payment["amount"]["value"], "currency": payment["amount"]["currency"]}
        self.refunds[refund_id] = {
            "id": refund_id,
            "payment_id": payment_id,
            "status": "succeeded",
            "created_at": _now(),
            "amount": amount,
        }
        payment["refunded_amount"] = amount
        return refund_id

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
            if payment.get("metadata", {}).get("checkout_id") == checkout_id:
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
            "created_at": _now(),
            "metadata": metadata,
            "recipient": {"account_id": self.shop_id, "gateway_id": "100500"},
            "refundable": False,
            "test": True,
        }

    async def _create_payment(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        key = request.headers.get("Idempotence-Key")
        if not key:
            return self._error(400, "invalid_request", "Idempotence-Key header is required")
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "invalid_request", "malformed JSON")
        if key in self.idempotence:
            return aiohttp.web.json_response(self.payments[self.idempotence[key]])
        amount = body.get("amount") or {}
        confirmation = body.get("confirmation") or {}
        if not amount.get("value") or not amount.get("currency"):
            return self._error(400, "invalid_request", "amount is required")
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
        self.payments[payment_id] = payment
        self.idempotence[key] = payment_id
        return aiohttp.web.json_response(payment)

    async def _get_payment(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        payment = self.payments.get(request.match_info["id"])
        if payment is None:
            return self._error(404, "not_found", "payment not found")
        return aiohttp.web.json_response(payment)

    async def _get_refund(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        refund = self.refunds.get(request.match_info["id"])
        if refund is None:
            return self._error(404, "not_found", "refund not found")
        return aiohttp.web.json_response(refund)
