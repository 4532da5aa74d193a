"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests of the real bot.

The real python-telegram-bot talks HTTP to it (``base_url``), exactly as to Telegram: PTB
POSTs form data (``application/x-www-form-urlencoded``; multipart when uploading) whose string
values are sent raw and every other value JSON-encoded, and reads ``{"ok": ..., "result": ...}``
or ``{"ok": false, "error_code": ..., "description": ..., "parameters": {...}}`` answers whose
HTTP status it maps to ``BadRequest``/``Forbidden``/``RetryAfter``/``ChatMigrated``.

The server runs in its own thread (stdlib ``ThreadingHTTPServer``), so it keeps answering while
a test's event loop runs the real ``Application``. Everything is guarded by one lock.

Usage (a pytest fixture and a test)::

    @pytest.fixture
    def tg() -> Iterator[FakeTelegram]:
        with FakeTelegram() as fake:
            yield fake

    async def test_start(tg: FakeTelegram) -> None:
        app = tg.application_builder().build()
        app.add_handler(CommandHandler("start", start))
        async with polling(app):
            tg.push_message(ALICE.id, ALICE, "/start")  # private chat with ALICE
            [reply] = await tg.wait_for_messages(1, chat_id=ALICE.id)
        assert "Hello" in reply.visible_text

Behaviour worth knowing:

- ``getUpdates`` long-polls: it answers at once when updates are queued (from ``offset`` on,
  confirming older ones, at most ``limit``), else waits for one up to ``min(timeout,
  poll_cap)`` seconds and answers ``[]``. With a webhook set it answers 409 like Telegram.
- ``sendMessage``/``editMessageText`` with ``parse_mode=HTML`` validate the text with the strict
  checker of ``telegram_html`` and answer 400 "Bad Request: can't parse entities: ..." when it
  fails; more than 4,096 visible characters (UTF-16 units) is 400 "Bad Request: message is too
  long"; an empty text is 400 "Bad Request: message text is empty".
- Message ids increase per chat (user messages pushed into a chat use the same counter).
- Forum topics: ``FakeChat.forum`` is a supergroup with topics; ``add_topic`` opens one (its
  thread id is the id of its service message, as in Telegram). ``push_message(thread_id=...)``
  writes in a topic (``message_thread_id``, ``is_topic_message``); ``sendMessage`` with a
  ``message_thread_id`` answers 400 "message thread not found" unless the chat is a forum
  with that topic, and the message it returns carries the topic.
- ``push_message(forward_from_chat=channel)`` forwards a channel post (``forward_origin``).
- Faults: ``fail_next`` (and the ``fail_*`` shortcuts) answer the next k calls of a method,
  optionally only for one chat, with 429 / 403 / 400 exactly as Telegram words them.
  ``kick_bot`` and ``migrate_chat`` change the chat for good, as in real life.
- Every call is recorded (``calls``): method, parsed parameters, monotonic time, the HTTP status
  and the answer. ``sent_messages`` lists the messages the bot sent successfully.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.telegram_html import MESSAGE_LIMIT, TelegramHTMLError, check_html, visible_length

if TYPE_CHECKING:
    from telegram.ext import Application, ApplicationBuilder

__all__ = [
    "ANONYMOUS_ADMIN",
    "BOT_ID",
    "BOT_TOKEN",
    "BOT_USERNAME",
    "ApiCall",
    "ApiError",
    "FakeChat",
    "FakeTelegram",
    "FakeUser",
    "SentMessage",
    "polling",
]

T = TypeVar("T")

BOT_ID = 7000000001
BOT_TOKEN = f"{BOT_ID}:AAFakeTokenForTheFakeBotApiServer0000"
BOT_USERNAME = "newsbot_test_bot"

# Parameters Telegram documents as strings: PTB sends them raw (not JSON-encoded), so they must
# not be JSON-decoded here ("123" as a message text stays a string).
_STRING_PARAMS = frozenset(
    {
        "text",
        "parse_mode",
        "caption",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "description",
        "short_description",
        "name",
        "title",
        "language_code",
        "emoji",
        "message_effect_id",
        "business_connection_id",
        "query",
        "custom_title",
    }
)

# Update types Telegram leaves out unless asked for in allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


