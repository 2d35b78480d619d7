"""values.yaml is documented line by line: every value has a `# --` comment above it (a value
that is a whole block, like `resources`, is documented once, above the block)."""

from __future__ import annotations

import re

from .conftest import CHART

KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z][A-Za-z0-9]*):(?P<value>.*)$")


def test_every_value_has_a_doc_comment() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    block_indent: int | None = None  # inside a value documented as a whole
    for number, line in enumerate(lines):
        match = KEY.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        if block_indent is not None and indent > block_indent:
            continue
        block_indent = None
        above = lines[number - 1].strip() if number else ""
        documented = above.startswith("#") and _doc_comment_above(lines, number)
        has_children = not match["value"].strip()
        if documented and has_children:
            block_indent = indent
        elif not documented and not has_children:
            undocumented.append(f"line {number + 1}: {line.strip()}")
    assert not undocumented, "values without a `# --` comment:\n" + "\n".join(undocumented)


def _doc_comment_above(lines: list[str], number: int) -> bool:
    """The comment block right above line `number` starts with `# --`."""
    index = number - 1
    while index >= 0 and lines[index].strip().startswith("#"):
        if lines[index].strip().startswith("# --"):
            return True
        index -= 1
    return False
