"""`python -m booking_operator`: validate the environment, then run kopf against the cluster."""

from __future__ import annotations

import sys

import kopf

from booking_operator.config import ConfigError, get_settings


def main() -> None:
    try:
        settings = get_settings()
    except ConfigError as exc:
        sys.stderr.write(f"booking-operator: configuration error: {exc}\n")
        raise SystemExit(2) from None
    level = settings.log_level.upper()
    kopf.configure(
        verbose=level == "DEBUG",
        quiet=level in {"WARNING", "ERROR", "CRITICAL"},
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
        log_refkey="object",
    )
    from booking_operator import handlers  # noqa: F401 - registers the handlers

    namespaces = [settings.watch_namespace] if settings.watch_namespace else []
    kopf.run(
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=f"http://0.0.0.0:{settings.liveness_port}/healthz"
        if settings.liveness_port
        else None,
    )


if __name__ == "__main__":
    main()
