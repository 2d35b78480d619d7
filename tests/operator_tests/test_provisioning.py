"""A new BookingTenant becomes an isolated, running tenant."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError

from harness import crd_schema
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.operator_process import (
    BOT_IMAGE,
    OperatorProcess,
    Platform,
    create_token_secret,
    eventually,
    mark_bot_available,
    parse_log_lines,
    tenant_body,
    wait_phase,
)

pytestmark = pytest.mark.usefixtures("running_operator")


async def provision(
    kube: KubeClient, namespace: str, name: str, client_id: str, **spec: Any
) -> dict[str, Any]:
    await create_token_secret(kube, namespace)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body(name, client_id, **spec))
    return await wait_phase(kube, namespace, name, "Provisioning")


async def secret_values(kube: KubeClient, namespace: str, name: str) -> dict[str, str]:
    secret = await kube.get("v1/secrets", namespace, f"{name}-credentials")
    assert secret is not None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


async def test_new_tenant_reports_each_child_in_its_conditions(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    tenant = await provision(kube, namespace, "salon", client_id)
    conditions = {c["type"]: c for c in tenant["status"]["conditions"]}
    assert conditions["Database"]["status"] == "True"
    assert conditions["Redis"]["status"] == "True"
    assert conditions["Secret"]["status"] == "True"
    assert conditions["Deployment"]["status"] == "False"
    assert conditions["Ready"]["status"] == "False"
    assert tenant["status"]["observedGeneration"] == tenant["metadata"]["generation"]
    assert tenant["status"]["schema"] == client_id


async def test_tenant_becomes_ready_once_its_bot_pod_is_available(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await provision(kube, namespace, "salon", client_id)
    await mark_bot_available(kube, namespace, "salon")
    tenant = await wait_phase(kube, namespace, "salon", "Ready")
    conditions = {c["type"]: c["status"] for c in tenant["status"]["conditions"]}
    assert conditions["Deployment"] == "True"
    assert conditions["Ready"] == "True"


async def test_secret_holds_the_contract_keys_with_the_tenants_own_credentials(
    kube: KubeClient, namespace: str, client_id: str, platform_services: Platform
) -> None:
    await provision(kube, namespace, "salon", client_id)
    values = await secret_values(kube, namespace, "salon")
    assert values["CLIENT_ID"] == client_id
    assert values["REDIS_KEY_PREFIX"] == f"{client_id}:"
    conn = await asyncpg.connect(values["DATABASE_URL"])
    try:
        assert await conn.fetchval("SELECT current_user") == client_id
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
        assert await conn.fetchval("SHOW search_path") == client_id
    finally:
        await conn.close()
    redis = aioredis.from_url(values["REDIS_URL"])
    admin = aioredis.from_url(platform_services.redis.admin_url)
    try:
        await redis.ping()  # ACL WHOAMI is not among the tenant's commands: the admin looks
        clients = await admin.client_list()
        assert f"tenant_{client_id}" in {c["user"] for c in clients}
    finally:
        await redis.aclose()
        await admin.aclose()


async def test_tenant_role_owns_the_tables_it_creates_in_its_schema(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await provision(kube, namespace, "salon", client_id)
    values = await secret_values(kube, namespace, "salon")
    conn = await asyncpg.connect(values["DATABASE_URL"])
    try:
        await conn.execute("CREATE TABLE services (id serial PRIMARY KEY, name text)")
        await conn.execute("INSERT INTO services (name) VALUES ('haircut')")
        owner = await conn.fetchval(
            "SELECT tableowner FROM pg_tables WHERE schemaname = $1 AND tablename = 'services'", client_id
        )
        assert owner == client_id
    finally:
        await conn.close()


async def test_tenant_role_is_refused_on_another_tenants_schema(kube: KubeClient, namespace: str) -> None:
    await create_token_secret(kube, namespace)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("alpha", "t_alpha_" + namespace[3:]))
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("beta", "t_beta_" + namespace[3:]))
    await wait_phase(kube, namespace, "alpha", "Provisioning")
    await wait_phase(kube, namespace, "beta", "Provisioning")
    alpha = await secret_values(kube, namespace, "alpha")
    beta = await secret_values(kube, namespace, "beta")
    beta_conn = await asyncpg.connect(beta["DATABASE_URL"])
    await beta_conn.execute("CREATE TABLE bookings (id int)")
    await beta_conn.close()
    conn = await asyncpg.connect(alpha["DATABASE_URL"])
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f'SELECT * FROM "{beta["CLIENT_ID"]}".bookings')
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f'CREATE TABLE "{beta["CLIENT_ID"]}".intruder (id int)')
    finally:
        await conn.close()


async def test_tenant_role_cannot_create_or_read_in_public(
    kube: KubeClient, namespace: str, client_id: str, admin_db: asyncpg.Connection
) -> None:
    await admin_db.execute("CREATE TABLE IF NOT EXISTS public.platform_secrets (v text)")
    await provision(kube, namespace, "salon", client_id)
    values = await secret_values(kube, namespace, "salon")
    conn = await asyncpg.connect(values["DATABASE_URL"])
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.mine (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM public.platform_secrets")
    finally:
        await conn.close()


async def test_tenant_redis_user_reaches_only_its_own_prefix(
    kube: KubeClient, namespace: str, client_id: str, platform_services: Platform
) -> None:
    await provision(kube, namespace, "salon", client_id)
    values = await secret_values(kube, namespace, "salon")
    admin = aioredis.from_url(platform_services.redis.admin_url)
    tenant = aioredis.from_url(values["REDIS_URL"])
    try:
        await admin.set("other_tenant:fsm:1:1:state", "secret")
        await tenant.execute_command(  # type: ignore[no-untyped-call]
            "SETEX", f"{client_id}:fsm:1:1:state", 3600, "mine"
        )  # what the bot sends
        assert await tenant.get(f"{client_id}:fsm:1:1:state") == b"mine"
        with pytest.raises(NoPermissionError):
            await tenant.get("other_tenant:fsm:1:1:state")
        with pytest.raises(NoPermissionError):
            await tenant.scan(0)
        with pytest.raises(NoPermissionError):
            await tenant.flushdb()
    finally:
        await tenant.aclose()
        await admin.aclose()


async def test_bot_deployment_runs_one_recreated_non_root_replica_after_migrations(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await provision(kube, namespace, "salon", client_id)
    deployment = await kube.get("apps/v1/deployments", namespace, "salon-bot")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    (init,) = pod["initContainers"]
    assert init["command"] == ["python", "-m", "booking_bot", "migrate"]
    (bot,) = pod["containers"]
    assert bot["image"] == BOT_IMAGE
    assert bot["command"] == ["python", "-m", "booking_bot"]
    assert bot["envFrom"] == [{"secretRef": {"name": "salon-credentials"}}]
    env = {e["name"]: e for e in bot["env"]}
    assert env["BOT_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "bot-token", "key": "token"}
    assert env["TENANT_TIMEZONE"]["value"] == "Europe/Moscow"
    assert bot["securityContext"]["allowPrivilegeEscalation"] is False
    assert bot["securityContext"]["readOnlyRootFilesystem"] is True
    assert bot["resources"]["limits"]["memory"]
    assert bot["livenessProbe"]["httpGet"]["path"] == "/healthz"


async def test_children_carry_the_contract_labels_and_an_owner_reference(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    tenant = await provision(kube, namespace, "salon", client_id)
    for resource, name in (("apps/v1/deployments", "salon-bot"), ("v1/secrets", "salon-credentials")):
        child = await kube.get(resource, namespace, name)
        labels = child["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "booking-operator"
        assert labels["bookingsaas.dev/client-id"] == client_id
        (owner,) = child["metadata"]["ownerReferences"]
        assert owner["kind"] == "BookingTenant"
        assert owner["uid"] == tenant["metadata"]["uid"]
        assert owner["controller"] is True


async def test_operator_logs_are_json_lines_naming_the_tenant_and_never_a_password(
    kube: KubeClient, namespace: str, client_id: str, running_operator: OperatorProcess
) -> None:
    await provision(kube, namespace, "salon", client_id)
    values = await secret_values(kube, namespace, "salon")

    async def tenant_lines() -> list[dict[str, Any]]:
        lines = parse_log_lines(running_operator.logs())
        return [line for line in lines if (line.get("object") or {}).get("namespace") == namespace]

    lines = await eventually(tenant_lines, what="log lines about the tenant")
    assert all(line.get("severity") and line.get("timestamp") for line in lines)
    assert {line["object"]["kind"] for line in lines} <= {"BookingTenant", "Deployment", "Secret"}
    assert any("phase Provisioning" in line["message"] for line in lines)
    logs = running_operator.logs()
    for secret in (values["DATABASE_PASSWORD"], values["REDIS_PASSWORD"], "operator-test-password"):
        assert secret not in logs


async def test_everything_the_operator_writes_fits_the_crds_own_schema(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await provision(kube, namespace, "salon", client_id)
    await mark_bot_available(kube, namespace, "salon")
    tenant = await wait_phase(kube, namespace, "salon", "Ready")
    assert crd_schema.validate(tenant) == []
    assert set(tenant["status"]) >= {"phase", "conditions", "observedGeneration", "schema", "secretName"}


async def test_metrics_count_reconciles_and_tenants_by_phase(
    kube: KubeClient, namespace: str, client_id: str, running_operator: OperatorProcess
) -> None:
    await provision(kube, namespace, "salon", client_id)
    url = f"http://127.0.0.1:{running_operator.env['METRICS_PORT']}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        text = await resp.text()
    assert resp.status == 200
    assert 'booking_operator_reconciles_total{outcome="provisioning",trigger="event"}' in text
    assert 'booking_operator_tenants{phase="Provisioning"}' in text
    assert "booking_operator_reconcile_duration_seconds_bucket" in text


async def test_liveness_endpoint_reports_the_operator_alive(running_operator: OperatorProcess) -> None:
    url = f"http://127.0.0.1:{running_operator.env['LIVENESS_PORT']}/healthz"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200
        assert "tenants" in await resp.json()


async def test_phase_changes_are_recorded_as_kubernetes_events(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await provision(kube, namespace, "salon", client_id)

    async def events() -> list[dict[str, Any]]:
        found = await kube.list("v1/events", namespace)
        return [e for e in found if e.get("involvedObject", {}).get("name") == "salon"]

    recorded = await eventually(events, what="an event about the tenant")
    assert any(e["reason"] == "Provisioning" and e["type"] == "Normal" for e in recorded)


async def test_the_bots_migrations_run_with_the_secret_the_operator_wrote(
    kube: KubeClient, namespace: str, client_id: str, admin_db: asyncpg.Connection
) -> None:
    """What the Deployment's init container does: `python -m booking_bot migrate` with envFrom the Secret."""
    await provision(kube, namespace, "salon", client_id)
    values = await secret_values(kube, namespace, "salon")
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "REDIS_URL")}
    env.update({k: values[k] for k in ("CLIENT_ID", "REDIS_KEY_PREFIX", "DATABASE_URL", "REDIS_URL")})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "booking_bot", "migrate", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    owners = dict(
        await admin_db.fetch(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = $1 "
            "AND tablename IN ('services', 'users', 'bookings')",
            client_id,
        )
    )
    assert owners == {"services": client_id, "users": client_id, "bookings": client_id}