@contextlib.asynccontextmanager
async def polling(
    app: Application[Any, Any, Any, Any, Any, Any], *, timeout: int = 1
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Run ``app`` (built from ``FakeTelegram.application_builder()``) with long polling for
    the duration of the block: initialize, start, start_polling; then stop it all."""
    async with app:
        await app.start()
        assert app.updater is not None, "build the application with an updater"
        await app.updater.start_polling(poll_interval=0.0, timeout=timeout)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


# -- values ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FakeUser:
    """A Telegram user (or bot) as updates carry it."""

    id: int
    first_name: str = "User"
    username: str | None = None
    is_bot: bool = False
    last_name: str | None = None
    language_code: str | None = None

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


ANONYMOUS_ADMIN = FakeUser(1087968824, "Group", "GroupAnonymousBot", is_bot=True)
"""The ``from`` of messages posted by anonymous group admins (with ``sender_chat`` the group)."""


@dataclass(frozen=True, slots=True)
class FakeChat:
    """A chat: ``type`` is private, group, supergroup or channel."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    is_forum: bool = False

    @classmethod
    def forum(cls, chat_id: int, title: str = "Test forum", username: str | None = None) -> FakeChat:
        """A supergroup with topics enabled (``add_topic`` opens topics in it)."""
        return cls(chat_id, "supergroup", title=title, username=username, is_forum=True)

    @classmethod
    def private(cls, user: FakeUser) -> FakeChat:
        """The private chat with ``user`` (its id is the user's id)."""
        return cls(user.id, "private", username=user.username, first_name=user.first_name)

    @classmethod
    def group(cls, chat_id: int, title: str = "Test group") -> FakeChat:
        """A basic group (negative id, e.g. -4001)."""
        return cls(chat_id, "group", title=title)

    @classmethod
    def supergroup(
        cls, chat_id: int, title: str = "Test supergroup", username: str | None = None
    ) -> FakeChat:
        """A supergroup (id like -100…)."""
        return cls(chat_id, "supergroup", title=title, username=username)

    @classmethod
    def channel(cls, chat_id: int, title: str = "Test channel", username: str | None = None) -> FakeChat:
        """A channel (id like -100…); ``username`` makes it addressable as ``@username``."""
        return cls(chat_id, "channel", title=title, username=username)

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass(frozen=True, slots=True)
class ApiError:
    """An error answer, worded as Telegram words it."""

    status: int
    description: str
    parameters: dict[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            data["parameters"] = dict(self.parameters)
        return data

    @classmethod
    def retry_after(cls, seconds: int) -> ApiError:
        """429 flood control; PTB raises ``RetryAfter``."""
        return cls(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})

    @classmethod
    def bot_kicked(cls, chat_type: str = "channel") -> ApiError:
        """403 after the bot was removed from a group/supergroup/channel; PTB: ``Forbidden``."""
        return cls(403, f"Forbidden: bot was kicked from the {chat_type} chat")

    @classmethod
    def bot_blocked(cls) -> ApiError:
        """403 from a private chat whose user blocked the bot."""
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def not_member(cls, chat_type: str = "channel") -> ApiError:
        """403 when the bot is not (or no longer) a member."""
        return cls(403, f"Forbidden: bot is not a member of the {chat_type} chat")

    @classmethod
    def cant_parse(cls, reason: str = 'Unsupported start tag "script" at byte offset 0') -> ApiError:
        """400 for text Telegram's HTML parser rejects; PTB: ``BadRequest``."""
        return cls(400, f"Bad Request: can't parse entities: {reason}")

    @classmethod
    def migrated(cls, new_chat_id: int) -> ApiError:
        """400 for a group upgraded to a supergroup; PTB raises ``ChatMigrated``."""
        return cls(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": new_chat_id},
        )

    @classmethod
    def bad_request(cls, what: str) -> ApiError:
        """Any other 400, e.g. ``bad_request("chat not found")``."""
        return cls(400, f"Bad Request: {what}")


class _Reply(Exception):
    """Raised inside a method to answer with an error."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.description)
        self.error = error


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request the bot made: method, parsed parameters, when, and what it got back."""

    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when the request arrived
    status: int
    response: dict[str, Any]

    @property
    def ok(self) -> bool:
        """True when the call succeeded (HTTP 200)."""
        return self.status == 200

    @property
    def chat_id(self) -> Any:
        """The ``chat_id`` parameter, if any."""
        return self.params.get("chat_id")


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the bot sent successfully (its current state, after edits)."""

    chat_id: int
    message_id: int
    text: str  # as sent (HTML source when parse_mode is HTML)
    visible_text: str  # what the user sees
    parse_mode: str | None
    params: dict[str, Any]
    at: float
    edits: tuple[str, ...] = ()  # earlier texts, oldest first (one per edit, buttons-only too)

    @property
    def reply_markup(self) -> Any:
        """The ``reply_markup`` parameter (decoded JSON), if any."""
        return self.params.get("reply_markup")

    @property
    def thread_id(self) -> int | None:
        """The forum topic it was sent to (``message_thread_id``), if any."""
        value = self.params.get("message_thread_id")
        return value if isinstance(value, int) else None

    @property
    def link_preview_disabled(self) -> bool:
        """True when link previews were switched off for this message."""
        options = self.params.get("link_preview_options")
        if isinstance(options, dict) and options.get("is_disabled"):
            return True
        return bool(self.params.get("disable_web_page_preview"))


@dataclass
class _Fault:
    method: str
    error: ApiError
    remaining: int
    chat_id: int | str | None


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[ApiCall] = field(default_factory=list)
    sent: dict[tuple[int, int], SentMessage] = field(default_factory=dict)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    next_message_id: dict[int, int] = field(default_factory=dict)
    chats: dict[int, FakeChat] = field(default_factory=dict)
    members: dict[tuple[int, int], tuple[str, dict[str, Any]]] = field(default_factory=dict)
    faults: list[_Fault] = field(default_factory=list)
    migrated: dict[int, int] = field(default_factory=dict)
    topics: dict[tuple[int, int], str] = field(default_factory=dict)  # (chat, thread) -> name
    callback_queries: dict[str, bool] = field(default_factory=dict)  # id -> answered
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    delays: dict[str, float] = field(default_factory=dict)
    confirmed_below: int = 0


# -- the server --------------------------------------------------------------------------------


# The fakes listening now, by base_url: test helpers that build the bot from a config find the
# fake it points at (``FakeTelegram.serving``) without every test handing it over.
_SERVING: dict[str, FakeTelegram] = {}

# The handler group after every group the bot uses: its handler runs once the bot is done.
HANDLED_GROUP = 1_000_000


class FakeTelegram:
    """A fake Bot API server. Start with ``start()`` (or ``with``), stop with ``stop()``."""

    def __init__(
        self,
        token: str = BOT_TOKEN,
        *,
        bot_username: str = BOT_USERNAME,
        bot_name: str = "Newsbot Test",
        poll_cap: float = 0.5,
        default_member_status: str = "member",
    ) -> None:
        self.token = token
        self.bot = FakeUser(int(token.split(":", 1)[0]), bot_name, bot_username, is_bot=True)
        self.poll_cap = poll_cap
        self.default_member_status = default_member_status
        # Re-entrant: helpers that lock are called from methods already holding the lock.
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._state = _State()
        self._update_ids = itertools.count(100001)
        self._query_ids = itertools.count(5000001)
        self._stopping = False
        self._handled: set[int] = set()
        self._in_flight: dict[str, int] = {}  # requests arrived and not yet answered, by method
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifetime ------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        """Listen on 127.0.0.1 on a free port, answering from a background thread."""
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        _SERVING[self.base_url] = self
        return self

    @staticmethod
    def serving(base_url: str) -> FakeTelegram | None:
        """The started fake whose ``base_url`` this is, if any."""
        return _SERVING.get(base_url)

    def stop(self) -> None:
        """Wake pending long polls and shut the server down."""
        if self._server is not None:
            _SERVING.pop(self.base_url, None)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._server is None:
            raise RuntimeError("FakeTelegram is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)`` (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def application_builder(self) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
        """A PTB ``ApplicationBuilder`` with token and URLs pointing at this server."""
        from telegram.ext import ApplicationBuilder

        return (
            ApplicationBuilder().token(self.token).base_url(self.base_url).base_file_url(self.base_file_url)
        )

    # -- chats and members -----------------------------------------------------------------

    def add_chat(self, chat: FakeChat) -> FakeChat:
        """Make ``chat`` known (pushing a message into it does this too)."""
        with self._lock:
            self._state.chats[chat.id] = chat
        return chat

    def chat(self, chat_id: int) -> FakeChat | None:
        """The known chat with this id (following no migration)."""
        with self._lock:
            return self._state.chats.get(chat_id)

    def set_member_status(self, chat_id: int, user_id: int, status: str, **fields: Any) -> None:
        """What ``getChatMember(chat_id, user_id)`` answers: creator, administrator, member,
        restricted, left or kicked; ``fields`` override the rights of the ChatMember object.
        The bot's own status in a chat decides whether it may send there (kicked/left: 403)."""
        if status not in {"creator", "administrator", "member", "restricted", "left", "kicked"}:
            raise ValueError(f"unknown chat member status {status!r}")
        with self._lock:
            self._state.members[(chat_id, user_id)] = (status, fields)

    def member_status(self, chat_id: int, user_id: int) -> str:
        """The status ``getChatMember`` would answer."""
        with self._lock:
            return self._status(chat_id, user_id)[0]

    def add_topic(self, chat: FakeChat, name: str) -> int:
        """Open a forum topic in ``chat`` (made with ``FakeChat.forum``); returns its thread id."""
        if not chat.is_forum:
            raise ValueError(f"chat {chat.id} is not a forum")
        self.add_chat(chat)
        with self._lock:
            thread_id = self._new_message_id(chat.id)
            self._state.topics[(chat.id, thread_id)] = name
        return thread_id

    def kick_bot(self, chat_id: int) -> None:
        """Remove the bot from the chat for good: sending there answers 403 from now on
        ("bot was kicked from the channel chat"; "bot was blocked by the user" in private)."""
        self.set_member_status(chat_id, self.bot.id, "kicked")

    def migrate_chat(self, old_chat_id: int, new_chat_id: int, *, announce: bool = False) -> None:
        """Upgrade group ``old_chat_id`` to supergroup ``new_chat_id``: calls naming the old id
        answer 400 "group chat was upgraded to a supergroup chat" with migrate_to_chat_id.
        ``announce`` also queues the two service messages Telegram sends."""
        with self._lock:
            old = self._state.chats.get(old_chat_id) or FakeChat.group(old_chat_id)
            new = FakeChat.supergroup(new_chat_id, old.title or "Test supergroup")
            self._state.chats[new_chat_id] = new
            self._state.migrated[old_chat_id] = new_chat_id
            for (chat_id, user_id), value in list(self._state.members.items()):
                if chat_id == old_chat_id:
                    self._state.members[(new_chat_id, user_id)] = value
        if announce:
            self._push_message_update("message", old, self.bot, {"migrate_to_chat_id": new_chat_id})
            self._push_message_update("message", new, self.bot, {"migrate_from_chat_id": old_chat_id})

    # -- pushing updates -------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (``update_id`` is assigned); returns it."""
        with self._cond:
            update = {"update_id": next(self._update_ids), **update}
            self._state.updates.append(update)
            self._cond.notify_all()
        return update

    def push_message(
        self,
        chat: FakeChat | int,
        user: FakeUser | int,
        text: str,
        *,
        sender_chat: FakeChat | None = None,
        reply_to_message_id: int | None = None,
        thread_id: int | None = None,
        forward_from_chat: FakeChat | None = None,
    ) -> dict[str, Any]:
        """``user`` writes ``text`` in ``chat`` (private, group or supergroup). Commands get
        their ``bot_command`` entity as Telegram sets it. ``sender_chat`` marks an anonymous
        admin (use ``ANONYMOUS_ADMIN`` as user) or a linked channel; ``thread_id`` writes in a
        forum topic; ``forward_from_chat`` makes it a post forwarded from that channel.
        Returns the update."""
        u = user if isinstance(user, FakeUser) else FakeUser(user, f"User{user}")
        c = self._chat_for(chat, u)
        extra: dict[str, Any] = {"text": text}
        entities = _command_entities(text) if forward_from_chat is None else []
        if entities:
            extra["entities"] = entities
        if sender_chat is not None:
            extra["sender_chat"] = sender_chat.to_api()
        if thread_id is not None:
            with self._lock:
                if (c.id, thread_id) not in self._state.topics:
                    raise ValueError(f"no topic {thread_id} in chat {c.id}: add_topic first")
            extra.update(message_thread_id=thread_id, is_topic_message=True)
        if forward_from_chat is not None:
            self.add_chat(forward_from_chat)
            extra["forward_origin"] = {
                "type": "channel",
                "chat": forward_from_chat.to_api(),
                "message_id": 77,
                "date": int(time.time()) - 60,
            }
        if reply_to_message_id is not None:
            with self._lock:
                replied = self._state.messages.get((c.id, reply_to_message_id))
            if replied is not None:
                extra["reply_to_message"] = replied
        return self._push_message_update("message", c, u, extra)

    def push_channel_post(
        self, chat: FakeChat | int, text: str, *, author_signature: str | None = None
    ) -> dict[str, Any]:
        """A post in a channel (a ``channel_post`` update: no ``from``, ``sender_chat`` is the
        channel; only the channel's admins can post). Returns the update."""
        c = chat if isinstance(chat, FakeChat) else self._known_chat(chat)
        self.add_chat(c)
        extra: dict[str, Any] = {"text": text, "sender_chat": c.to_api()}
        entities = _command_entities(text)
        if entities:
            extra["entities"] = entities
        if author_signature is not None:
            extra["author_signature"] = author_signature
        return self._push_message_update("channel_post", c, None, extra)

    def push_callback_query(
        self,
        chat: FakeChat | int,
        user: FakeUser | int,
        data: str,
        *,
        message_id: int | None = None,
    ) -> str:
        """``user`` presses an inline button with callback ``data`` on the bot's message
        ``message_id`` in ``chat`` (default: the bot's latest message there). Returns the
        callback query id (answer it with answerCallbackQuery)."""
        u = user if isinstance(user, FakeUser) else FakeUser(user, f"User{user}")
        c = self._chat_for(chat, u)
        with self._lock:
            if message_id is None:
                own = [m for (cid, _), m in self._state.sent.items() if cid == c.id]
                message_id = own[-1].message_id if own else None
            message = self._state.messages.get((c.id, message_id)) if message_id is not None else None
            query_id = str(next(self._query_ids))
            self._state.callback_queries[query_id] = False
        if message is None:
            message = {
                "message_id": message_id or 1,
                "date": int(time.time()),
                "chat": c.to_api(),
                "from": self.bot.to_api(),
                "text": "",
            }
        self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": u.to_api(),
                    "message": message,
                    "chat_instance": str(abs(c.id)),
                    "data": data,
                }
            }
        )
        return query_id

    def push_my_chat_member(
        self, chat: FakeChat, by: FakeUser, old_status: str, new_status: str
    ) -> dict[str, Any]:
        """The bot's status in ``chat`` changed (added as admin, removed...), by user ``by``;
        ``getChatMember`` for the bot follows the new status. Returns the update."""
        self.add_chat(chat)
        self.set_member_status(chat.id, self.bot.id, new_status)
        with self._lock:
            old = self._member_object(chat, self.bot, old_status, {})
            new = self._member_object(chat, self.bot, new_status, {})
        return self.push_update(
            {
                "my_chat_member": {
                    "chat": chat.to_api(),
                    "from": by.to_api(),
                    "date": int(time.time()),
                    "old_chat_member": old,
                    "new_chat_member": new,
                }
            }
        )

    def deliver_to_webhook(self, *, secret_token: str | None = None, timeout: float = 5.0) -> list[int]:
        """Webhook mode: POST every queued update to the URL set with setWebhook, as Telegram
        does (JSON body, ``X-Telegram-Bot-Api-Secret-Token`` header with the secret given to
        setWebhook, or ``secret_token`` to impersonate someone else). Updates answered 2xx
        are removed from the queue. Blocking: call it with ``asyncio.to_thread`` from a test.
        Returns the HTTP status of each delivery."""
        with self._lock:
            hook = dict(self._state.webhook or {})
            updates = list(self._state.updates)
        if not hook.get("url"):
            raise RuntimeError("no webhook set (setWebhook was not called)")
        secret = secret_token if secret_token is not None else hook.get("secret_token")
        statuses = []
        for update in updates:
            request = urllib.request.Request(
                str(hook["url"]),
                data=json.dumps(update).encode("utf-8"),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            if secret:
                request.add_header("X-Telegram-Bot-Api-Secret-Token", str(secret))
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    status = int(response.status)
            except urllib.error.HTTPError as exc:
                status = exc.code
            statuses.append(status)
            if 200 <= status < 300:
                with self._lock:
                    self._state.updates = [
                        u for u in self._state.updates if u["update_id"] != update["update_id"]
                    ]
        return statuses

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset."""
        with self._lock:
            return list(self._state.updates)

    # -- faults and latency ------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error: ApiError,
        *,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (only those for ``chat_id`` if given)
        with ``error``. Faults queue up in the order they were added."""
        with self._lock:
            self._state.faults.append(_Fault(method.lower(), error, times, chat_id))

    def fail_retry_after(
        self, method: str, retry_after: int = 1, *, times: int = 1, chat_id: int | None = None
    ) -> None:
        """429 "Too Many Requests: retry after N" with parameters.retry_after."""
        self.fail_next(method, ApiError.retry_after(retry_after), times=times, chat_id=chat_id)

    def fail_forbidden(self, method: str, *, times: int = 1, chat_id: int | None = None) -> None:
        """403 "Forbidden: bot was kicked from the <type> chat" (type from the known chat,
        "channel" if unknown; "bot was blocked by the user" for private chats)."""
        chat = self.chat(chat_id) if chat_id is not None else None
        if chat is not None and chat.type == "private":
            error = ApiError.bot_blocked()
        else:
            error = ApiError.bot_kicked(chat.type if chat is not None else "channel")
        self.fail_next(method, error, times=times, chat_id=chat_id)

    def fail_cant_parse(
        self,
        method: str = "sendMessage",
        *,
        times: int = 1,
        chat_id: int | None = None,
        reason: str = 'Can\'t find end tag corresponding to start tag "b"',
    ) -> None:
        """400 "Bad Request: can't parse entities: <reason>"."""
        self.fail_next(method, ApiError.cant_parse(reason), times=times, chat_id=chat_id)

    def fail_migrated(
        self,
        chat_id: int,
        new_chat_id: int,
        *,
        method: str = "sendMessage",
        times: int = 1,
    ) -> None:
        """400 "group chat was upgraded to a supergroup chat" with migrate_to_chat_id, for the
        next ``times`` calls only (``migrate_chat`` makes it permanent)."""
        self.fail_next(method, ApiError.migrated(new_chat_id), times=times, chat_id=chat_id)

    def set_delay(self, method: str, seconds: float) -> None:
        """Hold every answer to ``method`` for ``seconds`` (0 removes the delay)."""
        with self._lock:
            self._state.delays[method.lower()] = seconds

    # -- inspection ------------------------------------------------------------------------

    def calls(self, method: str | None = None, *, chat_id: int | str | None = None) -> list[ApiCall]:
        """Recorded calls, oldest first; only ``method``'s (case-insensitive) and/or only those
        whose ``chat_id`` parameter equals ``chat_id`` when given."""
        with self._lock:
            calls = list(self._state.calls)
        if method is not None:
            calls = [c for c in calls if c.method.lower() == method.lower()]
        if chat_id is not None:
            calls = [c for c in calls if c.chat_id == chat_id]
        return calls

    def sent_messages(self, chat_id: int | None = None) -> list[SentMessage]:
        """Messages the bot sent successfully (current text after edits), in sending order."""
        with self._lock:
            sent = sorted(self._state.sent.values(), key=lambda m: m.at)
        if chat_id is not None:
            sent = [m for m in sent if m.chat_id == chat_id]
        return sent

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        """The command list last set with setMyCommands for ``scope``/``language_code``."""
        key = _commands_key(scope, language_code)
        with self._lock:
            return list(self._state.commands.get(key, []))

    def clear_calls(self) -> None:
        """Forget recorded calls (sent messages stay)."""
        with self._lock:
            self._state.calls.clear()

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:
        """Await until ``predicate()`` returns something truthy and return it; ``TimeoutError``
        (listing the calls so far) after ``timeout`` seconds. Polls, so it never blocks the
        event loop the bot runs on."""
        clock = asyncio.get_running_loop().time
        deadline = clock() + timeout
        while not (value := self._check(predicate, clock, deadline, timeout)):
            await asyncio.sleep(interval)
        return value

    def wait_for_sync(self, predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:
        """``wait_for`` for code outside an event loop."""
        deadline = time.monotonic() + timeout
        while not (value := self._check(predicate, time.monotonic, deadline, timeout)):
            time.sleep(interval)
        return value

    def _check(
        self, predicate: Callable[[], T], clock: Callable[[], float], deadline: float, timeout: float
    ) -> T | None:
        """One look for ``wait_for``: what ``predicate()`` gives when truthy, else None, or
        ``TimeoutError`` once ``clock()`` is past ``deadline``."""
        value = predicate()
        if value:
            return value
        if clock() >= deadline:
            raise TimeoutError(self._timeout_message(timeout))
        return None

    def in_flight(self, method: str) -> int:
        """How many ``method`` requests have arrived and are not answered yet (see ``set_delay``)."""
        with self._lock:
            return self._in_flight.get(method.lower(), 0)

    def handled_updates(self) -> set[int]:
        """The update ids the watched bot has finished handling (see ``watch``)."""
        with self._lock:
            return set(self._handled)

    def watch(self, application: Any) -> None:
        """Have a PTB ``Application`` talking to this fake report each update it has finished
        handling (a handler in a group after all of the bot's own), for ``wait_handled``."""
        from telegram import Update
        from telegram.ext import TypeHandler

        async def handled(update: Update, context: Any) -> None:
            with self._lock:
                self._handled.add(update.update_id)

        application.add_handler(TypeHandler(Update, handled), group=HANDLED_GROUP)

    async def wait_handled(self, update_id: int, timeout: float = 10.0) -> None:
        """Await until the watched bot has handled update ``update_id`` (see ``watch``)."""

        def done() -> bool:
            with self._lock:
                return update_id in self._handled

        await self.wait_for(done, timeout)

    async def wait_for_messages(
        self, count: int = 1, *, chat_id: int | None = None, timeout: float = 5.0
    ) -> list[SentMessage]:
        """Await until at least ``count`` messages were sent (to ``chat_id``); return them all."""

        def enough() -> list[SentMessage]:
            sent = self.sent_messages(chat_id)
            return sent if len(sent) >= count else []

        return await self.wait_for(enough, timeout)

    def _timeout_message(self, timeout: float) -> str:
        summary = [
            f"{c.method}({_short(c.params)}) -> {c.status}"
            for c in self.calls()
            if c.method.lower() != "getupdates"
        ]
        return f"condition not met within {timeout}s; calls so far: {summary[-20:]}"

    # -- request handling (server threads) ------------------------------------------------------

    def handle(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer one API request: (HTTP status, JSON body). Records the call."""
        arrived = time.monotonic()
        if token != self.token:
            status, body = 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        else:
            impl = _METHODS.get(method.lower())
            if impl is None:
                status, body = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
            else:
                with self._lock:
                    delay = self._state.delays.get(method.lower(), 0.0)
                    self._in_flight[method.lower()] = self._in_flight.get(method.lower(), 0) + 1
                try:
                    if delay:
                        time.sleep(delay)
                    self._injected_fault(method, params)
                    result = impl(self, params)
                    status, body = 200, {"ok": True, "result": result}
                except _Reply as reply:
                    status, body = reply.error.status, reply.error.payload()
                finally:
                    with self._lock:
                        self._in_flight[method.lower()] -= 1
        with self._lock:
            self._state.calls.append(ApiCall(method, params, arrived, status, body))
        return status, body

    def _injected_fault(self, method: str, params: dict[str, Any]) -> None:
        with self._lock:
            for fault in self._state.faults:
                if fault.method != method.lower() or fault.remaining <= 0:
                    continue
                if fault.chat_id is not None and not self._same_chat(fault.chat_id, params.get("chat_id")):
                    continue
                fault.remaining -= 1
                self._state.faults = [f for f in self._state.faults if f.remaining > 0]
                raise _Reply(fault.error)

    def _same_chat(self, wanted: int | str, given: Any) -> bool:
        if wanted == given:
            return True
        try:
            return self._resolve_chat(wanted).id == self._resolve_chat(given).id
        except _Reply:
            return False

    # -- helpers (call with the lock held where noted) --------------------------------------

    def _chat_for(self, chat: FakeChat | int, user: FakeUser) -> FakeChat:
        if isinstance(chat, FakeChat):
            return self.add_chat(chat)
        known = self.chat(chat)
        if known is not None:
            return known
        if chat == user.id:
            return self.add_chat(FakeChat.private(user))
        return self.add_chat(self._known_chat(chat))

    def _known_chat(self, chat_id: int) -> FakeChat:
        known = self.chat(chat_id)
        if known is not None:
            return known
        if chat_id > 0:
            return FakeChat(chat_id, "private", first_name=f"User{chat_id}")
        if str(chat_id).startswith("-100"):
            return FakeChat.supergroup(chat_id)
        return FakeChat.group(chat_id)

    def _resolve_chat(self, chat_id: Any) -> FakeChat:
        """The chat a ``chat_id`` parameter names (lock held or not: reads only)."""
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for chat in list(self._state.chats.values()):
                if chat.username and chat.username.lower() == chat_id[1:].lower():
                    return chat
            raise _Reply(ApiError.bad_request("chat not found"))
        if isinstance(chat_id, str):
            try:
                chat_id = int(chat_id)
            except ValueError:
                raise _Reply(ApiError.bad_request("chat not found")) from None
        if not isinstance(chat_id, int) or isinstance(chat_id, bool) or chat_id == 0:
            raise _Reply(ApiError.bad_request("chat not found"))
        known = self._state.chats.get(chat_id)
        if known is None:
            known = self._known_chat(chat_id)
            self._state.chats[chat_id] = known
        return known

    def _current_chat(self, chat_id: Any) -> FakeChat:
        """Resolve ``chat_id`` and refuse like Telegram a group that became a supergroup."""
        chat = self._resolve_chat(chat_id)
        new_id = self._state.migrated.get(chat.id)
        if new_id is not None:
            raise _Reply(ApiError.migrated(new_id))
        return chat

    def _writable_chat(self, chat_id: Any) -> FakeChat:
        """Resolve ``chat_id`` and refuse like Telegram when the bot cannot write there."""
        chat = self._current_chat(chat_id)
        status = self._status(chat.id, self.bot.id)[0]
        if status == "kicked":
            if chat.type == "private":
                raise _Reply(ApiError.bot_blocked())
            raise _Reply(ApiError.bot_kicked(chat.type))
        if status == "left" and chat.type != "private":
            raise _Reply(ApiError.not_member(chat.type))
        return chat

    def _status(self, chat_id: int, user_id: int) -> tuple[str, dict[str, Any]]:
        found = self._state.members.get((chat_id, user_id))
        if found is not None:
            return found
        if user_id == self.bot.id:
            chat = self._state.chats.get(chat_id)
            # The bot can write in private chats and is assumed to be an admin elsewhere.
            return ("member" if chat is not None and chat.type == "private" else "administrator"), {}
        return self.default_member_status, {}

    def _member_object(
        self, chat: FakeChat, user: FakeUser, status: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"status": status, "user": user.to_api()}
        if status == "creator":
            data["is_anonymous"] = False
        elif status == "administrator":
            data.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
            )
            if chat.type == "channel":
                data.update(can_post_messages=True, can_edit_messages=True)
            else:
                data.update(can_pin_messages=True)
        elif status == "restricted":
            data.update(
                is_member=True,
                can_send_messages=False,
                can_send_audios=False,
                can_send_documents=False,
                can_send_photos=False,
                can_send_videos=False,
                can_send_video_notes=False,
                can_send_voice_notes=False,
                can_send_polls=False,
                can_send_other_messages=False,
                can_add_web_page_previews=False,
                can_change_info=False,
                can_invite_users=False,
                can_pin_messages=False,
                can_manage_topics=False,
                until_date=0,
            )
        elif status == "kicked":
            data["until_date"] = 0
        data.update(fields)
        return data

    def _new_message_id(self, chat_id: int) -> int:
        message_id = self._state.next_message_id.get(chat_id, 1)
        self._state.next_message_id[chat_id] = message_id + 1
        return message_id

    def _push_message_update(
        self, kind: str, chat: FakeChat, user: FakeUser | None, extra: dict[str, Any]
    ) -> dict[str, Any]:
        self.add_chat(chat)
        with self._lock:
            message: dict[str, Any] = {
                "message_id": self._new_message_id(chat.id),
                "date": int(time.time()),
                "chat": chat.to_api(),
            }
            if user is not None:
                message["from"] = user.to_api()
            message.update(extra)
            self._state.messages[(chat.id, message["message_id"])] = message
        return self.push_update({kind: message})

    def _visible_text(self, text: Any, parse_mode: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            raise _Reply(ApiError.bad_request("message text is empty"))
        if parse_mode is None or parse_mode == "":
            visible = text
        elif not isinstance(parse_mode, str):
            raise _Reply(ApiError.bad_request("unsupported parse_mode"))
        elif parse_mode.lower() == "html":
            try:
                visible = check_html(text)
            except TelegramHTMLError as exc:
                raise _Reply(ApiError.cant_parse(str(exc))) from None
        elif parse_mode.lower() in ("markdown", "markdownv2"):
            visible = text  # not validated: the bot uses HTML only
        else:
            raise _Reply(ApiError.bad_request(f"unsupported parse_mode {parse_mode!r}"))
        visible = visible.strip()
        if not visible:
            raise _Reply(ApiError.bad_request("message text is empty"))
        if visible_length(visible) > MESSAGE_LIMIT:
            raise _Reply(ApiError.bad_request("message is too long"))
        return visible


def _commands_key(scope: Any, language_code: Any) -> str:
    scope_json = json.dumps(scope or {"type": "default"}, sort_keys=True)
    return f"{scope_json}|{language_code or ''}"


def _command_entities(text: str) -> list[dict[str, Any]]:
    """The ``bot_command`` entity Telegram attaches to a message starting with /command."""
    if not text.startswith("/"):
        return []
    token = text.split(maxsplit=1)[0]
    if len(token) < 2:
        return []
    return [{"type": "bot_command", "offset": 0, "length": visible_length(token)}]


def _short(params: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return text if len(text) <= 120 else text[:117] + "..."


# -- API methods (run in server threads) ------------------------------------------------------

_Method = Callable[[FakeTelegram, dict[str, Any]], Any]
_METHODS: dict[str, _Method] = {}


def _api(name: str) -> Callable[[_Method], _Method]:
    def register(fn: _Method) -> _Method:
        _METHODS[name.lower()] = fn
        return fn

    return register


@_api("getMe")
def _get_me(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    return {
        **tg.bot.to_api(),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@_api("getUpdates")
def _get_updates(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    offset = int(params.get("offset") or 0)
    limit = max(1, min(int(params.get("limit") or 100), 100))
    timeout = max(0.0, float(params.get("timeout") or 0))
    allowed = params.get("allowed_updates")
    wanted: Callable[[dict[str, Any]], bool]
    if isinstance(allowed, list) and allowed:
        allowed_set = set(allowed)
        wanted = lambda u: any(k in allowed_set for k in u if k != "update_id")  # noqa: E731
    else:
        wanted = lambda u: not any(k in _OPT_IN_UPDATES for k in u)  # noqa: E731
    deadline = time.monotonic() + min(timeout, tg.poll_cap)
    with tg._cond:
        if tg._state.webhook is not None:
            raise _Reply(
                ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            )
        if offset > 0:
            # Confirm: everything below the offset is gone for good.
            tg._state.updates = [u for u in tg._state.updates if u["update_id"] >= offset]
        elif offset < 0:
            tg._state.updates = tg._state.updates[offset:]
        while True:
            ready = [u for u in tg._state.updates if wanted(u)][:limit]
            if ready or tg._stopping:
                return ready
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            tg._cond.wait(remaining)


def _send_message(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    with tg._lock:
        chat = tg._writable_chat(params.get("chat_id"))
        text = params.get("text")
        parse_mode = params.get("parse_mode")
        visible = tg._visible_text(text, parse_mode)
        thread_id = params.get("message_thread_id")
        if thread_id is not None and (
            not chat.is_forum or (chat.id, thread_id) not in tg._state.topics
        ):
            raise _Reply(ApiError.bad_request("message thread not found"))
        message_id = tg._new_message_id(chat.id)
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat.to_api(),
            "text": visible,
        }
        if thread_id is not None:
            message.update(message_thread_id=thread_id, is_topic_message=True)
        if chat.type == "channel":
            message["sender_chat"] = chat.to_api()
        else:
            message["from"] = tg.bot.to_api()
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        tg._state.messages[(chat.id, message_id)] = message
        tg._state.sent[(chat.id, message_id)] = SentMessage(
            chat_id=chat.id,
            message_id=message_id,
            text=str(text),
            visible_text=visible,
            parse_mode=parse_mode if isinstance(parse_mode, str) else None,
            params=dict(params),
            at=time.monotonic(),
        )
        return message


_api("sendMessage")(_send_message)


@_api("editMessageReplyMarkup")
def _edit_message_reply_markup(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    """Only the buttons change; the text stays (recorded as one more edit of the message)."""
    with tg._lock:
        chat = tg._writable_chat(params.get("chat_id"))
        message_id = params.get("message_id")
        key = (chat.id, message_id if isinstance(message_id, int) else -1)
        message = tg._state.messages.get(key)
        sent = tg._state.sent.get(key)
        if message is None or sent is None:
            raise _Reply(ApiError.bad_request("message to edit not found"))
        markup = params.get("reply_markup")
        if markup == sent.params.get("reply_markup"):
            raise _Reply(ApiError.bad_request("message is not modified"))
        message = {**message, "edit_date": int(time.time())}
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        tg._state.messages[key] = message
        tg._state.sent[key] = replace(
            sent, params={**sent.params, "reply_markup": markup}, edits=(*sent.edits, sent.text)
        )
        return message


@_api("editMessageText")
def _edit_message_text(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    with tg._lock:
        if params.get("inline_message_id") is not None:
            raise _Reply(ApiError.bad_request("inline messages are not supported by the fake"))
        chat = tg._writable_chat(params.get("chat_id"))
        message_id = params.get("message_id")
        key = (chat.id, message_id if isinstance(message_id, int) else -1)
        message = tg._state.messages.get(key)
        if message is None:
            raise _Reply(ApiError.bad_request("message to edit not found"))
        sent = tg._state.sent.get(key)
        if sent is None:
            raise _Reply(ApiError.bad_request("message can't be edited"))
        text = params.get("text")
        parse_mode = params.get("parse_mode")
        visible = tg._visible_text(text, parse_mode)
        markup = params.get("reply_markup")
        if text == sent.text and markup == sent.params.get("reply_markup"):
            raise _Reply(
                ApiError.bad_request(
                    "message is not modified: specified new message content and reply markup "
                    "are exactly the same as a current content and reply markup of the message"
                )
            )
        message = {**message, "text": visible, "edit_date": int(time.time())}
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        tg._state.messages[key] = message
        tg._state.sent[key] = replace(
            sent,
            text=str(text),
            visible_text=visible,
            parse_mode=parse_mode if isinstance(parse_mode, str) else None,
            params={**sent.params, **params},
            edits=(*sent.edits, sent.text),
        )
        return message


@_api("deleteMessage")
def _delete_message(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    with tg._lock:
        chat = tg._writable_chat(params.get("chat_id"))
        key = (chat.id, params.get("message_id") if isinstance(params.get("message_id"), int) else -1)
        if key not in tg._state.messages:
            raise _Reply(ApiError.bad_request("message to delete not found"))
        del tg._state.messages[key]
        tg._state.sent.pop(key, None)
        return True


@_api("answerCallbackQuery")
def _answer_callback_query(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    query_id = params.get("callback_query_id")
    with tg._lock:
        if tg._state.callback_queries.get(str(query_id)) is not False:
            raise _Reply(
                ApiError.bad_request("query is too old and response timeout expired or query ID is invalid")
            )
        tg._state.callback_queries[str(query_id)] = True
        return True


@_api("getChatMember")
def _get_chat_member(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    with tg._lock:
        chat = tg._current_chat(params.get("chat_id"))
        user_id = params.get("user_id")
        if not isinstance(user_id, int):
            raise _Reply(ApiError.bad_request("invalid user_id specified"))
        status, fields = tg._status(chat.id, user_id)
        user = tg.bot if user_id == tg.bot.id else FakeUser(user_id, f"User{user_id}")
        return tg._member_object(chat, user, status, fields)


@_api("getChatAdministrators")
def _get_chat_administrators(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    with tg._lock:
        chat = tg._resolve_chat(params.get("chat_id"))
        admins = []
        bot_status = tg._status(chat.id, tg.bot.id)[0]
        if bot_status in ("creator", "administrator"):
            admins.append(tg._member_object(chat, tg.bot, bot_status, {}))
        for (chat_id, user_id), (status, fields) in tg._state.members.items():
            if chat_id == chat.id and user_id != tg.bot.id and status in ("creator", "administrator"):
                admins.append(tg._member_object(chat, FakeUser(user_id, f"User{user_id}"), status, fields))
        return admins


@_api("getChat")
def _get_chat(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    with tg._lock:
        chat = tg._current_chat(params.get("chat_id"))
        return {
            **chat.to_api(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }


@_api("setMyCommands")
def _set_my_commands(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    commands = params.get("commands")
    if not isinstance(commands, list):
        raise _Reply(ApiError.bad_request('parameter "commands" is required'))
    for command in commands:
        name = command.get("command", "") if isinstance(command, dict) else ""
        if not (1 <= len(name) <= 32) or not all(c.islower() or c.isdigit() or c == "_" for c in name):
            raise _Reply(ApiError.bad_request("BOT_COMMAND_INVALID"))
        if not (1 <= len(command.get("description", "")) <= 256):
            raise _Reply(ApiError.bad_request("BOT_COMMAND_DESCRIPTION_INVALID"))
    with tg._lock:
        tg._state.commands[_commands_key(params.get("scope"), params.get("language_code"))] = commands
    return True


@_api("getMyCommands")
def _get_my_commands(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    return tg.commands(params.get("scope"), params.get("language_code") or "")


@_api("deleteMyCommands")
def _delete_my_commands(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    with tg._lock:
        tg._state.commands.pop(_commands_key(params.get("scope"), params.get("language_code")), None)
    return True


def _replace_webhook(tg: FakeTelegram, hook: dict[str, Any] | None, *, drop_pending: bool) -> bool:
    with tg._lock:
        tg._state.webhook = hook
        if drop_pending:
            tg._state.updates.clear()
    return True


@_api("setWebhook")
def _set_webhook(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    if not params.get("url"):  # an empty URL removes the webhook (and keeps what is pending)
        return _replace_webhook(tg, None, drop_pending=False)
    return _replace_webhook(tg, dict(params), drop_pending=bool(params.get("drop_pending_updates")))


@_api("deleteWebhook")
def _delete_webhook(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    return _replace_webhook(tg, None, drop_pending=bool(params.get("drop_pending_updates")))


@_api("getWebhookInfo")
def _get_webhook_info(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    with tg._lock:
        hook = tg._state.webhook or {}
        return {
            "url": hook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(tg._state.updates),
            **({"allowed_updates": hook["allowed_updates"]} if "allowed_updates" in hook else {}),
        }


@_api("sendChatAction")
def _send_chat_action(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    with tg._lock:
        tg._writable_chat(params.get("chat_id"))
    return True


@_api("close")
def _close(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    return True


@_api("logOut")
def _log_out(tg: FakeTelegram, params: dict[str, Any]) -> Any:
    return True


# -- HTTP -------------------------------------------------------------------------------------


def _decode_value(key: str, raw: str) -> Any:
    """PTB sends strings raw and everything else as JSON (see RequestParameter.json_value)."""
    if key in _STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    ctype = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}
    if ctype == "application/json":
        data = json.loads(body)
        return dict(data) if isinstance(data, dict) else {}
    if ctype == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        params: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            if part.get_filename():
                params[name] = payload  # an uploaded file: keep the bytes
            elif isinstance(payload, bytes):
                params[name] = _decode_value(name, payload.decode("utf-8"))
        return params
    return {k: _decode_value(k, v) for k, v in parse_qsl(body.decode("utf-8"), keep_blank_values=True)}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTelegram  # set on the bound subclass
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API (PTB pools connections)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the token is in every path

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) == 2 and parts[0].startswith("bot"):
            token, method = parts[0][3:], parts[1]
            try:
                params = {k: _decode_value(k, v) for k, v in parse_qsl(url.query)}
                params.update(_parse_body(self.headers.get("Content-Type", ""), body))
            except (ValueError, UnicodeDecodeError) as exc:
                status, payload = 400, ApiError.bad_request(f"can't parse request: {exc}").payload()
            else:
                status, payload = self.fake.handle(token, method, params)
        else:
            status, payload = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
