"""One convergent pass over a BookingTenant: compare what should exist with what does, and fix it.

Called from every trigger (create, update, resume, a child changed, the periodic
resync, a deadline passing); safe to interrupt anywhere and to repeat.

A pass is eight ordered steps (``STEPS``): references (what the spec may point at, see
references.py), credentials, database, redis, secret, bot token, deployment, shard (the Shared
runtime and the handover between runtimes, see shards.py). Each is a small
function over the pass's working state (``Pass``) that either finishes or raises ``StepFailed``,
the one failure shape: the condition it sets, the phase and message the tenant shows, and when
to retry. ``reconcile`` turns that into the status in one place. Ordering keeps crashes
harmless: passwords are set in Postgres/Redis before the Secret that carries them is written,
and a Secret whose `credentials-applied` tag does not match its passwords has them (re)applied
on the next pass.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import kopf

from booking_contract import crd
from booking_contract.client_id import InvalidClientId, validate_client_id
from booking_contract.kube import DEPLOYMENTS, SECRETS, KubeClient, KubeConflict, KubeError, Resource
from booking_contract.telegram import TelegramUnavailable, TokenRejected, token_fingerprint
from booking_contract.times import format_time, utc_now
from booking_operator import (
    database,
    manifests,
    metrics,
    passwords,
    redis_acl,
    references,
    shards,
    subscription,
)
from booking_operator.errors import DB_ERRORS, REDIS_ERRORS, short
from booking_operator.platform import Platform
from booking_operator.status import Conditions

ROTATE_ANNOTATION = crd.ROTATE_CREDENTIALS_ANNOTATION
# Seconds before a pass that hit a transient failure is retried (doubled per failure, see Platform).
RETRY_KUBERNETES = 10.0
RETRY_UNAVAILABLE = 15.0
RETRY_REFUSED = 60.0
RETRY_SHARD = 2.0  # waiting for a shard to serve, or to let go of, a tenant's bot


@dataclass
class ReconcileOutcome:
    status: dict[str, Any]
    retry_after: float | None = None  # set when something transient failed: try again later
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)


class StepFailed(Exception):
    """A step could not finish: what its condition says, what the tenant shows, when to retry.

    ``retry_after`` None means retrying will not help until the resource (or its data) changes.
    """

    def __init__(
        self,
        condition: str,
        reason: str,
        detail: str,
        message: str,
        *,
        retry_after: float | None,
        phase: str = "Provisioning",
    ) -> None:
        super().__init__(message)
        self.condition = condition
        self.reason = reason
        self.detail = detail
        self.message = message
        self.retry_after = retry_after
        self.phase = phase


def kubernetes_failed(condition: str, doing: str, exc: KubeError) -> StepFailed:
    return StepFailed(
        condition, "KubernetesError", str(exc), f"cannot {doing}: {exc}", retry_after=RETRY_KUBERNETES
    )


def unavailable(condition: str, service: str, exc: BaseException) -> StepFailed:
    return StepFailed(
        condition,
        "Unavailable",
        short(exc),
        f"{service} is unreachable: {short(exc)}",
        retry_after=RETRY_UNAVAILABLE,
    )


@dataclass
class Pass:
    """One pass's working state: what the steps have read and decided so far."""

    platform: Platform
    body: Mapping[str, Any]
    logger: logging.Logger | Any
    now: datetime.datetime
    conds: Conditions
    outcome: ReconcileOutcome
    client_id: str = ""
    # references
    token_secret: dict[str, Any] | None = None  # the Secret spec.botTokenSecretRef names, once allowed
    # credentials
    live_secret: dict[str, Any] | None = None
    rotation: str | None = None
    use_acl: bool = False
    db_password: str = ""
    redis_password: str | None = None
    new_credentials: bool = False
    tag: str = ""  # fingerprint of the passwords, on the Secret once they are applied
    applied: bool = False  # the live Secret's passwords are already set in Postgres/Redis
    # secret
    data: dict[str, str] = field(default_factory=dict)
    # bot token
    token_problem: str | None = None  # the owner must act (a missing or rejected token)
    token_tag: str = ""
    # deployment
    known_deployment: dict[str, Any] | None = None  # the live Deployment a watch event just delivered
    running: bool = False
    available: int = 0
    wanted_deployment: dict[str, Any] = field(default_factory=dict)
    live_deployment: dict[str, Any] | None = None
    # runtime (shards.py): Dedicated runs the Deployment, Shared a shard; released = no shard
    # holds the tenant's token any more (a Dedicated bot may start)
    runtime: str = shards.DEDICATED
    released: bool = True
    shared: shards.SharedState | None = None

    @property
    def meta(self) -> Mapping[str, Any]:
        meta: Mapping[str, Any] = self.body["metadata"]
        return meta

    @property
    def name(self) -> str:
        return str(self.meta["name"])

    @property
    def namespace(self) -> str:
        return str(self.meta["namespace"])

    @property
    def spec(self) -> Mapping[str, Any]:
        spec: Mapping[str, Any] = self.body.get("spec") or {}
        return spec

    @property
    def old_status(self) -> Mapping[str, Any]:
        status: Mapping[str, Any] = self.body.get("status") or {}
        return status

    @property
    def status(self) -> dict[str, Any]:
        return self.outcome.status

    def event(self, kind: str, reason: str, message: str) -> None:
        self.outcome.events.append((kind, reason, message))

    def finish(self, phase: str, message: str) -> ReconcileOutcome:
        self.status["phase"] = phase
        self.status["message"] = message
        self.conds.set("Ready", phase == "Ready", phase, message)
        self.status["conditions"] = self.conds.as_list()
        if self.old_status.get("phase") != phase:
            self.event("Warning" if phase == "Failed" else "Normal", phase, message)
        return self.outcome


