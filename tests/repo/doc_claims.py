"""What the docs claim exists, checked against the tree: make targets, `python -m` modules and
their subcommands and flags, environment variables, file paths and links.

Each ``check_*`` function takes a document's text and returns the claims that are false, as
one-line strings, so the tests can run them over the real docs and over made-up text alike.
What counts as "exists" is read from the code itself (the Makefile's targets, the settings
classes' fields and aliases by AST, `os.environ` lookups), never from a hand-kept list.
"""

from __future__ import annotations

import ast
import functools
import importlib.machinery
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "charts/booking-saas/README.md"]
# Where code that reads the environment lives (packages that do not exist yet are skipped).
CODE_DIRS = ["operator", "bot_image", "webhook_image", "contract", "legacy_migration", "tests", "hack"]

ENV_NAME = re.compile(r"(?<![A-Za-z0-9_./$-])[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+(?![A-Za-z0-9_(])")
INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")
PATH_TOKEN = re.compile(
    r"^(?:\.github|\.ci|bot_image|charts|contract|crds|docs|hack|legacy_migration|operator|tests|webhook_image)"
    r"/[\w./-]*$|^(?:Makefile|README\.md|CHANGELOG\.md|pyproject\.toml|requirements-dev\.txt)$"
)


# ---- what the code has ---------------------------------------------------------------------------
@functools.cache
def make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"^([a-z][a-z0-9-]*):(?!=)", text, re.M))


def _python_files() -> Iterator[Path]:
    """The code, without these checks' own tests (their made-up names must stay made up)."""
    own = Path(__file__).parent
    for directory in CODE_DIRS:
        base = ROOT / directory
        if base.is_dir():
            yield from (p for p in base.rglob("*.py") if ".venv" not in p.parts and p.parent != own)


def _settings_env_names(tree: ast.AST) -> Iterator[str]:
    """Environment names of pydantic BaseSettings classes: alias if given, else prefix + field."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        if not any(getattr(base, "id", getattr(base, "attr", "")) == "BaseSettings" for base in node.bases):
            continue
        prefix = ""
        fields: list[ast.AnnAssign] = []
        for statement in node.body:
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                if statement.target.id == "model_config" and isinstance(statement.value, ast.Call):
                    for keyword in statement.value.keywords:
                        if keyword.arg == "env_prefix" and isinstance(keyword.value, ast.Constant):
                            prefix = str(keyword.value.value)
                else:
                    fields.append(statement)
        for field in fields:
            aliases = [
                str(const.value)
                for keyword in (field.value.keywords if isinstance(field.value, ast.Call) else [])
                if keyword.arg in ("alias", "validation_alias")
                for const in ast.walk(keyword.value)
                if isinstance(const, ast.Constant) and isinstance(const.value, str)
            ]
            assert isinstance(field.target, ast.Name)
            yield from (a.upper() for a in aliases) if aliases else [(prefix + field.target.id).upper()]


def _environ_lookups(tree: ast.AST) -> Iterator[str]:
    """``os.environ.get("X")``, ``os.environ["X"]``, ``os.getenv("X")``, ``env.get("X")``."""
    for node in ast.walk(tree):
        key: ast.expr | None = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if node.func.attr in ("get", "getenv", "pop", "setdefault"):
                key = node.args[0]
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "environ"
        ):
            key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and ENV_NAME.fullmatch(key.value):
            yield key.value


@functools.cache
def env_names_read() -> frozenset[str]:
    """Every environment variable some settings class or environment lookup reads."""
    names: set[str] = set()
    for path in _python_files():
        tree = ast.parse(path.read_text())
        names.update(_settings_env_names(tree))
        names.update(_environ_lookups(tree))
    return frozenset(names)


@functools.cache
def names_in_code() -> frozenset[str]:
    """Every upper-case name anywhere in code, scripts, the Makefile and the chart's templates."""
    files = [*_python_files(), ROOT / "Makefile", ROOT / ".ci/run", *(ROOT / "hack").rglob("*.sh")]
    files += [*(ROOT / "charts").rglob("*.yaml"), *(ROOT / "charts").rglob("*.tpl")]
    files += [p for p in ROOT.glob("*/Dockerfile")]
    names: set[str] = set()
    for path in files:
        names.update(ENV_NAME.findall(path.read_text(errors="replace")))
    return frozenset(names)


# ---- what the docs say -----------------------------------------------------------------------------
def code_spans(text: str) -> list[str]:
    """Inline code and every line of fenced blocks: where commands and names are written."""
    spans = INLINE_CODE.findall(FENCE.sub("", text))
    for block in FENCE.findall(text):
        spans.extend(block.splitlines())
    return spans


def _command_words(span: str, command: str) -> Iterator[list[str]]:
    """The words after each ``command`` (a regex) in a span, up to a comment or a shell operator."""
    for match in re.finditer(rf"{command}\s+(.*)", span):
        rest = re.split(r"\s#|[;&|)]|\s\\$", match.group(1))[0]
        yield rest.split()


