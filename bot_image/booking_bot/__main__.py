"""``python -m booking_bot`` runs the bot; ``python -m booking_bot migrate`` migrates and exits."""

from __future__ import annotations

import asyncio
import sys

import asyncpg

from booking_bot.config import fail, load_settings
from booking_bot.logs import setup_logging
from booking_contract.settings import ConfigError, wants_help

USAGE = "usage: python -m booking_bot [run|migrate]"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if wants_help(args):
        sys.stdout.write(USAGE + "\n")
        return
    command = args[0] if args else "run"
    if command not in ("run", "migrate") or len(args) > 1:
        sys.stderr.write(USAGE + "\n")
        raise SystemExit(2)
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
    from booking_bot.lazy_models import import_aiogram_lazily

    import_aiogram_lazily()
    from booking_bot.app import run

    raise SystemExit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()
