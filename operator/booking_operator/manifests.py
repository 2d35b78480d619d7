"""The children of a BookingTenant as plain Kubernetes manifests (pure functions, no I/O)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from booking_contract import crd
from booking_contract.client_id import validate_client_id
from booking_operator.config import OperatorSettings
from booking_operator.redis_acl import acl_username, key_prefix

MANAGED_BY = crd.MANAGED_BY_LABEL
MANAGED_BY_VALUE = crd.MANAGED_BY_OPERATOR
CLIENT_ID_LABEL = crd.CLIENT_ID_LABEL
INSTANCE_LABEL = crd.INSTANCE_LABEL
APPLIED_ANNOTATION = crd.CREDENTIALS_APPLIED_ANNOTATION
CONFIG_HASH_ANNOTATION = crd.CONFIG_HASH_ANNOTATION

BOT_UID = 10001
HEALTH_PORT = 8080
DEFAULT_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "20m", "memory": "64Mi"},
    "limits": {"cpu": "250m", "memory": "128Mi"},
}

# Every container the operator runs (tenant bots, shards): non-root, nothing to escalate to.
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": BOT_UID,
    "runAsGroup": BOT_UID,
    "capabilities": {"drop": ["ALL"]},
}
POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": BOT_UID,
    "runAsGroup": BOT_UID,
    "fsGroup": BOT_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
HEALTH_PROBE: dict[str, Any] = {
    "httpGet": {"path": "/healthz", "port": "health"},
    "periodSeconds": 20,
    "timeoutSeconds": 3,
}

# Secret keys holding the generated passwords; the URLs are derived from them.
DB_PASSWORD_KEY = "DATABASE_PASSWORD"  # noqa: S105 - a key name, not a password
REDIS_PASSWORD_KEY = "REDIS_PASSWORD"  # noqa: S105 - a key name, not a password
BOT_TOKEN_KEY = "BOT_TOKEN"  # noqa: S105 - the bot's env name, copied from the token namespace


def token_namespace(spec: Mapping[str, Any], namespace: str) -> str:
    """Where the tenant's token Secret lives: its own namespace unless the ref names another."""
    return str((spec.get("botTokenSecretRef") or {}).get("namespace") or namespace)


def token_copied(spec: Mapping[str, Any], namespace: str) -> bool:
    """A pod mounts Secrets of its own namespace only: a token kept in the platform's token
    namespace reaches the bot as BOT_TOKEN in the tenant's credentials Secret (a copy)."""
    return token_namespace(spec, namespace) != namespace


def secret_name(name: str) -> str:
    return f"{name}-credentials"


def deployment_name(name: str) -> str:
    return f"{name}-bot"


def labels(name: str, client_id: str, component: str | None = None) -> dict[str, str]:
    result = {
        MANAGED_BY: MANAGED_BY_VALUE,
        CLIENT_ID_LABEL: client_id,
        INSTANCE_LABEL: name,
        crd.NAME_LABEL: "booking-bot",
    }
    if component:
        result[crd.COMPONENT_LABEL] = component
    return result


def database_url(settings: OperatorSettings, client_id: str, password: str) -> str:
    url = (
        f"postgresql://{client_id}:{quote(password, safe='')}@{settings.tenant_database_host}:"
        f"{settings.tenant_database_port}/{settings.tenant_database_name}"
    )
    if settings.tenant_database_sslmode:
        url += f"?sslmode={settings.tenant_database_sslmode}"
    return url


def redis_url(settings: OperatorSettings, client_id: str, password: str | None) -> str:
    base = settings.tenant_redis_url or ""
    if password is None:
        return base
    scheme, rest = base.split("://", 1)
    return f"{scheme}://{acl_username(client_id)}:{quote(password, safe='')}@{rest}"


