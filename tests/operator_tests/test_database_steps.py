"""The operator's PostgreSQL provisioning (database.py), called in this process.

The same functions the operator runs, with the operator's own least-privilege role (CREATEROLE,
owner of the platform database, not a superuser) against the session's real PostgreSQL; the
assertions look at what a tenant can do afterwards (log in, reach its schema, nothing else)
and at the catalog. In-process so that mutation testing (`make mutation`) can switch a change
of database.py on and see which test notices it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from booking_contract.client_id import InvalidClientId
from booking_operator import database, passwords
from booking_operator.database import ClientIdConflict, DeletionBlocked, RoleLimits, TenantDatabase
from harness.operator_process import OPERATOR_PASSWORD, OPERATOR_ROLE, PLATFORM_DB, TENANT_GROUP, Platform

OWNER = database.owner_marker("ns-a", "salon")
OTHER = database.owner_marker("ns-b", "rival")
SHIPPED_MAJOR = 16
SESSION_ENDED = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    ConnectionError,
)
LIMITS = RoleLimits(
    connection_limit=3, statement_timeout_ms=1500, idle_in_transaction_timeout_ms=2500, lock_timeout_ms=500
)


@pytest.fixture()
def client_id() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture()
async def op_conn(platform_services: Platform) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the operator's role, with the tenant group in place (as at startup)."""
    conn = await asyncpg.connect(platform_services.dsn(OPERATOR_ROLE, OPERATOR_PASSWORD))
    try:
        await database.ensure_group(conn, TENANT_GROUP, PLATFORM_DB)
        yield conn
    finally:
        await conn.close()


@pytest.fixture()
async def admin(platform_services: Platform, client_id: str) -> AsyncIterator[asyncpg.Connection]:
    """The superuser, for looking at the catalog; drops what the test left of its tenant."""
    conn = await asyncpg.connect(platform_services.admin_dsn)
    try:
        yield conn
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{client_id}" CASCADE')
        if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", client_id):
            await conn.execute(f'DROP OWNED BY "{client_id}" CASCADE')
            await conn.execute(f'DROP ROLE "{client_id}"')
        await conn.close()


async def provision(
    conn: asyncpg.Connection,
    client_id: str,
    password: str | None = "first-password",
    *,
    owner: str = OWNER,
    limits: RoleLimits = LIMITS,
) -> TenantDatabase:
    return await database.ensure_tenant(
        conn,
        client_id,
        owner=owner,
        password_verifier=passwords.scram_sha256_verifier(password) if password else None,
        limits=limits,
        database=PLATFORM_DB,
        group=TENANT_GROUP,
    )


