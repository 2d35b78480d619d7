"""``python -m booking_bot`` runs the bot; ``python -m booking_bot migrate`` migrates and exits."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import asyncpg

from booking_bot.config import fail, load_settings
from booking_bot.logs import setup_logging
from booking_contract.settings import ConfigError, command_line

USAGE = "usage: python -m booking_bot [run|migrate]"
log = logging.getLogger("booking_bot")


def _import_aiogram() -> None:
    """Import aiogram lazily (docs/bot.md, "Memory"), or refuse to start.

    A bot whose lazy import silently fell back to eager builds would be OOM-killed by its pod's
    128 Mi limit in a loop with no explanation; one line and exit 1 names the cause instead.
    """
    if os.environ.get("BOOKING_BOT_EAGER_MODELS") == "1":
        import aiogram  # noqa: F401 - chosen by the operator of this bot

        log.info("aiogram models built eagerly", extra={"event": "aiogram_models", "mode": "eager"})
        return
    from booking_bot.lazy_models import LazyModelsError, import_aiogram_lazily

    try:
        report = import_aiogram_lazily()
    except LazyModelsError as exc:
        fail(
            f"{exc} (BOOKING_BOT_EAGER_MODELS=1 builds them eagerly, with a larger memory limit)",
            1,
            "startup error",
        )
    log.info(
        "aiogram models deferred",
        extra={"event": "aiogram_models", "mode": "lazy", "models": report.models, "built": report.built},
    )


def main(argv: list[str] | None = None) -> None:
    command = command_line(sys.argv[1:] if argv is None else argv, USAGE, ("run", "migrate"))
    if command is None:
        return
    try:
        settings = load_settings(need_token=command == "run")
    except ConfigError as exc:
        fail(str(exc))
    setup_logging(settings.client_id, settings.log_level)
    if command == "migrate":
        from booking_bot.migrate import MigrationError, migrate

        try:
            asyncio.run(migrate(settings.database_url.get_secret_value(), settings.client_id))
        except MigrationError as exc:
            fail(str(exc), code=1, kind="migration error")
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            fail(f"cannot migrate: {type(exc).__name__}: {exc}", code=1, kind="database error")
        return
    from booking_bot.preflight import PreflightError, check_database

    try:
        asyncio.run(check_database(settings.database_url.get_secret_value(), settings.client_id))
    except PreflightError as exc:
        fail(str(exc), code=1, kind="startup error")
    _import_aiogram()
    from booking_bot.app import run

    raise SystemExit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()