Step = Callable[[Pass], Awaitable[None]]


def refused(condition: str, refusal: references.Refusal) -> StepFailed:
    """A reference or a name the operator will not act on: Failed until the spec (or object) changes."""
    return StepFailed(
        condition, refusal.reason, refusal.message, refusal.message, retry_after=None, phase="Failed"
    )


async def check_references(p: Pass) -> None:
    """The image and the token Secret the spec names are allowed, before anything is provisioned,
    mounted or sent to Telegram (references.py)."""
    settings = p.platform.settings
    ref = p.spec["botTokenSecretRef"]
    ref_name = ref["name"]
    token_namespace = manifests.token_namespace(p.spec, p.namespace)
    foreign = token_namespace != p.namespace
    refusal = references.refused_image(p.spec, settings.bot_image, settings.image_allowlist)
    refusal = refusal or references.refused_secret_name(ref_name)
    if foreign:
        refusal = refusal or references.refused_token_namespace(ref, settings.token_namespace)
    if refusal is None:
        try:
            p.token_secret = await p.platform.kube.get(SECRETS, token_namespace, ref_name)
        except KubeError as exc:
            raise kubernetes_failed("BotToken", "read the bot token Secret", exc) from exc
        uid = str(p.meta.get("uid", ""))
        refusal = references.refused_token_secret(p.token_secret, uid) if p.token_secret else None
        if refusal is None and foreign and p.token_secret:
            refusal = references.refused_foreign_token(p.token_secret, p.name, p.namespace, p.client_id)
    if refusal is not None:
        raise refused("References", refusal)
    p.conds.set("References", True, "Allowed", "bot image and token Secret allowed")


def not_ours(condition: str, kind: str, name: str) -> StepFailed:
    return refused(
        condition,
        references.Refusal("NameTaken", f"{kind} {name!r} exists and is not booking-operator's: not touched"),
    )


