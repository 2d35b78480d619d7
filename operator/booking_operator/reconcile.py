"""One convergent pass over a BookingTenant: compare what should exist with what does, and fix it.

Called from every trigger (create, update, resume, a child changed, the periodic
resync, a deadline passing); safe to interrupt anywhere and to repeat. Ordering
keeps crashes harmless: passwords are set in Postgres/Redis before the Secret that
carries them is written, and a Secret whose `credentials-applied` tag does not
match its passwords has them (re)applied on the next pass.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import kopf
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from booking_operator import database, manifests, passwords, redis_acl, shards, subscription
from booking_operator.config import OperatorSettings
from booking_operator.identifiers import InvalidClientId, validate_client_id
from booking_operator.kube import DEPLOYMENTS, SECRETS, Kube, KubeError
from booking_operator.status import Conditions
from booking_operator.telegram import TelegramClient, TelegramUnavailable, TokenRejected, token_fingerprint

ROTATE_ANNOTATION = "bookingsaas.dev/rotate-credentials"
MAX_BACKOFF = 300.0
GIVE_UP_AFTER = 10  # deletion attempts before a role that cannot be dropped is left behind
DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.TransactionRollbackError,  # serialization failure, deadlock: just retry
)


@dataclass
class Platform:
    """Long-lived clients and per-tenant memory, built once at operator startup."""

    settings: OperatorSettings
    kube: Kube
    pg: asyncpg.Pool
    redis: aioredis.Redis
    telegram: TelegramClient
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    # What we last wrote per tenant uid: lets child events tell hand edits from our own writes.
    desired: dict[str, dict[str, Any]] = field(default_factory=dict)  # the bot Deployment
    phases: dict[str, str] = field(default_factory=dict)
    # Monotonic time after which a tenant whose last pass hit a transient failure is retried.
    retry_at: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # consecutive transient failures
    _acl: bool | None = None

    def lock(self, uid: str) -> asyncio.Lock:
        return self.locks.setdefault(uid, asyncio.Lock())

    def forget(self, uid: str) -> None:
        self.locks.pop(uid, None)
        self.desired.pop(uid, None)
        self.phases.pop(uid, None)
        self.retry_at.pop(uid, None)
        self.failures.pop(uid, None)

    def backoff(self, uid: str, base: float) -> float:
        """Delay before retrying a tenant whose pass failed transiently: doubling, at most 5 minutes."""
        count = self.failures.get(uid, 0)
        self.failures[uid] = count + 1
        return float(min(base * 2 ** min(count, 8), MAX_BACKOFF))

    async def acl_enabled(self) -> bool:
        if self.settings.redis_acl == "off":
            return False
        if self._acl is None:
            self._acl = await redis_acl.supports_acl(self.redis)
        return self._acl


@dataclass
class Outcome:
    status: dict[str, Any]
    retry_after: float | None = None  # set when something transient failed: try again later
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


async def reconcile(platform: Platform, body: Mapping[str, Any], logger: logging.Logger | Any) -> Outcome:
    """Bring one tenant to its wanted state; never raises for expected trouble, reports it in status."""
    meta = body["metadata"]
    name, namespace, uid = meta["name"], meta["namespace"], meta.get("uid", "")
    spec: Mapping[str, Any] = body.get("spec") or {}
    old_status: Mapping[str, Any] = body.get("status") or {}
    generation = int(meta.get("generation") or 1)
    now = now_utc()
    conds = Conditions(old_status.get("conditions"), generation, subscription.format_time(now))
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "secretName": manifests.secret_name(name),
        "deploymentName": manifests.deployment_name(name),
        "paidUntil": spec.get("paidUntil"),
    }
    outcome = Outcome(status=status)

    def finish(phase: str, message: str) -> Outcome:
        status["phase"] = phase
        status["message"] = message
        conds.set("Ready", phase == "Ready", phase, message)
        status["conditions"] = conds.as_list()
        previous = old_status.get("phase")
        if previous != phase:
            kind = "Warning" if phase == "Failed" else "Normal"
            outcome.events.append((kind, phase, message))
        return outcome

    try:
        client_id = validate_client_id(spec.get("clientId"))
        _ = spec["botTokenSecretRef"]["name"]
    except (InvalidClientId, KeyError, TypeError) as exc:
        return finish("Failed", f"invalid spec: {exc}")
    status["schema"] = status["databaseRole"] = client_id
    owner = database.owner_marker(namespace, name)
    settings = platform.settings

    # --- Credentials: reuse the Secret's passwords unless missing or a rotation is asked for.
    try:
        live_secret = await platform.kube.get(SECRETS, namespace, manifests.secret_name(name))
    except KubeError as exc:
        conds.set("Secret", False, "KubernetesError", str(exc))
        outcome.retry_after = 10
        return finish("Provisioning", f"cannot read the tenant Secret: {exc}")
    current = manifests.decode(live_secret.get("data") if live_secret else None)
    rotation = (meta.get("annotations") or {}).get(ROTATE_ANNOTATION)
    rotate = bool(rotation) and rotation != old_status.get("credentialsRotation")
    try:
        use_acl = await platform.acl_enabled()
    except (RedisError, OSError) as exc:
        conds.set("Redis", False, "Unavailable", _short(exc))
        outcome.retry_after = 15
        return finish("Provisioning", f"Redis is unreachable: {_short(exc)}")
    db_password = current.get(manifests.DB_PASSWORD_KEY)
    redis_password = current.get(manifests.REDIS_PASSWORD_KEY) if use_acl else None
    new_credentials = rotate or not db_password or (use_acl and not redis_password)
    if new_credentials:
        db_password = passwords.generate()
        redis_password = passwords.generate() if use_acl else None
    assert db_password is not None
    tag = passwords.fingerprint(db_password, redis_password or "")
    applied = (
        not new_credentials
        and live_secret is not None
        and (live_secret["metadata"].get("annotations") or {}).get(manifests.APPLIED_ANNOTATION) == tag
    )

    # --- PostgreSQL: schema + role (and the password, unless already applied).
    try:
        async with platform.pg.acquire() as conn:
            await database.ensure_tenant(
                conn,
                client_id,
                owner=owner,
                password_verifier=None if applied else passwords.scram_sha256_verifier(db_password),
                connection_limit=settings.tenant_connection_limit,
                database=settings.tenant_database_name or "postgres",
            )
    except database.ClientIdConflict as exc:
        conds.set("Database", False, "ClientIdConflict", str(exc))
        return finish("Failed", str(exc))
    except DB_ERRORS as exc:
        conds.set("Database", False, "Unavailable", _short(exc))
        outcome.retry_after = 15
        return finish("Provisioning", f"PostgreSQL is unreachable: {_short(exc)}")
    except asyncpg.PostgresError as exc:
        conds.set("Database", False, "ProvisioningFailed", _short(exc))
        outcome.retry_after = 60
        return finish("Provisioning", f"PostgreSQL refused provisioning: {_short(exc)}")
    conds.set("Database", True, "Provisioned", f"schema and role {client_id!r}")

    # --- Redis: an ACL user confined to the tenant's prefix.
    if use_acl and redis_password is not None:
        try:
            if not applied or not await redis_acl.user_exists(platform.redis, client_id):
                await redis_acl.ensure_user(platform.redis, client_id, redis_password)
        except (RedisError, OSError) as exc:
            conds.set("Redis", False, "Unavailable", _short(exc))
            outcome.retry_after = 15
            return finish("Provisioning", f"Redis is unreachable: {_short(exc)}")
        status["redisUser"] = redis_acl.acl_username(client_id)
        conds.set("Redis", True, "AclUser", f"keys {redis_acl.key_prefix(client_id)}* only")
    else:
        conds.set("Redis", True, "PrefixOnly", "server without ACLs: isolation by key prefix only")

    # --- The tenant Secret, written only after the passwords in it work.
    data = manifests.secret_data(settings, client_id, db_password, redis_password)
    wanted_secret = manifests.secret(name, namespace, client_id, data, tag)
    kopf.adopt(wanted_secret, owner=cast(kopf.Body, body))
    try:
        restored = await _apply(platform.kube, SECRETS, namespace, wanted_secret, live_secret)
    except KubeError as exc:
        conds.set("Secret", False, "KubernetesError", str(exc))
        outcome.retry_after = 10
        return finish("Provisioning", f"cannot write the tenant Secret: {exc}")
    if restored and live_secret is not None and not new_credentials:
        outcome.events.append(("Normal", "SecretRestored", "tenant Secret edited by hand; restored"))
    if new_credentials and live_secret is not None:
        outcome.events.append(("Normal", "CredentialsRotated", "new Postgres and Redis passwords issued"))
    if rotation:
        status["credentialsRotation"] = rotation
    conds.set("Secret", True, "Written", manifests.secret_name(name))

    # --- The bot token: does Telegram know it, and what is the bot's @username?
    token_problem, token_tag = await _check_token(platform, namespace, spec, status, conds, logger)

    # --- The bot Deployment: running while paid and not suspended, scaled to zero otherwise.
    # The pod template carries a hash of the credentials and the token, so a change of either
    # (rotation, a new token in the owner's Secret) restarts the bot onto it.
    running = subscription.should_run(spec, now)
    # Shared runtime: the Deployment stays, scaled to zero; a shard runs the bot (shards.py).
    runtime = shards.runtime_of(spec, settings)
    status["runtime"] = runtime
    try:
        released = runtime == shards.SHARED or await shards.release(
            platform.kube, namespace, old_status.get("shard"), client_id
        )
    except KubeError as exc:
        conds.set("Shard", False, "KubernetesError", str(exc))
        outcome.retry_after = 10
        return finish("Provisioning", f"cannot take the bot out of its shard: {exc}")
    wanted_deployment = manifests.deployment(
        settings,
        name,
        namespace,
        spec,
        replicas=1 if running and runtime == shards.DEDICATED and released else 0,
        secret_hash=manifests.config_hash({**data, "BOT_TOKEN_TAG": token_tag}),
    )
    kopf.adopt(wanted_deployment, owner=cast(kopf.Body, body))
    platform.desired[uid] = wanted_deployment
    try:
        live_deployment = await platform.kube.get(DEPLOYMENTS, namespace, manifests.deployment_name(name))
        changed = await _apply(platform.kube, DEPLOYMENTS, namespace, wanted_deployment, live_deployment)
        if changed and live_deployment is not None:
            live_deployment = await platform.kube.get(DEPLOYMENTS, namespace, manifests.deployment_name(name))
    except KubeError as exc:
        conds.set("Deployment", False, "KubernetesError", str(exc))
        outcome.retry_after = 10
        return finish("Provisioning", f"cannot write the bot Deployment: {exc}")
    available = int(((live_deployment or {}).get("status") or {}).get("availableReplicas") or 0)

    if token_problem is not None:
        return finish("Failed", token_problem)
    shared: shards.SharedState | None = None
    if runtime == shards.SHARED:
        try:
            shared = await shards.serve_shared(
                platform.kube,
                settings,
                namespace,
                client_id,
                current_shard=old_status.get("shard"),
                running=running,
                bot_deployment=wanted_deployment,
                credentials=data,
                token_ref=spec["botTokenSecretRef"],
                live_deployment=live_deployment,
            )
        except KubeError as exc:
            conds.set("Shard", False, "KubernetesError", str(exc))
            outcome.retry_after = 10
            return finish("Provisioning", f"cannot place the bot on a shard: {exc}")
        status["shard"] = shared.shard
    elif not released:
        conds.set("Shard", False, "Releasing", "waiting for the shard to stop the bot (one poller per token)")
        outcome.retry_after = 2
        return finish("Provisioning", f"waiting for shard {old_status.get('shard')} to stop the bot")
    else:
        status["shard"] = None
    if spec.get("suspended"):
        conds.set("Deployment", False, "Suspended", "scaled to zero: spec.suspended is true")
        return finish("Suspended", "suspended by spec.suspended; data kept")
    if not running:
        conds.set("Deployment", False, "Expired", f"scaled to zero: paid until {spec.get('paidUntil')}")
        return finish("Expired", f"paid period ended at {spec.get('paidUntil')}; data kept")
    if shared is not None:
        conds.set("Deployment", False, "Shared", "scaled to zero: the bot runs in a shard")
        conds.set("Shard", shared.serving, "Serving" if shared.serving else "Waiting", shared.message)
        if shared.serving:
            return finish("Ready", shared.message)
        outcome.retry_after = 2
        return finish("Provisioning", shared.message)
    if available >= 1:
        conds.set("Deployment", True, "Available", "the bot is running")
        return finish("Ready", "the bot is running")
    conds.set("Deployment", False, "Starting", "waiting for the bot pod to become available")
    return finish("Provisioning", "waiting for the bot pod to become available")


async def _check_token(
    platform: Platform,
    namespace: str,
    spec: Mapping[str, Any],
    status: dict[str, Any],
    conds: Conditions,
    logger: logging.Logger | Any,
) -> tuple[str | None, str]:
    """(a message when the token needs the owner's action, a non-reversible tag of the token).

    Telegram being unreachable is not the owner's problem and yields no message.
    """
    ref = spec["botTokenSecretRef"]
    key = ref.get("key") or "token"
    try:
        token_secret = await platform.kube.get(SECRETS, namespace, ref["name"])
    except KubeError as exc:
        conds.set("BotToken", None, "KubernetesError", str(exc))
        return None, ""
    token = manifests.decode((token_secret or {}).get("data")).get(key, "").strip()
    if not token:
        message = f"bot token Secret {ref['name']!r} (key {key!r}) not found or empty"
        conds.set("BotToken", False, "SecretNotFound", message)
        return message, ""
    tag = token_fingerprint(token)
    if not platform.settings.telegram_check_tokens:
        conds.set("BotToken", None, "NotChecked", "TELEGRAM_CHECK_TOKENS is off")
        return None, tag
    try:
        identity = await platform.telegram.get_me(token)
    except TokenRejected as exc:
        conds.set("BotToken", False, "Rejected", str(exc))
        return f"{exc}: update Secret {ref['name']!r}", tag
    except TelegramUnavailable as exc:
        logger.warning(f"could not check the bot token: {exc}")
        conds.set("BotToken", None, "TelegramUnavailable", str(exc))
        return None, tag
    status["botUsername"] = identity.username
    conds.set("BotToken", True, "Valid", f"@{identity.username}")
    return None, tag


async def _apply(
    kube: Kube,
    resource: tuple[str, str, str],
    namespace: str,
    wanted: dict[str, Any],
    live: dict[str, Any] | None,
) -> bool:
    """Create the child, or merge-patch it when any field we own differs. Returns True if it wrote."""
    name = wanted["metadata"]["name"]
    if live is None:
        try:
            await kube.create(resource, namespace, wanted)
        except KubeError as exc:
            if exc.status != 409:
                raise
            await kube.patch(resource, namespace, name, _owned(wanted))
        return True
    if manifests.is_subset(_owned(wanted), live):
        return False
    await kube.patch(resource, namespace, name, _owned(wanted))
    return True


def _owned(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a child the operator owns (everything but apiVersion/kind and name/namespace)."""
    meta = manifest["metadata"]
    owned: dict[str, Any] = {
        "metadata": {k: meta[k] for k in ("labels", "annotations", "ownerReferences") if k in meta},
    }
    owned.update({k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")})
    return owned


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


async def retire(
    platform: Platform, body: Mapping[str, Any], logger: logging.Logger | Any, retry: int = 0
) -> str:
    """Deletion: stop the bot, then keep or drop the data as spec.deletionPolicy says.

    Returns a sentence saying what happened to the data; raises kopf.TemporaryError to retry.
    """
    meta = body["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    spec: Mapping[str, Any] = body.get("spec") or {}
    policy = spec.get("deletionPolicy") or "Retain"
    try:
        client_id = validate_client_id(spec.get("clientId"))
    except InvalidClientId:
        return "nothing was provisioned for an invalid clientId"
    owner = database.owner_marker(namespace, name)
    try:
        await shards.release(platform.kube, namespace, (body.get("status") or {}).get("shard"), client_id)
    except KubeError as exc:
        raise kopf.TemporaryError(f"cannot take the bot out of its shard: {exc}", delay=10) from exc
    for resource, child in (
        (DEPLOYMENTS, manifests.deployment_name(name)),
        (SECRETS, manifests.secret_name(name)),
    ):
        try:
            await platform.kube.delete(resource, namespace, child)
        except KubeError as exc:
            raise kopf.TemporaryError(f"cannot delete {child}: {exc}", delay=10) from exc
    try:
        async with platform.pg.acquire() as conn:
            if policy == "Delete":
                ours = await database.drop_tenant(conn, client_id, owner=owner)
            else:
                ours = await database.retain_tenant(conn, client_id, owner=owner)
    except database.DeletionBlocked as exc:
        if retry < GIVE_UP_AFTER:
            raise kopf.TemporaryError(str(exc), delay=30) from exc
        logger.error(f"giving up dropping role {client_id!r}, left as NOLOGIN: {exc}")
        ours = True
    except DB_ERRORS as exc:
        raise kopf.TemporaryError(f"PostgreSQL is unreachable: {_short(exc)}", delay=15) from exc
    if not ours:
        return f"clientId {client_id!r} was never this resource's; its data was left alone"
    try:
        if await platform.acl_enabled():
            await redis_acl.delete_user(platform.redis, client_id)
        removed_keys = await redis_acl.delete_keys(platform.redis, client_id) if policy == "Delete" else 0
    except (RedisError, OSError) as exc:
        raise kopf.TemporaryError(f"Redis is unreachable: {_short(exc)}", delay=15) from exc
    if policy == "Delete":
        return f"deleted schema and role {client_id!r} and {removed_keys} Redis keys {client_id}:*"
    return (
        f"retained schema {client_id!r} (role {client_id!r}, now NOLOGIN) and Redis keys {client_id}:*; "
        f"a new BookingTenant with clientId {client_id!r} takes them over"
    )
