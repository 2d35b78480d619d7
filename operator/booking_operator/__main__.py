"""`python -m booking_operator`: validate the environment, then run kopf against the cluster."""

from __future__ import annotations

import sys

import kopf

from booking_contract.kube import check_access
from booking_contract.settings import ConfigError, fail, wants_help
from booking_operator.config import get_settings

COMPONENT = "booking-operator"
USAGE = (
    "usage: python -m booking_operator\n"
    "Runs the BookingTenant operator; configured by environment variables only\n"
    "(OPERATOR_DATABASE_URL, OPERATOR_REDIS_URL, BOT_IMAGE, ...: see docs/operator.md)."
)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if wants_help(args):
        sys.stdout.write(USAGE + "\n")
        return
    if args:
        sys.stderr.write(USAGE + "\n")
        raise SystemExit(2)
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
