"""The table of one mutation run (hack/mutation.sh), from mutmut's own result files.

Run in a component's staging directory (`.mutation/<component>`). Prints, per mutated module:
mutants, killed, survived, timeouts, not reached by the selected tests, the kill rate
killed / (killed + survived), and the survivors with their diffs.

One kind of survivor is recognised as equivalent by rule, because no test can tell it apart:
a case change inside an SQL statement that touches no quoted literal or identifier
(`SELECT` -> `select`, `booked_slots` -> `BOOKED_SLOTS`: PostgreSQL folds unquoted names and
keywords to lower case). It is marked `sql-case`; a case change of `'confirmed'` is not.
A component may also name exceptions whose message no code reads (`[tool.mutation_report]
unread_messages` in hack/mutation/<component>.toml, with the reason): a mutant that changes
only such a message is marked `message`. Survivors a person judged equivalent are named with the
reason (`[tool.mutation_report] equivalent`, mutant name -> one line) and marked `named`; a named
mutant that a test kills, or that no longer exists, is reported, so the list cannot go stale unseen.
Every other survivor is listed for a person to judge (docs/testing.md lists the verdicts).
`--names FILE` restricts the table to the mutants FILE names (a sample of the module).
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

from mutmut.mutation.diff_apply import get_diff_for_mutant

KILLED = {1, 3}
SURVIVED = {0}
TIMEOUT = {36, -24, 24, 152, 255}
NOT_REACHED = {33, 5}
SQL_KEYWORD = re.compile(
    r"\b(SELECT|UPDATE|DELETE|INSERT|WHERE|FROM|JOIN|AND|GROUP BY|ORDER BY|FOR UPDATE|RETURNING"
    r"|VALUES|SET)\b",
)  # upper case, as the code base writes SQL: English messages ("from", "and") do not count
QUOTED = re.compile(r"'[^']*'|\"\"[^\"]*\"\"|\\\"[^\"]*\\\"")


def changed_lines(diff: str) -> tuple[str, str]:
    removed = [line[1:] for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return "\n".join(removed), "\n".join(added)


def sql_case_only(diff: str) -> bool:
    """The mutant only changes the case of SQL keywords or unquoted names."""
    before, after = changed_lines(diff)
    if not before or before == after or not SQL_KEYWORD.search(before):
        return False
    # Inside the Python string, SQL literals are single-quoted: they must be untouched.
    inner_before = re.sub(r"^[^\"]*\"|\"[^\"]*$", "", before)
    inner_after = re.sub(r"^[^\"]*\"|\"[^\"]*$", "", after)
    if QUOTED.findall(inner_before) != QUOTED.findall(inner_after):
        return False
    return QUOTED.sub("''", before).lower() == QUOTED.sub("''", after).lower()


RAISE = re.compile(r"^\s*raise (\w+)\(")


def unread_message(diff: str, unread: set[str]) -> bool:
    """The mutant only changes the message of an exception the component reads by type only."""
    before, after = changed_lines(diff)
    first, second = RAISE.match(before), RAISE.match(after)
    return bool(first and second and first.group(1) == second.group(1) and first.group(1) in unread)


def report_config() -> dict[str, Any]:
    config: dict[str, Any] = (
        tomllib.loads(Path("pyproject.toml").read_text()).get("tool", {}).get("mutation_report", {})
    )
    return config


def unread_exceptions() -> set[str]:
    return {str(name) for name in report_config().get("unread_messages", [])}


def named_equivalents() -> dict[str, str]:
    return {str(name): str(reason) for name, reason in report_config().get("equivalent", {}).items()}


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def sample(argv: list[str]) -> set[str] | None:
    """`--names FILE`: count only the mutants FILE names, one a line (a systematic sample)."""
    if "--names" not in argv:
        return None
    return set(Path(argv[argv.index("--names") + 1]).read_text().split())


def main(argv: list[str]) -> int:
    show_all = "--all" in argv
    names = sample(argv)
    unread = unread_exceptions()
    named = named_equivalents()
    verdicts: dict[str, int | None] = {}
    rows = []
    survivors: list[tuple[str, str, str]] = []
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        verdicts.update(codes)
        source = meta.with_suffix("")
        module = str(source.relative_to("mutants"))
        counts: Counter[str] = Counter()
        if names is not None:
            codes = {name: code for name, code in codes.items() if name in names}
        for name, code in codes.items():
            if code in KILLED:
                counts["killed"] += 1
            elif code in SURVIVED:
                counts["survived"] += 1
                diff = get_diff_for_mutant(name, path=source.relative_to("mutants"))
                kind = (
                    "named"
                    if name in named
                    else "sql-case"
                    if sql_case_only(diff)
                    else "message"
                    if unread_message(diff, unread)
                    else "judge"
                )
                counts[kind] += 1
                survivors.append((name, kind, diff))
            elif code in TIMEOUT:
                counts["timeout"] += 1
            elif code in NOT_REACHED:
                counts["not reached"] += 1
            elif code is None:
                counts["not checked"] += 1
            else:
                counts["other"] += 1
        tried = counts["killed"] + counts["survived"]
        rate = f"{100 * counts['killed'] / tried:.1f} %" if tried else "-"
        judged = tried - counts["sql-case"] - counts["message"] - counts["named"]
        rate_judged = f"{100 * counts['killed'] / judged:.1f} %" if judged else "-"
        rows.append(
            f"| `{module}` | {len(codes)} | {counts['killed']} | {counts['survived']} "
            f"({counts['sql-case']} sql-case, {counts['message']} message, {counts['named']} named) "
            f"| {counts['timeout']} "
            f"| {rate} | {rate_judged} "
            f"| {counts['not reached']} |"
            + (f" not checked: {counts['not checked']}" if counts["not checked"] else "")
        )
    out("| module | mutants | killed | survived | timeouts | kill rate | without equivalent | not reached |")
    out("|---|---|---|---|---|---|---|---|")
    out("\n".join(rows))
    out()
    for name, kind, diff in survivors:
        if kind != "judge" and not show_all:
            continue
        before, after = changed_lines(diff)
        reason = f" {named[name]}" if kind == "named" else ""
        out(f"## {name} [{kind}]{reason}\n- {before.strip()}\n+ {after.strip()}")
    for name in sorted(named):
        if name not in verdicts:
            out(f"## {name} [named equivalent, but no such mutant: the code moved, name it again]")
        elif verdicts[name] in KILLED:
            out(f"## {name} [named equivalent, but a test kills it: drop it from the list]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
