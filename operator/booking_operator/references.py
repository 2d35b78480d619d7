"""What a BookingTenant may point the operator at: its bot token Secret and its bot image.

Whoever may edit BookingTenants must not be able to use the operator as a confused deputy:
`spec.botTokenSecretRef` is mounted into the bot pod as BOT_TOKEN and sent to Telegram, and
`spec.bot.image` runs with the tenant's database and Redis credentials. So:

- a token Secret must say it is one (label `bookingsaas.dev/bot-token: "true"`, set by the
  sales bot, the webhook and the documented `kubectl create secret` commands);
- a Secret the operator manages (`app.kubernetes.io/managed-by: booking-operator`, such as
  every tenant's `<name>-credentials`) is never a token, whatever its labels say, and
  neither is a Secret owned by another BookingTenant;
- a token in another namespace is read only from the platform's token namespace
  (TOKEN_NAMESPACE, where the webhook keeps the tokens of the bots it sold), and only when
  that Secret was written for this very tenant (its name, namespace and clientId labels): the
  webhook faces the internet, so it holds no Secret verb where tenants' credentials live;
- the image is BOT_IMAGE or one of BOT_IMAGE_ALLOWLIST.

The same rules run on the API server as a ValidatingAdmissionPolicy shipped by the chart
(templates/tenant-admission-policy.yaml); this module is the check that holds without it.
Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from booking_contract import crd

TOKEN_LABEL = crd.BOT_TOKEN_LABEL
TOKEN_LABEL_VALUE = crd.BOT_TOKEN_LABEL_VALUE
MANAGED_BY = crd.MANAGED_BY_LABEL
OPERATOR = crd.MANAGED_BY_OPERATOR
CREDENTIALS_SUFFIX = "-credentials"  # manifests.secret_name


@dataclass(frozen=True)
class Refusal:
    """Why a reference is refused: `reason` for the condition, `message` for the owner."""

    reason: str
    message: str


def refused_secret_name(name: str) -> Refusal | None:
    """Before reading anything: names the operator writes are never tokens."""
    if name.endswith(CREDENTIALS_SUFFIX):
        return Refusal(
            "ForbiddenSecret",
            f"spec.botTokenSecretRef names {name!r}: a tenant's credentials Secret is never a bot token",
        )
    return None


def refused_token_namespace(ref: Mapping[str, Any], token_namespace: str) -> Refusal | None:
    """Before reading anything: a token outside the tenant's namespace only from the token namespace."""
    namespace = ref.get("namespace")
    if namespace is None or (token_namespace and namespace == token_namespace):
        return None
    return Refusal(
        "ForbiddenSecret",
        f"spec.botTokenSecretRef.namespace {namespace!r} is not the platform's token namespace "
        f"(TOKEN_NAMESPACE={token_namespace!r})",
    )


def refused_foreign_token(
    secret: Mapping[str, Any], tenant_name: str, tenant_namespace: str, client_id: str
) -> Refusal | None:
    """A token in the token namespace: written by the webhook for exactly this tenant."""
    meta = secret.get("metadata") or {}
    labels = meta.get("labels") or {}
    wanted = {
        MANAGED_BY: crd.MANAGED_BY_WEBHOOK,
        crd.TOKEN_TENANT_LABEL: tenant_name,
        crd.TOKEN_TENANT_NAMESPACE_LABEL: tenant_namespace,
        crd.CLIENT_ID_LABEL: client_id,
    }
    if any(labels.get(key) != value for key, value in wanted.items()):
        return Refusal(
            "ForbiddenSecret",
            f"Secret {meta.get('name', '')!r} of the token namespace was not written for this tenant",
        )
    return None


def refused_token_secret(secret: Mapping[str, Any], tenant_uid: str) -> Refusal | None:
    """The token Secret as read from the API: labelled as a token, not ours, not another tenant's."""
    meta = secret.get("metadata") or {}
    name = meta.get("name", "")
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY) == OPERATOR:
        return Refusal(
            "ForbiddenSecret", f"Secret {name!r} is managed by booking-operator and is never a bot token"
        )
    if labels.get(TOKEN_LABEL) != TOKEN_LABEL_VALUE:
        return Refusal(
            "SecretNotLabelled",
            f"Secret {name!r} is not labelled as a bot token: "
            f"kubectl label secret {name} {TOKEN_LABEL}={TOKEN_LABEL_VALUE}",
        )
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == crd.KIND and owner.get("uid") != tenant_uid:
            return Refusal(
                "ForbiddenSecret",
                f"Secret {name!r} is the bot token of BookingTenant {owner.get('name')!r}",
            )
    return None


def image_allowed(image: str, default_image: str, allowlist: Iterable[str]) -> bool:
    """Exact references, or prefixes written with a trailing `*` (e.g. `registry.example/booking-bot:*`)."""
    if image == default_image:
        return True
    for entry in allowlist:
        if entry.endswith("*") and image.startswith(entry[:-1]) and entry[:-1]:
            return True
        if image == entry:
            return True
    return False


def refused_image(spec: Mapping[str, Any], default_image: str, allowlist: Iterable[str]) -> Refusal | None:
    image = (spec.get("bot") or {}).get("image")
    if not image or image_allowed(str(image), default_image, allowlist):
        return None
    return Refusal(
        "ImageNotAllowed",
        f"spec.bot.image {image!r} is not BOT_IMAGE and not in BOT_IMAGE_ALLOWLIST",
    )
