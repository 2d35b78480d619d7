"""The webhook's Kubernetes verbs: BookingTenants in the tenant namespace, bot-token Secrets in
the token namespace.

The webhook faces the internet, so it holds no Secret verb where tenants' credentials live: the
tokens of the bots it sells go into the platform's token namespace (TOKEN_NAMESPACE, nothing but
those tokens in it), labelled with the one tenant (name, namespace, clientId) each was written
for, and the operator copies a token from there into that tenant's credentials Secret only
(booking_operator/references.py). Without a token namespace (a development setup) the tokens go
next to the tenants, as before.

Thin on purpose: the domain code in `tenants.py` speaks in these few verbs and the
booking_contract.kube errors (one error model for the platform), not in HTTP.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

from booking_contract import crd
from booking_contract.kube import BOOKINGTENANTS, SECRETS, KubeClient, KubeConflict, KubeNotFound
from booking_contract.times import format_time, utc_now

MANAGED_BY = {crd.MANAGED_BY_LABEL: crd.MANAGED_BY_WEBHOOK}
# The operator mounts only Secrets carrying this label as a bot's token (booking_operator/references.py).
TOKEN_LABELS = {crd.BOT_TOKEN_LABEL: crd.BOT_TOKEN_LABEL_VALUE}
REQUEST_TIMEOUT = 10.0  # seconds; a notification must be answered well within YooKassa's patience


class Kube:
    """The tenant namespace, through the platform's one Kubernetes client."""

    def __init__(self, client: KubeClient, namespace: str, token_namespace: str | None = None) -> None:
        self.client = client
        self.namespace = namespace
        self.token_namespace = token_namespace or namespace

    @classmethod
    async def connect(
        cls, namespace: str, kubeconfig: str | None = None, token_namespace: str | None = None
    ) -> Kube:
        return cls(await KubeClient.connect(kubeconfig, REQUEST_TIMEOUT), namespace, token_namespace)

    @property
    def tokens_apart(self) -> bool:
        """Tokens live in their own namespace (the chart's setup), not next to the tenants."""
        return self.token_namespace != self.namespace

    def token_ref(self, secret: str) -> dict[str, str]:
        """spec.botTokenSecretRef of a tenant whose token this webhook wrote."""
        ref = {"name": secret, "key": crd.TOKEN_SECRET_KEY}
        if self.tokens_apart:
            ref["namespace"] = self.token_namespace
        return ref

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

    async def point_at_token(self, name: str, secret: str) -> dict[str, Any] | None:
        """After a new token was written: the tenant names it (a tenant made before the token
        namespace moves over) and is touched, so the operator reads it now, not at its resync."""
        patch = {
            "metadata": {"annotations": {crd.TOKEN_REFRESHED_ANNOTATION: format_time(utc_now())}},
            "spec": {"botTokenSecretRef": self.token_ref(secret)},
        }
        return await self.merge_patch_tenant(name, patch)

    # --- Secrets (bot tokens), in the token namespace ---
    async def create_token_secret(self, name: str, token: str, tenant: str, client_id: str) -> None:
        """The token of tenant `tenant` (to be made in the tenant namespace), labelled with it."""
        data = {crd.TOKEN_SECRET_KEY: base64.b64encode(token.encode()).decode()}
        labels = {
            **MANAGED_BY,
            **TOKEN_LABELS,
            crd.CLIENT_ID_LABEL: client_id,
            crd.TOKEN_TENANT_LABEL: tenant,
            crd.TOKEN_TENANT_NAMESPACE_LABEL: self.namespace,
        }
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "labels": labels},
            "type": "Opaque",
            "data": data,
        }
        try:
            await self.client.create(SECRETS, self.token_namespace, body)
        except KubeConflict:
            await self.client.patch(SECRETS, self.token_namespace, name, {"data": data})

    async def delete_secret(self, name: str) -> None:
        await self.client.delete(SECRETS, self.token_namespace, name)

    async def adopt_secret(self, name: str, owner: dict[str, Any]) -> None:
        """Make the tenant own its token Secret, so deleting the tenant deletes the token. In the
        token namespace no ownerReference may point across namespaces: the operator deletes it."""
        if self.tokens_apart:
            return
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
