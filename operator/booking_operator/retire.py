"""Deletion of a BookingTenant: stop the bot, then keep or drop the data as its policy says.

Runs under the tenant's finalizer; every step is idempotent, so a retry after a crash or an
unreachable dependency simply repeats it. Refusing (``kopf.TemporaryError``) keeps the
finalizer, and with it the resource, until the data is where the policy says.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from booking_contract.client_id import InvalidClientId, validate_client_id
from booking_contract.kube import DEPLOYMENTS, SECRETS, KubeError
from booking_operator import database, manifests, metrics, redis_acl, references, shards
from booking_operator.errors import DB_ERRORS, REDIS_ERRORS, short
from booking_operator.platform import Platform

GIVE_UP_AFTER = 10  # retries of a deletion before a role that cannot be dropped is left behind


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
    try:  # a Shared tenant's shard stops its poller first
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
    try:  # as its ownerReference does for a token in the tenant's namespace
        await _delete_token_copy_source(platform, name, namespace, client_id, spec)
    except KubeError as exc:
        raise kopf.TemporaryError(f"cannot delete the tenant's token Secret: {exc}", delay=10) from exc
    left_behind = ""  # why the role could not be dropped, once given up on
    try:
        async with platform.pg.acquire() as conn:
            if policy == "Delete":
                ours = await database.drop_tenant(conn, client_id, owner=owner)
            else:
                ours = await database.retain_tenant(conn, client_id, owner=owner)
    except database.DeletionBlocked as exc:
        # drop_tenant committed the rest: the role is NOLOGIN, its sessions ended, its schema gone.
        if retry < GIVE_UP_AFTER:
            raise kopf.TemporaryError(str(exc), delay=platform.settings.deletion_retry_interval) from exc
        logger.error(f"giving up dropping role {client_id!r}, left as NOLOGIN: {exc}")
        ours, left_behind = True, str(exc)
    except DB_ERRORS as exc:
        raise kopf.TemporaryError(f"PostgreSQL is unreachable: {short(exc)}", delay=15) from exc
    if not ours:
        return f"clientId {client_id!r} was never this resource's; its data was left alone"
    try:
        if await platform.acl_enabled():
            await redis_acl.delete_user(platform.redis, client_id)
        removed_keys = await redis_acl.delete_keys(platform.redis, client_id) if policy == "Delete" else 0
    except REDIS_ERRORS as exc:
        raise kopf.TemporaryError(f"Redis is unreachable: {short(exc)}", delay=15) from exc
    metrics.forget_tenant(client_id)
    if policy == "Delete" and left_behind:
        return (
            f"deleted schema {client_id!r} and {removed_keys} Redis keys {client_id}:*; "
            f"role {client_id!r} left NOLOGIN after {GIVE_UP_AFTER} retries: {left_behind}"
        )
    if policy == "Delete":
        return f"deleted schema and role {client_id!r} and {removed_keys} Redis keys {client_id}:*"
    return (
        f"retained schema {client_id!r} (role {client_id!r}, now NOLOGIN) and Redis keys {client_id}:*; "
        f"a new BookingTenant with clientId {client_id!r} takes them over"
    )


async def _delete_token_copy_source(
    platform: Platform, name: str, namespace: str, client_id: str, spec: Mapping[str, Any]
) -> None:
    """The tenant's token in the platform's token namespace goes with the tenant (no
    ownerReference crosses namespaces); a token written for another tenant is never touched."""
    token_namespace = manifests.token_namespace(spec, namespace)
    if token_namespace == namespace or token_namespace != platform.settings.token_namespace:
        return
    secret_name = str(spec["botTokenSecretRef"]["name"])
    secret = await platform.kube.get(SECRETS, token_namespace, secret_name)
    if secret is not None and references.refused_foreign_token(secret, name, namespace, client_id) is None:
        await platform.kube.delete(SECRETS, token_namespace, secret_name)
