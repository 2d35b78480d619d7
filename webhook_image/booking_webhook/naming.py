"""Tenant identifiers: a clientId matching the CRD pattern and the object names derived from it."""

from __future__ import annotations

import base64
import re
import secrets

CLIENT_ID_RE = re.compile(r"^[a-z][a-z0-9_]{2,39}$")
RESERVED = {"public", "information_schema", "postgres", "default", "template0", "template1"}


def new_client_id() -> str:
    """`client_` + 10 random base32 characters (50 bits): valid, DNS-friendly, unguessable."""
    suffix = base64.b32encode(secrets.token_bytes(10)).decode().lower().rstrip("=")[:10]
    client_id = f"client_{suffix}"
    assert is_valid_client_id(client_id)
    return client_id


def is_valid_client_id(client_id: str) -> bool:
    return (
        bool(CLIENT_ID_RE.fullmatch(client_id))
        and not client_id.startswith("pg_")
        and client_id not in RESERVED
    )


def tenant_name(client_id: str) -> str:
    """The BookingTenant's name: a DNS label (<= 48 chars) derived from the clientId."""
    return client_id.replace("_", "-")


def token_secret_name(name: str) -> str:
    return f"{name}-bot-token"
