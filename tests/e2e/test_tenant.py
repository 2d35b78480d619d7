"""One tenant from a generated manifest (like crds/tenant.yaml), as the operator provisions it.

About "Ready" on kind: a tenant is Ready when its bot Deployment has an available replica, and
the bot pod is available only while its polling loop runs (`GET /healthz` answers 503 before).
`python -m booking_bot` asks Telegram `getMe` before it polls and exits with a one-line startup
error when the Bot API is unreachable or rejects the token (booking_bot/app.py); it does not
stay up retrying. With the fake token these tests use, the pod therefore never becomes
available, and the operator's own getMe reports `BotToken=Unknown` (Telegram unreachable:
phase Provisioning) or `BotToken=False` (Telegram reachable, token rejected: phase Failed).
So without a real token the strongest true statement is: Database, Redis and Secret are True,
the Deployment exists and its `migrate` init container completed against the tenant's schema.
With `E2E_BOT_TOKEN` (a real, throwaway bot token, and a cluster that reaches
api.telegram.org) the tenant is also checked to become Ready.
"""

from __future__ import annotations

import base64
import os
from typing import Any
from urllib.parse import urlsplit

import pytest

from e2e.cluster import (
    CONTRACT_LABELS,
    FAKE_BOT_TOKEN,
    Kubectl,
    Psql,
    TenantNames,
    Tenants,
    condition,
    literal,
    phase,
    wait_for,
)

REAL_TOKEN = os.environ.get("E2E_BOT_TOKEN", "")


@pytest.fixture(scope="module")
def tenant(tenants: Tenants) -> TenantNames:
    names = tenants.create(deletion_policy="Delete", token=REAL_TOKEN or FAKE_BOT_TOKEN)
    tenants.wait_provisioned(names)
    return names


def _status(tenants: Tenants, names: TenantNames) -> dict[str, Any]:
    obj = tenants.get(names)
    assert obj is not None
    return dict(obj.get("status") or {})


def _deployment(kubectl: Kubectl, tenants: Tenants, names: TenantNames) -> dict[str, Any]:
    name = _status(tenants, names).get("deploymentName") or f"{names.name}-bot"
    deployment = kubectl.get("deployment", name, tenants.namespace)
    assert deployment is not None, f"Deployment {name} is missing"
    return deployment


def _secret(kubectl: Kubectl, tenants: Tenants, names: TenantNames) -> dict[str, str]:
    name = _status(tenants, names).get("secretName") or f"{names.name}-credentials"
    secret = kubectl.get("secret", name, tenants.namespace)
    assert secret is not None, f"Secret {name} is missing"
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def test_tenant_is_provisioned(tenants: Tenants, tenant: TenantNames) -> None:
    obj = tenants.get(tenant)
    assert obj is not None
    status = obj["status"]
    for kind in ("Database", "Redis", "Secret"):
        assert condition(obj, kind)["status"] == "True", tenants.describe(tenant)
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert status.get("schema", tenant.client_id) == tenant.client_id
    assert status.get("databaseRole", tenant.client_id) == tenant.client_id
    assert phase(obj) in {"Provisioning", "Ready", "Failed"}, tenants.describe(tenant)


def test_migrate_init_container_completes(
    kubectl: Kubectl, tenants: Tenants, tenant: TenantNames, psql: Psql
) -> None:
    deployment = _deployment(kubectl, tenants, tenant)
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())

    def migrated() -> bool:
        pods = kubectl.json("-n", tenants.namespace, "get", "pods", "-l", selector)["items"]
        for pod in pods:
            for status in (pod.get("status") or {}).get("initContainerStatuses") or []:
                terminated = ((status.get("state") or {}).get("terminated")) or (
                    (status.get("lastState") or {}).get("terminated")
                )
                if status.get("name") == "migrate" and terminated and terminated.get("exitCode") == 0:
                    return True
        return False

    wait_for(
        "the bot pod's migrate init container to complete",
        migrated,
        timeout=300,
        describe=lambda: kubectl.logs(
            tenants.namespace, f"deployment/{deployment['metadata']['name']}", "-c", "migrate"
        ),
    )
    tables = {
        row[0]
        for row in psql(
            "SELECT table_name FROM information_schema.tables"
            f" WHERE table_schema = {literal(tenant.client_id)}"
        )
    }
    assert {"services", "users", "bookings"} <= tables


