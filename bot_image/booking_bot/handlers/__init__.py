"""Handlers, one router per feature, assembled by ``get_routers``.

Routers are built fresh on every call (a router can be attached to one dispatcher only), so
several bots can run in one process (tests). The admin routers get the admin filter here,
in one place; non-admins fall through to ``refusal``.
"""

from __future__ import annotations

from typing import Any

from aiogram import Router

from booking_bot.handlers import (
    admin,
    admin_catalog,
    admin_profile,
    admin_reports,
    admin_schedule,
    admin_staff,
    admin_staff_off,
    admin_visits,
    closing,
    common,
    confirming,
    contact,
    desk,
    errors,
    my_bookings,
    picking,
    refusal,
)
from booking_bot.i18n import I18n


def admins_only(_: Any, is_admin: bool = False) -> bool:
    """Router-level filter: ``is_admin`` comes from ContextMiddleware."""
    return is_admin


def get_routers(i18n: I18n) -> list[Router]:
    admin_routers = [
        admin.create_router(),
        admin_catalog.create_router(),
        admin_profile.create_router(),
        admin_reports.create_router(),
        admin_schedule.create_router(),
        admin_staff_off.create_router(),  # before admin_staff, which takes every other StaffAdmin
        admin_staff.create_router(),
        admin_visits.create_router(),
        closing.create_router(),
    ]
    for router in admin_routers:
        router.message.filter(admins_only)
        router.callback_query.filter(admins_only)
        router.message.middleware(desk.inject)
        router.callback_query.middleware(desk.inject)
    return [
        errors.create_router(),
        common.create_router(),
        picking.create_router(),
        confirming.create_router(),
        my_bookings.create_router(),
        *admin_routers,
        refusal.create_router(),
        contact.create_router(i18n),
        common.create_fallback_router(),
    ]
