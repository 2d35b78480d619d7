"""The clientId rules: the one name that becomes a Postgres schema and role and a Redis prefix.

Because the id reaches SQL, ACL rules and Kubernetes names, every component validates it with
these rules and no other: the CRD's pattern and CEL rules say the same (a test compares them).
"""

from __future__ import annotations

import re
from typing import Final

CLIENT_ID_PATTERN: Final = r"^[a-z][a-z0-9_]{2,39}$"
CLIENT_ID_RE: Final = re.compile(CLIENT_ID_PATTERN)
# PostgreSQL reserves pg_* for system schemas and roles.
RESERVED_PREFIX: Final = "pg_"
# Names Postgres or the platform use themselves (`platform` holds the webhook's tables).
RESERVED_NAMES: Final = frozenset(
    {"public", "information_schema", "postgres", "default", "template0", "template1", "platform"}
)


class InvalidClientId(ValueError):
    """A client id that must never reach Postgres or Redis."""


def client_id_problem(value: object) -> str | None:
    """Why ``value`` cannot be a client id (a phrase to follow the id), or None when it can."""
    if not isinstance(value, str) or not CLIENT_ID_RE.fullmatch(value):
        return f"must match {CLIENT_ID_PATTERN}"
    if value.startswith(RESERVED_PREFIX) or value in RESERVED_NAMES:
        return "is reserved"
    return None


def is_valid_client_id(value: object) -> bool:
    return client_id_problem(value) is None


def validate_client_id(value: object) -> str:
    """Return the client id if it is safe as a schema, role and Redis prefix; raise otherwise."""
    problem = client_id_problem(value)
    if problem is not None:
        raise InvalidClientId(f"clientId {value!r} {problem}")
    return str(value)


def tenant_name(client_id: str) -> str:
    """The BookingTenant's name for a client id: a DNS-1123 label (no underscores there)."""
    return client_id.replace("_", "-")
