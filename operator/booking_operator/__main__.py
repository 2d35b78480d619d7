"""`python -m booking_operator`: validate the environment, then run kopf against the cluster."""

from __future__ import annotations

import sys

import kopf

from booking_contract.kube import check_access
from booking_contract.settings import ConfigError, command_line, fail
from booking_operator.config import get_settings

COMPONENT = "booking-operator"
USAGE = (
    "usage: python -m booking_operator\n"
    "Runs the BookingTenant operator; configured by environment variables only\n"
    "(OPERATOR_DATABASE_URL, OPERATOR_REDIS_URL, BOT_IMAGE, ...: see docs/operator.md)."
)


def main(argv: list[str] | None = None) -> None:
    if command_line(sys.argv[1:] if argv is None else argv, USAGE) is None:
        return
    try:
        settings = get_settings()
        check_access()
    except ConfigError as exc:
        fail(COMPONENT, str(exc))
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
