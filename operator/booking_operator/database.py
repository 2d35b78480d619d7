"""A tenant's PostgreSQL footprint: one schema and one login role, both named after clientId.

Runs with the operator's admin role, which needs only CREATEROLE and CREATE on the
database (what managed Postgres services grant). Every statement here is idempotent
and issued only when the catalog differs from the wanted state, so a periodic
reconcile of 1000 tenants costs two catalog lookups each.

Ownership is recorded in the schema's and role's comments, so two BookingTenants
claiming the same clientId never share data, and a schema retained after its
resource was deleted can be taken over again.

The chart revokes CONNECT on the database from PUBLIC. A tenant role gets CONNECT through
one group role (TENANT_GROUP_ROLE, `booking_tenants`) granted in the same transaction that
creates it, so the bot can log in after the first pass (not only after a resync), and the
database's ACL is one entry however many tenants there are. PgBouncer's auth_query answers
only for members of that group. Each role carries statement, lock and idle-in-transaction
timeouts and a connection limit; the timeouts are session defaults a hostile bot could SET
away, so `watchdog.py` enforces the same ceilings from outside.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from booking_contract.client_id import validate_client_id
from booking_operator.identifiers import quote_ident, quote_literal

MARKER = "bookingsaas.dev"
RETAINED = f"{MARKER} retained"


class ClientIdConflict(Exception):
    """The clientId's schema or role belongs to someone else; nothing was touched."""


class DeletionBlocked(Exception):
    """The role cannot be dropped yet (e.g. it owns objects in another database)."""


def owner_marker(namespace: str, name: str) -> str:
    return f"{MARKER} tenant={namespace}/{name}"


@dataclass(frozen=True)
class RoleLimits:
    """What one tenant role may use; timeouts in milliseconds (0 = none)."""

    connection_limit: int = 4
    statement_timeout_ms: int = 30_000
    idle_in_transaction_timeout_ms: int = 60_000
    lock_timeout_ms: int = 10_000

    def settings(self) -> dict[str, str]:
        return {
            "statement_timeout": str(int(self.statement_timeout_ms)),
            "idle_in_transaction_session_timeout": str(int(self.idle_in_transaction_timeout_ms)),
            "lock_timeout": str(int(self.lock_timeout_ms)),
        }


@dataclass(frozen=True)
class TenantDatabase:
    schema: str
    role: str
    created: bool  # the role or schema did not exist before this call


async def _lock(conn: asyncpg.Connection, client_id: str) -> None:
    """Serialise work on one clientId across operator replicas and concurrent handlers."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{MARKER}:{client_id}")


# Everything ensure_tenant needs to know about a clientId, in one round trip.
_STATE_QUERY = """
SELECT r.oid IS NOT NULL AS role_exists,
       r.rolcanlogin AS can_login,
       r.rolconnlimit AS connection_limit,
       r.rolconfig AS role_config,
       shobj_description(r.oid, 'pg_authid') AS role_comment,
       pg_get_userbyid(n.nspowner) AS schema_owner,
       obj_description(n.oid, 'pg_namespace') AS schema_comment,
       r.oid IS NOT NULL AND pg_has_role(current_user, r.oid, 'MEMBER') AS is_member,
       r.oid IS NOT NULL AND has_database_privilege(r.oid, $2, 'CONNECT') AS can_connect,
       r.rolinherit AS inherits,
       EXISTS (SELECT FROM pg_auth_members AS m JOIN pg_roles AS g ON g.oid = m.roleid
               WHERE m.member = r.oid AND g.rolname = $3) AS in_group,
       current_setting('server_version_num')::int AS server_version
