"""Validation and quoting of the names that reach SQL, Redis ACL rules and Kubernetes."""

from __future__ import annotations

import re

CLIENT_ID_RE = re.compile(r"^[a-z][a-z0-9_]{2,39}$")
RESERVED_CLIENT_IDS = frozenset(
    {"public", "information_schema", "postgres", "default", "template0", "template1", "platform"}
)


class InvalidClientId(ValueError):
    """A client id that must never reach Postgres or Redis."""


def validate_client_id(client_id: object) -> str:
    """Return the client id if it is safe as a schema, role and Redis prefix; raise otherwise."""
    if not isinstance(client_id, str) or not CLIENT_ID_RE.fullmatch(client_id):
        raise InvalidClientId(f"clientId {client_id!r} must match {CLIENT_ID_RE.pattern}")
    if client_id.startswith("pg_") or client_id in RESERVED_CLIENT_IDS:
        raise InvalidClientId(f"clientId {client_id!r} is reserved")
    return client_id


def quote_ident(name: str) -> str:
    """SQL identifier quoting (as PostgreSQL's quote_ident, always quoting)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """SQL string literal quoting for DDL, which takes no bind parameters."""
    if "\x00" in value:
        raise ValueError("NUL byte in SQL literal")
    return "'" + value.replace("'", "''") + "'"


def dns_name(client_id: str) -> str:
    """A DNS-1123 label derived from a client id (underscores are not allowed there)."""
    return client_id.replace("_", "-")
