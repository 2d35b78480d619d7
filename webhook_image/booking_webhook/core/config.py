"""The service's one settings object, read from the environment.

Production defaults are safe: the notification source networks are YooKassa's published
list, no proxy is trusted, and placeholder secrets are refused at start-up.
"""

from __future__ import annotations

import ipaddress
import json
import re
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from booking_contract import settings as contract_settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# YooKassa's published notification source networks
# (https://yookassa.ru/developers/using-api/webhooks, "IP authentication").
# The SDK's own SecurityHelper list is narrower (four IPv6 /64s instead of the /32).
YOOKASSA_NOTIFICATION_NETWORKS: tuple[str, ...] = (
    "185.71.76.0/27",
    "185.71.77.0/27",
    "77.75.153.0/25",
    "77.75.156.11/32",
    "77.75.156.35/32",
    "77.75.154.128/25",
    "2a02:5180::/32",
)

PLACEHOLDERS = {"", "changeme", "change-me", "change_me", "secret", "password", "placeholder", "todo", "xxx"}


def is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return (
        lowered in PLACEHOLDERS
        or lowered.startswith(("<", "${", "your-", "your_"))
        or "xxxx" in lowered
        or lowered.startswith("test_xxx")
    )


class Plan(BaseModel):
    """A subscription plan: what it costs and how many days it buys."""

    days: int = Field(ge=1, le=3660)
    amount: Decimal = Field(gt=0, decimal_places=2)
    currency: str = Field(default="RUB", pattern=r"^[A-Z]{3}$")
    title: str = ""

    @property
    def amount_str(self) -> str:
        return f"{self.amount:.2f}"


