"""Fixtures for the booking bot's tests: the fake Bot API, tenant schemas and roles."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from harness.postgres import PgServer
from harness.telegram import FakeTelegram


@dataclass(frozen=True)
class Tenant:
    """A provisioned tenant: its own LOGIN role owning the schema named after the client id."""

    client_id: str
    password: str
    dsn: str


@pytest.fixture()
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


async def create_tenant(pg: PgServer, client_id: str | None = None) -> Tenant:
    """Do what the operator does for a tenant: role, schema it owns, its search_path."""
    client_id = client_id or f"t_{secrets.token_hex(6)}"
    password = secrets.token_hex(16)
    admin = await asyncpg.connect(pg.dsn())
    try:
        await admin.execute(f"CREATE ROLE \"{client_id}\" LOGIN PASSWORD '{password}'")
        await admin.execute(f'CREATE SCHEMA "{client_id}" AUTHORIZATION "{client_id}"')
        await admin.execute(f'ALTER ROLE "{client_id}" SET search_path = "{client_id}"')
    finally:
        await admin.close()
    return Tenant(client_id=client_id, password=password, dsn=pg.dsn(client_id, password))


async def drop_tenant(pg: PgServer, client_id: str) -> None:
    admin = await asyncpg.connect(pg.dsn())
    try:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{client_id}" CASCADE')
        await admin.execute(f'DROP OWNED BY "{client_id}" CASCADE')
        await admin.execute(f'DROP ROLE IF EXISTS "{client_id}"')
    finally:
        await admin.close()


@pytest.fixture()
async def tenant(pg_server: PgServer) -> AsyncIterator[Tenant]:
    created = await create_tenant(pg_server)
    try:
        yield created
    finally:
        await drop_tenant(pg_server, created.client_id)