FROM (SELECT $1::name AS id) AS wanted
LEFT JOIN pg_roles AS r ON r.rolname = wanted.id
LEFT JOIN pg_namespace AS n ON n.nspname = wanted.id
"""


def _claimable(comment: str | None, marker: str) -> bool:
    return comment in (marker, RETAINED)


async def ensure_tenant(
    conn: asyncpg.Connection,
    client_id: str,
    *,
    owner: str,
    password_verifier: str | None,
    limits: RoleLimits,
    database: str,
    group: str,
) -> TenantDatabase:
    """Create or repair the tenant's role and schema; set the password when a verifier is given.

    `owner` is the marker of the BookingTenant asking (see `owner_marker`). Raises
    ClientIdConflict, before changing anything, if the role or schema is not ours.
    """
    validate_client_id(client_id)
    q = quote_ident(client_id)
    async with conn.transaction():
        await _lock(conn, client_id)
        state = await conn.fetchrow(_STATE_QUERY, client_id, database, group)
        role_exists, schema_exists = state["role_exists"], state["schema_owner"] is not None
        if role_exists and not _claimable(state["role_comment"], owner):
            raise ClientIdConflict(_conflict_message("role", client_id, state["role_comment"]))
        if schema_exists and not _claimable(state["schema_comment"], owner):
            raise ClientIdConflict(_conflict_message("schema", client_id, state["schema_comment"]))
        if schema_exists and state["schema_owner"] != client_id:
            raise ClientIdConflict(
                f"schema {client_id!r} is owned by {state['schema_owner']!r}, not by the tenant role"
            )

        # Only what differs is changed, in one round trip (DDL takes no bind parameters:
        # the identifier is validated and quoted, the literals quoted).
        ddl: list[str] = []
        limit = int(limits.connection_limit)
        # PostgreSQL 16 sets inheritance per grant; before 16 the member role must INHERIT to
        # use the group's CONNECT (the group holds nothing else).
        per_grant_options = int(state["server_version"]) >= 160000
        inherit = "NOINHERIT" if per_grant_options else "INHERIT"
        if not role_exists:
            if password_verifier is None:
                raise ValueError("a new tenant role needs a password verifier")
            ddl.append(
                f"CREATE ROLE {q} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE {inherit} NOREPLICATION "
                f"CONNECTION LIMIT {limit} PASSWORD {quote_literal(password_verifier)}"
            )
        else:
            if not state["can_login"] or state["connection_limit"] != limit:
                ddl.append(f"ALTER ROLE {q} LOGIN CONNECTION LIMIT {limit}")
            if password_verifier is not None:
                ddl.append(f"ALTER ROLE {q} PASSWORD {quote_literal(password_verifier)}")
        if state["role_comment"] != owner:
            ddl.append(f"COMMENT ON ROLE {q} IS {quote_literal(owner)}")
        config = set(state["role_config"] or [])
        wanted_paths = {f"search_path={q}", f"search_path={client_id}"}  # Postgres drops needless quotes
        if not wanted_paths & config:
            ddl.append(f"ALTER ROLE {q} SET search_path = {q}")
        for setting, value in limits.settings().items():
            if f"{setting}={value}" not in config:
                ddl.append(f"ALTER ROLE {q} SET {setting} = {value}")
        if not state["in_group"]:
            if per_grant_options:
                ddl.append(f"GRANT {quote_ident(group)} TO {q} WITH INHERIT TRUE, SET FALSE")
            else:
                if role_exists and not state["inherits"]:
                    ddl.append(f"ALTER ROLE {q} INHERIT")
                ddl.append(f"GRANT {quote_ident(group)} TO {q}")
        # Membership lets the admin role create the schema for the tenant and, later, drop it.
        if not state["is_member"]:
            ddl.append(f"GRANT {q} TO CURRENT_USER")
        if not schema_exists:
            ddl.append(f"CREATE SCHEMA {q} AUTHORIZATION {q}")
        if state["schema_comment"] != owner:
            ddl.append(f"COMMENT ON SCHEMA {q} IS {quote_literal(owner)}")
        if ddl:
            await conn.execute(";\n".join(ddl))
    created = not role_exists or not schema_exists
    return TenantDatabase(schema=client_id, role=client_id, created=created)


def _conflict_message(kind: str, client_id: str, comment: str | None) -> str:
    if comment and comment.startswith(f"{MARKER} tenant="):
        return f"clientId {client_id!r} is already used by BookingTenant {comment.split('=', 1)[1]}"
    return f"a {kind} named {client_id!r} already exists and is not managed by booking-operator"


async def _disconnect(conn: asyncpg.Connection, client_id: str) -> None:
    q = quote_ident(client_id)
    await conn.execute(f"ALTER ROLE {q} NOLOGIN")
    await conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE usename = $1 AND pid <> pg_backend_pid()",
        client_id,
    )


async def retain_tenant(conn: asyncpg.Connection, client_id: str, *, owner: str) -> bool:
    """Keep the data, lock the door: the role can no longer log in; a later tenant may re-adopt it.

    Returns False when there was nothing of ours to retain.
    """
    validate_client_id(client_id)
    q = quote_ident(client_id)
    async with conn.transaction():
        await _lock(conn, client_id)
        role_comment = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1", client_id
        )
        if role_comment != owner:
            return False
        await _disconnect(conn, client_id)
        await conn.execute(f"COMMENT ON ROLE {q} IS {quote_literal(RETAINED)}")
        if await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", client_id):
            await conn.execute(f"COMMENT ON SCHEMA {q} IS {quote_literal(RETAINED)}")
    return True


async def drop_tenant(conn: asyncpg.Connection, client_id: str, *, owner: str) -> bool:
    """Drop the schema (with every table in it) and the role. Returns False if none was ours.

    Open sessions are terminated first; objects the role owns elsewhere in this
    database go with DROP OWNED. Objects in other databases block DROP ROLE: that
    raises DeletionBlocked with Postgres's own explanation, after everything else is
    committed, so a role waiting to be dropped is already NOLOGIN and its schema gone.
    """
    validate_client_id(client_id)
    q = quote_ident(client_id)
    blocked: str | None = None
    async with conn.transaction():
        await _lock(conn, client_id)
        role_comment = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1", client_id
        )
        schema_comment = await conn.fetchval(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1", client_id
        )
        ours_role = role_comment == owner
        ours_schema = schema_comment == owner
        if not ours_role and not ours_schema:
            return False
        if ours_role:
            await _disconnect(conn, client_id)
        if ours_schema:
            await conn.execute(f"DROP SCHEMA {q} CASCADE")
        if ours_role:
            await conn.execute(f"DROP OWNED BY {q}")
            try:
                async with conn.transaction():
                    await conn.execute(f"DROP ROLE {q}")
            except asyncpg.DependentObjectsStillExistError as exc:
                blocked = f"role {client_id!r} still owns objects: {exc.detail or exc}"
    if blocked is not None:
        raise DeletionBlocked(blocked)
    return True


class GroupUnavailable(Exception):
    """The tenant group role is missing and the operator may not create it."""


async def ensure_group(conn: asyncpg.Connection, group: str, database: str) -> None:
    """The group role tenants get CONNECT through: NOLOGIN, CONNECT and TEMPORARY on the database.

    The chart's bootstrap creates it as the superuser; on a managed server the operator
    (CREATEROLE, owner of the database) can create it itself.
    """
    q = quote_ident(group)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{MARKER}:group")
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", group)
        try:
            if not exists:
                await conn.execute(f"CREATE ROLE {q} NOLOGIN NOINHERIT")
                await conn.execute(f"COMMENT ON ROLE {q} IS {quote_literal(MARKER + ' tenant group')}")
            if not await conn.fetchval(
                "SELECT has_database_privilege($1, $2, 'CONNECT') "
                "AND has_database_privilege($1, $2, 'TEMPORARY')",
                group,
                database,
            ):  # TEMPORARY: the legacy importer stages rows in temporary tables
                await conn.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {quote_ident(database)} TO {q}")
            may_grant = await conn.fetchval(
                "SELECT rolsuper OR pg_has_role(current_user, $1, 'MEMBER WITH ADMIN OPTION') "
                "FROM pg_roles WHERE rolname = current_user",
                group,
            )
            if not may_grant:
                raise GroupUnavailable(
                    f"the operator's role may not grant {group!r}: "
                    f"GRANT {group} TO <operator role> WITH ADMIN OPTION"
                )
        except asyncpg.InsufficientPrivilegeError as exc:
            raise GroupUnavailable(f"cannot set up tenant group role {group!r}: {exc}") from exc


CREATEROLE_BEFORE_16 = (
    "PostgreSQL {version} (before 16): CREATEROLE lets the operator's role grant itself any "
    "non-superuser role, including pg_execute_server_program and pg_read_all_data"
)


async def server_major(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT current_setting('server_version_num')::int")) // 10000


async def operator_role_risk(conn: asyncpg.Connection) -> str | None:
    """A sentence when the operator's role is more powerful than provisioning needs, else None."""
    row = await conn.fetchrow("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
    if row["rolsuper"]:
        return "the operator's PostgreSQL role is a superuser; it needs only CREATEROLE"
    major = await server_major(conn)
    if row["rolcreaterole"] and major < 16:
        return CREATEROLE_BEFORE_16.format(version=major)
    return None


async def harden_database(conn: asyncpg.Connection) -> list[str]:
    """Take away what PUBLIC gets by default on `public`; returns what could not be done.

    Needs the admin role to own the database (pg_database_owner owns `public` since
    PostgreSQL 15); otherwise it is skipped and reported, and `public` keeps the
    PostgreSQL 15 defaults (USAGE only, no CREATE).
    """
    problems: list[str] = []
    try:
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
    except asyncpg.InsufficientPrivilegeError as exc:
        problems.append(f"cannot revoke PUBLIC's rights on schema public: {exc}")
        return problems
    # A role that does not own the schema gets only a WARNING ("no privileges could be
    # revoked"), not an error: ask the catalog whether PUBLIC really lost its rights.
    kept = [
        privilege
        for privilege in ("USAGE", "CREATE")
        if await conn.fetchval("SELECT has_schema_privilege('public', 'public', $1)", privilege)
    ]
    if kept:
        problems.append(
            f"PUBLIC keeps {' and '.join(kept)} on schema public: the operator's role does not own "
            "the database (pg_database_owner owns schema public)"
        )
    return problems
