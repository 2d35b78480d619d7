"""`python -m booking_webhook` serves the webhook; `python -m booking_webhook salesbot` runs the sales
bot; `python -m booking_webhook refund PAYMENT_ID [AMOUNT] --reason TEXT` refunds a payment."""

from __future__ import annotations

import asyncio
import sys

from booking_contract.kube import check_access
from booking_contract.settings import EXIT_CONFIG, ConfigError, command_line
from booking_webhook.core.config import load_settings
from booking_webhook.core.logging import configure_logging

COMPONENT = "booking-webhook"
USAGE = "usage: python -m booking_webhook [serve|salesbot|refund PAYMENT_ID [AMOUNT] --reason TEXT]"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = command_line(args, USAGE, ("serve", "salesbot", "refund"), with_arguments={"refund"})
    if command is None:
        return 0
    try:
        settings = load_settings()
        if command == "salesbot" and settings.sales_bot_token is None:
            raise ConfigError("SALES_BOT_TOKEN is not set (it is required for the sales bot)")
        check_access(settings.kubeconfig)  # both write BookingTenants and Secrets
    except ConfigError as exc:
        sys.stderr.write(f"{COMPONENT}: configuration error: {exc}\n")
        return EXIT_CONFIG
    configure_logging()
    if command == "refund":
        from booking_webhook.admin import run_refund

        return run_refund(settings, args[1:])
    if command == "salesbot":
        from booking_webhook.salesbot.app import run_sales_bot

        asyncio.run(run_sales_bot(settings))
        return 0

    import uvicorn

    from booking_webhook.main import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For is interpreted by sources.py, against WEBHOOK_TRUSTED_PROXIES
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
