"""The PgBouncer the bot's tests run through (tests/harness/pgbouncer.py) is the chart's.

tests/bot/test_pgbouncer.py is evidence for the chart's transaction pooling only as long as the
harness configures PgBouncer the same way: every setting the harness sets must have the value
the chart renders, except the pool sizes (scaled to a test) and the two settings Debian's
PgBouncer 1.18 does not know (``auth_dbname``, ``max_prepared_statements``: see the harness).
"""

from __future__ import annotations

from harness.pgbouncer import SETTINGS

from .conftest import Manifest, by_kind

SCALED = {"default_pool_size", "server_idle_timeout"}


def _ini(rendered: dict[str, list[Manifest]], scenario: str) -> dict[str, str]:
    (config,) = [
        c for c in by_kind(rendered[scenario], "ConfigMap") if c["metadata"]["name"].endswith("-pgbouncer")
    ]
    settings: dict[str, str] = {}
    for line in config["data"]["pgbouncer.ini"].splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith(("#", "[")):
            settings[key.strip()] = value.strip()
    return settings


def test_the_harness_pgbouncer_has_the_charts_settings_in_transaction_mode(
    rendered: dict[str, list[Manifest]],
) -> None:
    chart = _ini(rendered, "pgbouncer-external-db")  # the scenario with poolMode: transaction
    assert chart["pool_mode"] == "transaction"
    for key, value in SETTINGS.items():
        if key not in SCALED:
            assert chart.get(key) == value, key


def test_the_charts_pgbouncer_keeps_named_statements_across_transactions(
    rendered: dict[str, list[Manifest]],
) -> None:
    assert int(_ini(rendered, "pgbouncer-external-db")["max_prepared_statements"]) > 0
