"""From a component's environment to its settings object, or to one clear line and exit code 2.

Every component keeps one pydantic-settings ``BaseSettings`` model; this module is the one way
a broken environment is reported: every bad variable on one line (a missing one, a wrong one),
never a traceback and never the rejected value (it may be a password).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Sequence
from typing import Final, NoReturn, TypeVar

from pydantic import ValidationError
from pydantic_settings import SettingsError

EXIT_CONFIG: Final = 2
EXIT_USAGE: Final = 2  # argparse's code for a command line it cannot read
HELP_FLAGS: Final = frozenset({"-h", "--help"})

T = TypeVar("T")


class ConfigError(Exception):
    """The environment does not describe a runnable component; the message is one line for humans."""


def describe(exc: ValidationError) -> str:
    """``DATABASE_URL is not set; REDIS_ACL: must be 'auto' or 'off'``: every error, none of the values."""
    parts: list[str] = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        name = ".".join([loc[0].upper(), *loc[1:]]) if loc else ""
        if error["type"] == "missing":
            part = f"{name} is not set"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            part = message if not name or name in message else f"{name}: {message}"
        if part not in parts:
            parts.append(part)
    return "; ".join(parts) or "invalid configuration"


def load(factory: Callable[..., T]) -> T:
    """Build the settings (``factory`` reads the environment); raise ConfigError in one line."""
    try:
        return factory()
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None
    except SettingsError as exc:  # e.g. a variable that must hold JSON does not
        raise ConfigError(str(exc)) from None


def fail(
    component: str, message: str, *, code: int = EXIT_CONFIG, kind: str = "configuration error"
) -> NoReturn:
    """Print ``<component>: <kind>: <message>`` as one line on stderr and exit."""
    line = " ".join(message.split())
    sys.stderr.write(f"{component}: {kind}: {line}\n")
    raise SystemExit(code)


def wants_help(args: Sequence[str]) -> bool:
    """``--help`` answers with the usage before any configuration is read (it needs none)."""
    return any(arg in HELP_FLAGS for arg in args)


def command_line(
    args: Sequence[str],
    usage: str,
    commands: Sequence[str] = (),
    *,
    with_arguments: Collection[str] = (),
) -> str | None:
    """The command ``args`` name, read the same way by every component's ``__main__``.

    Returns the first of ``commands`` when ``args`` is empty ("" for a component that takes no
    command), or None once ``--help`` has been answered on stdout (the caller ends with exit 0).
    Anything else - an unknown command, an argument nobody reads - prints the usage on stderr
    and exits 2 before any configuration is read: a mistyped command line must not start a
    component with its defaults. Only the commands in ``with_arguments`` take the rest of
    ``args`` (the caller parses it).
    """
    if wants_help(args):
        sys.stdout.write(usage + "\n")
        return None
    if not args:
        return commands[0] if commands else ""
    command, rest = args[0], args[1:]
    if command not in commands or (rest and command not in with_arguments):
        sys.stderr.write(usage + "\n")
        raise SystemExit(EXIT_USAGE)
    return command
