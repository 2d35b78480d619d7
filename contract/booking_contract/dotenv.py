"""The legacy bots' ``clients/<client_id>/.env`` files, read as docker-compose reads them."""

from __future__ import annotations


def parse_env(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines: comments, ``export``, quotes, trailing `` # comments``; junk lines skipped."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def first_value(env: dict[str, str], keys: tuple[str, ...]) -> str | None:
    """The first non-blank value among ``keys`` (legacy bots spelt the same setting several ways)."""
    return next((env[k].strip() for k in keys if env.get(k, "").strip()), None)
