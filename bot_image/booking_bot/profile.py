"""The business profile: address, phone, map location and time zone (no aiogram here).

Shown to customers where they need it (the greeting, confirmations, reminders, "too late to
cancel here, call us"). The time zone stored here overrides TENANT_TIMEZONE from the
environment; ``apply_timezone`` puts it into the tenant's own settings object, never into a
module global (a shared runtime serves many tenants in one process).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

import asyncpg

from booking_bot.config import Settings
from booking_bot.i18n import I18n, Texts
from booking_contract import crd


@dataclass(frozen=True)
class Profile:
    address: str = ""
    phone: str = ""
    latitude: float | None = None
    longitude: float | None = None
    timezone: str | None = None

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None


async def load_profile(pool: asyncpg.Pool | asyncpg.Connection) -> Profile:
    row = await pool.fetchrow("SELECT address, phone, latitude, longitude, timezone FROM settings WHERE id")
    return Profile() if row is None else Profile(**dict(row))


_FIELDS = frozenset({"address", "phone", "timezone"})


async def set_text(pool: asyncpg.Pool, name: str, value: str | None) -> None:
    if name not in _FIELDS:
        raise ValueError(f"unknown profile field {name!r}")
    # The column name comes from the fixed allow-list above, never from user input.
    await pool.execute(f"UPDATE settings SET {name} = $1, updated_at = now() WHERE id", value)  # noqa: S608


async def set_location(pool: asyncpg.Pool, latitude: float, longitude: float) -> None:
    await pool.execute(
        "UPDATE settings SET latitude = $1, longitude = $2, updated_at = now() WHERE id", latitude, longitude
    )


def valid_timezone(name: str) -> bool:
    """The platform's one rule (the CRD's spec.timezone, the sales bot and this bot agree)."""
    return crd.valid_timezone(name)


class TenantZone:
    """The tenant's time zone: the owner's choice (stored) over TENANT_TIMEZONE (the default).

    TENANT_TIMEZONE comes from the BookingTenant's ``spec.timezone`` (asked by the sales bot at
    purchase): it is where a new bot starts. Once the owner picks a zone in the bot, that choice
    is kept in the tenant's schema and wins, also over a later change of the resource (the
    owner is the one who sees the slots); ``-`` in the bot returns to TENANT_TIMEZONE.

    One per tenant, holding that tenant's settings and texts: changing it moves every slot,
    date and reminder shown from then on.
    """

    def __init__(self, settings: Settings, i18n: I18n) -> None:
        self.settings = settings
        self.i18n = i18n
        self.default = settings.tenant_timezone

    def apply(self, name: str | None) -> str:
        zone = name if name and valid_timezone(name) else self.default
        self.settings.tenant_timezone = zone
        self.i18n.set_timezone(zoneinfo.ZoneInfo(zone))
        return zone


def contact_text(profile: Profile, texts: Texts) -> str:
    """ "📍 address · ☎ phone", or "" when the owner filled in neither."""
    parts = []
    if profile.address:
        parts.append(texts("profile.address_line", address=profile.address))
    if profile.phone:
        parts.append(texts("profile.phone_line", phone=profile.phone))
    return "\n".join(parts)


async def profile_line(pool: asyncpg.Pool, texts: Texts) -> str:
    return contact_text(await load_profile(pool), texts)


async def with_contact(pool: asyncpg.Pool, texts: Texts, text: str, *, limit: int | None = None) -> str:
    """``text`` plus the business's address and phone; ``limit`` (an alert's 200 characters)
    keeps the phone first and drops what does not fit."""
    profile = await load_profile(pool)
    if limit is None:
        contact = contact_text(profile, texts)
        return f"{text}\n{contact}" if contact else text
    if profile.phone:
        text = f"{text}\n{texts('profile.phone_line', phone=profile.phone)}"
    return text[:limit]
