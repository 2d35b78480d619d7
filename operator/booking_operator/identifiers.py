"""Quoting of the names and values that reach SQL DDL (which takes no bind parameters).

Which names are allowed at all is the platform's contract: booking_contract.client_id.
"""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """SQL identifier quoting (as PostgreSQL's quote_ident, always quoting)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """SQL string literal quoting for DDL, which takes no bind parameters."""
    if "\x00" in value:
        raise ValueError("NUL byte in SQL literal")
    return "'" + value.replace("'", "''") + "'"
