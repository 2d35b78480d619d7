"""A tenant's PostgreSQL footprint: one schema and one login role, both named after clientId.

Runs with the operator's admin role, which needs only CREATEROLE and CREATE on the
database (what managed Postgres services grant). Every statement here is idempotent
and issued only when the catalog differs from the wanted state, so a periodic
reconcile of 1000 tenants costs two catalog lookups each.

Ownership is recorded in the schema's and role's comments, so two BookingTenants
claiming the same clientId never share data, and a schema retained after its
resource was deleted can be taken over again.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from booking_operator.identifiers import quote_ident, quote_literal, validate_client_id

MARKER = "bookingsaas.dev"
RETAINED = f"{MARKER} retained"


class ClientIdConflict(Exception):
    """The clientId's schema or role belongs to someone else; nothing was touched."""


class DeletionBlocked(Exception):
    """The role cannot be dropped yet (e.g. it owns objects in another database)."""


def owner_marker(namespace: str, name: str) -> str:
    return f"{MARKER} tenant={namespace}/{name}"


@dataclass(frozen=True)
class TenantDatabase:
    schema: str
    role: str
    created: bool  # the role or schema did not exist before this call


async def _lock(conn: asyncpg.Connection, client_id: str) -> None:
    """Serialise work on one clientId across operator replicas and concurrent handlers."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{MARKER}:{client_id}")


def _claimable(comment: str | None, marker: str) -> bool:
    return comment in (marker, RETAINED)


async def ensure_tenant(
    conn: asyncpg.Connection,
    client_id: str,
    *,
    owner: str,
    password_verifier: str | None,
    connection_limit: int,
    database: str,
) -> TenantDatabase:
    """Create or repair the tenant's role and schema; set the password when a verifier is given.

    `owner` is the marker of the BookingTenant asking (see `owner_marker`). Raises
    ClientIdConflict, before changing anything, if the role or schema is not ours.
    """
    validate_client_id(client_id)
    q = quote_ident(client_id)
    created = False
    async with conn.transaction():
        await _lock(conn, client_id)
        role = await conn.fetchrow(
            "SELECT rolcanlogin, rolconnlimit, rolconfig, shobj_description(oid, 'pg_authid') AS comment "
            "FROM pg_roles WHERE rolname = $1",
            client_id,
        )
        schema = await conn.fetchrow(
            "SELECT pg_get_userbyid(nspowner) AS owner, obj_description(oid, 'pg_namespace') AS comment "
            "FROM pg_namespace WHERE nspname = $1",
            client_id,
        )
        if role is not None and not _claimable(role["comment"], owner):
            raise ClientIdConflict(_conflict_message("role", client_id, role["comment"]))
        if schema is not None and not _claimable(schema["comment"], owner):
            raise ClientIdConflict(_conflict_message("schema", client_id, schema["comment"]))
        if schema is not None and schema["owner"] != client_id:
            raise ClientIdConflict(
                f"schema {client_id!r} is owned by {schema['owner']!r}, not by the tenant role"
            )

        if role is None:
            if password_verifier is None:
                raise ValueError("a new tenant role needs a password verifier")
            await conn.execute(
                f"CREATE ROLE {q} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION "
                f"CONNECTION LIMIT {int(connection_limit)} PASSWORD {quote_literal(password_verifier)}"
            )
            created = True
        else:
            if not role["rolcanlogin"] or role["rolconnlimit"] != connection_limit:
                await conn.execute(f"ALTER ROLE {q} LOGIN CONNECTION LIMIT {int(connection_limit)}")
            if password_verifier is not None:
                await conn.execute(f"ALTER ROLE {q} PASSWORD {quote_literal(password_verifier)}")
        if role is None or role["comment"] != owner:
            await conn.execute(f"COMMENT ON ROLE {q} IS {quote_literal(owner)}")
        wanted_paths = {f"search_path={q}", f"search_path={client_id}"}  # Postgres drops needless quotes
        if role is None or not wanted_paths & set(role["rolconfig"] or []):
            await conn.execute(f"ALTER ROLE {q} SET search_path = {q}")
        # Membership lets the admin role create the schema for the tenant and, later, drop it.
        if not await conn.fetchval("SELECT pg_has_role(current_user, $1, 'MEMBER')", client_id):
            await conn.execute(f"GRANT {q} TO CURRENT_USER")
        if schema is None:
            await conn.execute(f"CREATE SCHEMA {q} AUTHORIZATION {q}")
            created = True
        if schema is None or schema["comment"] != owner:
            await conn.execute(f"COMMENT ON SCHEMA {q} IS {quote_literal(owner)}")
        if not await conn.fetchval("SELECT has_database_privilege($1, $2, 'CONNECT')", client_id, database):
            await conn.execute(f"GRANT CONNECT ON DATABASE {quote_ident(database)} TO {q}")
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
    raises DeletionBlocked with Postgres's own explanation.
    """
    validate_client_id(client_id)
    q = quote_ident(client_id)
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
                raise DeletionBlocked(f"role {client_id!r} still owns objects: {exc.detail or exc}") from exc
    return True


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
