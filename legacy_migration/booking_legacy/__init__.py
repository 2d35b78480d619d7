"""Moving legacy clients into the platform, as one tool of its own (no image ships it).

``python -m booking_legacy manifests|import-sqlite|move-redis`` (see ``__main__``); the runbook
is docs/legacy-migration.md. It stands on the operator's provisioning code
(``booking_operator.database``), the bot's schema and key formats (``booking_bot.migrate``,
``booking_bot.storage``) and the platform's contract (``booking_contract``), with typed imports,
so neither image carries half of it and mypy sees every call across packages.
"""
