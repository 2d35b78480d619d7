"""The owner's "book for a caller" mode, bound to the one message its screens edit.

``admin_visits.caller_input`` answers with a services list; the service, day, time and confirm
screens that follow all edit that same message. The mode therefore belongs to that message:
a press on any other one (an older main menu, a fresh /start) is the owner booking for
themselves, and ends the mode, so an abandoned caller booking can never turn the owner's own
next booking into the caller's. Finishing the booking ends it too (``handlers.confirming.confirm``).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from booking_bot.i18n import Texts

_KEYS = ("on_behalf", "on_behalf_message", "on_behalf_name", "on_behalf_phone")


@dataclass(frozen=True)
class Caller:
    user_id: int  # the offline customer's (negative) id
    name: str
    phone: str

    def line(self, texts: Texts) -> str:
        return texts("admin.for_caller", name=self.name, phone=self.phone)


async def begin(state: FSMContext, caller: Caller, screen: Message) -> None:
    await state.set_state(None)
    await state.update_data(
        on_behalf=caller.user_id,
        on_behalf_message=screen.message_id,
        on_behalf_name=caller.name,
        on_behalf_phone=caller.phone,
    )


async def end(state: FSMContext) -> None:
    await state.update_data(dict.fromkeys(_KEYS))


async def current(state: FSMContext, query: CallbackQuery, is_admin: bool) -> Caller | None:
    """The caller this press books for, or None; a press elsewhere ends the mode."""
    if not is_admin:
        return None
    data = await state.get_data()
    user_id = int(data.get("on_behalf") or 0)
    if not user_id:
        return None
    message = query.message
    if message is None or message.message_id != data.get("on_behalf_message"):
        await end(state)
        return None
    return Caller(user_id, str(data.get("on_behalf_name") or ""), str(data.get("on_behalf_phone") or ""))