async def choose_credentials(p: Pass) -> None:
    """Reuse the Secret's passwords unless they are missing or a rotation is asked for."""
    try:
        p.live_secret = await p.platform.kube.get(SECRETS, p.namespace, manifests.secret_name(p.name))
    except KubeError as exc:
        raise kubernetes_failed("Secret", "read the tenant Secret", exc) from exc
    if p.live_secret is not None and not manifests.is_ours(p.live_secret, p.name, p.client_id):
        raise not_ours("Secret", "Secret", manifests.secret_name(p.name))
    current = manifests.decode(p.live_secret.get("data") if p.live_secret else None)
    p.rotation = (p.meta.get("annotations") or {}).get(ROTATE_ANNOTATION)
    rotate = bool(p.rotation) and p.rotation != p.old_status.get("credentialsRotation")
    try:
        p.use_acl = await p.platform.acl_enabled()
    except REDIS_ERRORS as exc:
        raise unavailable("Redis", "Redis", exc) from exc
    db_password = current.get(manifests.DB_PASSWORD_KEY)
    p.redis_password = current.get(manifests.REDIS_PASSWORD_KEY) if p.use_acl else None
    p.new_credentials = rotate or not db_password or (p.use_acl and not p.redis_password)
    if p.new_credentials or not db_password:
        db_password = passwords.generate()
        p.redis_password = passwords.generate() if p.use_acl else None
    p.db_password = db_password
    p.tag = passwords.fingerprint(p.db_password, p.redis_password or "")
    p.applied = (
        not p.new_credentials
        and p.live_secret is not None
        and (p.live_secret["metadata"].get("annotations") or {}).get(manifests.APPLIED_ANNOTATION) == p.tag
    )


async def ensure_database(p: Pass) -> None:
    """Schema and role (and the password, unless already applied)."""
    settings = p.platform.settings
    try:
        async with p.platform.pg.acquire() as conn:
            await database.ensure_tenant(
                conn,
                p.client_id,
                owner=database.owner_marker(p.namespace, p.name),
                password_verifier=None if p.applied else passwords.scram_sha256_verifier(p.db_password),
                limits=settings.role_limits,
                database=settings.tenant_database_name or "postgres",
                group=settings.tenant_group_role,
            )
    except database.ClientIdConflict as exc:
        raise StepFailed(
            "Database", "ClientIdConflict", str(exc), str(exc), retry_after=None, phase="Failed"
        ) from exc
    except DB_ERRORS as exc:
        raise unavailable("Database", "PostgreSQL", exc) from exc
    except asyncpg.PostgresError as exc:
        raise StepFailed(
            "Database",
            "ProvisioningFailed",
            short(exc),
            f"PostgreSQL refused provisioning: {short(exc)}",
            retry_after=RETRY_REFUSED,
        ) from exc
    p.conds.set("Database", True, "Provisioned", f"schema and role {p.client_id!r}")


async def ensure_redis_user(p: Pass) -> None:
    """An ACL user confined to the tenant's prefix, where the server has ACLs."""
    if not (p.use_acl and p.redis_password is not None):
        p.conds.set("Redis", True, "PrefixOnly", "server without ACLs: isolation by key prefix only")
        return
    try:
        writable = await _redis_quota(p)
        if not p.applied or not await redis_acl.user_current(
            p.platform.redis, p.client_id, writable=writable
        ):
            await redis_acl.ensure_user(p.platform.redis, p.client_id, p.redis_password, writable=writable)
    except REDIS_ERRORS as exc:
        raise unavailable("Redis", "Redis", exc) from exc
    p.platform.memory(p.meta["uid"]).redis_user = (p.client_id, p.redis_password)
    p.status["redisUser"] = redis_acl.acl_username(p.client_id)
    p.conds.set("Redis", True, "AclUser", f"keys {redis_acl.key_prefix(p.client_id)}* only")


async def _redis_quota(p: Pass) -> bool:
    """Measure the tenant's Redis usage into status; False when over TENANT_REDIS_MAX_BYTES."""
    used = await redis_acl.usage(p.platform.redis, p.client_id)
    limit = p.platform.settings.tenant_redis_max_bytes
    p.status["redisBytes"], p.status["redisKeys"] = used.bytes, used.keys
    metrics.REDIS_BYTES.labels(client_id=p.client_id).set(used.bytes)
    if used.bytes > limit:
        p.conds.set("RedisQuota", False, "OverQuota", f"{used.bytes} bytes used of {limit}: writes refused")
        return False
    p.conds.set("RedisQuota", True, "WithinQuota", f"{used.bytes} bytes used of {limit}")
    return True


