"""Where kopf keeps its bookkeeping on a BookingTenant, and moving it off the platform's prefix.

kopf keeps each handler's progress and the last handled configuration (the diff base that
tells an update from a creation) in annotations under its storages' prefix, and marks that
prefix as its own with ``<prefix>/kopf-managed``. Every annotation under a marked prefix is
then left out of the object's essence, so changing it is not a change. The first version gave
kopf the platform's own prefix (``bookingsaas.dev``): ``bookingsaas.dev/rotate-credentials``,
the documented way to rotate, was invisible to the update handler and waited for a resync.

kopf now writes under ``operator.bookingsaas.dev``. Tenants written by the first version still
carry the old marker (which would keep hiding the user's annotations) and their diff base under
the old prefix (without which kopf would take each of them for new and run its creation
handlers again). ``migrate`` moves both before kopf starts watching; it is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from booking_contract import crd
from booking_contract.kube import BOOKINGTENANTS, KubeClient, KubeConflict, KubeError

MARKER = "kopf-managed"
DIFF_BASE_KEY = "last-handled-configuration"
# The names kopf itself writes under its prefix: the marker, the diff base, the touch dummy of
# its progress storage, and one progress record per handler (ids start with our package name).
_KOPF_NAMES = frozenset({MARKER, DIFF_BASE_KEY, "touch-dummy"})
_HANDLER_ID_PREFIX = "booking_operator."


def _is_kopfs(name: str) -> bool:
    return name in _KOPF_NAMES or name.startswith(_HANDLER_ID_PREFIX)


def moved_annotations(annotations: Mapping[str, str]) -> dict[str, str | None]:
    """The merge-patch of ``metadata.annotations`` that moves kopf's records to KOPF_PREFIX.

    Empty when there is nothing to move. Annotations of users and of other tools under the
    platform prefix stay where they are.
    """
    patch: dict[str, str | None] = {}
    for key, value in annotations.items():
        prefix, slash, name = key.partition("/")
        if prefix != crd.LEGACY_KOPF_PREFIX or not slash or not _is_kopfs(name):
            continue
        patch[key] = None
        moved = f"{crd.KOPF_PREFIX}/{name}"
        if moved not in annotations:
            patch[moved] = value
    return patch


async def migrate(kube: KubeClient, namespaces: Iterable[str], logger: logging.Logger | Any) -> int:
    """Move kopf's records on every BookingTenant of ``namespaces`` (``[""]``: all); how many moved.

    A tenant that changes under us is read again once; one that still cannot be patched is left
    for kopf, which then treats it as new: its handlers are idempotent, so that costs one pass.
    """
    moved = 0
    for namespace in namespaces:
        listing = await kube.list(BOOKINGTENANTS, namespace)
        for tenant in listing.get("items") or []:
            if await _migrate_one(kube, tenant, logger):
                moved += 1
    if moved:
        logger.info(f"moved kopf's annotations of {moved} tenant(s) to {crd.KOPF_PREFIX}/")
    return moved


async def _migrate_one(kube: KubeClient, tenant: Mapping[str, Any], logger: logging.Logger | Any) -> bool:
    for _attempt in range(2):
        meta = tenant["metadata"]
        patch = moved_annotations(meta.get("annotations") or {})
        if not patch:
            return False
        try:
            await kube.patch(
                BOOKINGTENANTS,
                meta["namespace"],
                meta["name"],
                # resourceVersion makes it a compare-and-swap: kopf's own writes are not lost.
                {"metadata": {"resourceVersion": meta["resourceVersion"], "annotations": patch}},
            )
        except KubeConflict:
            fresh = await kube.get(BOOKINGTENANTS, meta["namespace"], meta["name"])
            if fresh is None:
                return False
            tenant = fresh
            continue
        except KubeError as exc:
            logger.warning(f"cannot move kopf's annotations of {meta['namespace']}/{meta['name']}: {exc}")
            return False
        return True
    return False
