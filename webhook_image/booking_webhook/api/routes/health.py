"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from booking_webhook.api.deps import ClientsDep

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(clients: ClientsDep) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, probe in (("database", clients.store.ping), ("kubernetes", clients.kube.ping)):
        try:
            await asyncio.wait_for(probe(), 3)
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready", reported by kind only
            checks[name] = type(exc).__name__
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", **checks}, status_code=200 if ok else 503)


@router.get("/metrics")
async def metrics(clients: ClientsDep) -> Response:
    return Response(generate_latest(clients.metrics.registry), media_type=CONTENT_TYPE_LATEST)