async def write_secret(p: Pass) -> None:
    """The tenant Secret, written only after the passwords in it work."""
    p.data = manifests.secret_data(p.platform.settings, p.client_id, p.db_password, p.redis_password)
    if manifests.token_copied(p.spec, p.namespace) and (token := _token(p)):
        p.data[manifests.BOT_TOKEN_KEY] = token  # the bot pod cannot mount the token namespace's
    wanted = manifests.secret(p.name, p.namespace, p.client_id, p.data, p.tag)
    kopf.adopt(wanted, owner=cast(kopf.Body, p.body))
    p.platform.memory(p.meta.get("uid", "")).secret = wanted
    try:
        restored = await _apply(p.platform.kube, SECRETS, p.namespace, wanted, p.live_secret)
    except KubeError as exc:
        raise kubernetes_failed("Secret", "write the tenant Secret", exc) from exc
    stale = manifests.stale_secret_keys(p.live_secret, p.data)
    if manifests.token_copied(p.spec, p.namespace):  # a token not read this pass is not gone
        stale = [key for key in stale if key != manifests.BOT_TOKEN_KEY]
    if stale:
        try:
            await p.platform.kube.patch(
                SECRETS, p.namespace, manifests.secret_name(p.name), {"data": dict.fromkeys(stale)}
            )
        except KubeError as exc:
            raise kubernetes_failed("Secret", "remove unused keys from the tenant Secret", exc) from exc
        p.event("Normal", "SecretKeysRemoved", f"no longer used: {', '.join(stale)}")
    if restored is not None and p.live_secret is not None and not p.new_credentials:
        p.event("Normal", "SecretRestored", "tenant Secret edited by hand; restored")
    if p.new_credentials and p.live_secret is not None:
        p.event("Normal", "CredentialsRotated", "new Postgres and Redis passwords issued")
    if p.rotation:
        p.status["credentialsRotation"] = p.rotation
    p.conds.set("Secret", True, "Written", manifests.secret_name(p.name))


def _token(p: Pass) -> str:
    key = p.spec["botTokenSecretRef"].get("key") or crd.TOKEN_SECRET_KEY
    return manifests.decode((p.token_secret or {}).get("data")).get(key, "").strip()


async def check_bot_token(p: Pass) -> None:
    """Does Telegram know the token, and what is the bot's @username? Never stops the pass.

    A missing or rejected token needs the owner's action (``token_problem``: the tenant ends
    Failed once its Deployment is written); Telegram being unreachable is not the owner's problem.
    """
    ref = p.spec["botTokenSecretRef"]
    key = ref.get("key") or crd.TOKEN_SECRET_KEY
    token = _token(p)
    if not token:
        p.token_problem = f"bot token Secret {ref['name']!r} (key {key!r}) not found or empty"
        p.conds.set("BotToken", False, "SecretNotFound", p.token_problem)
        return
    p.token_tag = token_fingerprint(token)
    if not p.platform.settings.telegram_check_tokens:
        p.conds.set("BotToken", None, "NotChecked", "TELEGRAM_CHECK_TOKENS is off")
        return
    try:
        identity = await p.platform.telegram.get_me(token)
    except TokenRejected as exc:
        p.conds.set("BotToken", False, "Rejected", str(exc))
        p.token_problem = f"{exc}: update Secret {ref['name']!r}"
        return
    except TelegramUnavailable as exc:
        p.logger.warning(f"could not check the bot token: {exc}")
        p.conds.set("BotToken", None, "TelegramUnavailable", str(exc))
        return
    p.status["botUsername"] = identity.username
    p.conds.set("BotToken", True, "Valid", f"@{identity.username}")


