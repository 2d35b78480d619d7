"""The operator's settings: one object, read once from the environment at startup."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from booking_contract import settings as contract_settings
from booking_operator.database import RoleLimits


class OperatorSettings(BaseSettings):
    """Every knob of the operator, with its environment variable name and default."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # Admin connection used for provisioning: a role with CREATEROLE and CREATE on the
    # database (no superuser needed). Never given to a tenant.
    operator_database_url: SecretStr
    # Admin connection to Redis (ACL SETUSER/DELUSER, SCAN/UNLINK on deletion).
    operator_redis_url: SecretStr
    # The booking bot image every tenant runs unless its spec overrides it.
    bot_image: str = Field(min_length=1)
    bot_image_pull_policy: str = "IfNotPresent"
    # Other images a tenant may name in spec.bot.image, comma-separated: exact references, or
    # prefixes ending in `*` (end them with `:` or `@`). Empty: BOT_IMAGE only.
    bot_image_allowlist: str = ""

    # What the bots are told: where Postgres/Redis are as seen from tenant pods.
    # Default: the host/port/database of OPERATOR_DATABASE_URL / OPERATOR_REDIS_URL.
    tenant_database_host: str | None = None
    tenant_database_port: int | None = None
    tenant_database_name: str | None = None
    # Appended to every tenant DATABASE_URL as ?sslmode=..., when set (e.g. "require").
    tenant_database_sslmode: str | None = None
    # Redis URL (without credentials) the bots use; the tenant's ACL user is injected.
    tenant_redis_url: str | None = None
    # "auto": per-tenant ACL users when the server supports ACLs; "off": prefix-only isolation.
    redis_acl: str = "auto"
    # Per-tenant Postgres connection limit (the bot pool's max plus the migration job).
    tenant_connection_limit: int = Field(default=4, ge=1, le=100)
    # Per-tenant role settings a hostile or buggy bot cannot exceed (milliseconds; 0 = off).
    tenant_statement_timeout_ms: int = Field(default=30_000, ge=0)
    tenant_idle_in_transaction_timeout_ms: int = Field(default=60_000, ge=0)
    tenant_lock_timeout_ms: int = Field(default=10_000, ge=0)
    # The group role holding CONNECT on the database, granted to every tenant role at creation.
    tenant_group_role: str = Field(default="booking_tenants", pattern=r"^[a-z][a-z0-9_]{2,62}$")
    # Redis bytes (MEMORY USAGE of its keys) above which a tenant's ACL user loses SETEX.
    tenant_redis_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Start even though PostgreSQL <= 15 makes CREATEROLE nearly superuser (see docs/operator.md).
    allow_createrole_before_pg16: bool = False

    # Runtime of a tenant whose spec.runtime is absent: Dedicated (a Deployment each) or Shared.
    default_runtime: Literal["Dedicated", "Shared"] = "Dedicated"
    # Tenants per shard Deployment (Shared runtime); a full pool gets a new shard.
    shard_capacity: int = Field(default=500, ge=1, le=2000)
    # Memory request and limit of a shard pod (docs/shared-runtime.md: the arithmetic).
    shard_memory_request: str = "512Mi"
    shard_memory_limit: str = "1536Mi"
    # Webhook mode (docs/shared-runtime.md): the public HTTPS base URL at which Telegram reaches
    # the shards through the chart's Ingress; shard <name> gets <url>/shards/<name>. Empty = every
    # shard long-polls (no ingress needed).
    shard_webhook_url: str = Field(default="", pattern=r"^(https://[^/?#]+(/[^?#]*)?)?$")
    # Shards with a route in the chart's Ingress (booking-shard-0 .. N-1); the shards beyond
    # long-poll, so a pool that outgrew the Ingress keeps serving.
    shard_webhook_shards: int = Field(default=0, ge=0, le=1000)

    # Where to watch BookingTenants: empty = the whole cluster.
    watch_namespace: str = ""
    # The platform's token namespace: where the webhook keeps the bot tokens of the checkouts it
    # sells (it holds no Secret verb where tenants' credentials live). The only namespace a
    # spec.botTokenSecretRef.namespace may name; empty = none may be named.
    token_namespace: str = Field(default="", pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$")
    # Full reconcile of every tenant (drift repair) at least this often, seconds.
    resync_interval: float = Field(default=300.0, gt=0)
    # How often each tenant's deadline (paidUntil) is checked locally, seconds.
    deadline_check_interval: float = Field(default=15.0, gt=0)
    # Seconds between deletion attempts of a role that cannot be dropped yet (retire.py gives up
    # after GIVE_UP_AFTER of them and leaves it NOLOGIN).
    deletion_retry_interval: float = Field(default=30.0, gt=0)

    # Bot API server for getMe and for the bots (empty = Telegram's public one).
    telegram_api_url: str = ""
    # Ask Telegram (getMe) for the bot's @username and to validate its token.
    telegram_check_tokens: bool = True
    # How long a token Telegram accepted is trusted before it is asked again, seconds: a token
    # revoked in BotFather is noticed at the first resync after this (a changed token Secret
    # is checked at once).
    token_recheck_interval: float = Field(default=900.0, ge=0)

    # Operational endpoints.
    liveness_port: int = Field(default=8080, ge=0, le=65535)
    metrics_port: int = Field(default=9090, ge=0, le=65535)
    log_format: str = "json"
    log_level: str = "INFO"

    @field_validator("operator_database_url")
    @classmethod
    def _postgres_scheme(cls, value: SecretStr) -> SecretStr:
        if urlsplit(value.get_secret_value()).scheme not in {"postgresql", "postgres"}:
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("operator_redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr) -> SecretStr:
        if urlsplit(value.get_secret_value()).scheme not in {"redis", "rediss"}:
            raise ValueError("must be a redis:// or rediss:// URL")
        return value

    @field_validator("redis_acl")
    @classmethod
    def _acl_mode(cls, value: str) -> str:
        if value not in {"auto", "off"}:
            raise ValueError("must be 'auto' or 'off'")
        return value

    @property
    def role_limits(self) -> RoleLimits:
        return RoleLimits(
            connection_limit=self.tenant_connection_limit,
            statement_timeout_ms=self.tenant_statement_timeout_ms,
            idle_in_transaction_timeout_ms=self.tenant_idle_in_transaction_timeout_ms,
            lock_timeout_ms=self.tenant_lock_timeout_ms,
        )

    @property
    def image_allowlist(self) -> list[str]:
        return [entry.strip() for entry in self.bot_image_allowlist.split(",") if entry.strip()]

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in {"json", "plain"}:
            raise ValueError("must be 'json' or 'plain'")
        return value

    @model_validator(mode="after")
    def _fill_tenant_endpoints(self) -> OperatorSettings:
        db = urlsplit(self.operator_database_url.get_secret_value())
        self.tenant_database_host = self.tenant_database_host or db.hostname or "localhost"
        self.tenant_database_port = self.tenant_database_port or db.port or 5432
        self.tenant_database_name = self.tenant_database_name or db.path.lstrip("/") or "postgres"
        if not self.tenant_redis_url:
            r = urlsplit(self.operator_redis_url.get_secret_value())
            host = r.hostname or "localhost"
            self.tenant_redis_url = f"{r.scheme}://{host}:{r.port or 6379}/0"
        return self


@lru_cache
def get_settings() -> OperatorSettings:
    """Load settings once; a booking_contract ConfigError names every offending variable."""
    return contract_settings.load(OperatorSettings)
