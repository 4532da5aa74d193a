"""What every command shares: the chat and sender of an update, replies (HTML, previews off,
into the forum topic asked from), translation, and the HTML of refusals and errors.

Every reply is Telegram HTML built from escaped pieces (``esc`` / ``bot.render.escape``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from telegram import (
    Chat,
    ChatFullInfo,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from storage import chats as chat_store
from storage.chats import ChatInfo
from stories.errors import Message, Plural
from stories.query import QueryError

from ..actions.stories import QueryMissing, QueryTooLong, StoryNotFound, check_query, missing_story
from ..i18n import Translator, choose_language, translator
from ..keyboards import CallbackSigner, load_signer
from ..outbox import NO_PREVIEW
from ..permissions import Actor, actor_of
from ..render import escape, render_plain, visible_length
from ..services import Runtime, runtime_of

log = logging.getLogger("newsbot.bot")

Context = ContextTypes.DEFAULT_TYPE

MAX_STORY_BUTTONS = 40
MAX_TITLE = 128


def N_(message: str) -> str:
    """Marks a message for the catalogue; translated where it is shown."""
    return message


def say(tr: Translator, message: Message | str) -> str:
    """A message of the core (an error's, a schedule's) as HTML in ``tr``'s language. Its
    template is plain text (the core knows no HTML): translated, then escaped, then filled
    with its values, text escaped, numbers as the language writes them, a Message said the
    same way. A plain text (English only) is escaped."""
    if isinstance(message, str):
        return escape(message)
    values: dict[str, object] = {}
    for name, value in message.params.items():
        if isinstance(value, Message):
            values[name] = say(tr, value)
        elif isinstance(value, int) and not isinstance(value, bool):
            values[name] = tr.number(value)
        else:
            values[name] = escape(str(value))
    template = message.template
    if isinstance(template, Plural):
        count = message.params.get("n")
        assert isinstance(count, int), f"a plural message needs a count n, got {count!r}"
        translated = tr.form(template.singular, template.plural, count)
    else:
        translated = tr.t(template)
    return escape(translated).format(**values)


def error_html(tr: Translator, error: Exception) -> str:
    """An error people can act on, as HTML in ``tr``'s language (its English text, escaped,
    when it has no translatable message)."""
    message = getattr(error, "message", None)
    return say(tr, message if isinstance(message, Message) else str(error))


def shorten(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def esc(text: str, limit: int = 200) -> str:
    """Untrusted text, shortened and escaped."""
    return escape(shorten(text, limit))


def when(moment: datetime, tz: ZoneInfo, tr: Translator) -> str:
    """A moment as "5 Mar 14:05" in ``tz``, the month as ``tr``'s language writes it."""
    return tr.moment(moment.astimezone(tz))


def pack_lines(lines: Sequence[str], limit: int = 4096) -> list[str]:
    """Join HTML lines (each valid on its own) into messages of at most ``limit`` visible chars."""
    messages: list[str] = []
    current: list[str] = []
    used = 0
    for line in lines:
        width = visible_length(render_plain(line))
        if current and used + 1 + width > limit:
            messages.append("\n".join(current))
            current, used = [], 0
        current.append(line)
        used += width + (1 if used else 0)
    if current:
        messages.append("\n".join(current))
    return messages


def thread_of(update: Update) -> int | None:
    """The forum topic the update came from (None: General, or not a forum)."""
    message = update.effective_message
    if message is not None and message.is_topic_message and message.message_thread_id:
        return message.message_thread_id
    return None