async def write_deployment(p: Pass) -> None:
    """The bot: running while paid and not suspended, scaled to zero otherwise.

    The pod template carries a hash of the credentials and the token, so a change of either
    (rotation, a new token in the owner's Secret) restarts the bot onto it.
    """
    p.running = subscription.should_run(p.spec, p.now)
    # Shared runtime: the Deployment stays, scaled to zero, while a shard runs the bot.
    p.runtime = shards.runtime_of(p.spec, p.platform.settings)
    p.status["runtime"] = p.runtime
    try:
        p.released = p.runtime == shards.SHARED or await shards.release(
            p.platform.kube, p.namespace, p.old_status.get("shard"), p.client_id
        )
    except KubeError as exc:
        raise kubernetes_failed("Shard", "take the bot out of its shard", exc) from exc
    wanted = manifests.deployment(
        p.platform.settings,
        p.name,
        p.namespace,
        p.spec,
        replicas=1 if p.running and p.runtime == shards.DEDICATED and p.released else 0,
        secret_hash=manifests.config_hash({**p.data, "BOT_TOKEN_TAG": p.token_tag}),
    )
    kopf.adopt(wanted, owner=cast(kopf.Body, p.body))
    p.platform.memory(p.meta.get("uid", "")).desired = wanted
    kube, name = p.platform.kube, manifests.deployment_name(p.name)
    try:
        created = False
        if p.known_deployment is not None:
            live = p.known_deployment
        elif p.live_secret is None and not p.old_status.get("phase"):
            # The tenant's first pass (no status, no Secret): its Deployment is there only by
            # accident, so create it without reading first; a 409 falls back to the read.
            try:
                await kube.create(DEPLOYMENTS, p.namespace, wanted)
                created, live = True, None
            except KubeConflict:
                live = await kube.get(DEPLOYMENTS, p.namespace, name)
        else:
            live = await kube.get(DEPLOYMENTS, p.namespace, name)
        if not created:
            if live is not None and not manifests.is_ours(live, p.name, p.client_id):
                raise not_ours("Deployment", "Deployment", name)
            written = await _apply(kube, DEPLOYMENTS, p.namespace, wanted, live)
            if written is not None and live is not None:
                live = written  # the server's answer to the patch: the Deployment as it is now
    except KubeError as exc:
        raise kubernetes_failed("Deployment", "write the bot Deployment", exc) from exc
    p.available = int(((live or {}).get("status") or {}).get("availableReplicas") or 0)
    p.wanted_deployment, p.live_deployment = wanted, live


async def place_on_shard(p: Pass) -> None:
    """Shared: the tenant's entry in its shard's Secret (shards.py). Dedicated: no shard left
    holding the token before the Deployment may run (one poller per token)."""
    if p.token_problem is not None:
        return  # settled() reports it; nothing to hand to a shard
    if p.runtime == shards.SHARED:
        try:
            p.shared = await shards.serve_shared(
                p.platform.kube,
                p.platform.settings,
                p.namespace,
                p.client_id,
                current_shard=p.old_status.get("shard"),
                running=p.running,
                bot_deployment=p.wanted_deployment,
                credentials=p.data,
                token_ref=p.spec["botTokenSecretRef"],
                live_deployment=p.live_deployment,
            )
        except KubeError as exc:
            raise kubernetes_failed("Shard", "place the bot on a shard", exc) from exc
        p.status["shard"] = p.shared.shard
    elif not p.released:
        shard = p.old_status.get("shard")
        raise StepFailed(
            "Shard",
            "Releasing",
            "waiting for the shard to stop the bot (one poller per token)",
            f"waiting for shard {shard} to stop the bot",
            retry_after=RETRY_SHARD,
        )
    else:
        p.status["shard"] = None


STEPS: tuple[Step, ...] = (
    check_references,
    choose_credentials,
    ensure_database,
    ensure_redis_user,
    write_secret,
    check_bot_token,
    write_deployment,
    place_on_shard,
)


