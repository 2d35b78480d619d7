"""A fake Telegram Bot API server over real HTTP, for every component's tests.

It speaks the wire protocol as aiogram 3 (and any other client) uses it:
``POST /bot<token>/<method>`` with a multipart/urlencoded form or a JSON body,
answered with ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": ..., "description": ..., "parameters": {...}}``.
Several bots (tokens) are served at once; an unknown token gets 401 like the real API, and a
second concurrent ``getUpdates`` for one token ends the first with 409 Conflict.

Stable API (other components' tests rely on it; extend, do not change):

    async with FakeTelegram() as tg:                 # listens on 127.0.0.1:<free port>
        bot = tg.add_bot("123456:TEST", username="salon_bot")   # -> FakeBot
        tg.url                                       # base URL for TelegramAPIServer.from_base
        tg.push_message(token, user_id, "/start")    # scripted update, served by getUpdates
        msg = await tg.next_message(token, chat_id)  # next sendMessage/edit* to that chat
        msg.text, msg.buttons, msg.button_data("Confirm")
        tg.push_callback(token, user_id, msg, msg.button_data("Confirm"))
        tg.calls / tg.calls_of("answerCallbackQuery", token)    # every recorded API call
        tg.conflicts                                 # tokens of getUpdates that overlapped (409)
        tg.polling(token), await tg.wait_for_hang_up(token)     # a getUpdates held open, until it is not
        tg.webhooks                                  # setWebhook: token -> (url, secret_token);
                                                     # updates are then POSTed there, getUpdates is 409
        tg.deliver_over(ssl_context, {"hooks.test": "127.0.0.1"})  # HTTPS webhooks: trust that
                                                     # CA only, resolve those names to those addresses
        tg.fail_next("sendMessage", token, error_code=429, retry_after=1)
        tg.block_user(token, user_id)                # every send to that chat -> 403 blocked
        tg.set_result("getManagedBotToken", {...}, token)       # stub any method's result
        tg.push_update(token, {...})                 # any raw update (contact, edited message...)
        await tg.wait_for_call("getMe", token)       # the first call of a method, waiting for it
        tg.sent_messages(token, chat_id), tg.drain(token, chat_id)
        FakeTelegram.make_token(bot_id), tg.remove_bot(token)   # revoke: 401 from then on

``next_message`` returns :class:`SentMessage` snapshots of ``sendMessage``,
``editMessageText``, ``editMessageReplyMarkup`` and ``editMessageCaption`` calls, in the
order the bot made them, per (token, chat). Methods the server does not model are
recorded and answered with ``true`` (or the stubbed result). Like the real API, texts must be
1..4096 characters and inline keyboards at most 100 buttons (else 400 Bad Request), and a
returned Message carries only an inline keyboard as ``reply_markup``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import ssl
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp.abc
import aiohttp.web

__all__ = ["ApiCall", "FakeBot", "FakeTelegram", "SentMessage", "TelegramError"]

# Parameters sent as plain strings that must not be JSON-decoded ("123" stays a string).
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "title",
        "description",
        "short_description",
        "name",
        "url",
        "language_code",
        "query",
        "emoji",
        "business_connection_id",
    }
)
MAX_TEXT_LENGTH = 4096
MAX_INLINE_BUTTONS = 100
_OUTGOING = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup", "editMessageCaption"})
_SENDS_TO_CHAT = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "sendChatAction", "copyMessage", "forwardMessage"}
)


@dataclass(frozen=True)
class FakeBot:
    """A bot the server knows, identified by its token."""

    token: str
    id: int
    username: str
    first_name: str

    def as_user(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }


@dataclass(frozen=True)
class ApiCall:
    """One request the server received (after parsing the body)."""

    token: str
    method: str
    params: dict[str, Any]
    at: float
    peer: str = ""  # the caller's address (the e2e tests tell a shard pod from a bot pod by it)


@dataclass(frozen=True)
class TelegramError:
    """An error answer to simulate."""

    error_code: int
    description: str
    retry_after: int | None = None

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass(frozen=True)
class SentMessage:
    """What a chat saw after one sendMessage/edit* call: the message's state at that moment."""

    method: str
    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """Inline buttons as (text, callback_data), row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [(b.get("text", ""), b.get("callback_data")) for row in rows for b in row]

    def button_data(self, text_contains: str, *, exact: bool = False) -> str:
        """callback_data of the first inline button whose text contains (or, ``exact``, is) the text."""
        for text, data in self.buttons:
            matches = text == text_contains if exact else text_contains in text
            if matches and data is not None:
                return data
        raise LookupError(f"no button containing {text_contains!r} in {[t for t, _ in self.buttons]}")


class _Chat:
    """Messages of one (token, chat): their current state and the log of changes."""

    def __init__(self) -> None:
        self.messages: dict[int, dict[str, Any]] = {}
        self.log: list[SentMessage] = []
        self.cursor = 0
        self.changed = asyncio.Event()


def _user(user: int | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(user, Mapping):
        return {"is_bot": False, "first_name": "User", **user}
    return {"id": user, "is_bot": False, "first_name": f"User{user}", "language_code": "ru"}


def _private_chat(user: Mapping[str, Any]) -> dict[str, Any]:
    chat: dict[str, Any] = {"id": user["id"], "type": "private", "first_name": user.get("first_name", "")}
    if user.get("username"):
        chat["username"] = user["username"]
    return chat


def _decode(key: str, value: str) -> Any:
    if key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class FakeTelegram:
    """The fake Bot API. Use as ``async with FakeTelegram() as tg`` (or ``await start()``/``close()``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.url = ""
        self.calls: list[ApiCall] = []
        # (token, chat_id, file name, bytes) of every document sent (sendDocument).
        self.uploads: list[tuple[str, int, str, bytes]] = []
        self._bots: dict[str, FakeBot] = {}
        self._updates: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._update_ids: dict[str, itertools.count[int]] = {}
        self._new_update: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._pollers: dict[str, tuple[asyncio.Future[None], aiohttp.web.Request]] = {}
        # Tokens whose getUpdates overlapped one still connected (Telegram's 409), in order.
        self.conflicts: list[str] = []
        # setWebhook: token -> (url, secret_token); updates are then POSTed there, in order.
        self.webhooks: dict[str, tuple[str, str | None]] = {}
        self._deliverers: dict[str, asyncio.Task[None]] = {}
        self._http: aiohttp.ClientSession | None = None
        # deliver_over: how webhook deliveries verify HTTPS and find their hosts (default: the
        # system's CAs and resolver).
        self._webhook_tls: ssl.SSLContext | None = None
        self._webhook_hosts: dict[str, str] = {}
        self._chats: dict[tuple[str, int], _Chat] = defaultdict(_Chat)
        self._message_ids: dict[tuple[str, int], itertools.count[int]] = defaultdict(
            lambda: itertools.count(1)
        )
        self._failures: list[tuple[str, str | None, TelegramError, list[int]]] = []
        self._blocked: set[tuple[str, int]] = set()
        self._results: dict[tuple[str, str | None], Any] = {}
        self._closing = asyncio.Event()
        self._runner: aiohttp.web.AppRunner | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> FakeTelegram:
        app = aiohttp.web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._file)
        self._runner = aiohttp.web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))  # port 0: the kernel picks a free one
        self.port = sock.getsockname()[1]
        await aiohttp.web.SockSite(self._runner, sock).start()
        self.url = f"http://{self.host}:{self.port}"
        return self

    async def close(self) -> None:
        self._closing.set()
        for task in self._deliverers.values():
            task.cancel()
        await asyncio.gather(*self._deliverers.values(), return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        for event in self._new_update.values():
            event.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- bots --------------------------------------------------------------------------------
    @staticmethod
    def make_token(bot_id: int, secret: str = "TEST-fake-token") -> str:
        """A token in Telegram's ``<bot id>:<secret>`` shape (aiogram validates the shape)."""
        return f"{bot_id}:{secret}"

    def add_bot(self, token: str, username: str | None = None, first_name: str | None = None) -> FakeBot:
        """Make ``token`` valid; the bot id is the token's numeric prefix."""
        bot_id = int(token.split(":", 1)[0])
        bot = FakeBot(
            token=token,
            id=bot_id,
            username=username or f"bot{bot_id}_bot",
            first_name=first_name or f"Bot {bot_id}",
        )
        self._bots[token] = bot
        self._update_ids.setdefault(token, itertools.count(1))
        return bot

    def remove_bot(self, token: str) -> None:
        """Revoke a token: from now on it gets 401."""
        self._bots.pop(token, None)

    # ---- scripted updates --------------------------------------------------------------------
    def push_update(self, token: str, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue a raw update (``update_id`` is assigned) for the bot's next getUpdates."""
        self._update_ids.setdefault(token, itertools.count(1))
        full = {**update, "update_id": next(self._update_ids[token])}
        self._updates[token].append(full)
        self._new_update[token].set()
        if token in self.webhooks:
            self._deliver_soon(token)
        return full

    # ---- webhooks ----------------------------------------------------------------------------
    def deliver_over(self, tls: ssl.SSLContext | None, hosts: Mapping[str, str] | None = None) -> None:
        """Deliver webhooks verifying HTTPS with `tls` (e.g. a context trusting a test CA only), and
        connect to `hosts[name]` for a URL's host `name` while still verifying the certificate
        against `name`, as Telegram does for a public name. None / {}: the defaults again."""
        self._webhook_tls = tls
        self._webhook_hosts = dict(hosts or {})
        if self._http is not None:  # the next delivery opens a session with the new settings
            session, self._http = self._http, None
            asyncio.get_running_loop().create_task(session.close())

    def _webhook_session(self) -> aiohttp.ClientSession:
        if self._http is None:
            connector = aiohttp.TCPConnector(
                ssl=self._webhook_tls if self._webhook_tls is not None else True,
                resolver=_StaticResolver(self._webhook_hosts),
            )
            self._http = aiohttp.ClientSession(connector=connector)
        return self._http

    def _deliver_soon(self, token: str) -> None:
        task = self._deliverers.get(token)
        if task is None or task.done():
            self._deliverers[token] = asyncio.get_running_loop().create_task(self._deliver(token))

    async def _deliver(self, token: str) -> None:
        """POST queued updates one by one to the webhook, as Telegram does; retry what fails."""
        queue = self._updates[token]
        while queue and token in self.webhooks and not self._closing.is_set():
            url, secret = self.webhooks[token]
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
            try:
                async with self._webhook_session().post(url, json=queue[0], headers=headers) as resp:
                    delivered = resp.status == 200
            except aiohttp.ClientError:
                delivered = False
            if delivered:
                queue.pop(0)
            else:
                await asyncio.sleep(0.2)

    def push_message(
        self,
        token: str,
        user: int | Mapping[str, Any],
        text: str,
        chat_id: int | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A user writes ``text`` to the bot (private chat unless ``chat_id`` says otherwise).

        ``extra`` adds message fields (``contact``, ``forward_origin``...); an empty ``text``
        sends a message without text (a shared contact).
        """
        sender = _user(user)
        chat = _private_chat(sender) if chat_id is None else {"id": chat_id, "type": "group", "title": "g"}
        chat_key = (token, int(sender["id"]) if chat_id is None else chat_id)
        message_id = next(self._message_ids[chat_key])
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": sender,
            "text": text,
            **(extra or {}),
        }
        if not text:
            del message["text"]
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self._chats[chat_key].messages[message_id] = message
        return self.push_update(token, {"message": message})

    def push_callback(
        self,
        token: str,
        user: int | Mapping[str, Any],
        message: SentMessage | Mapping[str, Any],
        data: str,
    ) -> dict[str, Any]:
        """A user presses an inline button with ``data`` under ``message`` (a SentMessage or raw dict)."""
        sender = _user(user)
        raw = message.raw if isinstance(message, SentMessage) else dict(message)
        chat_id = int(raw["chat"]["id"])
        current = self._chats[(token, chat_id)].messages.get(int(raw["message_id"]), raw)
        callback = {
            "id": f"cb{time.monotonic_ns()}",
            "from": sender,
            "message": current,
            "chat_instance": str(chat_id),
            "data": data,
        }
        return self.push_update(token, {"callback_query": callback})

    # ---- what the bot sent -------------------------------------------------------------------
    def calls_of(self, method: str, token: str | None = None) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method and (token is None or c.token == token)]

    def sent_messages(self, token: str, chat_id: int) -> list[SentMessage]:
        """Everything shown in a chat so far (sends and edits), oldest first."""
        return list(self._chats[(token, chat_id)].log)

    async def next_message(self, token: str, chat_id: int, timeout: float = 5.0) -> SentMessage:
        """The next sendMessage/edit* to ``chat_id`` not yet returned by this method."""
        chat = self._chats[(token, chat_id)]
        deadline = asyncio.get_running_loop().time() + timeout
        while chat.cursor >= len(chat.log):
            chat.changed.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no message to chat {chat_id} within {timeout}s")
            try:
                await asyncio.wait_for(chat.changed.wait(), remaining)
            except TimeoutError:
                raise TimeoutError(f"no message to chat {chat_id} within {timeout}s") from None
        message = chat.log[chat.cursor]
        chat.cursor += 1
        return message

    async def wait_for_call(self, method: str, token: str | None = None, timeout: float = 5.0) -> ApiCall:
        """The first recorded call of ``method`` (waits until one arrives)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = self.calls_of(method, token)
            if found:
                return found[0]
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no {method} call within {timeout}s")
            await asyncio.sleep(0.02)

    def polling(self, token: str) -> bool:
        """Whether a getUpdates of ``token`` is held open on a connection that is still up."""
        poller = self._pollers.get(token)
        if poller is None or poller[0].done():
            return False
        transport = poller[1].transport
        return transport is not None and not transport.is_closing()

    async def wait_for_hang_up(self, token: str, timeout: float = 5.0) -> None:
        """Until this server has seen ``token``'s poller hang up (a closed connection reaches the
        server a little after the client closed it)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.polling(token):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the poller of {token.split(':')[0]} still connected after {timeout}s")
            await asyncio.sleep(0.02)

    def drain(self, token: str, chat_id: int) -> list[SentMessage]:
        """Skip (and return) what ``next_message`` has not returned yet for that chat."""
        chat = self._chats[(token, chat_id)]
        rest = chat.log[chat.cursor :]
        chat.cursor = len(chat.log)
        return rest

    # ---- error simulation and stubs -----------------------------------------------------------
    def fail_next(
        self,
        method: str,
        token: str | None = None,
        *,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error (429 defaults to retry_after=1)."""
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                403: "Forbidden: bot was blocked by the user",
                400: "Bad Request: simulated",
                500: "Internal Server Error",
            }.get(error_code, "simulated error")
        self._failures.append((method, token, TelegramError(error_code, description, retry_after), [times]))

    def block_user(self, token: str, chat_id: int) -> None:
        """The user blocked the bot: sends to their chat answer 403."""
        self._blocked.add((token, chat_id))

    def set_result(self, method: str, result: Any, token: str | None = None) -> None:
        """Answer ``method`` (for one token, or all) with ``result``; overrides the built-in model."""
        self._results[(method, token)] = result

    # ---- HTTP --------------------------------------------------------------------------------
    async def _params(self, request: aiohttp.web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: _decode(k, v) for k, v in request.query.items()}
        if request.method != "POST" or not request.body_exists:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
            return params
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                params[key] = _decode(key, value)
            elif isinstance(value, aiohttp.web.FileField):  # an upload: its bytes are kept (``uploads``)
                params[key] = f"<file {key}>"
                params[f"<file {key}>"] = {"filename": value.filename, "content": value.file.read()}
            else:
                params[key] = f"<file {key}>"
        return params

    async def _file(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(status=404)

    async def _handle(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        params = await self._params(request)
        bot = self._bots.get(token)
        if bot is None:
            return aiohttp.web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        self.calls.append(
            ApiCall(token=token, method=method, params=params, at=time.monotonic(), peer=request.remote or "")
        )
        error = self._take_failure(token, method, params)
        if error is not None:
            return aiohttp.web.json_response(error.payload(), status=error.error_code)
        for key in ((method, token), (method, None)):
            if key in self._results:
                return self._ok(self._results[key])
        if method == "getUpdates":
            return await self._get_updates(token, params, request)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._ok(True)
        try:
            result = handler(bot, params)
        except _ApiError as exc:
            return aiohttp.web.json_response(exc.error.payload(), status=exc.error.error_code)
        return self._ok(result)

    @staticmethod
    def _ok(result: Any) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"ok": True, "result": result})

    def _take_failure(self, token: str, method: str, params: Mapping[str, Any]) -> TelegramError | None:
        for failure in self._failures:
            f_method, f_token, error, left = failure
            if f_method == method and f_token in (None, token) and left[0] > 0:
                left[0] -= 1
                if left[0] == 0:
                    self._failures.remove(failure)
                return error
        chat_id = params.get("chat_id")
        if method in _SENDS_TO_CHAT and isinstance(chat_id, int) and (token, chat_id) in self._blocked:
            return TelegramError(403, "Forbidden: bot was blocked by the user")
        return None

    async def _get_updates(
        self, token: str, params: Mapping[str, Any], request: aiohttp.web.Request
    ) -> aiohttp.web.Response:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        queue = self._updates[token]
        if token in self.webhooks:
            return aiohttp.web.json_response(
                {
                    "ok": False,
                    "error_code": 409,
                    "description": "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                },
                status=409,
            )
        if offset:
            queue[:] = [u for u in queue if u["update_id"] >= offset]
        # One poller per token: a newer getUpdates terminates the older one with 409, as Telegram does.
        # A poller that hung up is no poller (Telegram forgets a closed request).
        previous = self._pollers.pop(token, None)
        if previous is not None and not previous[0].done():
            transport = previous[1].transport
            if transport is not None and not transport.is_closing():
                self.conflicts.append(token)
            previous[0].set_result(None)
        me: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pollers[token] = (me, request)
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            while not queue and not self._closing.is_set():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                event = self._new_update[token]
                event.clear()
                waiter: asyncio.Future[Any] = asyncio.ensure_future(event.wait())
                done, _ = await asyncio.wait(
                    {waiter, me}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                waiter.cancel()
                if me in done:
                    return aiohttp.web.json_response(
                        {
                            "ok": False,
                            "error_code": 409,
                            "description": "Conflict: terminated by other getUpdates request; "
                            "make sure that only one bot instance is running",
                        },
                        status=409,
                    )
        finally:
            if token in self._pollers and self._pollers[token][0] is me:
                del self._pollers[token]
        return self._ok(queue[:limit])

    # ---- modelled methods (bot, params) -> result -------------------------------------------
    def _m_getMe(self, bot: FakeBot, params: Mapping[str, Any]) -> Any:
        return bot.as_user()

    def _m_setWebhook(self, bot: FakeBot, params: Mapping[str, Any]) -> Any:
        """Like Telegram, minus its HTTPS requirement (tests serve plain HTTP on 127.0.0.1)."""
        url = str(params.get("url") or "")
        if not url.startswith(("https://", "http://")):
            raise _ApiError(TelegramError(400, "Bad Request: bad webhook: invalid URL"))
        secret = params.get("secret_token")
        if secret is not None and not (isinstance(secret, str) and 1 <= len(secret) <= 256):
            raise _ApiError(TelegramError(400, "Bad Request: bad webhook: invalid secret token"))
        self.webhooks[bot.token] = (url, secret)
        if params.get("drop_pending_updates"):
            self._updates[bot.token].clear()
        self._deliver_soon(bot.token)
        return True

    def _m_deleteWebhook(self, bot: FakeBot, params: Mapping[str, Any]) -> Any:
        self.webhooks.pop(bot.token, None)
        if params.get("drop_pending_updates"):
            self._updates[bot.token].clear()
        return True

    def _m_getWebhookInfo(self, bot: FakeBot, params: Mapping[str, Any]) -> Any:
        return {
            "url": self.webhooks.get(bot.token, ("", None))[0],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates[bot.token]),
        }

    @staticmethod
    def _check_text(params: Mapping[str, Any]) -> None:
        """The real API's limits: non-empty text of at most 4096 characters, at most 100 buttons."""
        text = str(params.get("text", ""))
        if not text.strip():
            raise _ApiError(TelegramError(400, "Bad Request: message text is empty"))
        if len(text) > MAX_TEXT_LENGTH:
            raise _ApiError(TelegramError(400, "Bad Request: message is too long"))
        markup = params.get("reply_markup")
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        if rows and sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
            raise _ApiError(TelegramError(400, "Bad Request: too many inline keyboard buttons"))

    def _m_sendMessage(self, bot: FakeBot, params: Mapping[str, Any]) -> Any:
        chat_id = self._chat_id(params)
        self._check_text(params)
        message_id = next(self._message_ids[(bot.token, chat_id)])
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": bot.as_user(),
            "text": str(params.get("text", "")),
        }
        self._set_markup(message, params)
        markup = params.get("reply_markup")
        self._record(bot, "sendMessage", message, markup if isinstance(markup, dict) else None)
        return message

    def _m_sendDocument(self, bot: FakeBot, params: Mapping[str, Any]) -> Any:
        """A document: the file travels as multipart ``attach://`` or inline, like the real API."""
        chat_id = self._chat_id(params)
        reference = str(params.get("document", ""))
        if reference.startswith("attach://"):
            reference = f"<file {reference.removeprefix('attach://')}>"
        upload = params.get(reference)
        if not isinstance(upload, dict):
            raise _ApiError(TelegramError(400, "Bad Request: there is no document in the request"))
        message_id = next(self._message_ids[(bot.token, chat_id)])
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": bot.as_user(),
            "document": {
                "file_id": f"doc{message_id}",
                "file_unique_id": f"u{message_id}",
                "file_name": upload["filename"],
            },
            "caption": str(params.get("caption", "")),
        }
        self.uploads.append((bot.token, chat_id, str(upload["filename"]), bytes(upload["content"])))
        self._record(bot, "sendDocument", message)
        return message

    def _m_sendVenue(self, bot: FakeBot, params: Mapping[str, Any]) -> Any:
        chat_id = self._chat_id(params)
        message_id = next(self._message_ids[(bot.token, chat_id)])
        venue = {
            "location": {"latitude": params.get("latitude"), "longitude": params.get("longitude")},
            "title": str(params.get("title", "")),
            "address": str(params.get("address", "")),
        }
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": bot.as_user(),
            "venue": venue,
            "location": venue["location"],
        }
        self._record(bot, "sendVenue", message)
        return message

    def _m_editMessageText(self, bot: FakeBot, params: Mapping[str, Any]) -> Any:
        message = self._existing(bot, params)
        self._check_text(params)
        message["text"] = str(params.get("text", ""))
        self._set_markup(message, params)
        message["edit_date"] = int(time.time())
        self._record(bot, "editMessageText", message)
        return message

    def _m_editMessageCaption(self, bot: FakeBot, params: Mapping[str, Any]) -> Any:
        message = self._existing(bot, params)
        message["caption"] = str(params.get("caption", ""))
        self._set_markup(message, params)
        self._record(bot, "editMessageCaption", message)
        return message

    def _m_editMessageReplyMarkup(self, bot: FakeBot, params: Mapping[str, Any]) -> Any:
        message = self._existing(bot, params)
        self._set_markup(message, params)
        self._record(bot, "editMessageReplyMarkup", message)
        return message

    def _m_deleteMessage(self, bot: FakeBot, params: Mapping[str, Any]) -> Any:
        chat_id = self._chat_id(params)
        messages = self._chats[(bot.token, chat_id)].messages
        if messages.pop(int(params.get("message_id", 0)), None) is None:
            raise _ApiError(TelegramError(400, "Bad Request: message to delete not found"))
        return True

    def _m_getManagedBotToken(self, bot: FakeBot, params: Mapping[str, Any]) -> Any:
        raise _ApiError(TelegramError(400, "Bad Request: stub it with set_result('getManagedBotToken', ...)"))

    # ---- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _chat_id(params: Mapping[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise _ApiError(TelegramError(400, "Bad Request: chat not found"))
        return chat_id

    def _existing(self, bot: FakeBot, params: Mapping[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        message = self._chats[(bot.token, chat_id)].messages.get(int(params.get("message_id", 0)))
        if message is None:
            raise _ApiError(TelegramError(400, "Bad Request: message to edit not found"))
        return message

    @staticmethod
    def _set_markup(message: dict[str, Any], params: Mapping[str, Any]) -> None:
        """A returned Message carries only an inline keyboard, as with the real API."""
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)

    def _record(
        self, bot: FakeBot, method: str, message: dict[str, Any], shown_markup: dict[str, Any] | None = None
    ) -> None:
        """Log what the chat now shows; ``shown_markup`` also keeps reply keyboards a send attached."""
        chat_id = int(message["chat"]["id"])
        chat = self._chats[(bot.token, chat_id)]
        chat.messages[int(message["message_id"])] = message
        snapshot = json.loads(json.dumps(message))
        chat.log.append(
            SentMessage(
                method=method,
                chat_id=chat_id,
                message_id=int(message["message_id"]),
                text=str(message.get("text") or message.get("caption") or ""),
                reply_markup=json.loads(json.dumps(shown_markup))
                if shown_markup
                else snapshot.get("reply_markup"),
                raw=snapshot,
            )
        )
        chat.changed.set()


class _StaticResolver(aiohttp.abc.AbstractResolver):
    """Names of the test's own (`deliver_over`), then the system's resolver."""

    def __init__(self, hosts: Mapping[str, str]) -> None:
        self._hosts = dict(hosts)
        self._system = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        address = self._hosts.get(host)
        if address is None:
            return await self._system.resolve(host, port, family)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        await self._system.close()


class _ApiError(Exception):
    def __init__(self, error: TelegramError) -> None:
        super().__init__(error.description)
        self.error = error
