"""Moving legacy clients in: SQLite files -> tenant schemas, Redis DB n -> DB 0 under the prefix.

``python -m booking_bot.legacy import-sqlite|move-redis`` (see ``__main__``); the runbook is
docs/legacy-migration.md. The BookingTenants and token Secrets come from the operator side:
``python -m booking_operator.legacy``.
"""