async def send(
    update: Update,
    context: Context,
    text: str | Sequence[str],
    *,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Send one or more HTML messages to the chat (and forum topic) the update came from,
    previews off; ``markup`` goes under the last."""
    chat = update.effective_chat
    if chat is None:
        return
    thread = thread_of(update)
    parts = [text] if isinstance(text, str) else list(text)
    for n, part in enumerate(parts):
        await context.bot.send_message(
            chat.id,
            part,
            parse_mode=ParseMode.HTML,
            link_preview_options=NO_PREVIEW,
            reply_markup=markup if n == len(parts) - 1 else None,
            message_thread_id=thread,
        )


def tr_of(update: Update, chat: ChatInfo | None) -> Translator:
    """The translator for a reply: the chat's language, else the user's, else English."""
    user = update.effective_user
    return translator(choose_language(chat.language if chat else None, user.language_code if user else None))


async def signer_of(rt: Runtime) -> CallbackSigner:
    """The runtime's button signer (its secret read from the database once)."""
    if rt.signer is None:
        rt.signer = await load_signer(rt.storage)
    return rt.signer


async def register_chat(rt: Runtime, chat: Chat | ChatFullInfo, *, added_by: int | None = None) -> ChatInfo:
    """Remember the chat (new ones get the configured time zone; ``added_by``: who added the bot
    there); what storage knows of it."""
    return await chat_store.upsert_chat(
        rt.storage,
        chat.id,
        type=str(chat.type),
        title=chat.title or chat.full_name or chat.username,
        username=chat.username,
        timezone=rt.config.digest.timezone,
        added_by=added_by,
    )


async def prepare(update: Update, context: Context) -> tuple[Runtime, Actor, ChatInfo] | None:
    """The runtime, who sent the update, and the (registered) chat; None if there is no chat."""
    rt = runtime_of(context)
    actor = actor_of(update)
    chat = update.effective_chat
    if actor is None or chat is None:
        return None
    info = await register_chat(rt, chat)
    return rt, actor, info


class Asked(NamedTuple):
    """A command as its handler starts from: the runtime, who sent it, the (registered) chat,
    the language to answer in and the command's arguments."""

    rt: Runtime
    actor: Actor
    chat: ChatInfo
    tr: Translator
    args: list[str]


async def asked(update: Update, context: Context) -> Asked | None:
    """``prepare`` with the reply's translator and the arguments; None if there is no chat."""
    setup = await prepare(update, context)
    if setup is None:
        return None
    rt, actor, chat = setup
    return Asked(rt, actor, chat, tr_of(update, chat), list(context.args or []))


def text_after(update: Update, words: int) -> str:
    """The message text after the command and ``words`` more words, spacing and quotes kept."""
    message = update.effective_message
    text = message.text if message and message.text else ""
    rest = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
    for _ in range(words):
        parts = rest.split(None, 1)
        rest = parts[1] if len(parts) > 1 else ""
    return rest.strip()


async def refuse(update: Update, context: Context, why: str) -> None:
    """Say why the sender may not do this."""
    await send(update, context, f"⛔ {why}")


async def is_chat_admin(rt: Runtime, context: Context, actor: Actor) -> bool:
    """True when the sender is an admin of the chat the update came from."""
    return await rt.permissions.is_chat_admin(context.bot, actor)


async def presser_manages(update: Update, context: Context, rt: Runtime, chat_id: int) -> bool:
    """True when the user who pressed a button is an admin of ``chat_id`` (in a private chat:
    its own user). In channels every subscriber can press buttons, so they are checked too."""
    user = update.effective_user
    if user is None:
        return False
    if chat_id == user.id:
        return True
    return await rt.permissions.is_member_admin(context.bot, chat_id, user.id)


def query_error_html(query: str, error: QueryError, tr: Translator) -> str:
    """A refused query as HTML: what is wrong (in ``tr``'s language) and, for a syntax error, a
    caret under it."""
    if isinstance(error, QueryMissing):
        return "❌ " + tr.t("The query is missing.")
    if isinstance(error, QueryTooLong):
        return "❌ " + tr.t(
            "The query is {length} characters long; the limit is {limit}.",
            length=tr.number(error.length),
            limit=tr.number(error.limit),
        )
    position = max(0, min(error.position, len(query)))
    shown = query
    if len(shown) > 300:  # keep the caret in view
        start = max(0, position - 150)
        shown, position = shown[start : start + 300], position - start
    bad = tr.t(
        "Bad query: {reason} at position {position}:",
        reason=say(tr, error.reason_message or error.reason),
        position=error.position,
    )
    return f"❌ {bad}\n<code>{escape(shown)}</code>\n<code>{' ' * position}^</code>"


def validate_query(rt: Runtime, query: str, tr: Translator) -> str | None:
    """An HTML error message for a watchlist query that cannot be used, else None."""
    try:
        check_query(query, max_length=rt.config.telegram.max_query_length)
    except QueryError as exc:
        return query_error_html(query, exc, tr)
    return None


def story_not_found_html(error: StoryNotFound, tr: Translator) -> str:
    """No such story, as HTML: the names it may mean (else those there are) and /search."""
    text = "❓ " + tr.t("No story named <b>{name}</b>.", name=esc(error.name, 64))
    if error.close:
        names = ", ".join(f"<b>{esc(n, 64)}</b>" for n in error.close)
        text += " " + tr.t("Did you mean {names}?", names=names)
    elif error.known:
        text += " " + tr.t("Stories here: {names}.", names=", ".join(esc(n, 64) for n in error.known[:20]))
    text += "\n" + tr.t(
        "/search takes free keywords: <code>/search {words}</code>", words=esc(error.name, 100)
    )
    return text


async def story_not_found(rt: Runtime, chat_id: int, name: str, tr: Translator) -> str:
    """``story_not_found_html`` for ``name`` among the stories ``chat_id`` sees."""
    return story_not_found_html(await missing_story(rt.storage, name, chat_id=chat_id), tr)
