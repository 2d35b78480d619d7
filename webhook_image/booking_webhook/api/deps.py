"""Dependencies the routes ask for by type: settings and the running clients."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from booking_webhook.core.config import Settings, get_settings
from booking_webhook.notifications import Clients
from booking_webhook.ratelimit import RateLimiter


def get_clients(request: Request) -> Clients:
    clients: Clients = request.app.state.clients
    return clients


def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientsDep = Annotated[Clients, Depends(get_clients)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
