"""New tenant identifiers: a clientId nobody can guess (the rules it obeys: booking_contract)."""

from __future__ import annotations

import base64
import secrets

from booking_contract.client_id import InvalidClientId, validate_client_id


def new_client_id() -> str:
    """`client_` + 10 random base32 characters (50 bits): valid, DNS-friendly, unguessable."""
    suffix = base64.b32encode(secrets.token_bytes(10)).decode().lower().rstrip("=")[:10]
    try:
        return validate_client_id(f"client_{suffix}")
    except InvalidClientId as exc:  # cannot happen: base32 is [a-z2-7]; say so loudly if it ever does
        raise RuntimeError(f"generated an invalid client id: {exc}") from exc