DEFAULT_PLANS: dict[str, Plan] = {
    "1m": Plan(days=30, amount=Decimal("299.00"), title="1 месяц"),
    "3m": Plan(days=90, amount=Decimal("799.00"), title="3 месяца"),
    "12m": Plan(days=365, amount=Decimal("2990.00"), title="12 месяцев"),
}


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.replace(";", ",").split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    # --- YooKassa API ---
    yookassa_shop_id: str = Field(validation_alias="YOOKASSA_SHOP_ID")
    yookassa_secret_key: SecretStr = Field(validation_alias="YOOKASSA_SECRET_KEY")
    yookassa_api_url: str = Field(default="https://api.yookassa.ru/v3", validation_alias="YOOKASSA_API_URL")
    # Total time for one YooKassa API call (connect + response), seconds; the SDK sets none.
    yookassa_timeout: float = Field(default=10.0, gt=0, le=60, validation_alias="YOOKASSA_TIMEOUT")
    # 54-FZ receipts: send `receipt` with each payment when the shop is configured for them.
    yookassa_receipt_enabled: bool = Field(default=False, validation_alias="YOOKASSA_RECEIPT_ENABLED")
    # `vat_code` of the receipt item: 1 no VAT, 2 VAT 0 %, 3 10 %, 4 20 %, 5 10/110, 6 20/120,
    # 7-12 the 5 % / 7 % rates of 2025 (as YooKassa numbers them).
    yookassa_vat_code: int = Field(default=1, ge=1, le=12, validation_alias="YOOKASSA_VAT_CODE")
    # `payment_subject` of the item (what is sold): a subscription is a `service`.
    yookassa_receipt_payment_subject: str = Field(
        default="service",
        pattern=r"^(commodity|excise|job|service|payment|casino|another|intellectual_activity)$",
        validation_alias="YOOKASSA_RECEIPT_PAYMENT_SUBJECT",
    )
    # `payment_mode` of the item: paid in full at once = `full_payment` (`full_prepayment` when
    # the service is provided after payment and the shop's accountant wants it so).
    yookassa_receipt_payment_mode: str = Field(
        default="full_payment",
        pattern=r"^(full_prepayment|partial_prepayment|advance|full_payment)$",
        validation_alias="YOOKASSA_RECEIPT_PAYMENT_MODE",
    )
    # `tax_system_code` (1 OSN, 2 USN income, 3 USN income-expense, 4 ENVD, 5 ESHN, 6 PSN):
    # only when the shop has several tax systems; unset = the one set in the YooKassa cabinet.
    yookassa_tax_system_code: int | None = Field(
        default=None, ge=1, le=6, validation_alias="YOOKASSA_TAX_SYSTEM_CODE"
    )
    # A test shop (its payments carry `test: true`). False in production: a test payment is then
    # refused, so test credentials left in a live deployment cannot hand out free bots.
    yookassa_test_shop: bool = Field(default=False, validation_alias="YOOKASSA_TEST_SHOP")

    # --- the HTTP service ---
    port: int = Field(default=8001, ge=1, le=65535, validation_alias="PORT")
    host: str = Field(default="0.0.0.0", validation_alias="HOST")  # noqa: S104 - a container listens on all
    public_url: str = Field(default="http://localhost:8001", validation_alias="PUBLIC_URL")
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = Field(
        default_factory=list, validation_alias="WEBHOOK_TRUSTED_PROXIES"
    )
    source_networks: Annotated[list[IPNetwork], NoDecode] = Field(
        default_factory=lambda: [ipaddress.ip_network(n) for n in YOOKASSA_NOTIFICATION_NETWORKS],
        validation_alias="WEBHOOK_SOURCE_NETWORKS",
    )
    extra_source_networks: Annotated[list[IPNetwork], NoDecode] = Field(
        default_factory=list, validation_alias="WEBHOOK_EXTRA_SOURCE_NETWORKS"
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, validation_alias="WEBHOOK_MAX_BODY_BYTES")
    rate_limit_per_second: float = Field(default=20.0, gt=0, validation_alias="WEBHOOK_RATE_LIMIT_PER_SECOND")
    rate_limit_burst: int = Field(default=100, ge=1, validation_alias="WEBHOOK_RATE_LIMIT_BURST")
    # Upper bound on processing one notification before answering non-200 (YooKassa redelivers).
    processing_timeout: float = Field(default=20.0, gt=0, validation_alias="WEBHOOK_PROCESSING_TIMEOUT")
    # How often recorded-but-unfinished notifications are retried in the background (0: never).
    recovery_interval: float = Field(default=60.0, ge=0, validation_alias="WEBHOOK_RECOVERY_INTERVAL")
    # A notification is left to redelivery this long before the background pass takes it up.
    recovery_min_age: float = Field(default=60.0, ge=0, validation_alias="WEBHOOK_RECOVERY_MIN_AGE")
    # Background attempts per notification before it is given up as `failed` (with an alert).
    recovery_max_attempts: int = Field(default=20, ge=1, validation_alias="WEBHOOK_RECOVERY_MAX_ATTEMPTS")
    # How often YooKassa's payment list is compared with what was applied (0: never).
    reconcile_interval: float = Field(default=300.0, ge=0, validation_alias="WEBHOOK_RECONCILE_INTERVAL")
    # How far back (by creation time) each reconciliation pass looks.
    reconcile_lookback_hours: float = Field(
        default=72.0, gt=0, le=24 * 30, validation_alias="WEBHOOK_RECONCILE_LOOKBACK_HOURS"
    )

    # --- storage and Kubernetes ---
    database_url: SecretStr = Field(validation_alias=AliasChoices("WEBHOOK_DATABASE_URL"))
    tenant_namespace: str = Field(
        default="default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", validation_alias="TENANT_NAMESPACE"
    )
    # Where the bot tokens of checkouts are written: a namespace holding nothing but them, so the
    # internet-facing webhook needs no Secret verb where tenants' credentials live (the chart's
    # `<release namespace>-tokens`). Unset = the tenant namespace (a development setup).
    token_namespace: str | None = Field(
        default=None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", validation_alias="TOKEN_NAMESPACE"
    )
    kubeconfig: str | None = Field(default=None, validation_alias="KUBECONFIG")

    # --- plans and the sales bot ---
    plans: dict[str, Plan] = Field(default_factory=lambda: dict(DEFAULT_PLANS), validation_alias="PLANS")
    sales_bot_token: SecretStr | None = Field(default=None, validation_alias="SALES_BOT_TOKEN")
    telegram_api_url: str | None = Field(default=None, validation_alias="TELEGRAM_API_URL")
    ready_poll_interval: float = Field(default=5.0, gt=0, validation_alias="SALES_READY_POLL_INTERVAL")
    # Offer auto-renewal (YooKassa autopayments: the shop must have them enabled by YooKassa).
    sales_autorenewal: bool = Field(default=False, validation_alias="SALES_AUTORENEWAL")
    # getUpdates long-poll seconds; a shutdown waits for the current poll to end.
    polling_timeout: int = Field(default=10, ge=1, le=50, validation_alias="SALES_POLLING_TIMEOUT")

    @field_validator("trusted_proxies", "source_networks", "extra_source_networks", mode="before")
    @classmethod
    def _parse_networks(cls, value: Any) -> Any:
        items = _split(value)
        if not isinstance(items, list):
            return items
        try:
            return [ipaddress.ip_network(str(item), strict=False) for item in items]
        except ValueError as exc:
            raise ValueError(f"not a network: {exc}") from None

    @field_validator("sales_bot_token", "telegram_api_url", "token_namespace", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("plans", mode="before")
    @classmethod
    def _parse_plans(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value)
        return value

    @field_validator("plans")
    @classmethod
    def _check_plan_names(cls, value: dict[str, Plan]) -> dict[str, Plan]:
        if not value:
            raise ValueError("at least one plan is needed")
        for name in value:
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", name):
                raise ValueError(f"plan name {name!r} must match ^[a-z0-9][a-z0-9-]{{0,31}}$")
        return value

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if is_placeholder(self.yookassa_shop_id):
            raise ValueError("YOOKASSA_SHOP_ID is empty or a placeholder")
        if is_placeholder(self.yookassa_secret_key.get_secret_value()):
            raise ValueError("YOOKASSA_SECRET_KEY is empty or a placeholder")
        dsn = self.database_url.get_secret_value()
        if not dsn.startswith(("postgresql://", "postgres://")):
            raise ValueError("WEBHOOK_DATABASE_URL must be a postgresql:// URL")
        if not self.allowed_sources:
            raise ValueError("WEBHOOK_SOURCE_NETWORKS is empty: no notification could ever be accepted")
        if self.sales_bot_token is not None and is_placeholder(self.sales_bot_token.get_secret_value()):
            raise ValueError("SALES_BOT_TOKEN is a placeholder")
        return self

    @property
    def allowed_sources(self) -> list[IPNetwork]:
        return [*self.source_networks, *self.extra_source_networks]


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; raise ConfigError with one readable line when they are wrong."""
    return contract_settings.load(lambda: Settings(**overrides))


@lru_cache
def get_settings() -> Settings:
    return load_settings()
