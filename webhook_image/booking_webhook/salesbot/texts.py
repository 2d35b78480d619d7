"""What the sales bot says, in the owner's language: Russian, or English for an ``en*`` client.

The shop's customers are mostly Russian businesses, so Russian is the default; an owner whose
Telegram client says ``language_code`` en* is answered in English throughout the conversation
(every handler passes the code of the user it answers). Notices sent later, outside a
conversation (the bot is ready, a payment failed, the subscription ends), go out in the
language the owner's client had at checkout (``checkouts.language``; Russian for checkouts
made before it was recorded).
"""

from __future__ import annotations

from typing import Final

RU: Final[dict[str, str]] = {
    "greeting": "Здравствуйте! Здесь можно купить бота записи клиентов для вашего бизнеса.\nВыберите тариф:",
    "renew_offer": "Продлить подписку",
    "continue_payment": "Оплатить начатый заказ",
    "ask_company": "Как называется ваша компания? (до 128 символов)",
    "bad_company": "Название должно быть от 1 до 128 символов. Попробуйте ещё раз.",
    "ask_zone": (
        "В каком часовом поясе работает ваш бизнес? Бот будет показывать время записи и "
        "присылать напоминания по нему. Выберите город или пришлите название пояса IANA "
        "(например, Asia/Novosibirsk). Изменить пояс позже можно в самом боте."
    ),
    "bad_zone": "Такого часового пояса нет. Выберите город или пришлите название вида Asia/Novosibirsk.",
    "zone_ok": "Часовой пояс: {zone}.",
    "ask_token": (
        "Пришлите токен вашего бота от @BotFather (команда /newbot) — строка вида 123456:ABC...\n"
        "Или нажмите кнопку ниже: Telegram создаст бота для вас без BotFather."
    ),
    "managed_button": "Создать бота без BotFather",
    "bad_token_shape": "Это не похоже на токен бота. Пришлите строку вида 123456:ABC...",
    "token_rejected": "Telegram не принял этот токен. Проверьте его у @BotFather и пришлите ещё раз.",
    "token_check_failed": "Не удалось проверить токен: Telegram недоступен. Попробуйте через минуту.",
    "token_ok": "Бот @{username} найден. Сообщение с токеном удалено из чата.",
    "ask_email": "Куда прислать чек? Укажите e-mail или номер телефона.",
    "bad_email": "Это не похоже на e-mail или номер телефона. Попробуйте ещё раз.",
    "pay": (
        "Заказ: «{company}», тариф {plan} ({days} дн.), {amount} {currency}.\n"
        "Оплатите по кнопке ниже. После оплаты бот будет создан автоматически, я напишу сюда."
    ),
    "pay_button": "Оплатить {amount} {currency}",
    "payment_unavailable": (
        "Платёжный сервис сейчас недоступен. Нажмите «Повторить» через минуту — второй платёж не создастся."
    ),
    "retry_button": "Повторить",
    "already_paid": "Этот заказ уже оплачен — повторять ничего не нужно. Я напишу, когда бот будет готов.",
    "retry_expired": "Этот заказ устарел. Начните заново: /start",
    "checkout_failed": "Не удалось оформить заказ. Попробуйте позже: /start",
    "ready": "Готово! Ваш бот @{username} работает: https://t.me/{username}\nОплачено до {paid_until}.",
    "renewed": "Оплата получена: подписка «{company}» продлена до {paid_until}.",
    "canceled": "Платёж не прошёл ({reason}), деньги не списаны. Попробуйте ещё раз: /start",
    "expires_in_3_days": (
        "Подписка «{company}» заканчивается {paid_until}: осталось меньше 3 дней. "
        "Продлить можно одной кнопкой:"
    ),
    "expires_in_1_day": (
        "Подписка «{company}» заканчивается {paid_until}: осталось меньше суток. "
        "Продлить можно одной кнопкой:"
    ),
    "suspended": (
        "Бот «{company}» приостановлен: подписка закончилась {paid_until}. Все данные сохранены — "
        "после оплаты бот заработает снова:"
    ),
    "auto_question": (
        "Продлевать подписку автоматически? Карта сохранится в ЮKassa, и за 2 дня до конца срока мы "
        "спишем оплату за следующий период (заранее предупредим). Отключить можно в любой момент: /autorenew"
    ),
    "auto_yes": "Да, продлевать автоматически",
    "auto_no": "Нет, продлю сам",
    "auto_upcoming": (
        "Подписка «{company}» заканчивается {paid_until}. За 2 дня до этого мы автоматически спишем "
        "{amount} {currency}{method} за следующий период. Отключить автопродление: /autorenew"
    ),
    "auto_renewed": "Автопродление: оплата получена, подписка «{company}» продлена до {paid_until}.",
    "auto_declined": (
        "Автопродление «{company}»: платёж не прошёл ({reason}). Мы попробуем ещё раз, а продлить вручную "
        "можно через /start."
    ),
    "auto_list": "Автопродление включено для:",
    "auto_none": "Автопродление не включено ни для одного бота.",
    "auto_off_button": "Отключить",
    "auto_off_done": "Автопродление «{company}» отключено. Напомню о продлении заранее.",
    "renew_now": "Продлить: {title} — {amount} {currency}",
    "no_tenants": "У вас пока нет ботов. Купить: /start",
    "status_line": "«{company}»: тариф {plan}, статус {phase}, оплачено до {paid_until}{bot}{refund}",
    "status_bot": ", бот @{username}",
    "status_refund": ", возвращено {amount} {currency}",
    "pending_line": "Заказ «{company}» ({plan}) ожидает оплаты.",
    "unknown_plan": "Такого тарифа нет. Выберите из списка: /start",
    "not_yours": "Этот бот вам не принадлежит.",
    "forever": "бессрочно",
    "phase.Pending": "ожидает запуска",
    "phase.Provisioning": "создаётся",
    "phase.Ready": "работает",
    "phase.Suspended": "приостановлен",
    "phase.Expired": "подписка истекла",
    "phase.Failed": "ошибка",
    "phase.Deleting": "удаляется",
}

