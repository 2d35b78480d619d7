"""Import aiogram without building every pydantic schema up front.

``aiogram.types`` ends by calling ``model_rebuild(_types_namespace=...)`` on each of its ~450
models, which builds all their validators at import: seconds of CPU and ~100 MB of RSS, for
types a booking bot never sees (stickers, payments, business accounts...). An idle bot
importing aiogram plainly sits at ~165 MB, above its pod's 128 Mi limit.

So for the duration of that one import ``model_rebuild`` only records the namespace aiogram
passes, and skips the build. The forward references that namespace would have resolved
(names aiogram imports under ``TYPE_CHECKING`` only) are then written into the globals of the
aiogram modules whose models mention them, and ``model_rebuild`` is restored: when a model is
first used, pydantic's own deferred build resolves it in its module's namespace, the public,
documented lookup. Nothing stays patched and no private pydantic parameter is ever passed, so
a model defined elsewhere (e.g. in a function, whose rebuild looks at its caller's frame)
behaves exactly as without this module.

Any sign that the trick did not take (aiogram already imported, no namespace recorded, most
models built anyway, a basic update failing to validate) raises ``LazyModelsError``:
``python -m booking_bot`` turns it into one line and exit 1, because a bot that silently
falls back to eager builds is OOM-killed by its pod with no explanation.
``BOOKING_BOT_EAGER_MODELS=1`` is the deliberate way out (and needs a larger memory limit).
``tests/bot/test_lazy_models.py`` checks every model builds as it would eagerly, and that an
idle ``python -m booking_bot`` stays under its memory bound.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pydantic

# Above this share of aiogram's models already built after the import, the deferral did not
# happen (measured with aiogram 3.31: 176 of 634 lazily, 633 of 634 eagerly).
MAX_BUILT_SHARE = 1 / 3
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class LazyModelsError(Exception):
    """The lazy import cannot apply; the message is one line for humans."""


@dataclass(frozen=True)
class LazyImport:
    """What the import left behind: aiogram's pydantic models, and how many are built already."""

    models: int
    built: int


def import_aiogram_lazily() -> LazyImport:
    """Import aiogram with its model builds deferred to first use; raise if that did not work."""
    if "aiogram" in sys.modules:
        raise LazyModelsError("aiogram was imported before booking_bot.lazy_models could defer its models")
    namespace = _import_recording_namespace()
    if not namespace:
        raise LazyModelsError(
            "aiogram's import passed no types namespace to model_rebuild: this aiogram version "
            "builds its models differently and the lazy import does not apply"
        )
    models = list(_aiogram_models())
    for model in models:
        _add_forward_references(model, namespace)
    report = LazyImport(models=len(models), built=sum(1 for m in models if _built(m)))
    if report.built > MAX_BUILT_SHARE * report.models:
        raise LazyModelsError(
            f"{report.built} of {report.models} aiogram models were built at import anyway: "
            "the lazy import does not apply to this aiogram/pydantic version"
        )
    _check_an_update_validates()
    return report


def _import_recording_namespace() -> dict[str, Any]:
    original = pydantic.BaseModel.__dict__["model_rebuild"]
    namespace: dict[str, Any] = {}

    def record(cls: type[pydantic.BaseModel], *args: Any, **kwargs: Any) -> None:
        namespace.update(kwargs.get("_types_namespace") or {})

    pydantic.BaseModel.model_rebuild = classmethod(record)  # type: ignore[method-assign,assignment]
    try:
        import aiogram.methods
        import aiogram.types  # noqa: F401 - the import is the point
    finally:
        pydantic.BaseModel.model_rebuild = original  # type: ignore[method-assign]
    return namespace


def _aiogram_models() -> Iterator[type[pydantic.BaseModel]]:
    seen: set[type[pydantic.BaseModel]] = set()
    pending = list(pydantic.BaseModel.__subclasses__())
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        pending.extend(model.__subclasses__())
        if model.__module__.startswith("aiogram."):
            yield model


def _add_forward_references(model: type[pydantic.BaseModel], namespace: dict[str, Any]) -> None:
    """Give the model's module the names its string annotations use and it lacks.

    Inherited fields count too: pydantic evaluates them again in the subclass's module.
    """
    module = sys.modules[model.__module__].__dict__
    for klass in model.__mro__:
        for annotation in inspect.get_annotations(klass).values():
            if isinstance(annotation, str):
                for name in _NAME.findall(annotation):
                    if name in namespace and name not in module:
                        module[name] = namespace[name]


def _built(model: type[pydantic.BaseModel]) -> bool:
    return bool(model.__dict__.get("__pydantic_complete__", False))


def _check_an_update_validates() -> None:
    """Build what every bot builds on its first getUpdates, so a failure shows at start."""
    from aiogram.types import Update

    chat = {"id": 1, "type": "private"}
    try:
        Update.model_validate({"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": chat}})
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LazyModelsError(f"aiogram's Update does not build after the lazy import: {first}") from exc
