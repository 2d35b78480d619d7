"""The database step: the tenant's schema and role, and what PostgreSQL's answers make of the
pass (reconcile.ensure_database; database.py itself: tests/operator_tests/test_database_steps.py)."""

from __future__ import annotations

from typing import Any

import asyncpg
import port_for
from pydantic import SecretStr

from booking_operator import manifests, reconcile
from harness.kube import KubeClient
from harness.operator_process import Platform as Services
from operator_tests.reconcile.observe import (
    Pass,
    condition,
    credentials,
)


async def test_the_secrets_database_password_logs_in_as_the_tenant(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, platform_services: Services, client_id: str
) -> None:
    await run_pass(await tenant())
    data = await credentials(api, namespace)
    conn = await asyncpg.connect(platform_services.dsn(client_id, data[manifests.DB_PASSWORD_KEY]))
    try:
        assert await conn.fetchval("SELECT current_schema()") == client_id
    finally:
        await conn.close()


async def test_a_client_id_of_another_tenant_fails_without_retry(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, client_id: str
) -> None:
    await run_pass(await tenant("first"))
    outcome = await run_pass(await tenant("second"))
    assert outcome.status["phase"] == "Failed"
    assert condition(outcome, "Database")["reason"] == "ClientIdConflict"
    assert (
        outcome.status["message"]
        == f"clientId {client_id!r} is already used by BookingTenant {namespace}/first"
    )
    assert condition(outcome, "Database")["message"] == outcome.status["message"]
    assert outcome.retry_after is None
    assert await api.get("v1/secrets", namespace, "second-credentials") is None


async def test_postgresql_unreachable_is_retried_later_not_failed(
    tenant: Any, run_pass: Pass, platform_factory: Any
) -> None:
    down = await platform_factory(
        operator_database_url=SecretStr(f"postgresql://x:y@127.0.0.1:{port_for.select_random()}/db")
    )
    outcome = await run_pass(await tenant(), on=down)
    assert outcome.status["phase"] == "Provisioning"
    assert condition(outcome, "Database")["reason"] == "Unavailable"
    assert outcome.status["message"].startswith("PostgreSQL is unreachable: ")
    detail = condition(outcome, "Database")["message"]
    assert outcome.status["message"] == f"PostgreSQL is unreachable: {detail}"
    assert detail.startswith("ConnectionRefusedError: "), detail  # what the connection attempt raised
    assert outcome.retry_after == reconcile.RETRY_UNAVAILABLE


async def test_postgresql_refusing_provisioning_is_retried_later(
    tenant: Any, run_pass: Pass, platform_factory: Any
) -> None:
    """A group role that does not exist: PostgreSQL refuses the GRANT (not a conflict, not down)."""
    refusing = await platform_factory(tenant_group_role="no_such_group")
    outcome = await run_pass(await tenant(), on=refusing)
    assert condition(outcome, "Database")["reason"] == "ProvisioningFailed"
    detail = condition(outcome, "Database")["message"]
    assert detail and outcome.status["message"] == f"PostgreSQL refused provisioning: {detail}"
    assert outcome.status["phase"] == "Provisioning"
    assert outcome.retry_after == reconcile.RETRY_REFUSED


async def test_the_tenants_role_gets_the_limits_the_operator_is_configured_with(
    tenant: Any,
    run_pass: Pass,
    platform_factory: Any,
    api: KubeClient,
    namespace: str,
    platform_services: Services,
    client_id: str,
) -> None:
    limited = await platform_factory(tenant_connection_limit=7, tenant_statement_timeout_ms=1234)
    await run_pass(await tenant(), on=limited)
    data = await credentials(api, namespace)
    conn = await asyncpg.connect(platform_services.dsn(client_id, data[manifests.DB_PASSWORD_KEY]))
    try:
        assert await conn.fetchval("SHOW statement_timeout") == "1234ms"
        assert await conn.fetchval("SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user") == 7
    finally:
        await conn.close()
