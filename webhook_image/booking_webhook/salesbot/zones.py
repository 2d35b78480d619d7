"""The business's time zone, asked when a new bot is bought.

Russia spans eleven zones, and a salon outside Moscow whose bot assumes Moscow offers every
slot and sends every reminder hours off. The eleven are offered as buttons (one region name
each, the one most people there recognise); any other IANA name can be typed. Both go
through ``booking_contract.crd.valid_timezone``, the rule the CRD and the bot apply too.

The labels speak the owner's language (``texts.language``), as the rest of the conversation.
"""

from __future__ import annotations

from typing import Final

from booking_webhook.salesbot import texts

# (IANA name, Russian label, English label), west to east.
RUSSIA: Final = (
    ("Europe/Kaliningrad", "Калининград (UTC+2)", "Kaliningrad (UTC+2)"),
    ("Europe/Moscow", "Москва (UTC+3)", "Moscow (UTC+3)"),
    ("Europe/Samara", "Самара (UTC+4)", "Samara (UTC+4)"),
    ("Asia/Yekaterinburg", "Екатеринбург (UTC+5)", "Yekaterinburg (UTC+5)"),
    ("Asia/Omsk", "Омск (UTC+6)", "Omsk (UTC+6)"),
    ("Asia/Krasnoyarsk", "Красноярск, Новосибирск (UTC+7)", "Krasnoyarsk, Novosibirsk (UTC+7)"),
    ("Asia/Irkutsk", "Иркутск (UTC+8)", "Irkutsk (UTC+8)"),
    ("Asia/Yakutsk", "Якутск (UTC+9)", "Yakutsk (UTC+9)"),
    ("Asia/Vladivostok", "Владивосток (UTC+10)", "Vladivostok (UTC+10)"),
    ("Asia/Magadan", "Магадан (UTC+11)", "Magadan (UTC+11)"),
    ("Asia/Kamchatka", "Камчатка (UTC+12)", "Kamchatka (UTC+12)"),
)


def label(index: int, code: str | None) -> str:
    _, ru, en = RUSSIA[index]
    return en if texts.language(code) == "en" else ru
