"""Passwords reach Postgres and Redis only as verifiers, and those verifiers are the real thing."""

from __future__ import annotations

import base64
import hashlib
import hmac

from booking_contract.client_id import InvalidClientId, validate_client_id
from booking_operator import passwords
from booking_operator.identifiers import quote_ident, quote_literal


def test_scram_verifier_has_postgres_format_and_checks_out_against_rfc_5802() -> None:
    salt = b"0123456789abcdef"
    verifier = passwords.scram_sha256_verifier("pencil", salt=salt, iterations=4096)
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt_b64 = iterations_salt.split(":")
    stored_b64, server_b64 = keys.split(":")
    assert method == "SCRAM-SHA-256"
    assert int(iterations) == 4096
    assert base64.b64decode(salt_b64) == salt
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    assert base64.b64decode(stored_b64) == hashlib.sha256(client_key).digest()
    assert base64.b64decode(server_b64) == hmac.new(salted, b"Server Key", "sha256").digest()


def test_each_verifier_gets_its_own_salt() -> None:
    assert passwords.scram_sha256_verifier("same") != passwords.scram_sha256_verifier("same")


def test_generated_passwords_are_long_random_and_dsn_safe() -> None:
    generated = {passwords.generate() for _ in range(100)}
    assert len(generated) == 100
    assert all(len(p) >= 43 and p.replace("-", "").replace("_", "").isalnum() for p in generated)


def test_redis_acl_hash_is_sha256_hex() -> None:
    assert passwords.redis_acl_hash("x") == hashlib.sha256(b"x").hexdigest()


def test_client_ids_that_are_reserved_or_malformed_are_refused() -> None:
    for bad in ("pg_catalog", "public", "default", "Client", "1abc", "ab", "a-b", 'x"; DROP', "a" * 41, None):
        try:
            validate_client_id(bad)
        except InvalidClientId:
            continue
        raise AssertionError(f"{bad!r} was accepted")
    assert validate_client_id("client_001") == "client_001"


def test_quoting_neutralises_embedded_quotes() -> None:
    assert quote_ident('we"ird') == '"we""ird"'
    assert quote_literal("it's") == "'it''s'"


def test_transient_failures_back_off_doubling_up_to_five_minutes() -> None:
    from typing import Any, cast

    from booking_operator.platform import Platform

    platform = Platform(*(cast(Any, None) for _ in range(5)))
    delays = [platform.backoff("uid", 15) for _ in range(7)]
    assert delays == [15, 30, 60, 120, 240, 300, 300]
    platform.forget("uid")
    assert platform.backoff("uid", 15) == 15