def settled(p: Pass) -> tuple[str, str]:
    """The phase and message once every step has finished."""
    if p.token_problem is not None:
        return "Failed", p.token_problem
    if p.spec.get("suspended"):
        p.conds.set("Deployment", False, "Suspended", "scaled to zero: spec.suspended is true")
        return "Suspended", "suspended by spec.suspended; data kept"
    if not p.running:
        paid_until = p.spec.get("paidUntil")
        p.conds.set("Deployment", False, "Expired", f"scaled to zero: paid until {paid_until}")
        return "Expired", f"paid period ended at {paid_until}; data kept"
    if p.shared is not None:
        p.conds.set("Deployment", False, "Shared", "scaled to zero: the bot runs in a shard")
        p.conds.set("Shard", p.shared.serving, "Serving" if p.shared.serving else "Waiting", p.shared.message)
        if p.shared.serving:
            return "Ready", p.shared.message
        p.outcome.retry_after = RETRY_SHARD
        return "Provisioning", p.shared.message
    if p.available >= 1:
        p.conds.set("Deployment", True, "Available", "the bot is running")
        return "Ready", "the bot is running"
    p.conds.set("Deployment", False, "Starting", "waiting for the bot pod to become available")
    return "Provisioning", "waiting for the bot pod to become available"


async def reconcile(
    platform: Platform,
    body: Mapping[str, Any],
    logger: logging.Logger | Any,
    *,
    live_deployment: dict[str, Any] | None = None,
) -> ReconcileOutcome:
    """Bring one tenant to its wanted state; never raises for expected trouble, reports it in status.

    ``live_deployment``: the bot Deployment as a watch event just delivered it, read instead of
    a GET.
    """
    meta = body["metadata"]
    spec: Mapping[str, Any] = body.get("spec") or {}
    old_status: Mapping[str, Any] = body.get("status") or {}
    generation = int(meta.get("generation") or 1)
    now = utc_now()
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "secretName": manifests.secret_name(meta["name"]),
        "deploymentName": manifests.deployment_name(meta["name"]),
        "paidUntil": spec.get("paidUntil"),
    }
    p = Pass(
        platform=platform,
        body=body,
        logger=logger,
        now=now,
        conds=Conditions(old_status.get("conditions"), generation, format_time(now)),
        outcome=ReconcileOutcome(status=status),
        known_deployment=live_deployment,
    )
    try:
        p.client_id = validate_client_id(spec.get("clientId"))
        _ = spec["botTokenSecretRef"]["name"]
    except (InvalidClientId, KeyError, TypeError) as exc:
        return p.finish("Failed", f"invalid spec: {exc}")
    status["schema"] = status["databaseRole"] = p.client_id
    for step in STEPS:
        try:
            await step(p)
        except StepFailed as failure:
            p.conds.set(failure.condition, False, failure.reason, failure.detail)
            p.outcome.retry_after = failure.retry_after
            return p.finish(failure.phase, failure.message)
    return p.finish(*settled(p))


async def _apply(
    kube: KubeClient,
    resource: Resource,
    namespace: str,
    wanted: dict[str, Any],
    live: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Create the child, or merge-patch it when any field we own differs.

    Returns the object as the server stored it when it wrote, None when nothing differed.
    """
    name = wanted["metadata"]["name"]
    owned = manifests.owned_fields(wanted)
    if live is None:
        try:
            return await kube.create(resource, namespace, wanted)
        except KubeConflict:
            # Created meanwhile: by us (a concurrent pass) or by someone else, whose object stays.
            raced = await kube.get(resource, namespace, name)
            labels = wanted["metadata"]["labels"]
            instance, client_id = labels[manifests.INSTANCE_LABEL], labels[manifests.CLIENT_ID_LABEL]
            if raced is None or not manifests.is_ours(raced, instance, client_id):
                raise
            return await kube.patch(resource, namespace, name, owned)
    if not manifests.drifted(wanted, live):
        return None
    return await kube.patch(resource, namespace, name, owned)
