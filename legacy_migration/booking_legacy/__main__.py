"""``python -m booking_legacy``: move legacy clients into the platform, one subcommand a step.

    python -m booking_legacy manifests CLIENTS_DIR [--namespace NS] [--active] [--client ID]...
                                       [--output-dir DIR | --apply] [--dry-run]
    python -m booking_legacy import-sqlite CLIENTS_DIR [--client ID]... [--dry-run]
                                       [--create-schemas --namespace NS] [--jobs N] [--timezone TZ]
    python -m booking_legacy move-redis CLIENTS_DIR [--client ID]... [--dry-run] [--method M]

``manifests`` writes a token Secret and a (suspended) BookingTenant per client: YAML on stdout,
one file per client in ``--output-dir`` (mode 0600: it holds the token), or ``--apply`` through
the platform's Kubernetes client; its report goes to stderr (``Generated <id>: ...``,
``Skipped <id>: <reason>``). ``--dry-run`` writes, prints and applies nothing but the report.

Connections come from the environment only (never the command line, where ``ps`` shows them):

* ``manifests --apply``: the in-cluster service account, else ``KUBECONFIG``.
* ``import-sqlite``: ``ADMIN_DATABASE_URL`` (the operator's admin role: every client of the tree),
  else ``DATABASE_URL`` + ``CLIENT_ID`` (the tenant's own role, as in its Secret: that client only).
* ``move-redis``: ``REDIS_URL`` (the new server, an admin user; keys go to DB 0) and, when the
  legacy databases are on another server, ``LEGACY_REDIS_URL``.

``import-sqlite`` and ``move-redis`` print one line per client on stdout (``Migrated client_001:
45 bookings, 5 services, 12 users`` or ``Failed client_007: <reason>``), details and notes after
it. Exit code 0 when every client succeeded, 1 when any client failed or a directory was skipped,
2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from booking_contract.kube import check_access
from booking_contract.settings import EXIT_CONFIG, ConfigError
from booking_legacy import manifests
from booking_legacy.importer import Target, import_all
from booking_legacy.redis_keys import RedisTarget, move_all
from booking_legacy.tree import DEFAULT_TIMEZONE, LegacyError, read_tree

PROG = "python -m booking_legacy"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Move legacy clients into the platform.")
    sub = parser.add_subparsers(dest="command", required=True)
    kube = sub.add_parser("manifests", help="a token Secret and a BookingTenant per client")
    sqlite = sub.add_parser("import-sqlite", help="copy each client's SQLite file into its schema")
    redis = sub.add_parser(
        "move-redis", help="copy each client's FSM keys from DB n to DB 0 under its prefix"
    )
    for p in (kube, sqlite, redis):
        p.add_argument("clients_dir", type=Path, help="the legacy clients/ directory")
        p.add_argument("--client", action="append", default=[], help="only this client (repeatable)")
        p.add_argument("--dry-run", action="store_true", help="show what would happen, change nothing")
    kube.add_argument("--namespace", default="default", help="namespace of the Secrets and BookingTenants")
    kube.add_argument("--active", action="store_true", help="generate running tenants (default: suspended)")
    out = kube.add_mutually_exclusive_group()
    out.add_argument("--output-dir", type=Path, help="write <client_id>.yaml files here (mode 0600)")
    out.add_argument("--apply", action="store_true", help="create/patch the objects in the cluster")
    sqlite.add_argument("--jobs", type=int, default=2, help="clients migrated at once (default 2)")
    sqlite.add_argument(
        "--timezone", default=DEFAULT_TIMEZONE, help="zone of legacy dates when .env names none"
    )
    sqlite.add_argument(
        "--create-schemas",
        action="store_true",
        help="create missing schemas and roles as the operator does (needs the admin URL)",
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


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


def run_manifests(args: argparse.Namespace) -> int:
    if not args.clients_dir.is_dir():
        _err(f"{args.clients_dir} is not a directory")
        return 2
    result = manifests.generate(
        args.clients_dir, namespace=args.namespace, suspended=not args.active, only=args.client
    )
    failures = list(result.skipped)
    if args.dry_run:
        pass
    elif args.apply:
        try:
            check_access()
        except ConfigError as exc:
            _err(f"python -m booking_legacy: configuration error: {exc}")
            return EXIT_CONFIG
        failures += asyncio.run(manifests.apply(result.generated))
    elif args.output_dir:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        for item in result.generated:
            path = args.output_dir / f"{item.client_id}.yaml"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(manifests.to_yaml(item.objects))
    else:
        sys.stdout.write(manifests.to_yaml([obj for item in result.generated for obj in item.objects]))
    failed = {name for name, _ in failures}
    verb = "Would generate" if args.dry_run else "Generated"
    for item in result.generated:
        if item.client_id not in failed:
            names = ", ".join(f"{obj['kind']} {obj['metadata']['name']}" for obj in item.objects)
            _err(f"{verb} {item.client_id}: {names}")
        for note in item.notes:
            _err(f"  {item.client_id}: note: {note}")
    for name, reason in failures:
        _err(f"Skipped {name}: {reason}")
    total = len(result.generated) + len(result.skipped)
    _err(
        f"{total - len(failed)} of {total} clients done, {len(failed)} skipped or failed"
        + (" (dry run)" if args.dry_run else "")
    )
    return 1 if failures else 0


def run_data(args: argparse.Namespace) -> int:
    """import-sqlite and move-redis: the data of each client, one line per client."""
    only: list[str] = list(args.client)
    admin_dsn = tenant_dsn = None
    if args.command == "import-sqlite":
        admin_dsn = os.environ.get("ADMIN_DATABASE_URL") or None
        if admin_dsn is None:
            tenant_dsn = os.environ.get("DATABASE_URL") or None
            tenant_id = os.environ.get("CLIENT_ID", "")
            if tenant_dsn is None or not tenant_id:
                _err("set ADMIN_DATABASE_URL, or DATABASE_URL and CLIENT_ID")
                return 2
            if only and only != [tenant_id]:
                _err("with DATABASE_URL only the client CLIENT_ID can be migrated")
                return 2
            only = [tenant_id]
    elif not os.environ.get("REDIS_URL"):
        _err("set REDIS_URL (the new Redis server; keys go to DB 0)")
        return 2
    try:
        tree = read_tree(args.clients_dir, only or None)
    except LegacyError as exc:
        _err(str(exc))
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "manifests":
        return run_manifests(args)
    return run_data(args)


if __name__ == "__main__":
    raise SystemExit(main())
