"""`make demo`: the product working end to end on one machine, with no token and no internet.

A throwaway PostgreSQL and Redis, the real bot process (`python -m booking_bot migrate`, then
`python -m booking_bot`) and, in place of Telegram, the repository's fake Bot API server
(`tests/harness/telegram.py`, real HTTP, the real wire protocol) driven by a script: the owner
adds a service, a customer books a haircut, the owner is notified and sees it in the week view.
The conversation is printed as it happens; the booking is then read back from PostgreSQL.

This is development tooling, not a deployable: it lives under hack/ and is in no image.
"""
