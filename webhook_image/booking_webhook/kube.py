"""The webhook's Kubernetes verbs: BookingTenants and bot-token Secrets in the tenant namespace.

Thin on purpose: the domain code in `tenants.py` speaks in these few verbs and the
booking_contract.kube errors (one error model for the platform), not in HTTP.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

from booking_contract import crd
from booking_contract.kube import BOOKINGTENANTS, SECRETS, KubeClient, KubeConflict, KubeNotFound

MANAGED_BY = {crd.MANAGED_BY_LABEL: crd.MANAGED_BY_WEBHOOK}
# The operator mounts only Secrets carrying this label as a bot's token (booking_operator/references.py).
TOKEN_LABELS = {crd.BOT_TOKEN_LABEL: crd.BOT_TOKEN_LABEL_VALUE}
REQUEST_TIMEOUT = 10.0  # seconds; a notification must be answered well within YooKassa's patience


class Kube:
    """The tenant namespace, through the platform's one Kubernetes client."""

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self.client = client
        self.namespace = namespace

    @classmethod
    async def connect(cls, namespace: str, kubeconfig: str | None = None) -> Kube:
        return cls(await KubeClient.connect(kubeconfig, REQUEST_TIMEOUT), namespace)

    async def close(self) -> None:
        await self.client.close()

    # --- BookingTenants ---
    async def get_tenant(self, name: str) -> dict[str, Any] | None:
        return await self.client.get(BOOKINGTENANTS, self.namespace, name)

    async def create_tenant(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.client.create(BOOKINGTENANTS, self.namespace, body)
        except KubeNotFound as exc:
            raise KubeNotFound(
                exc.status, f"namespace {self.namespace!r} or the BookingTenant CRD is missing"
            ) from None

    async def merge_patch_tenant(self, name: str, patch: dict[str, Any]) -> dict[str, Any] | None:
        """The patched tenant, or None when it was deleted meanwhile."""
        try:
            return await self.client.patch(BOOKINGTENANTS, self.namespace, name, patch)
        except KubeNotFound:
            return None

    async def list_tenants(self) -> list[dict[str, Any]]:
        """Every BookingTenant of the namespace, in one call (the sales bot's expiry reminders)."""
        try:
            result = await self.client.list(BOOKINGTENANTS, self.namespace)
        except KubeNotFound:
            return []
        return [dict(item) for item in result.get("items") or []]

    async def ping(self) -> None:
        """Raises unless the API server answers for BookingTenants in the namespace."""
        with contextlib.suppress(KubeNotFound):
            await self.client.list(BOOKINGTENANTS, self.namespace, limit=1)

    # --- Secrets (bot tokens) ---
    async def create_token_secret(self, name: str, token: str, labels: dict[str, str]) -> None:
        data = {crd.TOKEN_SECRET_KEY: base64.b64encode(token.encode()).decode()}
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "labels": {**MANAGED_BY, **TOKEN_LABELS, **labels}},
            "type": "Opaque",
            "data": data,
        }
        try:
            await self.client.create(SECRETS, self.namespace, body)
        except KubeConflict:
            await self.client.patch(SECRETS, self.namespace, name, {"data": data})

    async def delete_secret(self, name: str) -> None:
        await self.client.delete(SECRETS, self.namespace, name)

    async def adopt_secret(self, name: str, owner: dict[str, Any]) -> None:
        """Make the tenant own its token Secret, so deleting the tenant deletes the token."""
        meta = owner["metadata"]
        ref = {
            "apiVersion": crd.API_VERSION,
            "kind": crd.KIND,
            "name": meta["name"],
            "uid": meta["uid"],
            "blockOwnerDeletion": False,
        }
        with contextlib.suppress(KubeNotFound):
            await self.client.patch(SECRETS, self.namespace, name, {"metadata": {"ownerReferences": [ref]}})
