"""Legacy clients -> Kubernetes: a BookingTenant and a token Secret per ``clients/<client_id>/.env``.

``clientId`` is the directory name; directories that are no valid client id are reported and
skipped, the others proceed. The bot token goes into a Secret ``<name>-bot-token`` (key
``token``) which the BookingTenant references; it never appears in the custom resource, in a
log line or in the report. Tenants are generated **suspended** (the operator creates schema,
role and credentials, the bot stays at zero replicas) so the data can be imported before the
new bot starts polling; ``active=True`` generates them running.

The command is ``python -m booking_legacy manifests`` (see ``__main__``): YAML on stdout, one
file per client, or ``--apply`` through the platform's Kubernetes client (create, else
merge-patch).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from booking_contract import crd
from booking_contract.client_id import InvalidClientId, tenant_name, validate_client_id
from booking_contract.dotenv import first_value as _first
from booking_contract.dotenv import parse_env
from booking_contract.kube import BOOKINGTENANTS, SECRETS, KubeClient, KubeConflict, KubeError
from booking_contract.telegram import looks_like_token
from booking_contract.times import format_time, parse_time
from booking_legacy.tree import (
    ADMINS_KEYS,
    COMPANY_KEYS,
    LANGUAGE_KEYS,
    OWNER_KEYS,
    TIMEZONE_KEYS,
    TOKEN_KEYS,
)

PLAN_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
TIMEZONE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$")


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
    if not looks_like_token(token):
        raise Skip("BOT_TOKEN in .env does not look like a Telegram bot token (<digits>:<secret>)")
    result = Generated(client_id)
    name = tenant_name(client_id)
    labels = {crd.CLIENT_ID_LABEL: client_id, crd.PART_OF_LABEL: crd.PART_OF}
    annotations = {crd.MIGRATED_FROM_ANNOTATION: f"legacy clients/{client_id}"}
    secret_name = crd.token_secret_name(name)
    spec: dict[str, Any] = {
        "clientId": client_id,
        "companyName": (_first(env, COMPANY_KEYS) or client_id)[:128],
        "botTokenSecretRef": {"name": secret_name, "key": crd.TOKEN_SECRET_KEY},
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
    # The operator mounts only Secrets labelled as bot tokens.
    token_labels = {**labels, crd.BOT_TOKEN_LABEL: crd.BOT_TOKEN_LABEL_VALUE}
    meta = {"name": secret_name, "namespace": namespace, "labels": token_labels, "annotations": annotations}
    result.objects.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta,
            "type": "Opaque",
            "stringData": {crd.TOKEN_SECRET_KEY: token},
        }
    )
    result.objects.append(
        {
            "apiVersion": crd.API_VERSION,
            "kind": crd.KIND,
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
    parsed = parse_time(value)
    return format_time(parsed) if parsed else None


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
