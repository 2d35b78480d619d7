"""The BookingTenant custom resource as the components see it: coordinates, labels, annotations.

crds/bookingtenants.bookingsaas.dev.yaml is the API server's copy of the same facts; a test
(tests/contract/test_crd_agrees.py) keeps the two equal.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Final

GROUP: Final = "bookingsaas.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "BookingTenant"
PLURAL: Final = "bookingtenants"
SINGULAR: Final = "bookingtenant"
SHORT_NAME: Final = "bt"

# --- labels -----------------------------------------------------------------------------------
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
INSTANCE_LABEL: Final = "app.kubernetes.io/instance"
NAME_LABEL: Final = "app.kubernetes.io/name"
COMPONENT_LABEL: Final = "app.kubernetes.io/component"
PART_OF_LABEL: Final = "app.kubernetes.io/part-of"
CLIENT_ID_LABEL: Final = f"{GROUP}/client-id"
# Values of MANAGED_BY_LABEL: who wrote the object.
MANAGED_BY_OPERATOR: Final = "booking-operator"
MANAGED_BY_WEBHOOK: Final = "booking-webhook"
PART_OF: Final = "booking-saas"
# On a Secret: it holds a bot token, so spec.botTokenSecretRef may name it. The operator mounts
# no other Secret as BOT_TOKEN (never a tenant's credentials, whatever a tenant's spec says).
BOT_TOKEN_LABEL: Final = f"{GROUP}/bot-token"
BOT_TOKEN_LABEL_VALUE: Final = "true"  # noqa: S105 - a label value, not a secret
# On every Secret the operator writes: "false", never a token. With it, one server-side label
# selector (the key's existence) gives the operator's Secret watch exactly the token Secrets
# and its own, never the rest of the cluster's Secrets.
NOT_A_BOT_TOKEN_LABEL_VALUE: Final = "false"  # noqa: S105 - a label value
# On a token Secret in the platform's token namespace (the webhook's, TOKEN_NAMESPACE): the one
# BookingTenant (name, namespace) it was written for. The operator hands the token to no other.
TOKEN_TENANT_LABEL: Final = f"{GROUP}/tenant"
TOKEN_TENANT_NAMESPACE_LABEL: Final = f"{GROUP}/tenant-namespace"

# --- annotations ------------------------------------------------------------------------------
# Set by a human to any new value: the operator issues new Postgres and Redis passwords.
ROTATE_CREDENTIALS_ANNOTATION: Final = f"{GROUP}/rotate-credentials"
# On the tenant Secret: a fingerprint of the passwords already applied in Postgres/Redis.
CREDENTIALS_APPLIED_ANNOTATION: Final = f"{GROUP}/credentials-applied"
# On the bot's pod template: changes with the credentials or the token, restarting the bot.
CONFIG_HASH_ANNOTATION: Final = f"{GROUP}/config-hash"
# On a tenant the webhook created: the checkout it came from.
CHECKOUT_ID_ANNOTATION: Final = f"{GROUP}/checkout-id"
# On a tenant the webhook wrote a new token for (Telegram rotated a managed bot's token): the
# time, so the operator reads the token namespace at once instead of at its next resync.
TOKEN_REFRESHED_ANNOTATION: Final = f"{GROUP}/token-refreshed"
# On a tenant the legacy migration generated: which legacy client it was.
MIGRATED_FROM_ANNOTATION: Final = f"{GROUP}/migrated-from"
# Every annotation a user is told to set on a BookingTenant to make the operator act. Each must
# count as a change of the object, so none may live under a prefix kopf's storages own.
USER_ANNOTATIONS: Final = (ROTATE_CREDENTIALS_ANNOTATION,)
# kopf's own bookkeeping (handler progress, the last handled configuration) lives under this
# prefix. kopf marks a storage prefix as its own (`<prefix>/kopf-managed`) and then leaves every
# annotation under it out of the object's essence, so it must not be GROUP: a user's
# `bookingsaas.dev/rotate-credentials` would be invisible to the update handler.
KOPF_PREFIX: Final = f"operator.{GROUP}"
# Where the first version kept kopf's bookkeeping; moved to KOPF_PREFIX at operator startup.
LEGACY_KOPF_PREFIX: Final = GROUP
FINALIZER: Final = f"{GROUP}/finalizer"

# --- spec -------------------------------------------------------------------------------------
TOKEN_SECRET_KEY: Final = "token"  # noqa: S105 - spec.botTokenSecretRef.key when not given
DELETION_POLICIES: Final = ("Retain", "Delete")
# spec.timezone: the business's IANA time zone. The sales bot asks for it, the webhook writes it,
# the operator hands it to the bot as TENANT_TIMEZONE: the bot's starting value, which the
# owner's own choice in the bot (kept in the tenant's schema) overrides.
DEFAULT_TIMEZONE: Final = "Europe/Moscow"
TIMEZONE_MAX_LENGTH: Final = 64
TIMEZONE_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"


def valid_timezone(name: str) -> bool:
    """What the CRD's pattern admits *and* this machine's zone database knows: a region name
    ("Asia/Yekaterinburg") or UTC, never an abbreviation ("MSK") or a bare offset."""
    if len(name) > TIMEZONE_MAX_LENGTH or not re.fullmatch(TIMEZONE_PATTERN, name):
        return False
    if "/" not in name and name != "UTC":
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


# --- status -----------------------------------------------------------------------------------
PHASES: Final = ("Pending", "Provisioning", "Ready", "Suspended", "Expired", "Failed", "Deleting")
CONDITION_TYPES: Final = (
    "References",  # the token Secret and image the spec names are allowed
    "Database",
    "Redis",
    "RedisQuota",  # the tenant's Redis usage against the operator's TENANT_REDIS_MAX_BYTES
    "Secret",
    "Deployment",
    "Shard",  # Shared runtime: whether the tenant's shard serves its bot (or still lets it go)
    "BotToken",
    "Ready",
)


def token_secret_name(tenant_name: str) -> str:
    """The Secret holding a tenant's bot token when the platform (webhook, migration) writes it."""
    return f"{tenant_name}-bot-token"
