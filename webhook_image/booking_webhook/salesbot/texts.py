"""What the sales bot says (Russian: the shop's customers are Russian businesses)."""
# ruff: noqa: S105 - "token" in these names is about Telegram bot tokens in prose, not secrets

GREETING = "Здравствуйте! Здесь можно купить бота записи клиентов для вашего бизнеса.\nВыберите тариф:"
RENEW_OFFER = "Продлить подписку"
CONTINUE_PAYMENT = "Оплатить начатый заказ"
ASK_COMPANY = "Как называется ваша компания? (до 128 символов)"
BAD_COMPANY = "Название должно быть от 1 до 128 символов. Попробуйте ещё раз."
ASK_TOKEN = (
    "Пришлите токен вашего бота от @BotFather (команда /newbot) — строка вида 123456:ABC...\n"
    "Или нажмите кнопку ниже: Telegram создаст бота для вас без BotFather."
)
MANAGED_BUTTON = "Создать бота без BotFather"
BAD_TOKEN_SHAPE = "Это не похоже на токен бота. Пришлите строку вида 123456:ABC..."
TOKEN_REJECTED = "Telegram не принял этот токен. Проверьте его у @BotFather и пришлите ещё раз."
TOKEN_CHECK_FAILED = "Не удалось проверить токен: Telegram недоступен. Попробуйте через минуту."
TOKEN_OK = "Бот @{username} найден. Сообщение с токеном удалено из чата."
ASK_EMAIL = "Куда прислать чек? Укажите e-mail или номер телефона."
BAD_EMAIL = "Это не похоже на e-mail или номер телефона. Попробуйте ещё раз."
PAY = (
    "Заказ: «{company}», тариф {plan} ({days} дн.), {amount} {currency}.\n"
    "Оплатите по кнопке ниже. После оплаты бот будет создан автоматически, я напишу сюда."
)
PAY_BUTTON = "Оплатить {amount} {currency}"
PAYMENT_UNAVAILABLE = (
    "Платёжный сервис сейчас недоступен. Нажмите «Повторить» через минуту — второй платёж не создастся."
)
RETRY_BUTTON = "Повторить"
ALREADY_PAID = "Этот заказ уже оплачен — повторять ничего не нужно. Я напишу, когда бот будет готов."
RETRY_EXPIRED = "Этот заказ устарел. Начните заново: /start"
CHECKOUT_FAILED = "Не удалось оформить заказ. Попробуйте позже: /start"
READY = "Готово! Ваш бот @{username} работает: https://t.me/{username}\nОплачено до {paid_until}."
RENEWED = "Оплата получена: подписка «{company}» продлена до {paid_until}."
CANCELED = "Платёж не прошёл ({reason}), деньги не списаны. Попробуйте ещё раз: /start"
EXPIRES_IN_3_DAYS = (
    "Подписка «{company}» заканчивается {paid_until}: осталось меньше 3 дней. Продлить можно одной кнопкой:"
)
EXPIRES_IN_1_DAY = (
    "Подписка «{company}» заканчивается {paid_until}: осталось меньше суток. Продлить можно одной кнопкой:"
)
SUSPENDED = (
    "Бот «{company}» приостановлен: подписка закончилась {paid_until}. Все данные сохранены — "
    "после оплаты бот заработает снова:"
)
AUTO_QUESTION = (
    "Продлевать подписку автоматически? Карта сохранится в ЮKassa, и за 2 дня до конца срока мы "
    "спишем оплату за следующий период (заранее предупредим). Отключить можно в любой момент: /autorenew"
)
AUTO_YES = "Да, продлевать автоматически"
AUTO_NO = "Нет, продлю сам"
AUTO_UPCOMING = (
    "Подписка «{company}» заканчивается {paid_until}. За 2 дня до этого мы автоматически спишем "
    "{amount} {currency}{method} за следующий период. Отключить автопродление: /autorenew"
)
AUTO_RENEWED = "Автопродление: оплата получена, подписка «{company}» продлена до {paid_until}."
AUTO_DECLINED = (
    "Автопродление «{company}»: платёж не прошёл ({reason}). Мы попробуем ещё раз, а продлить вручную "
    "можно через /start."
)
AUTO_LIST = "Автопродление включено для:"
AUTO_NONE = "Автопродление не включено ни для одного бота."
AUTO_OFF_BUTTON = "Отключить"
AUTO_OFF_DONE = "Автопродление «{company}» отключено. Напомню о продлении заранее."
RENEW_NOW = "Продлить: {title} — {amount} {currency}"
NO_TENANTS = "У вас пока нет ботов. Купить: /start"
STATUS_LINE = "«{company}»: тариф {plan}, статус {phase}, оплачено до {paid_until}{bot}{refund}"
PENDING_LINE = "Заказ «{company}» ({plan}) ожидает оплаты."
UNKNOWN_PLAN = "Такого тарифа нет. Выберите из списка: /start"
NOT_YOURS = "Этот бот вам не принадлежит."
PHASES = {
    "Pending": "ожидает запуска",
    "Provisioning": "создаётся",
    "Ready": "работает",
    "Suspended": "приостановлен",
    "Expired": "подписка истекла",
    "Failed": "ошибка",
    "Deleting": "удаляется",
}
