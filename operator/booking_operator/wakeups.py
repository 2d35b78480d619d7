"""Which tenants a watch event about something else should pass now, and with which Event.

The operator watches more than BookingTenants: their bot Deployments, the Secrets they own or
read their token from, and the shards' status ConfigMaps. Most events of those change nothing
for any tenant (a real deployment controller writes several status updates per Deployment; a
shard reports every tenant of a patch): these functions pick the few that do, so that a hand
edit is repaired, a fixed token is used and ``Ready`` follows a shard within seconds, while the
rest cost no pass. The initial listing of a watch (type None) is left to the resync.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from booking_operator import manifests
from booking_operator.passes import tenant_owner
from booking_operator.platform import Platform

TokenIndex = kopf.Index[tuple[str | None, str], tuple[str, str, str]]
ClientIdIndex = kopf.Index[tuple[str | None, str], tuple[str, str]]
Wake = tuple[str, tuple[str, str] | None]  # (tenant name, (Event reason, message) or None)


def deployment_change(type: str | None, body: Mapping[str, Any], platform: Platform) -> bool | None:
    """What a bot Deployment event means for its tenant: None nothing; else whether it was
    deleted or edited by hand (True) or only became (un)available (False)."""
    if not type:  # the initial listing (type None): the resync covers it
        return None
    owner = tenant_owner(body)
    if owner is None:
        return None
    memory = platform.known(owner.get("uid", ""))
    wanted = memory.desired if memory is not None else None
    available = int((body.get("status") or {}).get("availableReplicas") or 0)
    phase = memory.phase if memory is not None else None
    readiness_changed = (available >= 1 and phase == "Provisioning") or (available == 0 and phase == "Ready")
    drifted = wanted is not None and manifests.drifted(wanted, body)
    if type != "DELETED" and not readiness_changed and not drifted:
        return None
    return type == "DELETED" or drifted


def secret_wakes(
    type: str, body: Mapping[str, Any], namespace: str, name: str, platform: Platform, index: TokenIndex
) -> dict[str, Wake]:
    """uid -> wake for a changed Secret: every tenant reading its token from it (the cached getMe
    of the token is forgotten), and the tenant owning it when it was deleted or edited by hand."""
    wake: dict[str, Wake] = {}
    for tenant, uid, key in index.get((namespace, name), ()):
        token = manifests.decode(body.get("data")).get(key, "")
        if token:
            platform.telegram.forget(token)
        wake[uid] = (tenant, None)
    owner = tenant_owner(body)
    if owner is not None:
        uid = owner.get("uid", "")
        memory = platform.known(uid)
        wanted = memory.secret if memory is not None else None
        if type == "DELETED":
            wake[uid] = (owner["name"], ("SecretRestored", "tenant Secret deleted; written again"))
        elif wanted is not None and manifests.drifted(wanted, body):
            wake[uid] = (owner["name"], None)  # the pass reports SecretRestored itself
    return wake


def shard_wakes(
    changed: Mapping[str, Mapping[str, Any] | None], namespace: str, platform: Platform, index: ClientIdIndex
) -> list[tuple[str, str]]:
    """(tenant, uid) of every tenant whose shard report changed, except those already Ready
    that the shard still reports Serving: nothing to do for them."""
    wake: list[tuple[str, str]] = []
    for client_id, report in changed.items():
        for tenant, uid in index.get((namespace, client_id), ()):
            memory = platform.known(uid)
            serving = report is not None and report.get("state") == "Serving"
            if not (serving and memory is not None and memory.phase == "Ready"):
                wake.append((tenant, uid))
    return wake
