"""The shared runtime: one process (a *shard*) serves many tenants, each still isolated.

A tenant in a shard keeps everything the dedicated runtime gives it - its own PostgreSQL role
and lazily connected, idle-closed pool, its own Redis ACL user and key prefix, its own bot
token with exactly one poller - built by the same ``booking_bot.tenant.open_tenant``. What the
tenants share is what costs memory and nothing else: the interpreter, one aiogram
``Dispatcher`` with one set of routers (the per-tenant services are injected per update,
looked up by the bot id), and one HTTP session to the Bot API.

Modules: ``config`` (the shard's settings, one tenant's entry), ``sources`` and ``kube`` (where
the entries come from: the shard's own Secret, watched through the API), ``registry`` (adds,
replaces and removes tenants live), ``runner`` (one tenant's lifecycle: migrate, start, poll,
fail alone), ``routing`` (the shared dispatcher's per-tenant storage and middleware),
``reminders`` (reminder passes that keep idle tenants at zero connections), ``status`` (what
the shard reports per tenant), ``runtime`` (the wiring) and ``__main__``.
See docs/shared-runtime.md.
"""
