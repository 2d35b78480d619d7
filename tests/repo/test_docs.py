"""Every command, make target, environment variable, path and link the docs name exists.

The docs are README.md, docs/*.md and the chart's README. The checks live in doc_claims.py;
the made-up examples below show that each of them does fail on a name that does not exist.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .doc_claims import (
    DOCS,
    ROOT,
    all_problems,
    check_env_names,
    check_env_tables,
    check_links,
    check_make_targets,
    check_paths,
    check_python_modules,
)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_everything_the_doc_names_exists(doc: Path) -> None:
    assert all_problems(doc) == []


def test_commands_and_knobs_of_the_code_are_documented() -> None:
    everything = "\n".join(doc.read_text() for doc in DOCS)
    for claim in (
        "python -m booking_bot run",
        "python -m booking_webhook serve",
        "--jobs",
        "PG_BINDIR",
        "E2E_FULLNAME",
        "make demo",
    ):
        assert claim in everything, claim


def test_a_made_up_make_target_is_reported() -> None:
    assert check_make_targets("run `make frobnicate`") == [
        "`make frobnicate`: no such target in the Makefile"
    ]
    assert (
        check_make_targets("```sh\nBOT_TOKEN=x make up   # a comment, make believe\nmake lint test\n```")
        == []
    )


def test_a_made_up_module_subcommand_or_flag_is_reported() -> None:
    assert check_python_modules("`python -m booking_nothing`") == [
        "`python -m booking_nothing`: no such module"
    ]
    assert check_python_modules("`python -m booking_bot frobnicate --no-such-flag`") == [
        "`python -m booking_bot ... frobnicate`: booking_bot knows no 'frobnicate'",
        "`python -m booking_bot ... --no-such-flag`: booking_bot knows no '--no-such-flag'",
    ]
    assert check_python_modules("`.venv/bin/python -m booking_bot migrate`") == []


def test_a_made_up_variable_in_a_configuration_table_is_reported() -> None:
    table = "| variable | meaning |\n|---|---|\n| `DB_POOL_MIN`, `DB_POOL_MAXIMUM` | pool |\n"
    assert check_env_tables(table) == [
        "`DB_POOL_MAXIMUM` (configuration table): no settings class or environment lookup reads it"
    ]
    assert check_env_tables("| variable | x |\n|---|---|\n| `TENANT_DATABASE_HOST` / `_PORT` | |\n") == []


def test_a_made_up_variable_name_anywhere_is_reported() -> None:
    assert check_env_names("set `BOOKING_NO_SUCH_KNOB=1`") == [
        "`BOOKING_NO_SUCH_KNOB`: named in the docs, found nowhere in the code"
    ]


def test_a_made_up_path_is_reported() -> None:
    assert check_paths("see `hack/no-such-script.sh` and `tests/harness/telegram.py`") == [
        "`hack/no-such-script.sh`: no such file or directory"
    ]


def test_a_broken_link_or_anchor_is_reported() -> None:
    source = ROOT / "README.md"
    assert check_links(
        "[a](docs/nothing.md) [b](docs/bot.md#no-such-heading) [c](docs/bot.md#benchmark)", source
    ) == [
        "link (docs/nothing.md): docs/nothing.md does not exist",
        "link (docs/bot.md#no-such-heading): no heading #no-such-heading in docs/bot.md",
    ]
