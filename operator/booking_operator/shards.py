"""Shared runtime: placing tenants on shards, and moving a token between pollers safely.

Placement is stable: a tenant's shard is recorded in ``status.shard`` and kept for as long as
its runtime stays Shared (suspension and expiry included), so a tenant moves only when its
owner changes ``spec.runtime``. A new tenant goes to the lowest-numbered shard with room
(``SHARD_CAPACITY``); when every shard is full, the next number starts a new shard.

One poller per token, in both directions, because each side waits for the other to be gone:
- Dedicated -> Shared: the bot Deployment is scaled to zero first; the entry is written into
  the shard's Secret only once the Deployment reports no pods and no pod of it is left at all:
  a terminating pod no longer counts in the Deployment's status but may still be polling.
- Shared -> Dedicated (or deletion, or suspension): the entry is removed from the shard's
  Secret; the Deployment is scaled up only once the shard no longer reports the tenant in its
  status ConfigMap (it reports a tenant until its poller has stopped).
``Ready`` in the Shared runtime means the shard reports the tenant ``Serving`` with the very
entry the operator wrote (its digest), not merely that the shard's pod runs. The operator
watches the status ConfigMaps (``handlers.shard_reported``) and passes a tenant as soon as its
report changes (``Reports``), so ``Ready`` follows the shard within a second, not at a retry.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from booking_contract.kube import CONFIGMAPS, DEPLOYMENTS, PODS, SECRETS, KubeClient, KubeConflict, Resource
from booking_operator import manifests, shard_manifests
from booking_operator.config import OperatorSettings

SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts")
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings")

SHARED, DEDICATED = "Shared", "Dedicated"
_placement_locks: dict[str, asyncio.Lock] = {}


def runtime_of(spec: Mapping[str, Any], settings: OperatorSettings) -> str:
    runtime = spec.get("runtime") or settings.default_runtime
    return SHARED if runtime == SHARED else DEDICATED


# The labels only the operator sets on a shard's status ConfigMap (watched by handlers.py).
STATUS_LABELS = {
    manifests.MANAGED_BY: manifests.MANAGED_BY_VALUE,
    "app.kubernetes.io/component": "status",
}
STATUS_SELECTOR = ",".join([*(f"{k}={v}" for k, v in STATUS_LABELS.items()), shard_manifests.SHARD_LABEL])


class Reports:
    """What each shard last reported, to tell which tenants a ConfigMap event is about.

    A shard patches only the tenants whose state changed, but a watch event carries the whole
    ConfigMap (up to ``SHARD_CAPACITY`` reports): comparing with the previous one picks the few
    tenants worth a pass.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], dict[str, str]] = {}

    def changed(
        self, namespace: str, name: str, data: Mapping[str, str] | None
    ) -> dict[str, dict[str, Any] | None]:
        """client id -> its new report (None: no longer reported) for every report that changed."""
        old, new = self._seen.get((namespace, name), {}), dict(data or {})
        self._seen[(namespace, name)] = new
        return {cid: _parse(new.get(cid)) for cid in old.keys() | new.keys() if old.get(cid) != new.get(cid)}

    def forget(self, namespace: str, name: str) -> None:
        self._seen.pop((namespace, name), None)


def _parse(raw: str | None) -> dict[str, Any] | None:
    try:
        report = json.loads(raw) if raw else None
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


@dataclass(frozen=True)
class SharedState:
    """Where a Shared tenant stands: its shard and what the shard says about it."""

    shard: str | None
    serving: bool
    message: str


async def choose_shard(kube: KubeClient, settings: OperatorSettings, namespace: str, client_id: str) -> str:
    """The lowest-numbered shard that has the tenant or room for it; a new one when all are full."""
    index = 0
    while True:
        shard = shard_manifests.shard_name(index)
        secret = await kube.get(SECRETS, namespace, shard_manifests.tenants_secret_name(shard))
        if secret is None:
            return shard
        members = (secret.get("data") or {}).keys()
        if client_id in members or len(members) < settings.shard_capacity:
            return shard
        index += 1


async def ensure_shard(kube: KubeClient, settings: OperatorSettings, namespace: str, shard: str) -> None:
    """The shard's ServiceAccount, Role, binding, Secret, status ConfigMap and Deployment exist."""
    for resource, manifest, keep_data in (
        (SERVICE_ACCOUNTS, shard_manifests.service_account(shard, namespace), False),
        (ROLES, shard_manifests.role(shard, namespace), False),
        (ROLE_BINDINGS, shard_manifests.role_binding(shard, namespace), False),
        (SECRETS, shard_manifests.tenants_secret(shard, namespace), True),
        (CONFIGMAPS, shard_manifests.status_configmap(shard, namespace), True),
        (DEPLOYMENTS, shard_manifests.deployment(settings, shard, namespace), False),
    ):
        name = manifest["metadata"]["name"]
        live = await kube.get(resource, namespace, name)
        if live is None:
            with contextlib.suppress(KubeConflict):  # created meanwhile by another pass: fine
                await kube.create(resource, namespace, manifest)
            continue
        if keep_data:  # tenants and reports are written key by key, never replaced
            continue
        owned = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")}
        owned["metadata"] = {"labels": manifest["metadata"]["labels"]}
        if not manifests.is_subset(owned, live):
            await kube.patch(resource, namespace, name, owned)