def test_tenant_becomes_ready_with_a_real_bot_token(request: pytest.FixtureRequest) -> None:
    if not REAL_TOKEN:
        pytest.skip("e2e: set E2E_BOT_TOKEN to a real (throwaway) bot token to test Ready")
    tenants: Tenants = request.getfixturevalue("tenants")
    tenant: TenantNames = request.getfixturevalue("tenant")

    def ready() -> dict[str, Any] | None:
        obj = tenants.get(tenant)
        return obj if phase(obj) == "Ready" else None

    obj = wait_for("phase Ready", ready, timeout=300, describe=lambda: tenants.describe(tenant))
    assert condition(obj, "Deployment")["status"] == "True"
    assert condition(obj, "BotToken")["status"] == "True"
    assert obj["status"].get("botUsername")


def test_fake_token_is_never_ready_and_says_why(request: pytest.FixtureRequest) -> None:
    if REAL_TOKEN:
        pytest.skip("e2e: E2E_BOT_TOKEN is set, so Ready is tested instead")
    tenants: Tenants = request.getfixturevalue("tenants")
    tenant: TenantNames = request.getfixturevalue("tenant")
    obj = tenants.get(tenant)
    token = condition(obj, "BotToken")
    # Telegram unreachable from the cluster: not a failure, the bot pod waits (Provisioning).
    # Telegram reachable: it rejects the fake token, and the owner has to act (Failed).
    assert (phase(obj), token.get("status"), token.get("reason")) in {
        ("Provisioning", "Unknown", "TelegramUnavailable"),
        ("Failed", "False", "Rejected"),
    }, tenants.describe(tenant)
    assert condition(obj, "Ready").get("status") != "True"
    assert FAKE_BOT_TOKEN not in str(obj)  # the token never reaches the status


def test_schema_and_role_exist_and_role_owns_schema_without_superuser(
    tenant: TenantNames, psql: Psql
) -> None:
    rows = psql(
        "SELECT pg_get_userbyid(n.nspowner), r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin"
        " FROM pg_namespace n JOIN pg_roles r ON r.rolname = n.nspname"
        f" WHERE n.nspname = {literal(tenant.client_id)}"
    )
    assert rows == [[tenant.client_id, "f", "f", "f", "t"]]


def test_secret_has_contract_keys_and_database_user_is_client_id(
    kubectl: Kubectl, tenants: Tenants, tenant: TenantNames, psql: Psql
) -> None:
    data = _secret(kubectl, tenants, tenant)
    assert {"CLIENT_ID", "REDIS_KEY_PREFIX", "DATABASE_URL", "REDIS_URL"} <= set(data)
    assert data["CLIENT_ID"] == tenant.client_id
    assert data["REDIS_KEY_PREFIX"] == f"{tenant.client_id}:"
    dsn = urlsplit(data["DATABASE_URL"])
    assert dsn.scheme in {"postgresql", "postgres"}
    assert dsn.username == tenant.client_id
    assert urlsplit(data["REDIS_URL"]).scheme in {"redis", "rediss"}
    assert psql(f"SELECT rolsuper FROM pg_roles WHERE rolname = {literal(tenant.client_id)}") == [["f"]]


def test_deployment_runs_one_replica_recreate_non_root(
    kubectl: Kubectl, tenants: Tenants, tenant: TenantNames
) -> None:
    deployment = _deployment(kubectl, tenants, tenant)
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"].get("runAsUser", 1) != 0
    for container in pod.get("initContainers", []) + pod["containers"]:
        security = container.get("securityContext") or {}
        assert security.get("runAsUser", pod["securityContext"].get("runAsUser", 1)) != 0
        assert security.get("allowPrivilegeEscalation") is False, container["name"]
    assert [c["name"] for c in pod.get("initContainers", [])] == ["migrate"]


def test_children_carry_contract_labels_and_owner_reference(
    kubectl: Kubectl, tenants: Tenants, tenant: TenantNames
) -> None:
    owner = tenants.get(tenant)
    assert owner is not None
    status = owner.get("status") or {}
    for kind, name in (
        ("deployment", status.get("deploymentName") or f"{tenant.name}-bot"),
        ("secret", status.get("secretName") or f"{tenant.name}-credentials"),
    ):
        child = kubectl.get(kind, name, tenants.namespace)
        assert child is not None, f"{kind} {name} is missing"
        labels = child["metadata"].get("labels") or {}
        assert labels.get(CONTRACT_LABELS[0]) == "booking-operator"
        assert labels.get(CONTRACT_LABELS[1]) == tenant.client_id
        refs = child["metadata"].get("ownerReferences") or []
        assert any(
            r.get("uid") == owner["metadata"]["uid"] and r.get("kind") == "BookingTenant" for r in refs
        )
