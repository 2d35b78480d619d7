"""The platform's contract: the rules every component must agree on, kept in one place.

Each module owns one contract (``crd``, ``client_id``, ``times``, ``kube``, ``telegram``,
``dotenv``, ``settings``); docs/contracts.md is the map. Nothing here imports a component,
and importing this package imports none of its modules, so the bot image (which has no
Kubernetes client library) can use ``client_id`` without ``kube``.
"""
