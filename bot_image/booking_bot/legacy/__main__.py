"""``python -m booking_bot.legacy``: move legacy clients' data into the platform.

    python -m booking_bot.legacy import-sqlite CLIENTS_DIR [--client ID]... [--dry-run]
                                 [--create-schemas --namespace NS] [--jobs N] [--timezone TZ]
    python -m booking_bot.legacy move-redis CLIENTS_DIR [--client ID]... [--dry-run] [--method M]

Connections come from the environment only (never the command line, where ``ps`` shows them):

* ``import-sqlite``: ``ADMIN_DATABASE_URL`` (the operator's admin role: every client of the tree),
  else ``DATABASE_URL`` + ``CLIENT_ID`` (the tenant's own role, as in its Secret: that client only).
* ``move-redis``: ``REDIS_URL`` (the new server, an admin user; keys go to DB 0) and, when the
  legacy databases are on another server, ``LEGACY_REDIS_URL``.

One line per client on stdout (``Migrated client_001: 45 bookings, 5 services, 12 users`` or
``Failed client_007: <reason>``), details and notes after it. Exit code 0 when every client
succeeded, 1 when any client failed or a directory was skipped, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from booking_bot.legacy.importer import Target, import_all
from booking_bot.legacy.redis_keys import RedisTarget, move_all
from booking_bot.legacy.tree import DEFAULT_TIMEZONE, LegacyError, read_tree


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m booking_bot.legacy", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sqlite = sub.add_parser("import-sqlite", help="copy each client's SQLite file into its schema")
    redis = sub.add_parser(
        "move-redis", help="copy each client's FSM keys from DB n to DB 0 under its prefix"
    )
    for p in (sqlite, redis):
        p.add_argument("clients_dir", type=Path, help="the legacy clients/ directory")
        p.add_argument("--client", action="append", default=[], help="only this client (repeatable)")
        p.add_argument("--dry-run", action="store_true", help="show what would happen, change nothing")
    sqlite.add_argument("--jobs", type=int, default=2, help="clients migrated at once (default 2)")
    sqlite.add_argument(
        "--timezone", default=DEFAULT_TIMEZONE, help="zone of legacy dates when .env names none"
    )
    sqlite.add_argument(
        "--create-schemas",
        action="store_true",
        help="create missing schemas and roles as the operator does (admin URL; needs booking_operator)",
    )
    sqlite.add_argument(
        "--namespace", default="default", help="namespace of the BookingTenants (ownership marker)"
    )
    redis.add_argument(
        "--method", choices=["auto", "copy", "dump"], default="auto", help="COPY (one server) or DUMP/RESTORE"
    )
    return parser


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    only: list[str] = list(args.client)
    if args.command == "import-sqlite":
        admin_dsn = os.environ.get("ADMIN_DATABASE_URL") or None
        tenant_dsn = None
        if admin_dsn is None:
            tenant_dsn = os.environ.get("DATABASE_URL") or None
            tenant_id = os.environ.get("CLIENT_ID", "")
            if tenant_dsn is None or not tenant_id:
                sys.stderr.write("set ADMIN_DATABASE_URL, or DATABASE_URL and CLIENT_ID\n")
                return 2
            if only and only != [tenant_id]:
                sys.stderr.write("with DATABASE_URL only the client CLIENT_ID can be migrated\n")
                return 2
            only = [tenant_id]
    elif not os.environ.get("REDIS_URL"):
        sys.stderr.write("set REDIS_URL (the new Redis server; keys go to DB 0)\n")
        return 2
    try:
        tree = read_tree(args.clients_dir, only or None)
    except LegacyError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    failed = 0
    for name, reason in tree.invalid:
        _out(f"Skipped {name}: {reason}")
        failed += 1
    if args.command == "import-sqlite":
        target = Target(
            admin_dsn=admin_dsn,
            tenant_dsn=tenant_dsn,
            create_schemas=args.create_schemas,
            namespace=args.namespace,
        )
        results = asyncio.run(
            import_all(
                tree.clients, target, dry_run=args.dry_run, jobs=args.jobs, default_timezone=args.timezone
            )
        )
        for result in results:
            _out(result.summary())
            for line in result.details():
                _out("  " + line)
            failed += not result.ok
    else:
        redis_target = RedisTarget(
            target_url=os.environ["REDIS_URL"],
            source_url=os.environ.get("LEGACY_REDIS_URL") or None,
            method=args.method,
        )
        for moved in asyncio.run(move_all(tree.clients, redis_target, dry_run=args.dry_run)):
            _out(moved.summary())
            if moved.examples:
                _out(
                    f"  {moved.client_id}: unrecognised keys left in place, e.g. {', '.join(moved.examples)}"
                )
            failed += not moved.ok
    total = len(tree.clients) + len(tree.invalid)
    _out(
        f"{total - failed} of {total} clients done, {failed} failed or skipped"
        + (" (dry run)" if args.dry_run else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
