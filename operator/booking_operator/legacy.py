"""Legacy clients -> Kubernetes: a BookingTenant and a token Secret per ``clients/<client_id>/.env``.

    python -m booking_operator.legacy CLIENTS_DIR [--namespace NS] [--active]
                                      [--output-dir DIR | --apply] [--client ID]...

``clientId`` is the directory name; directories that are no valid client id are reported and
skipped (exit code 1), the others proceed. The bot token goes into a Secret
``<name>-bot-token`` (key ``token``) which the BookingTenant references; it never appears in the
custom resource, in a log line or in the report. Tenants are generated **suspended** (the
operator creates schema, role and credentials, the bot stays at zero replicas) so the data can
be imported before the new bot starts polling; ``--active`` generates them running.

Output: YAML on stdout (a Secret and a BookingTenant per client), or one file per client in
``--output-dir`` (mode 0600: it holds the token), or ``--apply`` through the operator's own
Kubernetes client (create, else merge-patch). The report goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from booking_contract.client_id import InvalidClientId, validate_client_id
from booking_contract.client_id import tenant_name as dns_name
from booking_contract.dotenv import parse_env

GROUP_VERSION = "bookingsaas.dev/v1alpha1"
TOKEN_KEYS = ("BOT_TOKEN", "TELEGRAM_BOT_TOKEN", "TOKEN")
COMPANY_KEYS = ("COMPANY_NAME", "BUSINESS_NAME", "COMPANY", "SALON_NAME")
OWNER_KEYS = ("OWNER_TELEGRAM_ID", "OWNER_ID", "ADMIN_ID")
ADMINS_KEYS = ("ADMIN_TELEGRAM_IDS", "ADMIN_IDS", "ADMINS")
TIMEZONE_KEYS = ("TENANT_TIMEZONE", "TIMEZONE", "TZ")
LANGUAGE_KEYS = ("DEFAULT_LANGUAGE", "LANGUAGE", "LANG")
TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,}$")
PLAN_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
TIMEZONE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$")
MIGRATED_ANNOTATION = "bookingsaas.dev/migrated-from"


def _first(env: dict[str, str], keys: tuple[str, ...]) -> str | None:
    return next((env[k].strip() for k in keys if env.get(k, "").strip()), None)


def _telegram_id(value: str | None) -> int | None:
    if value and value.strip().isdigit() and 1 <= int(value) < 2**63:
        return int(value)
    return None


@dataclass
class Generated:
    client_id: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Skip(Exception):
    """This client gets no manifests; the message says why (never containing the token)."""


def manifests(client_id: str, env: dict[str, str], *, namespace: str, suspended: bool) -> Generated:
    """The Secret and the BookingTenant for one legacy client."""
    try:
        validate_client_id(client_id)
    except InvalidClientId as exc:
        raise Skip(str(exc)) from None
    token = _first(env, TOKEN_KEYS)
    if not token:
        raise Skip("no BOT_TOKEN in .env")
    if not TOKEN_RE.fullmatch(token):
        raise Skip("BOT_TOKEN in .env does not look like a Telegram bot token (<digits>:<secret>)")
    result = Generated(client_id)
    name = dns_name(client_id)
    labels = {"bookingsaas.dev/client-id": client_id, "app.kubernetes.io/part-of": "booking-saas"}
    annotations = {MIGRATED_ANNOTATION: f"legacy clients/{client_id}"}
    secret_name = f"{name}-bot-token"
    spec: dict[str, Any] = {
        "clientId": client_id,
        "companyName": (_first(env, COMPANY_KEYS) or client_id)[:128],
        "botTokenSecretRef": {"name": secret_name, "key": "token"},
        "deletionPolicy": "Retain",
        "suspended": suspended,
    }
    if not _first(env, COMPANY_KEYS):
        result.notes.append("no COMPANY_NAME in .env: companyName is the client id")
    owner = _telegram_id(_first(env, OWNER_KEYS))
    if owner:
        spec["ownerTelegramId"] = owner
    admins_raw = _first(env, ADMINS_KEYS) or ""
    admins = [a for a in (_telegram_id(p) for p in admins_raw.replace(";", ",").split(",")) if a]
    admins = [a for a in dict.fromkeys(admins) if a != owner]
    if owner is None and admins:
        spec["ownerTelegramId"], admins = admins[0], admins[1:]
    if admins:
        spec["admins"] = admins[:20]
        if len(admins) > 20:
            result.notes.append(f"{len(admins)} admin ids: only the first 20 kept")
    tz = _first(env, TIMEZONE_KEYS)
    if tz:
        if TIMEZONE_RE.fullmatch(tz) and len(tz) <= 64 and _zone_exists(tz):
            spec["timezone"] = tz
        else:
            result.notes.append(f"time zone {tz!r} unknown: the default Europe/Moscow applies")
    language = (_first(env, LANGUAGE_KEYS) or "")[:2].lower()
    if language in ("ru", "en"):
        spec["language"] = language
    plan = _first(env, ("PLAN",))
    if plan and PLAN_RE.fullmatch(plan):
        spec["plan"] = plan
    paid_until = _paid_until(_first(env, ("PAID_UNTIL", "SUBSCRIPTION_END")))
    if paid_until:
        spec["paidUntil"] = paid_until
    meta = {"name": secret_name, "namespace": namespace, "labels": labels, "annotations": annotations}
    result.objects.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta,
            "type": "Opaque",
            "stringData": {"token": token},
        }
    )
    result.objects.append(
        {
            "apiVersion": GROUP_VERSION,
            "kind": "BookingTenant",
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
            "spec": spec,
        }
    )
    return result


def _zone_exists(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _paid_until(value: str | None) -> str | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class TreeResult:
    generated: list[Generated]
    skipped: list[tuple[str, str]]


def generate(
    root: Path, *, namespace: str, suspended: bool = True, only: list[str] | None = None
) -> TreeResult:
    """Manifests for every client directory under ``root``, sorted by name."""
    generated: list[Generated] = []
    skipped: list[tuple[str, str]] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir() or (only and entry.name not in only):
            continue
        env_file = entry / ".env"
        try:
            if not env_file.is_file():
                raise Skip("no .env file")
            env = parse_env(env_file.read_text("utf-8", errors="replace"))
            generated.append(manifests(entry.name, env, namespace=namespace, suspended=suspended))
        except Skip as exc:
            skipped.append((entry.name, str(exc)))
    return TreeResult(generated, skipped)


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, allow_unicode=True, explicit_start=True)


async def apply(generated: list[Generated]) -> list[tuple[str, str]]:
    """Create each object, or merge-patch it when it exists; returns (client, error) failures."""
    from booking_contract.kube import BOOKINGTENANTS, SECRETS, KubeClient, KubeConflict, KubeError

    kube = await KubeClient.connect()
    failures: list[tuple[str, str]] = []
    try:
        for item in generated:
            try:
                for obj in item.objects:
                    resource = SECRETS if obj["kind"] == "Secret" else BOOKINGTENANTS
                    meta = obj["metadata"]
                    try:
                        await kube.create(resource, meta["namespace"], obj)
                    except KubeConflict:
                        await kube.patch(resource, meta["namespace"], meta["name"], obj)
            except KubeError as exc:
                failures.append((item.client_id, f"kubernetes API: {exc}"))
    finally:
        await kube.close()
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m booking_operator.legacy", description=__doc__.split("\n")[0]
    )
    parser.add_argument("clients_dir", type=Path, help="the legacy clients/ directory")
    parser.add_argument("--namespace", default="default", help="namespace of the Secrets and BookingTenants")
    parser.add_argument("--client", action="append", default=[], help="only this client (repeatable)")
    parser.add_argument("--active", action="store_true", help="generate running tenants (default: suspended)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--output-dir", type=Path, help="write <client_id>.yaml files here (mode 0600)")
    out.add_argument("--apply", action="store_true", help="create/patch the objects in the cluster")
    args = parser.parse_args(argv)
    if not args.clients_dir.is_dir():
        sys.stderr.write(f"{args.clients_dir} is not a directory\n")
        return 2
    result = generate(args.clients_dir, namespace=args.namespace, suspended=not args.active, only=args.client)
    failures = list(result.skipped)
    if args.apply:
        failures += asyncio.run(apply(result.generated))
    elif args.output_dir:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        for item in result.generated:
            path = args.output_dir / f"{item.client_id}.yaml"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(to_yaml(item.objects))
    else:
        sys.stdout.write(to_yaml([obj for item in result.generated for obj in item.objects]))
    failed = {name for name, _ in failures}
    for item in result.generated:
        if item.client_id not in failed:
            sys.stderr.write(
                f"Generated {item.client_id}: Secret {dns_name(item.client_id)}-bot-token, "
                f"BookingTenant {dns_name(item.client_id)}\n"
            )
        for note in item.notes:
            sys.stderr.write(f"  {item.client_id}: note: {note}\n")
    for name, reason in failures:
        sys.stderr.write(f"Skipped {name}: {reason}\n")
    total = len(result.generated) + len(result.skipped)
    sys.stderr.write(f"{total - len(failed)} of {total} clients done, {len(failed)} skipped or failed\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