def secret_data(
    settings: OperatorSettings, client_id: str, db_password: str, redis_password: str | None
) -> dict[str, str]:
    """Plain values (the caller base64-encodes): the contract's four keys plus the raw passwords."""
    data = {
        "CLIENT_ID": client_id,
        "REDIS_KEY_PREFIX": key_prefix(client_id),
        "DATABASE_URL": database_url(settings, client_id, db_password),
        "REDIS_URL": redis_url(settings, client_id, redis_password),
        DB_PASSWORD_KEY: db_password,
    }
    if redis_password is not None:
        data[REDIS_PASSWORD_KEY] = redis_password
    return data


def encode(data: Mapping[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}


def decode(data: Mapping[str, str] | None) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (data or {}).items()}


def secret(
    name: str, namespace: str, client_id: str, data: Mapping[str, str], applied: str
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(name),
            "namespace": namespace,
            # Never a token, and seen by the operator's label-selected Secret watch (crd.py).
            "labels": {
                **labels(name, client_id, "credentials"),
                crd.BOT_TOKEN_LABEL: crd.NOT_A_BOT_TOKEN_LABEL_VALUE,
            },
            "annotations": {APPLIED_ANNOTATION: applied},
        },
        "type": "Opaque",
        "data": encode(data),
    }


def config_hash(data: Mapping[str, str]) -> str:
    """Changes when the Secret's content does, so the bot pod restarts onto new credentials."""
    return hashlib.sha256(json.dumps(dict(sorted(data.items()))).encode()).hexdigest()[:16]


def deployment(
    settings: OperatorSettings,
    name: str,
    namespace: str,
    spec: Mapping[str, Any],
    *,
    replicas: int,
    secret_hash: str,
) -> dict[str, Any]:
    """One replica at most (Telegram allows one getUpdates poller per token), recreated, never rolled."""
    client_id = validate_client_id(spec["clientId"])
    token_ref = spec["botTokenSecretRef"]
    bot = spec.get("bot") or {}
    admins = ",".join(str(int(a)) for a in spec.get("admins") or [])
    # A copied token comes with the credentials Secret (envFrom); else from the owner's Secret.
    token_env: list[dict[str, Any]] = (
        []
        if token_copied(spec, namespace)
        else [
            {
                "name": BOT_TOKEN_KEY,
                "valueFrom": {
                    "secretKeyRef": {
                        "name": token_ref["name"],
                        "key": token_ref.get("key") or crd.TOKEN_SECRET_KEY,
                    }
                },
            }
        ]
    )
    env: list[dict[str, Any]] = [
        *token_env,
        {"name": "BUSINESS_NAME", "value": str(spec.get("companyName", ""))},
        {"name": "TENANT_TIMEZONE", "value": str(spec.get("timezone") or crd.DEFAULT_TIMEZONE)},
        {"name": "DEFAULT_LANGUAGE", "value": str(spec.get("language") or "ru")},
        {"name": "OWNER_TELEGRAM_ID", "value": str(spec.get("ownerTelegramId") or "")},
        {"name": "ADMIN_TELEGRAM_IDS", "value": admins},
        {"name": "HEALTH_PORT", "value": str(HEALTH_PORT)},
    ]
    if settings.telegram_api_url:
        env.append({"name": "TELEGRAM_API_URL", "value": settings.telegram_api_url})
    security = CONTAINER_SECURITY
    resources = bot.get("resources") or DEFAULT_RESOURCES
    image = bot.get("image") or settings.bot_image
    env_from = [{"secretRef": {"name": secret_name(name)}}]
    probe = HEALTH_PROBE
    pod_labels = labels(name, client_id, "bot")
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment_name(name),
            "namespace": namespace,
            "labels": pod_labels,
        },
        "spec": {
            "replicas": replicas,
            "strategy": {"type": "Recreate"},
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": {INSTANCE_LABEL: name, CLIENT_ID_LABEL: client_id}},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {CONFIG_HASH_ANNOTATION: secret_hash},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": POD_SECURITY,
                    "initContainers": [
                        {
                            "name": "migrate",
                            "image": image,
                            "imagePullPolicy": settings.bot_image_pull_policy,
                            "command": ["python", "-m", "booking_bot", "migrate"],
                            "envFrom": env_from,
                            "resources": resources,
                            "securityContext": security,
                        }
                    ],
                    "containers": [
                        {
                            "name": "bot",
                            "image": image,
                            "imagePullPolicy": settings.bot_image_pull_policy,
                            "command": ["python", "-m", "booking_bot"],
                            "envFrom": env_from,
                            "env": env,
                            "ports": [{"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"}],
                            "livenessProbe": {**probe, "initialDelaySeconds": 20},
                            "readinessProbe": {**probe, "initialDelaySeconds": 3},
                            "resources": resources,
                            "securityContext": security,
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - a private emptyDir
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
                },
            },
        },
    }


