"""Tenant passwords: generated here, stored only in the tenant Secret.

Postgres and Redis receive only verifiers (a SCRAM-SHA-256 verifier, a SHA-256
hash), so a password never appears in a server's statement log or ACL file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRAM_ITERATIONS = 4096  # PostgreSQL's default scram_iterations


def generate() -> str:
    """A 256-bit random password, URL-safe so it can sit in a DSN unescaped."""
    return secrets.token_urlsafe(32)


def scram_sha256_verifier(
    password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS
) -> str:
    """The verifier PostgreSQL stores for `password` (RFC 5802/7677, as pg_authid has it)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    keys = f"{b64(stored_key).decode()}:{b64(server_key).decode()}"
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${keys}"


def redis_acl_hash(password: str) -> str:
    """The form `ACL SETUSER ... #<hash>` takes: hex SHA-256 of the password."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def fingerprint(*passwords: str) -> str:
    """A short, non-reversible tag telling whether a set of passwords was applied."""
    return hashlib.sha256("\x00".join(passwords).encode("utf-8")).hexdigest()[:16]
