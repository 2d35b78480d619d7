"""Suspending a tenant and deleting it with each `deletionPolicy`, on a real cluster."""

from __future__ import annotations

from typing import Any

from e2e.cluster import TENANT, Kubectl, Psql, Tenants, condition, literal, phase, wait_for


def _schema_and_role(psql: Psql, client_id: str) -> tuple[bool, str | None]:
    """(the schema exists, the role's rolcanlogin as 't'/'f' or None when the role is gone)."""
    schema = psql.value(f"SELECT count(*) FROM pg_namespace WHERE nspname = {literal(client_id)}")
    login = psql.value(f"SELECT rolcanlogin FROM pg_roles WHERE rolname = {literal(client_id)}")
    return schema == "1", login


def test_suspend_scales_the_bot_to_zero(kubectl: Kubectl, tenants: Tenants) -> None:
    names = tenants.create()
    obj = tenants.wait_provisioned(names)
    deployment_name = (obj.get("status") or {}).get("deploymentName") or f"{names.name}-bot"
    kubectl.patch(TENANT, names.name, tenants.namespace, {"spec": {"suspended": True}})

    def scaled_down() -> dict[str, Any] | None:
        deployment = kubectl.get("deployment", deployment_name, tenants.namespace)
        return deployment if deployment is not None and deployment["spec"]["replicas"] == 0 else None

    deployment = wait_for(
        "the bot Deployment to be scaled to 0", scaled_down, describe=lambda: tenants.describe(names)
    )
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    wait_for(
        "the bot pods to be gone",
        lambda: not kubectl.json("-n", tenants.namespace, "get", "pods", "-l", selector)["items"],
        timeout=120,
    )

    def settled() -> dict[str, Any] | None:
        current = tenants.get(names)
        # A rejected token (Telegram reachable, fake token) keeps the phase Failed: the owner must
        # act; the bot is scaled down all the same. Otherwise the phase is Suspended.
        rejected = condition(current, "BotToken").get("status") == "False"
        return current if phase(current) == ("Failed" if rejected else "Suspended") else None

    current = wait_for(
        "the phase to follow the suspension", settled, timeout=60, describe=lambda: tenants.describe(names)
    )
    if phase(current) == "Suspended":
        assert condition(current, "Deployment").get("reason") == "Suspended"


def test_delete_with_retain_keeps_the_schema(kubectl: Kubectl, tenants: Tenants, psql: Psql) -> None:
    names = tenants.create(deletion_policy="Retain")
    tenants.wait_provisioned(names)
    assert _schema_and_role(psql, names.client_id) == (True, "t")
    try:
        tenants.delete_and_wait(names)
        # The data stays; the role may no longer log in.
        assert _schema_and_role(psql, names.client_id) == (True, "f")
        wait_for(
            "the tenant's Deployment and Secret to be gone",
            lambda: (
                kubectl.get("deployment", f"{names.name}-bot", tenants.namespace) is None
                and kubectl.get("secret", f"{names.name}-credentials", tenants.namespace) is None
            ),
            timeout=60,
        )
    finally:
        # The test's own leftovers: what Retain kept on purpose.
        # DROP OWNED also revokes the role's CONNECT on the database (the chart's PostgreSQL
        # grants it per role), without which DROP ROLE fails.
        quoted = '"' + names.client_id + '"'
        psql(
            f"DROP SCHEMA IF EXISTS {quoted} CASCADE;"
            f" DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = {literal(names.client_id)})"
            f" THEN DROP OWNED BY {quoted}; DROP ROLE {quoted}; END IF; END $$;"
        )


def test_delete_with_delete_drops_schema_and_role(tenants: Tenants, psql: Psql) -> None:
    names = tenants.create(deletion_policy="Delete")
    tenants.wait_provisioned(names)
    assert _schema_and_role(psql, names.client_id) == (True, "t")
    tenants.delete_and_wait(names)
    assert _schema_and_role(psql, names.client_id) == (False, None)