def is_ours(live: Mapping[str, Any], name: str, client_id: str) -> bool:
    """A child the operator made for this tenant: it writes nothing it does not label (an
    unrelated `<name>-bot` Deployment or `<name>-credentials` Secret is never taken over)."""
    found = (live.get("metadata") or {}).get("labels") or {}
    return (
        found.get(MANAGED_BY) == MANAGED_BY_VALUE
        and found.get(CLIENT_ID_LABEL) == client_id
        and found.get(INSTANCE_LABEL) == name
    )


# Keys of the tenant Secret written only in some configurations: a merge patch of the wanted
# data never removes them, so a pass removes them itself when the configuration no longer has
# them (Redis ACLs turned off: a password that may still open the tenant's ACL user; a token
# no longer copied from another namespace).
OPTIONAL_SECRET_KEYS = (REDIS_PASSWORD_KEY, BOT_TOKEN_KEY)


def stale_secret_keys(live: Mapping[str, Any] | None, wanted_data: Mapping[str, str]) -> list[str]:
    """The optional keys the live Secret still holds and the wanted one does not."""
    held = (live or {}).get("data") or {}
    return [key for key in OPTIONAL_SECRET_KEYS if key in held and key not in wanted_data]


def owned_fields(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a child the operator owns: everything but apiVersion/kind and name/namespace.

    The one definition of "ours": what a pass compares with the live object and merge-patches
    back, and what a child event compares to tell a hand edit from the operator's own write.
    """
    meta = manifest["metadata"]
    owned: dict[str, Any] = {
        "metadata": {k: meta[k] for k in ("labels", "annotations", "ownerReferences") if k in meta},
    }
    owned.update({k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")})
    return owned


def drifted(wanted: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """Whether the live object lost or changed any field the operator owns."""
    return not is_subset(owned_fields(wanted), live)


def is_subset(wanted: Any, actual: Any) -> bool:
    """True when every field we set is present with our value, as a real API server stores it.

    Servers add defaults (fine), drop empty `omitempty` fields (`value: ""`, `{}`, `[]`: absent
    is the same) and normalise resource quantities (`cpu: 1000m` is stored as `"1"`): neither is
    a change by hand.
    """
    if isinstance(wanted, Mapping):
        if not isinstance(actual, Mapping):
            return False
        for key, value in wanted.items():
            if key not in actual and _empty(value):
                continue
            if key in ("limits", "requests") and isinstance(value, Mapping):
                if not _same_quantities(value, actual.get(key)):
                    return False
            elif not is_subset(value, actual.get(key)):
                return False
        return True
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(wanted) == len(actual)
            and all(is_subset(w, a) for w, a in zip(wanted, actual, strict=True))
        )
    return bool(wanted == actual)


def _empty(value: Any) -> bool:
    return value == "" or value == {} or value == [] or value is None


_SUFFIXES = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$")


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes resource quantity's value (`"250m"` -> 0.25, `"64Mi"` -> 67108864), or None."""
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        return None
    number, exponent, suffix = match.groups()
    try:
        base = Decimal(number + (exponent or ""))
    except InvalidOperation:
        return None
    return base * _SUFFIXES[suffix or ""]


def _same_quantities(wanted: Mapping[str, Any], actual: Any) -> bool:
    if not isinstance(actual, Mapping):
        return False
    for name, value in wanted.items():
        mine, theirs = quantity(value), quantity(actual.get(name))
        if mine is None or theirs is None:
            if value != actual.get(name):
                return False
        elif mine != theirs:
            return False
    return True
