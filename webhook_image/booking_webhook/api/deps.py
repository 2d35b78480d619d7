"""Dependencies the routes ask for by type: settings and the running services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from booking_webhook.core.config import Settings, get_settings
from booking_webhook.notifications import Services
from booking_webhook.ratelimit import RateLimiter


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
