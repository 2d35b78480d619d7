"""The session's PostgreSQL must be the chart's major version; anything else is refused with
the way to get it, instead of the operator's group-role errors it led to on 15."""

from __future__ import annotations

from pathlib import Path

from harness.postgres import DEBIAN_PG15_BINDIR, PG_BINDIR, REQUIRED_MAJOR, server_major, version_problem


def test_the_sessions_server_is_the_charts_major_version() -> None:
    assert server_major(PG_BINDIR) == REQUIRED_MAJOR
    assert version_problem(PG_BINDIR) is None


def test_debians_postgresql_15_is_refused_with_the_way_to_16() -> None:
    assert (
        server_major(DEBIAN_PG15_BINDIR) == 15
    )  # CI installs Debian's server too (test_postgres_attacks.py)
    problem = version_problem(DEBIAN_PG15_BINDIR)
    assert problem is not None and "PostgreSQL 16" in problem and "hack/install-postgres.sh" in problem


def test_a_directory_without_a_server_is_refused_with_the_way_to_one(tmp_path: Path) -> None:
    problem = version_problem(tmp_path)
    assert problem is not None and "no PostgreSQL server" in problem and "hack/install-postgres.sh" in problem
