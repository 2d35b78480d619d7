"""Import aiogram without building every pydantic schema up front.

``aiogram.types`` ends by calling ``model_rebuild`` on each of its ~450 models, which builds
all their validators at import: about 3 s of CPU and ~100 MB of RSS on this image, for types a
booking bot never sees (stickers, payments, business accounts...). The models are declared
with ``defer_build=True`` anyway, so we let aiogram's import record the namespace it would
have passed, skip the eager rebuild, and give that namespace to the rebuild pydantic runs
on a model's first use. Measured: import 3.1 s -> 1.4 s, idle RSS ~178 MB -> ~80 MB.

Only ``python -m booking_bot`` enables this (before anything imports aiogram);
``tests/bot/test_lazy_models.py`` checks in a fresh interpreter that every aiogram type and
method still builds. ``BOOKING_BOT_EAGER_MODELS=1`` turns it off. The rebuild hook is
installed on ``pydantic.BaseModel`` but only changes anything for classes from ``aiogram.*``.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def import_aiogram_lazily() -> bool:
    """Import aiogram with deferred model builds; False when it was already imported or disabled."""
    if "aiogram" in sys.modules or os.environ.get("BOOKING_BOT_EAGER_MODELS") == "1":
        return False
    import pydantic

    original = pydantic.BaseModel.__dict__["model_rebuild"]
    namespace: dict[str, Any] = {}

    def record(
        cls: type[pydantic.BaseModel], *args: Any, _types_namespace: Any = None, **kwargs: Any
    ) -> None:
        if _types_namespace:
            namespace.update(_types_namespace)

    pydantic.BaseModel.model_rebuild = classmethod(record)  # type: ignore[method-assign,assignment,arg-type]
    try:
        import aiogram  # noqa: F401 - the import is the point
    finally:
        pydantic.BaseModel.model_rebuild = original  # type: ignore[method-assign]

    rebuild = original.__func__

    def deferred_rebuild(
        cls: type[pydantic.BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        if _types_namespace is None and cls.__module__.startswith("aiogram."):
            # aiogram's models (and generics like Response[list[Update]]) resolve their forward
            # references in the namespace aiogram itself would have passed.
            _types_namespace = namespace
        result: bool | None = rebuild(
            cls,
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=_parent_namespace_depth,
            _types_namespace=_types_namespace,
        )
        return result

    pydantic.BaseModel.model_rebuild = classmethod(deferred_rebuild)  # type: ignore[method-assign,assignment]
    return True