async def _write_entry(
    kube: KubeClient, settings: OperatorSettings, namespace: str, shard: str, client_id: str, entry: str
) -> None:
    await ensure_shard(kube, settings, namespace, shard)
    encoded = base64.b64encode(entry.encode()).decode()
    secret_name = shard_manifests.tenants_secret_name(shard)
    secret = await kube.get(SECRETS, namespace, secret_name)
    if ((secret or {}).get("data") or {}).get(client_id) != encoded:
        await kube.patch(SECRETS, namespace, secret_name, {"data": {client_id: encoded}})


async def _report(kube: KubeClient, namespace: str, shard: str, client_id: str) -> dict[str, Any] | None:
    configmap = await kube.get(CONFIGMAPS, namespace, shard_manifests.status_configmap_name(shard))
    return _parse(((configmap or {}).get("data") or {}).get(client_id))


async def release(kube: KubeClient, namespace: str, shard: str | None, client_id: str) -> bool:
    """Take the tenant out of its shard; True once the shard no longer reports it (poller gone)."""
    if not shard:
        return True
    secret_name = shard_manifests.tenants_secret_name(shard)
    secret = await kube.get(SECRETS, namespace, secret_name)
    if secret is not None and client_id in (secret.get("data") or {}):
        await kube.patch(SECRETS, namespace, secret_name, {"data": {client_id: None}})
    if await kube.get(DEPLOYMENTS, namespace, shard) is None:
        return True  # no shard process left that could still poll
    return await _report(kube, namespace, shard, client_id) is None


async def dedicated_pods_left(kube: KubeClient, namespace: str, live_deployment: Mapping[str, Any]) -> int:
    """Pods of the tenant's own Deployment that still exist, terminating ones included."""
    selector: Mapping[str, str] = (live_deployment.get("spec") or {}).get("selector", {}).get(
        "matchLabels"
    ) or {}
    if not selector:
        return 0
    listed = await kube.list(
        PODS, namespace, label_selector=",".join(f"{k}={v}" for k, v in selector.items())
    )
    return sum(
        1
        for pod in listed.get("items") or []
        if all(((pod.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in selector.items())
    )


def dedicated_gone(live_deployment: Mapping[str, Any] | None) -> bool:
    """The tenant's own Deployment runs no pod (so no poller) and has seen its latest spec."""
    if live_deployment is None:
        return True
    spec_replicas = int((live_deployment.get("spec") or {}).get("replicas") or 0)
    status = live_deployment.get("status") or {}
    generation = int((live_deployment.get("metadata") or {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or generation)
    return spec_replicas == 0 and int(status.get("replicas") or 0) == 0 and observed >= generation


async def serve_shared(
    kube: KubeClient,
    settings: OperatorSettings,
    namespace: str,
    client_id: str,
    *,
    current_shard: str | None,
    running: bool,
    bot_deployment: Mapping[str, Any],
    credentials: Mapping[str, str],
    token_ref: Mapping[str, Any],
    live_deployment: Mapping[str, Any] | None,
) -> SharedState:
    """Place the tenant and have its shard serve it (or stop serving it while not running)."""
    if not running:
        await release(kube, namespace, current_shard, client_id)
        return SharedState(current_shard, False, "not running")
    if not dedicated_gone(live_deployment) or (
        live_deployment is not None and await dedicated_pods_left(kube, namespace, live_deployment)
    ):
        return SharedState(
            current_shard, False, "waiting for the dedicated bot to stop (one poller per token)"
        )
    token_secret = await kube.get(SECRETS, token_ref.get("namespace") or namespace, token_ref["name"])
    token = (
        manifests.decode((token_secret or {}).get("data")).get(token_ref.get("key") or "token", "").strip()
    )
    if not token:
        return SharedState(current_shard, False, "the bot token Secret is missing or empty")
    entry = shard_manifests.tenant_entry(bot_deployment, credentials, token)
    if current_shard is not None:  # placed already: its own key only, no need to serialise
        shard = current_shard
        await _write_entry(kube, settings, namespace, shard, client_id, entry)
    else:
        async with _placement_locks.setdefault(namespace, asyncio.Lock()):
            # Two new tenants must not both take a shard's last place.
            shard = await choose_shard(kube, settings, namespace, client_id)
            await _write_entry(kube, settings, namespace, shard, client_id, entry)
    report = await _report(kube, namespace, shard, client_id)
    if report is None:
        return SharedState(shard, False, f"waiting for shard {shard} to start the bot")
    if report.get("config") != shard_manifests.entry_digest(entry):
        return SharedState(shard, False, f"waiting for shard {shard} to take the new configuration")
    if report.get("state") != "Serving":
        reason = str(report.get("reason") or "")
        return SharedState(
            shard, False, f"shard {shard}: {report.get('state')}" + (f": {reason}" if reason else "")
        )
    return SharedState(shard, True, f"the bot is serving in shard {shard}")
