"""The shard's own settings, and one tenant's entry in the shard's tenant list.

A tenant entry is the JSON object the operator writes under the tenant's client id into the
shard's Secret: the same variable names the dedicated bot reads from its environment
(``CLIENT_ID``, ``BOT_TOKEN``, ``DATABASE_URL``, ``REDIS_URL``, ``REDIS_KEY_PREFIX``,
``BUSINESS_NAME``...). It is validated by the dedicated bot's own ``Settings`` model, but never
from the process environment: a tenant missing ``DATABASE_URL`` must fail, not inherit a
value meant for someone else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from booking_bot.config import Settings
from booking_contract.client_id import is_valid_client_id
from booking_contract.settings import (
    ConfigError,
    describe,  # names and reasons, never pydantic's `input`
)

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Variables a tenant entry may not set: the shard owns its HTTP endpoint and its Bot API server.
SHARD_OWNED = frozenset({"HEALTH_PORT", "TELEGRAM_API_URL", "LOG_LEVEL"})


class ShardSettings(BaseSettings):
    """Everything a shard process reads from its environment."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_ignore_empty=True)

    # The shard's name (its Deployment's), on every log line and in the reminder worker ids.
    shard_name: str = Field(default="shard", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    # Tenant list from the Kubernetes API: the name of this shard's own Secret (one key per tenant).
    shard_tenants_secret: str | None = None
    # ... or from a directory, one file per tenant (a mounted Secret, or local development).
    shard_tenants_dir: Path | None = None
    # Where the per-tenant serving state is reported (a ConfigMap the operator created); unset = nowhere.
    shard_status_configmap: str | None = None
    # Namespace of the Secret and the ConfigMap; default: the service account's namespace.
    shard_namespace: str | None = None
    # Kubernetes API base URL outside a cluster (development, tests); default: in-cluster.
    shard_kube_api_url: str | None = None
    # Tenants started at the same time (each start migrates and calls getMe).
    shard_start_concurrency: int = Field(default=8, ge=1, le=100)
    # Reminder passes running at the same time across all tenants (each holds a connection).
    shard_reminder_concurrency: int = Field(default=4, ge=1, le=50)
    # An idle tenant without a due reminder is looked at this often (catches rows written elsewhere).
    shard_reminder_idle_seconds: float = Field(default=600.0, gt=0)
    # A full garbage collection at least this often, or sooner when RSS grew by SHARD_GC_GROWTH_MB
    # since the last one (shard/heap.py); the young generations are collected every 0.1 s.
    shard_gc_full_seconds: float = Field(default=300.0, ge=1)
    shard_gc_growth_mb: int = Field(default=64, ge=1)
    # How long a tenant's PostgreSQL and Redis connections stay open after its last update (its
    # entry's DB_IDLE_SECONDS, when it sets one, wins): long enough to span a conversation, whose
    # next tap comes seconds to a minute later, so only its first update after idling connects.
    # The dedicated bot's 10 s would close them between two taps. Idle tenants hold none after it.
    shard_db_idle_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Updates of one tenant handled at once: a busy tenant cannot take all of the shard's capacity.
    shard_tenant_concurrency: int = Field(default=8, ge=1, le=100)
    # Long-poll timeout of each tenant's getUpdates, seconds (Telegram allows up to 50): an idle
    # tenant costs one request per timeout, so a long one keeps a full shard's idle CPU low.
    shard_polling_timeout: int = Field(default=50, ge=1, le=50)
    # Public HTTPS base URL that reaches this shard's SHARD_WEBHOOK_PORT (through an Ingress):
    # set, every tenant gets a webhook <url>/telegram/<bot id> instead of a long poll.
    shard_webhook_url: str | None = Field(default=None, pattern=r"^https?://[^/?#]+(/[^?#]*)?$")
    # Port of the webhook endpoint (apart from HEALTH_PORT: only this one is exposed).
    shard_webhook_port: int = Field(default=8081, ge=1, le=65535)
    # Another Bot API server for every tenant of the shard; unset = api.telegram.org.
    telegram_api_url: str | None = None
    # Port of GET /healthz and GET /tenants; 0 disables the endpoint.
    health_port: int = Field(default=8080, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    def namespace(self) -> str:
        if self.shard_namespace:
            return self.shard_namespace
        try:
            return (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip()
        except OSError:
            raise ConfigError("SHARD_NAMESPACE is not set and there is no in-cluster namespace") from None


def load_shard_settings() -> ShardSettings:
    """Read the environment; raise ConfigError with one human line when it is wrong."""
    try:
        settings = ShardSettings()
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None
    if (settings.shard_tenants_secret is None) == (settings.shard_tenants_dir is None):
        raise ConfigError("set exactly one of SHARD_TENANTS_SECRET and SHARD_TENANTS_DIR")
    if settings.shard_webhook_url and settings.shard_webhook_port == settings.health_port:
        raise ConfigError(
            "SHARD_WEBHOOK_PORT must differ from HEALTH_PORT (only the webhook port is exposed)"
        )
    return settings


class TenantSettings(Settings):
    """The dedicated bot's settings, read from a tenant entry only (never the environment)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass(frozen=True)
class TenantEntry:
    """One tenant as the shard was told about it; ``error`` when the entry is unusable."""

    client_id: str
    fingerprint: str
    settings: TenantSettings | None
    error: str | None = None

    @property
    def bot_id(self) -> int | None:
        if self.settings is None or self.settings.bot_token is None:
            return None
        head = self.settings.bot_token.get_secret_value().split(":", 1)[0]
        return int(head) if head.isdigit() else None


def fingerprint(raw: str) -> str:
    """A short digest of an entry, reported back so the operator knows which version is served."""
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def parse_entry(
    client_id: str, raw: str, telegram_api_url: str | None, *, db_idle_seconds: float | None = None
) -> TenantEntry:
    """Validate one entry; a bad one becomes an entry with an error, never an exception.

    ``db_idle_seconds`` (the shard's ``SHARD_DB_IDLE_SECONDS``) stands in for an entry that does
    not set ``DB_IDLE_SECONDS``: the dedicated bot's default is the wrong one for a shard."""
    digest = fingerprint(raw)

    def bad(message: str) -> TenantEntry:
        return TenantEntry(client_id=client_id, fingerprint=digest, settings=None, error=message)

    if not is_valid_client_id(client_id):
        return bad(f"key {client_id!r} is not a client id")
    try:
        values = json.loads(raw)
    except ValueError:
        return bad("the entry is not JSON")
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        return bad("the entry is not a JSON object")
    # Empty values count as unset, as in the dedicated bot's environment (env_ignore_empty).
    names = {k.upper(): v for k, v in values.items() if v != "" and v is not None}
    if names.setdefault("CLIENT_ID", client_id) != client_id:
        return bad("CLIENT_ID differs from the entry's key")
    for name in SHARD_OWNED & names.keys():
        del names[name]
    if db_idle_seconds is not None:
        names.setdefault("DB_IDLE_SECONDS", db_idle_seconds)
    try:
        settings = TenantSettings(
            **{k.lower(): v for k, v in names.items()}, health_port=0, telegram_api_url=telegram_api_url
        )
        settings.token()
    except ValidationError as exc:
        return bad(describe(exc))
    except ConfigError as exc:
        return bad(str(exc))
    return TenantEntry(client_id=client_id, fingerprint=digest, settings=settings)