def check_make_targets(text: str) -> list[str]:
    problems = []
    for span in code_spans(text):
        # `make` where a command starts (after `VAR=value` prefixes), not `apt-get install make ...`
        for words in _command_words(span, r"(?:^|[;&|(])\s*(?:[A-Z_][A-Z0-9_]*=\S*\s+)*make"):
            for word in words:
                if "=" in word or word.startswith("-"):
                    continue
                if not re.fullmatch(r"[a-z][a-z0-9-]*", word):
                    break
                if word not in make_targets():
                    problems.append(f"`make {word}`: no such target in the Makefile")
    return problems


def _find_spec(module: str) -> importlib.machinery.ModuleSpec | None:
    try:
        return importlib.util.find_spec(module)
    except ModuleNotFoundError:  # a parent is missing, or is a module rather than a package
        return None


def _module_sources(module: str) -> list[Path]:
    """The module's own source: its file, or every file of its package."""
    spec = _find_spec(module)
    if spec is None or spec.origin is None:
        return []
    origin = Path(spec.origin)
    return sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]


def check_python_modules(text: str) -> list[str]:
    """``python -m pkg [subcommand] [--flag]``: the module runs, and knows the subcommand and flags."""
    problems = []
    for span in code_spans(text):
        for words in _command_words(span, r"(?:^|[\s;&|(/])python[0-9.]*\s+-m"):
            if not words or not re.fullmatch(r"[a-z_][a-z0-9_.]*", words[0]):
                continue
            module, args = words[0], words[1:]
            if module in ("pytest", "venv", "pip", "check_jsonschema"):
                continue
            spec = _find_spec(module)
            runnable = spec is not None and (
                spec.submodule_search_locations is None or _find_spec(f"{module}.__main__") is not None
            )
            if not runnable:
                problems.append(f"`python -m {module}`: no such module")
                continue
            source = "".join(path.read_text() for path in _module_sources(module))
            # The first word may be a subcommand; flags anywhere (the word after one may be its value).
            for position, arg in enumerate(args):
                flag = re.fullmatch(r"--[a-z][a-z-]*", arg) is not None
                subcommand = position == 0 and re.fullmatch(r"[a-z][a-z-]+", arg) is not None
                if (flag or subcommand) and f'"{arg}"' not in source:
                    problems.append(f"`python -m {module} ... {arg}`: {module} knows no {arg!r}")
    return problems


def env_table_names(text: str) -> list[str]:
    """Names in the first column of tables headed ``| variable |`` (``_PORT`` continues ``X_HOST``)."""
    names = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not (line.startswith("|") and line.split("|")[1].strip().lower() == "variable"):
            continue
        for row in lines[index + 2 :]:
            if not row.startswith("|"):
                break
            previous = ""
            for token in re.findall(r"`([^`]+)`", row.split("|")[1]):
                if token.startswith("_") and previous:
                    token = previous.rsplit("_", 1)[0] + token
                names.append(token)
                previous = token
    return names


def check_env_tables(text: str) -> list[str]:
    return [
        f"`{name}` (configuration table): no settings class or environment lookup reads it"
        for name in env_table_names(text)
        if name not in env_names_read()
    ]


def check_env_names(text: str) -> list[str]:
    """Every upper-case NAME_LIKE_THIS in inline code appears in the code (env, Secret key, value)."""
    problems = []
    for span in INLINE_CODE.findall(FENCE.sub("", text)):
        for name in ENV_NAME.findall(span):
            if name not in names_in_code() and name not in env_names_read():
                problems.append(f"`{name}`: named in the docs, found nowhere in the code")
    return problems


def check_paths(text: str) -> list[str]:
    problems = []
    for span in INLINE_CODE.findall(FENCE.sub("", text)):
        token = span.strip()
        if not PATH_TOKEN.match(token) or any(c in token for c in "<>*{}$"):
            continue
        if not (ROOT / token.rstrip("/")).exists():
            problems.append(f"`{token}`: no such file or directory")
    return problems


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", FENCE.sub("", markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def check_links(text: str, source: Path) -> list[str]:
    problems = []
    for target in LINK.findall(FENCE.sub("", text)):
        if re.match(r"^[a-z]+:", target):
            continue
        path_part, _, anchor = target.partition("#")
        path = (source.parent / path_part).resolve() if path_part else source
        if not path.exists():
            problems.append(f"link ({target}): {path_part} does not exist")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path.read_text()):
            problems.append(f"link ({target}): no heading #{anchor} in {path_part or source.name}")
    return problems


def all_problems(path: Path) -> list[str]:
    text = path.read_text()
    return [
        *check_make_targets(text),
        *check_python_modules(text),
        *check_env_tables(text),
        *check_env_names(text),
        *check_paths(text),
        *check_links(text, path),
    ]