async def tenant_connect(platform: Platform, client_id: str, password: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(platform.dsn(client_id, password))
    return conn


async def role_row(admin: asyncpg.Connection, client_id: str) -> asyncpg.Record:
    row = await admin.fetchrow(
        "SELECT r.*, shobj_description(r.oid, 'pg_authid') AS comment FROM pg_roles r WHERE rolname = $1",
        client_id,
    )
    assert row is not None, f"no role {client_id}"
    return row


async def role_config(admin: asyncpg.Connection, client_id: str) -> set[str]:
    return set((await role_row(admin, client_id))["rolconfig"] or [])


async def schema_comment(admin: asyncpg.Connection, client_id: str) -> str | None:
    comment: str | None = await admin.fetchval(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1", client_id
    )
    return comment


async def role_count(admin: asyncpg.Connection, client_id: str) -> int:
    count: int = await admin.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", client_id)
    return count


def require_shipped_major(conn: asyncpg.Connection) -> None:
    """Grant options (SET FALSE, ADMIN for CREATEROLE) mean what the chart relies on from 16."""
    major = conn.get_server_version().major
    if major < SHIPPED_MAJOR:
        pytest.skip(
            f"the test server is PostgreSQL {major}: run hack/install-postgres.sh for {SHIPPED_MAJOR}"
        )


# ---- ensure_tenant: a new tenant ---------------------------------------------------------------------


async def test_a_new_tenant_logs_in_with_its_password_into_its_own_schema(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    result = await provision(op_conn, client_id, "first-password")
    assert result == TenantDatabase(schema=client_id, role=client_id, created=True)
    tenant = await tenant_connect(platform_services, client_id, "first-password")
    try:
        assert await tenant.fetchval("SELECT current_schema()") == client_id
        await tenant.execute("CREATE TABLE bookings (id int)")
        owner = await admin.fetchval(
            "SELECT tableowner FROM pg_tables WHERE schemaname = $1 AND tablename = 'bookings'", client_id
        )
        assert owner == client_id
    finally:
        await tenant.close()


async def test_a_new_tenant_is_refused_a_wrong_password(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await tenant_connect(platform_services, client_id, "not-the-password")


async def test_a_new_tenant_role_has_no_power_beyond_logging_in(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    role = await role_row(admin, client_id)
    assert role["rolcanlogin"]
    assert not (role["rolsuper"] or role["rolcreatedb"] or role["rolcreaterole"] or role["rolreplication"])


async def test_a_new_tenant_role_carries_the_connection_limit_and_timeouts(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    role = await role_row(admin, client_id)
    assert role["rolconnlimit"] == 3
    assert {
        "statement_timeout=1500",
        "idle_in_transaction_session_timeout=2500",
        "lock_timeout=500",
    } <= set(role["rolconfig"])


async def test_a_tenant_session_starts_with_the_roles_timeouts(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password")
    tenant = await tenant_connect(platform_services, client_id, "first-password")
    try:
        assert await tenant.fetchval("SHOW statement_timeout") == "1500ms"
        assert await tenant.fetchval("SHOW lock_timeout") == "500ms"
        assert await tenant.fetchval("SHOW idle_in_transaction_session_timeout") == "2500ms"
    finally:
        await tenant.close()


async def test_the_role_and_schema_are_marked_with_the_tenant_that_owns_them(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    assert (await role_row(admin, client_id))["comment"] == OWNER
    assert await schema_comment(admin, client_id) == OWNER
    assert OWNER == "bookingsaas.dev tenant=ns-a/salon"


async def test_a_tenant_connects_through_the_group_not_through_public(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    groups = await admin.fetch(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1",
        client_id,
    )
    assert [g["rolname"] for g in groups] == [TENANT_GROUP]
    assert await admin.fetchval("SELECT has_database_privilege($1, $2, 'CONNECT')", client_id, PLATFORM_DB)


async def test_a_tenant_cannot_become_the_group_role(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password")
    tenant = await tenant_connect(platform_services, client_id, "first-password")
    try:
        require_shipped_major(tenant)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await tenant.execute(f"SET ROLE {TENANT_GROUP}")
    finally:
        await tenant.close()


async def test_a_tenant_does_not_inherit_a_role_granted_to_it_later(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    """From PostgreSQL 16 the role is NOINHERIT: only its group grant names INHERIT TRUE, so a
    role someone grants it later (no option: the member's attribute decides) gives it nothing."""
    await provision(op_conn, client_id, "first-password")
    extra = f"extra_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE ROLE "{extra}" NOLOGIN')
    await admin.execute(f'CREATE TABLE public."{extra}" (x int)')
    try:
        await admin.execute(f'GRANT USAGE ON SCHEMA public TO "{extra}"')
        await admin.execute(f'GRANT SELECT ON public."{extra}" TO "{extra}"')
        await admin.execute(f'GRANT "{extra}" TO "{client_id}"')
        tenant = await tenant_connect(platform_services, client_id, "first-password")
        try:
            require_shipped_major(tenant)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await tenant.fetch(f'SELECT * FROM public."{extra}"')
        finally:
            await tenant.close()
    finally:
        await admin.execute(f'DROP TABLE public."{extra}"')
        await admin.execute(f'DROP OWNED BY "{extra}"')
        await admin.execute(f'DROP ROLE "{extra}"')


async def test_a_new_tenant_role_needs_a_password(op_conn: asyncpg.Connection, client_id: str) -> None:
    with pytest.raises(ValueError) as refused:
        await provision(op_conn, client_id, None)
    assert str(refused.value) == "a new tenant role needs a password verifier"


async def test_an_invalid_client_id_is_refused_before_any_sql(op_conn: asyncpg.Connection) -> None:
    with pytest.raises(InvalidClientId):
        await provision(op_conn, 'x"; DROP ROLE postgres; --')


# ---- ensure_tenant: an existing tenant -------------------------------------------------------------


async def test_a_second_pass_reports_nothing_created(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    assert (await provision(op_conn, client_id, None)).created is False


async def test_a_second_pass_without_a_verifier_keeps_the_password(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password")
    await provision(op_conn, client_id, None)
    tenant = await tenant_connect(platform_services, client_id, "first-password")
    await tenant.close()


async def test_a_pass_with_a_new_verifier_changes_the_password(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password")
    await provision(op_conn, client_id, "second-password")
    tenant = await tenant_connect(platform_services, client_id, "second-password")
    await tenant.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await tenant_connect(platform_services, client_id, "first-password")


async def catalog_versions(admin: asyncpg.Connection, client_id: str) -> list[str]:
    """The row versions (xmin) of everything ensure_tenant may write for the tenant."""
    rows = await admin.fetch(
        """
        SELECT 'role ' || xmin::text FROM pg_authid WHERE rolname = $1
        UNION ALL SELECT 'settings ' || s.xmin::text FROM pg_db_role_setting s
            JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = $1
        UNION ALL SELECT 'schema ' || xmin::text FROM pg_namespace WHERE nspname = $1
        UNION ALL SELECT 'comment ' || d.xmin::text FROM pg_shdescription d
            JOIN pg_roles r ON r.oid = d.objoid WHERE r.rolname = $1
        UNION ALL SELECT 'comment ' || d.xmin::text FROM pg_description d
            JOIN pg_namespace n ON n.oid = d.objoid WHERE n.nspname = $1
        UNION ALL SELECT 'member ' || m.xmin::text FROM pg_auth_members m
            JOIN pg_roles r ON r.oid = m.member OR r.oid = m.roleid WHERE r.rolname = $1
        ORDER BY 1
        """,
        client_id,
    )
    return [r[0] for r in rows]


async def test_a_settled_tenant_gets_no_ddl(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    """The steady state writes nothing: a second pass leaves every catalog row it owns untouched."""
    await provision(op_conn, client_id)
    before = await catalog_versions(admin, client_id)
    await provision(op_conn, client_id, None)
    assert await catalog_versions(admin, client_id) == before


async def hold_lock(platform: Platform, client_id: str) -> asyncpg.Connection:
    """Another operator replica in the middle of a pass over ``client_id``."""
    other = await asyncpg.connect(platform.dsn(OPERATOR_ROLE, OPERATOR_PASSWORD))
    await other.execute("BEGIN")
    await other.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{database.MARKER}:{client_id}")
    return other


async def waits_for_the_lock(platform: Platform, client_id: str, call: Any) -> None:
    other = await hold_lock(platform, client_id)
    try:
        task = asyncio.ensure_future(call)
        done, _ = await asyncio.wait({task}, timeout=0.5)
        assert not done, "did not wait for the other pass over the same clientId"
        await other.execute("ROLLBACK")
        await asyncio.wait_for(task, 10)
    finally:
        await other.close()


async def test_provisioning_waits_for_another_pass_over_the_same_client_id(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await waits_for_the_lock(platform_services, client_id, provision(op_conn, client_id))
    assert await role_count(admin, client_id) == 1


async def test_retaining_waits_for_another_pass_over_the_same_client_id(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id)
    await waits_for_the_lock(
        platform_services, client_id, database.retain_tenant(op_conn, client_id, owner=OWNER)
    )


async def test_dropping_waits_for_another_pass_over_the_same_client_id(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id)
    await waits_for_the_lock(
        platform_services, client_id, database.drop_tenant(op_conn, client_id, owner=OWNER)
    )
    assert await role_count(admin, client_id) == 0


async def test_provisioning_does_not_wait_for_a_pass_over_another_client_id(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    other = await hold_lock(platform_services, "t_someone_else")
    try:
        await asyncio.wait_for(provision(op_conn, client_id), 5)
    finally:
        await other.close()


async def test_a_dropped_schema_is_recreated_and_reported_created(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    await admin.execute(f'DROP SCHEMA "{client_id}"')
    assert (await provision(op_conn, client_id, None)).created is True
    assert await schema_comment(admin, client_id) == OWNER


async def test_a_role_locked_out_by_hand_may_log_in_again(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password")
    await admin.execute(f'ALTER ROLE "{client_id}" NOLOGIN')
    await provision(op_conn, client_id, None)
    tenant = await tenant_connect(platform_services, client_id, "first-password")
    await tenant.close()


async def test_a_changed_connection_limit_is_put_back(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    await admin.execute(f'ALTER ROLE "{client_id}" CONNECTION LIMIT 50')
    await provision(op_conn, client_id, None)
    assert (await role_row(admin, client_id))["rolconnlimit"] == 3


async def test_new_limits_reach_an_existing_role(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    await provision(op_conn, client_id, None, limits=RoleLimits(connection_limit=7, lock_timeout_ms=900))
    role = await role_row(admin, client_id)
    assert role["rolconnlimit"] == 7
    assert "lock_timeout=900" in role["rolconfig"]
    assert "statement_timeout=30000" in role["rolconfig"]


async def test_a_reset_timeout_is_set_again(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    await admin.execute(f'ALTER ROLE "{client_id}" RESET statement_timeout')
    await provision(op_conn, client_id, None)
    assert "statement_timeout=1500" in await role_config(admin, client_id)


async def test_a_removed_search_path_is_set_again(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    await admin.execute(f'ALTER ROLE "{client_id}" RESET search_path')
    await provision(op_conn, client_id, None)
    assert f"search_path={client_id}" in await role_config(admin, client_id)


async def test_a_revoked_group_membership_is_granted_again(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    await admin.execute(f'REVOKE {TENANT_GROUP} FROM "{client_id}"')
    await provision(op_conn, client_id, None)
    assert await admin.fetchval("SELECT has_database_privilege($1, $2, 'CONNECT')", client_id, PLATFORM_DB)


async def test_a_role_without_its_comment_is_marked_again(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    await admin.execute(f'COMMENT ON ROLE "{client_id}" IS NULL')
    await admin.execute(f'COMMENT ON SCHEMA "{client_id}" IS NULL')
    # Unmarked objects are not claimable: only a retained (or our own) mark is.
    with pytest.raises(ClientIdConflict):
        await provision(op_conn, client_id, None)


# ---- ensure_tenant: someone else's names -------------------------------------------------------------


async def test_a_client_id_of_another_tenant_is_refused_naming_it(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id, owner=OTHER)
    with pytest.raises(ClientIdConflict) as refused:
        await provision(op_conn, client_id, "second-password")
    assert str(refused.value) == f"clientId {client_id!r} is already used by BookingTenant ns-b/rival"


async def test_a_refused_client_id_changes_nothing(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password", owner=OTHER)
    with pytest.raises(ClientIdConflict):
        await provision(op_conn, client_id, "second-password")
    assert (await role_row(admin, client_id))["comment"] == OTHER
    tenant = await tenant_connect(platform_services, client_id, "first-password")
    await tenant.close()


async def test_an_unmanaged_role_of_that_name_is_refused(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await admin.execute(f'CREATE ROLE "{client_id}" NOLOGIN')
    with pytest.raises(ClientIdConflict) as refused:
        await provision(op_conn, client_id)
    assert (
        str(refused.value)
        == f"a role named {client_id!r} already exists and is not managed by booking-operator"
    )
    assert (await role_row(admin, client_id))["comment"] is None


async def test_an_unmanaged_schema_of_that_name_is_refused(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await admin.execute(f'CREATE SCHEMA "{client_id}"')
    with pytest.raises(ClientIdConflict) as refused:
        await provision(op_conn, client_id)
    assert str(refused.value) == (
        f"a schema named {client_id!r} already exists and is not managed by booking-operator"
    )
    assert await role_count(admin, client_id) == 0


async def test_a_schema_of_another_tenant_is_refused_naming_it(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await admin.execute(f'CREATE SCHEMA "{client_id}"')
    await admin.execute(f"COMMENT ON SCHEMA \"{client_id}\" IS '{OTHER}'")
    with pytest.raises(ClientIdConflict) as refused:
        await provision(op_conn, client_id)
    assert str(refused.value) == f"clientId {client_id!r} is already used by BookingTenant ns-b/rival"


async def test_a_marked_schema_owned_by_another_role_is_refused(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await admin.execute(f'CREATE SCHEMA "{client_id}" AUTHORIZATION {OPERATOR_ROLE}')
    await admin.execute(f"COMMENT ON SCHEMA \"{client_id}\" IS '{OWNER}'")
    with pytest.raises(ClientIdConflict, match=rf"owned by '{OPERATOR_ROLE}', not by the tenant role"):
        await provision(op_conn, client_id)
    assert await role_count(admin, client_id) == 0


async def test_a_retained_tenant_is_adopted_by_a_new_owner(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password", owner=OTHER)
    assert await database.retain_tenant(op_conn, client_id, owner=OTHER)
    await provision(op_conn, client_id, "second-password")
    assert (await role_row(admin, client_id))["comment"] == OWNER
    assert await schema_comment(admin, client_id) == OWNER
    tenant = await tenant_connect(platform_services, client_id, "second-password")
    await tenant.close()


# ---- retain_tenant ---------------------------------------------------------------------------------


async def test_a_retained_tenant_can_no_longer_log_in(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password")
    assert await database.retain_tenant(op_conn, client_id, owner=OWNER) is True
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await tenant_connect(platform_services, client_id, "first-password")


async def test_retaining_keeps_the_data_and_marks_it_retained(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password")
    tenant = await tenant_connect(platform_services, client_id, "first-password")
    await tenant.execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")
    await tenant.close()
    await database.retain_tenant(op_conn, client_id, owner=OWNER)
    assert await admin.fetchval(f'SELECT count(*) FROM "{client_id}".kept') == 1
    assert (await role_row(admin, client_id))["comment"] == database.RETAINED
    assert await schema_comment(admin, client_id) == database.RETAINED


async def test_retaining_ends_the_tenants_open_sessions(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password")
    tenant = await tenant_connect(platform_services, client_id, "first-password")
    try:
        await database.retain_tenant(op_conn, client_id, owner=OWNER)
        # The server side first: no backend of the role is left once its termination is done.
        deadline = asyncio.get_running_loop().time() + 10
        while await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE usename = $1", client_id):
            assert asyncio.get_running_loop().time() < deadline, "the tenant's session was not ended"
            await asyncio.sleep(0.05)
        # The client then fails its next query; which error depends on whether asyncpg has read the
        # server's FATAL before it starts the query (InternalClientError when it reads it mid-way).
        with pytest.raises(SESSION_ENDED):
            await tenant.fetchval("SELECT 1")
    finally:
        await tenant.close()


async def test_a_tenant_whose_schema_is_gone_is_still_retained(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    await admin.execute(f'DROP SCHEMA "{client_id}"')
    assert await database.retain_tenant(op_conn, client_id, owner=OWNER) is True
    assert (await role_row(admin, client_id))["comment"] == database.RETAINED


async def test_retaining_someone_elses_tenant_touches_nothing(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id, owner=OTHER)
    assert await database.retain_tenant(op_conn, client_id, owner=OWNER) is False
    role = await role_row(admin, client_id)
    assert role["rolcanlogin"] and role["comment"] == OTHER


# ---- drop_tenant -----------------------------------------------------------------------------------


async def test_dropping_removes_the_schema_with_its_tables_and_the_role(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password")
    tenant = await tenant_connect(platform_services, client_id, "first-password")
    await tenant.execute("CREATE TABLE gone (id int)")
    await tenant.close()
    assert await database.drop_tenant(op_conn, client_id, owner=OWNER) is True
    assert await admin.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", client_id) is None
    assert await role_count(admin, client_id) == 0


async def test_dropping_ends_the_tenants_open_sessions(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password")
    tenant = await tenant_connect(platform_services, client_id, "first-password")
    try:
        assert await database.drop_tenant(op_conn, client_id, owner=OWNER) is True
        assert await role_count(admin, client_id) == 0
    finally:
        await tenant.close()


async def test_dropping_takes_the_tenants_objects_outside_its_schema(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id, "first-password")
    await admin.execute(f'CREATE SCHEMA "{client_id}_extra" AUTHORIZATION "{client_id}"')
    assert await database.drop_tenant(op_conn, client_id, owner=OWNER) is True
    assert await admin.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", f"{client_id}_extra") is None


async def test_dropping_someone_elses_tenant_touches_nothing(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id, owner=OTHER)
    assert await database.drop_tenant(op_conn, client_id, owner=OWNER) is False
    assert await role_count(admin, client_id) == 1
    assert await schema_comment(admin, client_id) == OTHER


async def test_dropping_a_tenant_that_never_existed_reports_nothing_dropped(
    op_conn: asyncpg.Connection, client_id: str
) -> None:
    assert await database.drop_tenant(op_conn, client_id, owner=OWNER) is False


async def test_dropping_leaves_a_role_that_is_not_ours(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    """Our schema goes; a role someone else marked stays (and can still log in)."""
    await provision(op_conn, client_id)
    await admin.execute(f"COMMENT ON ROLE \"{client_id}\" IS '{OTHER}'")
    await admin.execute(f'ALTER SCHEMA "{client_id}" OWNER TO {OPERATOR_ROLE}')
    assert await database.drop_tenant(op_conn, client_id, owner=OWNER) is True
    assert await admin.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", client_id) is None
    assert (await role_row(admin, client_id))["rolcanlogin"]


async def test_dropping_leaves_a_schema_that_is_not_ours(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, client_id: str
) -> None:
    await provision(op_conn, client_id)
    await admin.execute(f"COMMENT ON SCHEMA \"{client_id}\" IS '{OTHER}'")
    await admin.execute(f'ALTER SCHEMA "{client_id}" OWNER TO {OPERATOR_ROLE}')
    assert await database.drop_tenant(op_conn, client_id, owner=OWNER) is True
    assert await schema_comment(admin, client_id) == OTHER
    assert await role_count(admin, client_id) == 0


async def test_a_role_owning_objects_in_another_database_blocks_deletion(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection, platform_services: Platform, client_id: str
) -> None:
    await provision(op_conn, client_id)
    elsewhere = await asyncpg.connect(platform_services.pg.dsn())  # the `postgres` database
    try:
        await elsewhere.execute(f'CREATE SCHEMA "{client_id}_elsewhere" AUTHORIZATION "{client_id}"')
        with pytest.raises(DeletionBlocked) as blocked:
            await database.drop_tenant(op_conn, client_id, owner=OWNER)
        # PostgreSQL's own explanation (its DETAIL), which says where the objects are.
        assert str(blocked.value) == f"role {client_id!r} still owns objects: 1 object in database postgres"
        await elsewhere.execute(f'DROP SCHEMA "{client_id}_elsewhere"')
    finally:
        await elsewhere.close()
    assert await role_count(admin, client_id) == 1


# ---- the group, the operator's role, the database --------------------------------------------------


async def test_the_group_role_cannot_log_in_and_may_connect_and_make_temp_tables(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection
) -> None:
    group = await role_row(admin, TENANT_GROUP)
    assert not group["rolcanlogin"] and not group["rolinherit"]
    for privilege in ("CONNECT", "TEMPORARY"):
        assert await admin.fetchval(
            "SELECT has_database_privilege($1, $2, $3)", TENANT_GROUP, PLATFORM_DB, privilege
        )


async def test_a_missing_group_role_is_created_and_marked(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection
) -> None:
    group = f"g_{uuid.uuid4().hex[:10]}"
    try:
        await database.ensure_group(op_conn, group, PLATFORM_DB)
        row = await role_row(admin, group)
        assert row["comment"] == "bookingsaas.dev tenant group"
        assert not row["rolcanlogin"]
        assert await admin.fetchval("SELECT has_database_privilege($1, $2, 'TEMPORARY')", group, PLATFORM_DB)
    finally:
        await admin.execute(f"DROP OWNED BY {group}")
        await admin.execute(f"DROP ROLE IF EXISTS {group}")


async def test_setting_up_the_group_waits_for_another_replica_doing_it(
    op_conn: asyncpg.Connection, platform_services: Platform
) -> None:
    other = await asyncpg.connect(platform_services.dsn(OPERATOR_ROLE, OPERATOR_PASSWORD))
    try:
        await other.execute("BEGIN")
        await other.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{database.MARKER}:group")
        task = asyncio.ensure_future(database.ensure_group(op_conn, TENANT_GROUP, PLATFORM_DB))
        done, _ = await asyncio.wait({task}, timeout=0.5)
        assert not done, "did not wait for the other replica"
        await other.execute("ROLLBACK")
        await asyncio.wait_for(task, 10)
    finally:
        await other.close()


async def test_a_group_already_set_up_gets_no_grant(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection
) -> None:
    before = await admin.fetchval("SELECT xmin::text FROM pg_database WHERE datname = $1", PLATFORM_DB)
    await database.ensure_group(op_conn, TENANT_GROUP, PLATFORM_DB)
    assert (
        await admin.fetchval("SELECT xmin::text FROM pg_database WHERE datname = $1", PLATFORM_DB) == before
    )


async def test_a_role_that_may_not_create_the_group_is_told_why(
    platform_services: Platform, admin: asyncpg.Connection
) -> None:
    weak, group = f"w_{uuid.uuid4().hex[:10]}", f"g_{uuid.uuid4().hex[:10]}"
    await admin.execute(f"CREATE ROLE {weak} LOGIN PASSWORD 'weak-password'")
    await admin.execute(f"GRANT CONNECT ON DATABASE {PLATFORM_DB} TO {weak}")
    try:
        conn = await asyncpg.connect(platform_services.dsn(weak, "weak-password"))
        try:
            with pytest.raises(database.GroupUnavailable) as refused:
                await database.ensure_group(conn, group, PLATFORM_DB)
        finally:
            await conn.close()
        assert str(refused.value).startswith(f"cannot set up tenant group role {group!r}: permission denied")
    finally:
        await admin.execute(f"REVOKE ALL ON DATABASE {PLATFORM_DB} FROM {weak}")
        await admin.execute(f"DROP ROLE {weak}")


async def test_a_group_the_operator_may_not_grant_is_reported(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection
) -> None:
    group = f"g_{uuid.uuid4().hex[:10]}"
    await admin.execute(f"CREATE ROLE {group} NOLOGIN")
    await admin.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {PLATFORM_DB} TO {group}")
    try:
        require_shipped_major(op_conn)
        with pytest.raises(database.GroupUnavailable, match=rf"GRANT {group} TO <operator role> WITH ADMIN"):
            await database.ensure_group(op_conn, group, PLATFORM_DB)
    finally:
        await admin.execute(f"REVOKE ALL ON DATABASE {PLATFORM_DB} FROM {group}")
        await admin.execute(f"DROP ROLE {group}")


async def test_the_operators_least_privilege_role_is_no_risk_on_postgresql_16(
    op_conn: asyncpg.Connection,
) -> None:
    risk = await database.operator_role_risk(op_conn)
    if await database.server_major(op_conn) >= 16:
        assert risk is None
    else:
        assert risk == database.CREATEROLE_BEFORE_16.format(version=await database.server_major(op_conn))


async def test_the_server_major_is_the_postgresql_major_version(op_conn: asyncpg.Connection) -> None:
    assert await database.server_major(op_conn) == op_conn.get_server_version().major


async def test_a_superuser_operator_role_is_reported_as_a_risk(platform_services: Platform) -> None:
    conn = await asyncpg.connect(platform_services.admin_dsn)
    try:
        assert await database.operator_role_risk(conn) == (
            "the operator's PostgreSQL role is a superuser; it needs only CREATEROLE"
        )
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def foreign_database(
    platform_services: Platform, admin: asyncpg.Connection, *owner_sql: str
) -> AsyncIterator[asyncpg.Connection]:
    """A database the connected role does not own; ``owner_sql`` runs there first as its owner."""
    suffix = uuid.uuid4().hex[:8]
    db, role = f"harden_{suffix}", f"harden_{suffix}"
    await admin.execute(f'CREATE DATABASE "{db}"')
    await admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'probe-{suffix}'")
    try:
        owner = await asyncpg.connect(str(platform_services.pg.dsn(dbname=db)))
        try:
            for sql in owner_sql:
                await owner.execute(sql)
        finally:
            await owner.close()
        conn = await asyncpg.connect(
            str(platform_services.pg.dsn(user=role, password=f"probe-{suffix}", dbname=db))
        )
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE "{db}"')
        await admin.execute(f'DROP ROLE "{role}"')


async def test_hardening_by_a_role_that_does_not_own_the_database_reports_what_public_keeps(
    platform_services: Platform, admin: asyncpg.Connection
) -> None:
    # PostgreSQL answers such a REVOKE with a WARNING only: the report must come from the catalog.
    async with foreign_database(platform_services, admin) as conn:
        problems = await database.harden_database(conn)
    assert problems == [
        "PUBLIC keeps USAGE on schema public: the operator's role does not own the database "
        "(pg_database_owner owns schema public)"
    ]


async def test_hardening_reports_every_right_public_keeps(
    platform_services: Platform, admin: asyncpg.Connection
) -> None:
    """A database whose owner gave PUBLIC CREATE on `public` (the default before PostgreSQL 15)."""
    async with foreign_database(platform_services, admin, "GRANT CREATE ON SCHEMA public TO PUBLIC") as conn:
        problems = await database.harden_database(conn)
    assert [p.split(" on schema public")[0] for p in problems] == ["PUBLIC keeps USAGE and CREATE"]


async def test_hardening_by_a_role_without_any_right_on_public_reports_the_refusal(
    platform_services: Platform, admin: asyncpg.Connection
) -> None:
    """PostgreSQL refuses (not warns) a REVOKE by a role that holds no right at all on the schema."""
    async with foreign_database(platform_services, admin, "REVOKE ALL ON SCHEMA public FROM PUBLIC") as conn:
        problems = await database.harden_database(conn)
    assert problems == ["cannot revoke PUBLIC's rights on schema public: permission denied for schema public"]


async def test_hardening_takes_create_on_public_from_everyone(
    op_conn: asyncpg.Connection, admin: asyncpg.Connection
) -> None:
    assert await database.harden_database(op_conn) == []
    assert not await admin.fetchval("SELECT has_schema_privilege('public', 'public', 'USAGE')")