EN: Final[dict[str, str]] = {
    "greeting": "Hello! Here you can buy a booking bot for your business's customers.\nChoose a plan:",
    "renew_offer": "Renew the subscription",
    "continue_payment": "Pay the order you started",
    "ask_company": "What is your company called? (up to 128 characters)",
    "bad_company": "The name must be 1 to 128 characters long. Please try again.",
    "ask_zone": (
        "Which time zone does your business work in? The bot shows booking times and sends "
        "reminders in it. Pick a city or send an IANA zone name (e.g. Asia/Novosibirsk). "
        "You can change it later in the bot itself."
    ),
    "bad_zone": "Unknown time zone. Pick a city or send a name like Asia/Novosibirsk.",
    "zone_ok": "Time zone: {zone}.",
    "ask_token": (
        "Send your bot's token from @BotFather (the /newbot command): a string like 123456:ABC...\n"
        "Or press the button below: Telegram creates the bot for you, without BotFather."
    ),
    "managed_button": "Create a bot without BotFather",
    "bad_token_shape": "That does not look like a bot token. Send a string like 123456:ABC...",
    "token_rejected": "Telegram did not accept this token. Check it with @BotFather and send it again.",
    "token_check_failed": "Could not check the token: Telegram is unreachable. Try again in a minute.",
    "token_ok": "Found the bot @{username}. The message with the token was deleted from the chat.",
    "ask_email": "Where should the receipt go? Send an e-mail address or a phone number.",
    "bad_email": "That does not look like an e-mail address or a phone number. Please try again.",
    "pay": (
        "Order: “{company}”, plan {plan} ({days} days), {amount} {currency}.\n"
        "Pay with the button below. Once paid, the bot is created automatically and I will write here."
    ),
    "pay_button": "Pay {amount} {currency}",
    "payment_unavailable": (
        "The payment service is unavailable right now. Press “Retry” in a minute: no second payment is made."
    ),
    "retry_button": "Retry",
    "already_paid": "This order is already paid: nothing to repeat. I will write when the bot is ready.",
    "retry_expired": "This order is out of date. Start again: /start",
    "checkout_failed": "Could not place the order. Please try later: /start",
    "ready": "Done! Your bot @{username} is running: https://t.me/{username}\nPaid until {paid_until}.",
    "renewed": "Payment received: the subscription “{company}” is extended until {paid_until}.",
    "canceled": "The payment did not go through ({reason}); nothing was charged. Try again: /start",
    "expires_in_3_days": (
        "The subscription “{company}” ends on {paid_until}: less than 3 days left. Renew with one tap:"
    ),
    "expires_in_1_day": (
        "The subscription “{company}” ends on {paid_until}: less than a day left. Renew with one tap:"
    ),
    "suspended": (
        "The bot “{company}” is suspended: its subscription ended on {paid_until}. All data is kept: "
        "once paid, the bot works again:"
    ),
    "auto_question": (
        "Renew the subscription automatically? The card is saved with YooKassa, and 2 days before the "
        "end we charge the next period (with a notice first). Switch it off at any time: /autorenew"
    ),
    "auto_yes": "Yes, renew automatically",
    "auto_no": "No, I will renew myself",
    "auto_upcoming": (
        "The subscription “{company}” ends on {paid_until}. 2 days before, we automatically charge "
        "{amount} {currency}{method} for the next period. Switch auto-renewal off: /autorenew"
    ),
    "auto_renewed": (
        "Auto-renewal: payment received, the subscription “{company}” is extended until {paid_until}."
    ),
    "auto_declined": (
        "Auto-renewal of “{company}”: the payment did not go through ({reason}). We will try again; "
        "to renew by hand, use /start."
    ),
    "auto_list": "Auto-renewal is on for:",
    "auto_none": "Auto-renewal is not on for any bot.",
    "auto_off_button": "Switch off",
    "auto_off_done": "Auto-renewal of “{company}” is off. I will remind you before it ends.",
    "renew_now": "Renew: {title} — {amount} {currency}",
    "no_tenants": "You have no bots yet. Buy one: /start",
    "status_line": "“{company}”: plan {plan}, status {phase}, paid until {paid_until}{bot}{refund}",
    "status_bot": ", bot @{username}",
    "status_refund": ", refunded {amount} {currency}",
    "pending_line": "The order “{company}” ({plan}) awaits payment.",
    "unknown_plan": "There is no such plan. Choose one from the list: /start",
    "not_yours": "This bot is not yours.",
    "forever": "no end date",
    "phase.Pending": "waiting to start",
    "phase.Provisioning": "being created",
    "phase.Ready": "running",
    "phase.Suspended": "suspended",
    "phase.Expired": "subscription expired",
    "phase.Failed": "failed",
    "phase.Deleting": "being deleted",
}

TEXTS: Final = {"ru": RU, "en": EN}


def language(code: str | None) -> str:
    """English for an ``en*`` Telegram client, Russian otherwise."""
    return "en" if (code or "").lower().startswith("en") else "ru"


def text(code: str | None, key: str, **values: object) -> str:
    """``key`` in the language of ``code`` (a Telegram ``language_code``; None: Russian)."""
    return TEXTS[language(code)][key].format(**values)


def phase(code: str | None, name: str) -> str:
    """A BookingTenant phase in the owner's words (the name itself when it is a new one)."""
    return TEXTS[language(code)].get(f"phase.{name}", name)
