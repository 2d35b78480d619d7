"""The shard pool's objects as plain manifests (pure functions, no I/O).

A shard ``booking-shard-<n>`` is a Deployment of one replica (``Recreate``: its tenants' tokens
allow one poller each) running ``python -m booking_bot.shard``, plus what it may touch and
nothing else: its own ServiceAccount, bound to a Role that grants ``get``/``watch`` on
its own tenants Secret and ``get``/``patch`` on its own status ConfigMap, each by
``resourceNames``. The Secret holds one key per tenant (client id -> the JSON entry the shard
runs the tenant with); the ConfigMap is where the shard reports each tenant's state.

These objects serve many tenants, so they carry no ``bookingsaas.dev/client-id`` label and no
ownerReference to one BookingTenant (deleting one tenant must not delete its shard); they are
labelled ``bookingsaas.dev/shard`` and managed by the operator.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from booking_operator.config import OperatorSettings
from booking_operator.manifests import (
    CONTAINER_SECURITY,
    HEALTH_PORT,
    HEALTH_PROBE,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    POD_SECURITY,
)

SHARD_LABEL = "bookingsaas.dev/shard"
SHARD_PREFIX = "booking-shard"
# Environment of the dedicated bot container that a shard sets itself, for all its tenants.
SHARD_OWNED_ENV = frozenset({"HEALTH_PORT", "TELEGRAM_API_URL", "LOG_LEVEL"})
# What a shard needs of the tenant Secret (the contract's keys; not the raw passwords).
TENANT_CREDENTIALS = ("CLIENT_ID", "REDIS_KEY_PREFIX", "DATABASE_URL", "REDIS_URL")
# The shard's webhook endpoint (webhook mode), apart from HEALTH_PORT: only it is exposed.
WEBHOOK_PORT = 8081


def shard_name(index: int) -> str:
    return f"{SHARD_PREFIX}-{index}"


def shard_index(name: str) -> int | None:
    head, _, tail = name.rpartition("-")
    return int(tail) if head == SHARD_PREFIX and tail.isdigit() else None


def tenants_secret_name(shard: str) -> str:
    return f"{shard}-tenants"


def status_configmap_name(shard: str) -> str:
    return f"{shard}-status"


def webhook_url(settings: OperatorSettings, shard: str) -> str | None:
    """The public URL of a shard's webhook endpoint, or None: the shard long-polls.

    Only the shards the chart's Ingress routes (``SHARD_WEBHOOK_SHARDS``) get one; its path
    ``/shards/<name>`` is what the Ingress routes to the shard's Service."""
    index = shard_index(shard)
    if not settings.shard_webhook_url or index is None or index >= settings.shard_webhook_shards:
        return None
    return f"{settings.shard_webhook_url.rstrip('/')}/shards/{shard}"


def shard_labels(shard: str, component: str) -> dict[str, str]:
    return {
        MANAGED_BY: MANAGED_BY_VALUE,
        SHARD_LABEL: shard,
        "app.kubernetes.io/name": "booking-shard",
        "app.kubernetes.io/component": component,
    }


def _meta(shard: str, name: str, namespace: str, component: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": shard_labels(shard, component)}


def service_account(shard: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(shard, shard, namespace, "shard"),
        "automountServiceAccountToken": False,  # mounted as a projected token by the pod only
    }


def role(shard: str, namespace: str) -> dict[str, Any]:
    """Its own Secret and its own ConfigMap, by name: never another shard's tenants."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(shard, shard, namespace, "shard"),
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": [tenants_secret_name(shard)],
                "verbs": ["get", "watch"],
            },
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [status_configmap_name(shard)],
                "verbs": ["get", "patch"],
            },
        ],
    }


def role_binding(shard: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(shard, shard, namespace, "shard"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": shard},
        "subjects": [{"kind": "ServiceAccount", "name": shard, "namespace": namespace}],
    }


def tenants_secret(shard: str, namespace: str) -> dict[str, Any]:
    """Created empty; tenants are added and removed one key at a time (merge patches)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(shard, tenants_secret_name(shard), namespace, "tenants"),
        "type": "Opaque",
        "data": {},
    }


def status_configmap(shard: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(shard, status_configmap_name(shard), namespace, "status"),
        "data": {},
    }


def deployment(
    settings: OperatorSettings, shard: str, namespace: str, *, replicas: int = 1
) -> dict[str, Any]:
    """One replica, recreated: two pods of one shard would poll every token of it twice."""
    labels = shard_labels(shard, "shard")
    env = [
        {"name": "SHARD_NAME", "value": shard},
        {"name": "SHARD_TENANTS_SECRET", "value": tenants_secret_name(shard)},
        {"name": "SHARD_STATUS_CONFIGMAP", "value": status_configmap_name(shard)},
        {"name": "SHARD_NAMESPACE", "value": namespace},
        {"name": "HEALTH_PORT", "value": str(HEALTH_PORT)},
    ]
    if settings.telegram_api_url:
        env.append({"name": "TELEGRAM_API_URL", "value": settings.telegram_api_url})
    ports = [{"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"}]
    public = webhook_url(settings, shard)
    if public is not None:
        env.append({"name": "SHARD_WEBHOOK_URL", "value": public})
        env.append({"name": "SHARD_WEBHOOK_PORT", "value": str(WEBHOOK_PORT)})
        ports.append({"name": "webhook", "containerPort": WEBHOOK_PORT, "protocol": "TCP"})
    probe = HEALTH_PROBE
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(shard, shard, namespace, "shard"),
        "spec": {
            "replicas": replicas,
            "strategy": {"type": "Recreate"},
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": {SHARD_LABEL: shard, "app.kubernetes.io/component": "shard"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": shard,
                    "automountServiceAccountToken": True,  # the shard reads its Secret through the API
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": POD_SECURITY,
                    "containers": [
                        {
                            "name": "shard",
                            "image": settings.bot_image,
                            "imagePullPolicy": settings.bot_image_pull_policy,
                            "command": ["python", "-m", "booking_bot.shard"],
                            "env": env,
                            "ports": ports,
                            "livenessProbe": {**probe, "initialDelaySeconds": 20},
                            "readinessProbe": {**probe, "initialDelaySeconds": 3},
                            "resources": {
                                "requests": {"cpu": "100m", "memory": settings.shard_memory_request},
                                "limits": {"memory": settings.shard_memory_limit},
                            },
                            "securityContext": CONTAINER_SECURITY,
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - a private emptyDir
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
                },
            },
        },
    }


def tenant_entry(bot_deployment: Mapping[str, Any], credentials: Mapping[str, str], token: str) -> str:
    """The JSON a shard runs a tenant with: exactly the environment its dedicated bot would get.

    Built from the dedicated Deployment's own container (``manifests.deployment``), so the two
    runtimes cannot drift: its literal ``env`` values, its ``envFrom`` Secret (the tenant's
    credentials) and ``BOT_TOKEN`` (resolved by the caller from the owner's Secret).
    """
    container = bot_deployment["spec"]["template"]["spec"]["containers"][0]
    values: dict[str, str] = {k: credentials[k] for k in TENANT_CREDENTIALS if k in credentials}
    for var in container.get("env") or []:
        if "value" in var and var["name"] not in SHARD_OWNED_ENV:
            values[var["name"]] = str(var["value"])
    values["BOT_TOKEN"] = token
    return json.dumps(dict(sorted(values.items())), separators=(",", ":"))


def entry_digest(entry: str) -> str:
    """What the shard reports as ``config`` for the entry it serves (booking_bot.shard.config.fingerprint)."""
    return hashlib.sha256(entry.encode()).hexdigest()[:16]
