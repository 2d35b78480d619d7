"""The operator's kopf wiring: which handlers exist, under which ids, watching what.

kopf persists progress under a handler's id (its function name) in every tenant's annotations,
and hands an index to the handlers that name it as a keyword: a rename is a migration, not a
refactor. The registry is read in a fresh interpreter, so that importing the handlers does not
register them in this test process.
"""

from __future__ import annotations

import json
import subprocess
import sys

READ_REGISTRY = """
import json, kopf
from booking_operator import handlers  # noqa: F401 - registers the handlers
registry = kopf.get_default_registry()
found = {}
for kind in ("_activities", "_indexing", "_watching", "_spawning", "_changing"):
    for handler in getattr(registry, kind).get_all_handlers():
        selector = getattr(handler, "selector", None)
        reason = getattr(handler, "reason", None)
        found.setdefault(kind.strip("_"), []).append([
            handler.id,
            getattr(selector, "any_name", None),
            getattr(reason, "value", None),
        ])
print(json.dumps({kind: sorted(map(list, {tuple(h) for h in hs}), key=str) for kind, hs in found.items()}))
"""


def _registry() -> dict[str, list[list[str | None]]]:
    result = subprocess.run(
        [sys.executable, "-c", READ_REGISTRY], capture_output=True, text=True, timeout=60, check=True
    )
    registry: dict[str, list[list[str | None]]] = json.loads(result.stdout)
    return registry


def test_every_handler_is_registered_under_its_persisted_id() -> None:
    registry = _registry()
    assert {kind: sorted({str(h[0]) for h in hs}) for kind, hs in registry.items()} == {
        "activities": ["login_via_async_client", "start", "stop", "tenants"],
        "indexing": ["tenants_by_client_id", "tenants_by_token_secret"],
        "watching": ["bot_deployment_changed", "secret_changed", "shard_reported"],
        "spawning": ["keep_converged"],
        "changing": ["delete_tenant", "reconcile_tenant"],
    }


def test_tenants_are_reconciled_on_resume_create_and_update_and_retired_on_delete() -> None:
    changing = _registry()["changing"]
    assert sorted(((h[0], h[2]) for h in changing), key=str) == sorted(
        [
            ("delete_tenant", "delete"),
            ("reconcile_tenant", "create"),
            ("reconcile_tenant", "update"),
            ("reconcile_tenant", None),  # resume: kopf gives it no reason
        ],
        key=str,
    )


def test_each_watch_is_on_the_resource_it_is_about() -> None:
    watching = {h[0]: h[1] for h in _registry()["watching"]}
    assert watching == {
        "bot_deployment_changed": "deployments",
        "secret_changed": "secrets",
        "shard_reported": "configmaps",
    }
