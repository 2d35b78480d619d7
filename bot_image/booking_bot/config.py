"""The bot's configuration: one pydantic settings model read from the environment.

Names and meaning are fixed by docs/contracts.md. Anything wrong ends the process with
one line on stderr and exit code 2 (see ``load_settings`` and booking_contract.settings),
never a traceback.
"""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Literal, NoReturn

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from booking_contract import settings as contract_settings
from booking_contract.client_id import client_id_problem
from booking_contract.settings import ConfigError

COMPONENT = "booking_bot"


class Settings(BaseSettings):
    """Everything the bot reads from its environment."""

    # Empty variables count as unset (OWNER_TELEGRAM_ID="" from a template means "no owner").
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_ignore_empty=True)

    # Who we are: the Postgres schema and role name, the Redis key prefix stem.
    client_id: str
    # The Telegram bot token; required to run, not to migrate.
    bot_token: SecretStr | None = None
    # The tenant's own role, e.g. postgresql://client_001:pw@host:5432/booking
    database_url: SecretStr
    # Redis key prefix; default "<CLIENT_ID>:", must start with it.
    redis_key_prefix: str = ""
    # Redis for the FSM; unset = in-memory storage (state is lost on restart).
    redis_url: SecretStr | None = None
    # Another Bot API server (self-hosted or a test double); unset = api.telegram.org.
    telegram_api_url: str | None = None
    # Shown in the /start greeting.
    business_name: str = "Booking"
    # IANA zone for every date shown and every slot computed.
    tenant_timezone: str = "Europe/Moscow"
    # Language for users whose Telegram language is unknown or unsupported.
    default_language: Literal["ru", "en"] = "ru"
    # The business owner's Telegram id: the first admin.
    owner_telegram_id: int | None = Field(default=None, ge=1)
    # Further admins, comma-separated Telegram ids.
    admin_telegram_ids: Annotated[tuple[int, ...], NoDecode] = ()
    # Port of GET /healthz; 0 disables the endpoint.
    health_port: int = Field(default=8080, ge=0, le=65535)
    # asyncpg pool bounds: an idle bot keeps at most pool_min connections (see docs/bot.md).
    db_pool_min: int = Field(default=0, ge=0, le=5)
    db_pool_max: int = Field(default=2, ge=1, le=10)
    # Idle connections are closed after this many seconds (keep it well below the reminder
    # interval, or the reminder pass alone keeps one connection open forever).
    db_idle_seconds: float = Field(default=10.0, gt=0)
    # Prepared statements each pooled connection keeps; 0 behind a PgBouncer in transaction
    # mode that does not track them (before 1.21, or without max_prepared_statements).
    db_statement_cache_size: int = Field(default=100, ge=0, le=10_000)
    # How often the reminder worker looks for due reminders (jittered by +-10 %).
    reminder_interval_seconds: float = Field(default=60.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        problem = client_id_problem(value)
        if problem is not None:
            raise ValueError(f"CLIENT_ID {value!r} {problem}")
        return value

    @field_validator("admin_telegram_ids", mode="before")
    @classmethod
    def _admins(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                return tuple(int(p) for p in parts)
            except ValueError:
                raise ValueError("ADMIN_TELEGRAM_IDS must be comma-separated integers") from None
        return value

    @field_validator("tenant_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"TENANT_TIMEZONE {value!r} is not a known IANA time zone") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _dsn(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _prefix(self) -> Settings:
        stem = f"{self.client_id}:"
        if not self.redis_key_prefix:
            self.redis_key_prefix = stem
        elif not self.redis_key_prefix.startswith(stem):
            raise ValueError(f"REDIS_KEY_PREFIX must start with {stem!r}")
        if self.db_pool_min > self.db_pool_max:
            raise ValueError("DB_POOL_MIN must not exceed DB_POOL_MAX")
        return self

    @property
    def timezone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.tenant_timezone)

    @property
    def admin_ids(self) -> frozenset[int]:
        """Admins from the environment (the owner plus ADMIN_TELEGRAM_IDS)."""
        ids = set(self.admin_telegram_ids)
        if self.owner_telegram_id:
            ids.add(self.owner_telegram_id)
        return frozenset(ids)

    def token(self) -> str:
        if self.bot_token is None or not self.bot_token.get_secret_value().strip():
            raise ConfigError("BOT_TOKEN is not set")
        return self.bot_token.get_secret_value().strip()


def load_settings(*, need_token: bool = True) -> Settings:
    """Read the environment; raise ConfigError with one human line when it is wrong."""
    settings = contract_settings.load(Settings)
    if need_token:
        settings.token()
    return settings


def fail(
    message: str, code: int = contract_settings.EXIT_CONFIG, kind: str = "configuration error"
) -> NoReturn:
    """Print one line to stderr and exit (no traceback)."""
    contract_settings.fail(COMPONENT, message, code=code, kind=kind)
