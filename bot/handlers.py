"""Telegram command handlers: thin async functions that check, call storage/digests, reply.

Every reply is Telegram HTML built from escaped pieces (``bot.render.escape``), sent with link
previews off. Commands work in private chats, groups (also as ``/cmd@botname``) and channel
posts (a channel post counts as coming from a channel admin: only admins can post).
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from telegram import (
    Chat,
    ChatFullInfo,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageOriginChannel,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from storage import buttons as button_store
from storage import delivery
from storage.delivery import ChatInfo
from storage.repository import GLOBAL_SCOPE, AlreadyExists, NotFound
from stories.digest import SearchHit
from stories.model import Story
from stories.query import QueryError, matches_everything, parse
from stories.schedule import (
    SCHEDULE_HELP,
    Schedule,
    ScheduleError,
    next_run,
    parse_schedule,
    resolve_timezone,
)

from .digests import send_digest_now, story_developments
from .i18n import LANGUAGE_NAMES, LANGUAGES, Translator, choose_language, translator
from .keyboards import ButtonRefused, CallbackSigner, Press, load_signer, markup
from .outbox import NO_PREVIEW
from .permissions import ADMIN_STATUSES, Actor, actor_of
from .render import escape, render_plain, render_search_results, render_story, visible_length
from .services import Runtime, SearchPage, runtime_of

log = logging.getLogger("newsbot.bot")

Context = ContextTypes.DEFAULT_TYPE

SEARCH_PAGE = 5
STORY_DEVELOPMENTS = 5  # per /story page: more / back buttons page on
MAX_STORY_BUTTONS = 40
MAX_TITLE = 128
_CHAT_ID = re.compile(r"^-\d{5,20}$")
_NAME = re.compile(r"^[\w][\w.-]{0,63}$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def N_(message: str) -> str:
    """Marks a message for the catalogue; translated where it is shown."""
    return message


# Command menus (bot/command_menus.py registers them per scope and language).
READER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("What this bot does")),
    ("help", N_("Every command")),
    ("stories", N_("Stories this chat can see")),
    ("story", N_("Latest developments of a story: /story NAME")),
    ("search", N_("Search stored news: /search WORDS")),
    ("subscriptions", N_("What this chat receives, and when")),
    ("digest", N_("The digest for this chat now")),
    ("feeds", N_("Feeds and their health")),
)
CHAT_ADMIN_COMMANDS: tuple[tuple[str, str], ...] = (
    ("subscribe", N_("Digests of a story: /subscribe NAME [schedule]")),
    ("unsubscribe", N_("Stop a story's digests: /unsubscribe NAME")),
    ("settings", N_("Language, time zone: the chat's settings")),
    ("timezone", N_("This chat's time zone: /timezone Europe/Madrid")),
    ("watch", N_("This chat's own stories: /watch add|edit|rm|show NAME [QUERY]")),
)
BOT_ADMIN_COMMANDS: tuple[tuple[str, str], ...] = (
    ("feed", N_("Bot admins: /feed add|rm|enable URL")),
    ("status", N_("Bot admins: feeds, items, developments, outbox, workers")),
)
COMMANDS: tuple[tuple[str, str], ...] = READER_COMMANDS + CHAT_ADMIN_COMMANDS + BOT_ADMIN_COMMANDS


def help_text(tr: Translator) -> str:
    """What /start and /help answer, in the translator's language."""
    t = tr.t
    return "\n".join(
        [
            t(
                "🗞 <b>newsbot</b> follows news stories across many outlets, folds copies of the same "
                "report together and sends digests of what is new."
            ),
            "",
            t("/stories — the stories this chat can see, with subscribe buttons"),
            t("/story NAME [since:3d] — latest developments of a story"),
            t("/search WORDS [since:7d] [story:NAME] — search stored news (same syntax as watchlists)"),
            t(
                "/subscribe [@channel] NAME [schedule] — digests of a story; schedule: "
                "<code>daily 08:00</code>, <code>every 6h</code>, <code>instant</code> (breaking alerts) "
                "or <code>off</code>. In a private chat without a name: pick a group or channel"
            ),
            t("/unsubscribe [@channel] NAME — stop them"),
            t("/subscriptions [@channel] — what this chat receives, and when"),
            t("/settings — language and time zone of this chat"),
            t("/timezone ZONE — e.g. <code>/timezone Europe/Madrid</code>"),
            t("/digest — the digest for this chat now"),
            "",
            t(
                "<b>Chat admins</b>: /watch add NAME QUERY, /watch edit NAME QUERY, /watch rm NAME, "
                "/watch show NAME — this chat's own stories"
            ),
            t(
                "<b>Bot admins</b>: /watch global add|edit|rm NAME [QUERY], /feed add URL, /feed rm URL, "
                "/feed enable URL, /feeds, /status"
            ),
        ]
    )


HELP = help_text(translator("en"))


# -- helpers ------------------------------------------------------------------------------


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _e(text: str, limit: int = 200) -> str:
    """Untrusted text, shortened and escaped."""
    return escape(_short(text, limit))


def _when(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local.day} {_MONTHS[local.month - 1]} {local.hour:02d}:{local.minute:02d}"


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


def _chat_kind(chat: Chat | ChatFullInfo) -> str:
    return str(chat.type)


async def _register(rt: Runtime, chat: Chat | ChatFullInfo) -> ChatInfo:
    return await delivery.upsert_chat(
        rt.storage,
        chat.id,
        type=_chat_kind(chat),
        title=chat.title or chat.full_name or chat.username,
        username=chat.username,
        timezone=rt.config.digest.timezone,
    )


async def _setup(update: Update, context: Context) -> tuple[Runtime, Actor, ChatInfo] | None:
    """The runtime, who sent the update, and the (registered) chat; None if there is no chat."""
    rt = runtime_of(context)
    actor = actor_of(update)
    chat = update.effective_chat
    if actor is None or chat is None:
        return None
    info = await _register(rt, chat)
    return rt, actor, info


def _zone(name: str) -> ZoneInfo:
    try:
        return resolve_timezone(name)
    except ScheduleError:
        return ZoneInfo("UTC")


def _text_after(update: Update, words: int) -> str:
    """The message text after the command and ``words`` more words, spacing and quotes kept."""
    message = update.effective_message
    text = message.text if message and message.text else ""
    rest = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
    for _ in range(words):
        parts = rest.split(None, 1)
        rest = parts[1] if len(parts) > 1 else ""
    return rest.strip()


async def _refuse(update: Update, context: Context, why: str) -> None:
    await send(update, context, f"⛔ {why}")


async def _is_chat_admin(rt: Runtime, context: Context, actor: Actor) -> bool:
    return await rt.permissions.is_chat_admin(context.bot, actor)


def _schedule_text(schedule: str, tz: str) -> str:
    if schedule == "instant":
        return "instant (breaking alerts)"
    if schedule == "off":
        return "off (only /digest)"
    return f"{schedule} ({tz})"


def _query_error(query: str, error: QueryError) -> str:
    position = max(0, min(error.position, len(query)))
    shown = query
    if len(shown) > 300:  # keep the caret in view
        start = max(0, position - 150)
        shown, position = shown[start : start + 300], position - start
    return (
        f"❌ Bad query: {escape(error.reason)} at position {error.position}:\n"
        f"<code>{escape(shown)}</code>\n<code>{' ' * position}^</code>"
    )


def _validate_query(rt: Runtime, query: str) -> str | None:
    """An HTML error message for a query that cannot be used, else None."""
    limit = rt.config.telegram.max_query_length
    if not query:
        return "❌ The query is missing."
    if len(query) > limit:
        return f"❌ The query is {len(query)} characters long; the limit is {limit}."
    try:
        parsed = parse(query)
    except QueryError as exc:
        return _query_error(query, exc)
    if matches_everything(parsed):
        return "❌ That query would match every item: give at least one word that must appear."
    return None


# -- everyone -----------------------------------------------------------------------------


async def start(update: Update, context: Context) -> None:
    """/start and /help: what the bot does and every command; ``/start sub-NAME`` (a deep link,
    ``t.me/<bot>?start=sub-NAME``) subscribes this chat to NAME in one tap."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, actor, chat = setup
    args = list(context.args or [])
    if args and args[0].startswith("sub-") and len(args[0]) > 4:
        await _deep_link_subscribe(update, context, rt, actor, chat, args[0][4:])
        return
    await send(update, context, help_text(tr_of(update, chat)))


async def _deep_link_subscribe(
    update: Update, context: Context, rt: Runtime, actor: Actor, chat: ChatInfo, name: str
) -> None:
    tr = tr_of(update, chat)
    if not await _is_chat_admin(rt, context, actor):
        await _refuse(update, context, tr.t("Only this chat's admins can change its subscriptions."))
        return
    found = await rt.storage.get_story(name, chat_id=chat.id)
    if found is None or found.id is None:
        await send(update, context, await _suggest(rt, chat.id, name))
        return
    text = await _subscribe_to(rt, tr, chat, found, None, actor.user_id, thread_of(update))
    await send(update, context, text)


async def _stories_view(
    rt: Runtime, chat: ChatInfo, tr: Translator
) -> tuple[list[str], InlineKeyboardMarkup | None]:
    """The /stories text and its keyboard: a subscribe / unsubscribe toggle per story."""
    visible = await rt.storage.list_stories(chat_id=chat.id)
    subs = {s.story_id: s for s in await delivery.list_subscriptions(rt.storage, chat.id)}
    if not visible:
        return [tr.t("No stories yet. Chat admins can add one: /watch add NAME QUERY")], None
    signer = await signer_of(rt)
    titles = await delivery.story_titles(rt.storage, [s.id for s in visible if s.id is not None])
    lines = [tr.t("📚 <b>Stories</b>")]
    rows: list[list[InlineKeyboardButton]] = []
    for story in visible:
        owner = tr.t("this chat's") if story.owner_chat_id is not None else tr.t("global")
        sub = subs.get(story.id or -1)
        state = (
            tr.t("✅ subscribed: {schedule}", schedule=escape(_schedule_text(sub.schedule, chat.timezone)))
            if sub
            else tr.t("not subscribed")
        )
        heading = f"<b>{_e(story.name, 64)}</b>"
        if story.id in titles:
            heading += f" “{_e(titles[story.id], MAX_TITLE)}”"
        lines.append(f"• {heading} ({owner}) — {state}\n  <code>{_e(story.query, 300)}</code>")
        if story.id is not None and len(rows) < MAX_STORY_BUTTONS:
            label = tr.t("🔕 Unsubscribe {name}") if sub else tr.t("🔔 Subscribe {name}")
            rows.append(
                [
                    signer.button(
                        label.format(name=_short(story.name, 40)), chat.id, "sub", story.id, 0 if sub else 1
                    )
                ]
            )
    lines.append("\n" + tr.t("/story NAME for its latest developments, /subscribe NAME for digests."))
    return pack_lines(lines), markup(rows)


async def stories(update: Update, context: Context) -> None:
    """/stories: global stories and this chat's own, with queries, subscription state and a
    subscribe / unsubscribe button for each."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    texts, keyboard = await _stories_view(rt, chat, tr_of(update, chat))
    await send(update, context, texts, markup=keyboard)


async def _suggest(rt: Runtime, chat_id: int, name: str) -> str:
    names = [s.name for s in await rt.storage.list_stories(chat_id=chat_id)]
    close = difflib.get_close_matches(name.casefold(), [n.casefold() for n in names], n=3, cutoff=0.5)
    by_key = {n.casefold(): n for n in names}
    text = f"❓ No story named <b>{_e(name, 64)}</b>."
    if close:
        text += " Did you mean " + ", ".join(f"<b>{_e(by_key[c], 64)}</b>" for c in close) + "?"
    elif names:
        text += " Stories here: " + ", ".join(_e(n, 64) for n in names[:20]) + "."
    text += f"\n/search takes free keywords: <code>/search {_e(name, 100)}</code>"
    return text


async def story(update: Update, context: Context) -> None:
    """/story NAME [since:3d]: the latest developments of a story, newest first, paged with
    more / back buttons."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    tr = tr_of(update, chat)
    words, filters_found, problem = split_filters(list(context.args or []), allowed=("since",))
    if problem:
        await send(update, context, f"❌ {escape(problem)}")
        return
    name = " ".join(words)
    if not name:
        await send(
            update,
            context,
            tr.t(
                "Usage: <code>/story NAME [since:3d]</code> — e.g. <code>/story sudan</code>. See /stories."
            ),
        )
        return
    found = await rt.storage.get_story(name, chat_id=chat.id)
    if found is None or found.id is None:
        await send(update, context, await _suggest(rt, chat.id, name))
        return
    days = _since_days(filters_found.get("since"))
    texts, keyboard = await _story_page(rt, chat, tr, found, 0, days)
    await send(update, context, texts, markup=keyboard)


async def _story_page(
    rt: Runtime, chat: ChatInfo, tr: Translator, found: Story, offset: int, days: int
) -> tuple[list[str], InlineKeyboardMarkup | None]:
    """One page of /story: developments ``offset`` on (within ``days`` when > 0), with buttons."""
    assert found.id is not None
    now = datetime.now(UTC)
    devs = await story_developments(rt.storage, found.id, limit=offset + STORY_DEVELOPMENTS + 1)
    if days:
        devs = [d for d in devs if d.last_seen >= now - timedelta(days=days)]
    page = devs[offset : offset + STORY_DEVELOPMENTS]
    texts = render_story(found.name, page, _zone(chat.timezone), now=now)
    signer = await signer_of(rt)
    buttons = []
    if offset > 0:
        buttons.append(
            signer.button(tr.t("◂ back"), chat.id, "st", found.id, max(0, offset - STORY_DEVELOPMENTS), days)
        )
    if len(devs) > offset + STORY_DEVELOPMENTS:
        buttons.append(
            signer.button(tr.t("more ▸"), chat.id, "st", found.id, offset + STORY_DEVELOPMENTS, days)
        )
    return texts, markup([buttons])


async def _run_search(
    rt: Runtime, query: str, offset: int, limit: int, since_days: int = 0, story_id: int | None = None
) -> SearchPage:
    if rt.services.search is not None and not since_days and story_id is None:
        return await rt.services.search(rt.storage, query, offset, limit)
    from storage.search import search_items

    since = datetime.now(UTC) - timedelta(days=since_days) if since_days else None
    # One more than a page tells whether a "more" button is needed.
    found = await search_items(
        rt.storage.engine, query, offset=offset, limit=limit + 1, since=since, story_id=story_id
    )
    hits = [
        SearchHit(title=h.title, url=h.url, outlet=h.outlet, published=h.published, snippet=h.snippet)
        for h in found[:limit]
    ]
    return SearchPage(hits, has_more=len(found) > limit)


async def _search_page(
    rt: Runtime, chat: ChatInfo, tr: Translator, query: str, offset: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    words, found_filters, _ = split_filters(query.split(), allowed=SEARCH_FILTERS)
    days = _since_days(found_filters.get("since"))
    text_query = " ".join(words) if found_filters else query
    story_id = None
    if "story" in found_filters:
        in_story = await rt.storage.get_story(found_filters["story"], chat_id=chat.id)
        story_id = in_story.id if in_story is not None and in_story.id is not None else -1
    page = await _run_search(rt, text_query, offset, SEARCH_PAGE, days, story_id)
    text = render_search_results(
        query, list(page.hits), _zone(chat.timezone), now=datetime.now(UTC), offset=offset, total=page.total
    )
    token = await button_store.remember_search(rt.storage, query)
    signer = await signer_of(rt)
    buttons = []
    if offset > 0:
        buttons.append(signer.button(tr.t("◂ back"), chat.id, "s", token, max(0, offset - SEARCH_PAGE)))
    if page.has_more:
        buttons.append(signer.button(tr.t("more ▸"), chat.id, "s", token, offset + SEARCH_PAGE))
    return text, markup([buttons])


async def search(update: Update, context: Context) -> None:
    """/search QUERY [since:7d] [story:NAME]: full-text search over stored items, paged with buttons."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    tr = tr_of(update, chat)
    query = _text_after(update, 0)
    if not query:
        await send(
            update,
            context,
            tr.t(
                "Usage: <code>/search WORDS [since:7d] [story:NAME]</code> — e.g. "
                '<code>/search Khartoum ceasefire</code>, <code>/search "El Fasher" -football</code>'
            ),
        )
        return
    if len(query) > rt.config.telegram.max_query_length:
        await send(
            update,
            context,
            tr.t("❌ The query is too long (limit {limit}).", limit=rt.config.telegram.max_query_length),
        )
        return
    words, found_filters, problem = split_filters(query.split(), allowed=SEARCH_FILTERS)
    if problem:
        await send(update, context, f"❌ {escape(problem)}")
        return
    if (
        "story" in found_filters
        and await rt.storage.get_story(found_filters["story"], chat_id=chat.id) is None
    ):
        await send(update, context, await _suggest(rt, chat.id, found_filters["story"]))
        return
    if found_filters and not words:
        await send(update, context, tr.t("❌ Give at least one word to search for besides the filters."))
        return
    try:
        parse(" ".join(words) if words != query.split() else query)
        text, keyboard = await _search_page(rt, chat, tr, query, 0)
    except QueryError as exc:
        await send(update, context, _query_error(query, exc))
        return
    await send(update, context, text, markup=keyboard)


# -- filters ------------------------------------------------------------------------------

SEARCH_FILTERS = ("since", "story")
_FILTER = re.compile(r"^(since|story|outlet):(.+)$", re.IGNORECASE)
_DAYS = re.compile(r"^(\d{1,3})d$")


def split_filters(
    words: Sequence[str], *, allowed: Sequence[str]
) -> tuple[list[str], dict[str, str], str | None]:
    """Words without their ``key:value`` filters, the filters, and an error message for a
    filter not ``allowed`` or a malformed ``since:`` (else None)."""
    kept: list[str] = []
    found: dict[str, str] = {}
    for word in words:
        match = _FILTER.match(word)
        if match is None:
            kept.append(word)
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key not in allowed:
            return (
                kept,
                found,
                f"{key}: is not supported here; filters: " + ", ".join(f"{k}:" for k in allowed),
            )
        if key == "since" and not _DAYS.match(value.lower()):
            return kept, found, "since: takes a number of days, e.g. since:7d"
        found[key] = value
    return kept, found, None


def _since_days(value: str | None) -> int:
    match = _DAYS.match(value.lower()) if value else None
    return min(int(match.group(1)), 3650) if match else 0


# -- buttons ------------------------------------------------------------------------------


async def _presser_manages(update: Update, context: Context, rt: Runtime, chat_id: int) -> bool:
    """True when the user who pressed a button is an admin of ``chat_id`` (in a private chat:
    its own user). In channels every subscriber can press buttons, so they are checked too."""
    user = update.effective_user
    if user is None:
        return False
    if chat_id == user.id:
        return True
    return await rt.permissions.is_member_admin(context.bot, chat_id, user.id)


async def on_button(update: Update, context: Context) -> None:
    """Every inline button: verify its signed data for this chat, do what it says, answer the
    press, and show the result in the same message. A forged or stale press changes nothing."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or query.data is None:
        return
    rt = runtime_of(context)
    if chat is None:
        await query.answer()
        return
    info = await _register(rt, chat)
    tr = tr_of(update, info)
    try:
        press = (await signer_of(rt)).verify(chat.id, query.data)
    except ButtonRefused as exc:
        log.info("button refused in chat %d: %s", chat.id, exc.reason)
        note = (
            tr.t("This button has expired: run the command again.")
            if exc.reason == "stale"
            else tr.t("This button is not valid here.")
        )
        await query.answer(note, show_alert=True)
        return
    action = _BUTTONS.get(press.action)
    if action is None:
        await query.answer(tr.t("This button is not valid here."), show_alert=True)
        return
    result = await action(update, context, rt, info, tr, press)
    await query.answer(result.note or None, show_alert=result.alert)
    if result.texts:
        await _show(update, context, result.texts, result.markup)


async def _show(
    update: Update, context: Context, texts: Sequence[str], keyboard: InlineKeyboardMarkup | None
) -> None:
    """Put ``texts`` in the pressed message (a longer result: its first part), else send them."""
    query = update.callback_query
    chat = update.effective_chat
    message = query.message if query else None
    if chat is None:
        return
    if message is not None and message.is_accessible:
        try:
            await context.bot.edit_message_text(
                texts[0],
                chat_id=chat.id,
                message_id=message.message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
                reply_markup=keyboard,
            )
            return
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return
            log.info("button: cannot edit (%s); sending a new message", exc.message)
    await send(update, context, texts, markup=keyboard)


@dataclass(frozen=True, slots=True)
class ButtonResult:
    """What a press did: a short note for the press, and what the message shows now."""

    note: str = ""
    texts: Sequence[str] = ()
    markup: InlineKeyboardMarkup | None = None
    alert: bool = False


async def _search_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    query = await button_store.searched_query(rt.storage, press.arg(0))
    if query is None:
        return ButtonResult(tr.t("This search has expired: run /search again."), alert=True)
    text, keyboard = await _search_page(rt, chat, tr, query, max(0, press.int_arg(1)))
    return ButtonResult(texts=[text], markup=keyboard)


async def _story_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    found = await _visible_story(rt, chat.id, press.int_arg(0))
    if found is None:
        return ButtonResult(tr.t("This story is gone: see /stories."), alert=True)
    texts, keyboard = await _story_page(rt, chat, tr, found, max(0, press.int_arg(1)), press.int_arg(2))
    return ButtonResult(texts=texts, markup=keyboard)


async def _visible_story(rt: Runtime, chat_id: int, story_id: int) -> Story | None:
    for candidate in await rt.storage.list_stories(chat_id=chat_id):
        if candidate.id == story_id:
            return candidate
    return None


async def _toggle_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    """🔔 / 🔕 under /stories: subscribe this chat (with the default schedule) or unsubscribe."""
    if not await _presser_manages(update, context, rt, chat.id):
        return ButtonResult(tr.t("Only this chat's admins can change its subscriptions."), alert=True)
    found = await _visible_story(rt, chat.id, press.int_arg(0))
    if found is None or found.id is None:
        return ButtonResult(tr.t("This story is gone: see /stories."), alert=True)
    user = update.effective_user
    if press.int_arg(1):
        note = await _subscribe_to(rt, tr, chat, found, None, user.id if user else None, thread_of(update))
        note = render_plain(note)
    else:
        await delivery.unsubscribe(rt.storage, chat.id, found.id)
        note = tr.t("Unsubscribed from {name}.", name=found.name)
    texts, keyboard = await _stories_view(rt, chat, tr)
    return ButtonResult(_short(note, 190), texts=texts, markup=keyboard)


async def _pick_chat_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    """A chat picked after /subscribe in private: offer its stories."""
    target = await delivery.get_chat(rt.storage, press.int_arg(0))
    if target is None or not await _presser_manages(update, context, rt, target.id):
        return ButtonResult(tr.t("You are not an admin of that chat."), alert=True)
    texts, keyboard = await _offer_stories(rt, tr, chat, target)
    return ButtonResult(texts=texts, markup=keyboard)


async def _subscribe_chat_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    """A story picked for another chat (from a private chat): subscribe it there."""
    target = await delivery.get_chat(rt.storage, press.int_arg(0))
    user = update.effective_user
    if target is None or user is None or not await _presser_manages(update, context, rt, target.id):
        return ButtonResult(tr.t("You are not an admin of that chat."), alert=True)
    if target.type == ChatType.CHANNEL and not await rt.permissions.is_member_admin(
        context.bot, target.id, context.bot.id
    ):  # in a channel only admins post; in a group being there is enough
        return ButtonResult(tr.t("I am not an admin there: add me as an admin first."), alert=True)
    found = await _visible_story(rt, target.id, press.int_arg(1))
    if found is None:
        return ButtonResult(tr.t("This story is gone: see /stories."), alert=True)
    text = await _subscribe_to(rt, tr, target, found, None, user.id, None)
    texts, keyboard = await _offer_stories(rt, tr, chat, target)
    return ButtonResult(_short(render_plain(text), 190), texts=[text, *texts][:1], markup=keyboard)


async def _settings_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    """A /settings choice: language or time zone."""
    if not await _presser_manages(update, context, rt, chat.id):
        return ButtonResult(tr.t("Only this chat's admins can change its settings."), alert=True)
    what, value = press.arg(0), press.arg(1)
    if what == "lang" and value in LANGUAGES:
        await delivery.set_chat_language(rt.storage, chat.id, value)
    elif what == "tz" and value.isdigit() and int(value) < len(SETTINGS_ZONES):
        await _apply_timezone(rt, chat.id, resolve_timezone(SETTINGS_ZONES[int(value)]))
    else:
        return ButtonResult(tr.t("This button is not valid here."), alert=True)
    fresh = await delivery.get_chat(rt.storage, chat.id) or chat
    new_tr = tr_of(update, fresh)
    text, keyboard = await _settings_view(rt, fresh, new_tr)
    return ButtonResult(new_tr.t("✅ Saved."), texts=[text], markup=keyboard)


_ButtonAction = Callable[[Update, Context, Runtime, ChatInfo, Translator, Press], Awaitable[ButtonResult]]
_BUTTONS: dict[str, _ButtonAction] = {
    "s": _search_button,
    "st": _story_button,
    "sub": _toggle_button,
    "pick": _pick_chat_button,
    "sc": _subscribe_chat_button,
    "set": _settings_button,
}


# -- settings -----------------------------------------------------------------------------

# Time zones offered as buttons (any other: /timezone ZONE); indexes go in callback data.
SETTINGS_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Madrid",
    "Europe/Berlin",
    "Europe/Moscow",
    "Africa/Cairo",
    "America/New_York",
    "America/Mexico_City",
    "America/Bogota",
    "America/Argentina/Buenos_Aires",
    "Asia/Dubai",
    "Asia/Tokyo",
)


async def _settings_view(
    rt: Runtime, chat: ChatInfo, tr: Translator
) -> tuple[str, InlineKeyboardMarkup | None]:
    signer = await signer_of(rt)
    language = LANGUAGE_NAMES.get(chat.language or "", tr.t("each user's own"))
    lines = [
        tr.t("⚙️ <b>Settings of {chat}</b>", chat=_e(chat.title or str(chat.id), 64)),
        tr.t("Language: {language}", language=escape(language)),
        tr.t("Time zone: {zone}", zone=escape(chat.timezone)),
        "",
        tr.t("Digest schedules are per story: /subscribe NAME daily 08:00. Other zones: /timezone ZONE."),
    ]
    rows: list[list[InlineKeyboardButton]] = [
        [
            signer.button(("• " if chat.language == code else "") + name, chat.id, "set", "lang", code)
            for code, name in LANGUAGE_NAMES.items()
        ]
    ]
    zone_buttons = [
        signer.button(
            ("• " if chat.timezone == zone else "") + zone.rsplit("/", 1)[-1].replace("_", " "),
            chat.id,
            "set",
            "tz",
            n,
        )
        for n, zone in enumerate(SETTINGS_ZONES)
    ]
    rows.extend(zone_buttons[n : n + 3] for n in range(0, len(zone_buttons), 3))
    return "\n".join(lines), markup(rows)


async def settings(update: Update, context: Context) -> None:
    """/settings: the chat's language and time zone as a menu of buttons (admins change them)."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    text, keyboard = await _settings_view(rt, chat, tr_of(update, chat))
    await send(update, context, text, markup=keyboard)


# -- subscriptions ------------------------------------------------------------------------


async def _target(
    update: Update, context: Context, rt: Runtime, actor: Actor, chat: ChatInfo, args: list[str]
) -> tuple[ChatInfo, list[str]] | None:
    """The chat to manage: ``@channel`` as first argument (user and bot must be its admins), else
    this chat (the sender must be its admin). Replies and returns None when not allowed."""
    if args and (args[0].startswith("@") or _CHAT_ID.match(args[0])):
        handle: str | int = args[0] if args[0].startswith("@") else int(args[0])
        if actor.user_id is None:
            await _refuse(
                update, context, "Name another chat from a private chat or a group, not from a channel post."
            )
            return None
        shown = _e(str(handle), 64)
        try:
            target = await context.bot.get_chat(handle)
        except TelegramError:
            await send(update, context, f"❓ I cannot find {shown}: add me there as an admin first.")
            return None
        if not await rt.permissions.is_member_admin(context.bot, target.id, actor.user_id):
            await _refuse(update, context, f"You are not an admin of {shown}.")
            return None
        if not await rt.permissions.is_member_admin(context.bot, target.id, context.bot.id):
            await _refuse(update, context, f"I am not an admin of {shown}: add me as an admin there first.")
            return None
        return await _register(rt, target), args[1:]
    if not await _is_chat_admin(rt, context, actor):
        await _refuse(update, context, "Only this chat's admins can change its subscriptions.")
        return None
    return chat, args


async def _find_story(rt: Runtime, chat_id: int, args: list[str]) -> tuple[Story, list[str]] | None:
    """The longest prefix of ``args`` naming a story, and the rest."""
    for n in range(len(args), 0, -1):
        found = await rt.storage.get_story(" ".join(args[:n]), chat_id=chat_id)
        if found is not None:
            return found, args[n:]
    return None


async def subscribe(update: Update, context: Context) -> None:
    """/subscribe [@channel|-100ID] NAME [schedule]: digests of a story for this chat (its forum
    topic, when asked from one) or a channel. In a private chat without arguments: buttons
    for the groups and channels the user is admin of and the bot is in."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, actor, chat = setup
    tr = tr_of(update, chat)
    args = list(context.args or [])
    if not args and chat.type == ChatType.PRIVATE and actor.user_id is not None:
        text, keyboard = await _offer_chats(rt, context, tr, chat, actor.user_id)
        await send(update, context, text, markup=keyboard)
        return
    if not args or ((args[0].startswith("@") or _CHAT_ID.match(args[0])) and len(args) < 2):
        await send(
            update,
            context,
            tr.t(
                "Usage: <code>/subscribe NAME [schedule]</code> or "
                "<code>/subscribe @channel NAME [schedule]</code> (or the channel's numeric id, "
                "<code>-100…</code>); {schedules}. See /stories.",
                schedules=escape(SCHEDULE_HELP),
            ),
        )
        return
    target = await _target(update, context, rt, actor, chat, args)
    if target is None:
        return
    where, rest = target
    found = await _find_story(rt, where.id, rest)
    if found is None or found[0].id is None:
        await send(update, context, await _suggest(rt, where.id, rest[0] if rest else ""))
        return
    story_found, schedule_words = found
    try:
        schedule = parse_schedule(" ".join(schedule_words) if schedule_words else rt.config.digest.schedule)
    except ScheduleError as exc:
        await send(update, context, f"❌ {escape(str(exc))}")
        return
    thread = thread_of(update) if where.id == chat.id else None
    await send(
        update, context, await _subscribe_to(rt, tr, where, story_found, schedule, actor.user_id, thread)
    )


async def _subscribe_to(
    rt: Runtime,
    tr: Translator,
    where: ChatInfo,
    found: Story,
    schedule: Schedule | None,
    user_id: int | None,
    thread_id: int | None,
) -> str:
    """Subscribe ``where`` (its forum topic ``thread_id``) to a story; the confirmation (HTML).
    ``schedule`` None is the configured default."""
    assert found.id is not None
    schedule = schedule or parse_schedule(rt.config.digest.schedule)
    now = datetime.now(UTC)
    tz = _zone(where.timezone)
    upcoming = next_run(schedule, now, tz)
    sub, created = await delivery.subscribe(
        rt.storage,
        where.id,
        found.id,
        schedule=str(schedule),
        next_digest_at=upcoming,
        user_id=user_id,
        thread_id=thread_id,
    )
    resumed = await delivery.resume_chat(rt.storage, where.id)
    rt.permissions.forget(where.id)
    values = {
        "chat": _e(where.title or str(where.id), 64),
        "story": _e(found.name, 64),
        "schedule": escape(_schedule_text(sub.schedule, where.timezone)),
    }
    if created:
        text = "✅ " + tr.t("Subscribed {chat} to <b>{story}</b>: {schedule}.", **values)
    else:
        text = "✅ " + tr.t("Changed the schedule of {chat} to <b>{story}</b>: {schedule}.", **values)
    if thread_id is not None:
        text += " " + tr.t("Digests are posted in this topic.")
    if upcoming is not None:
        text += " " + tr.t("Next digest {when}.", when=_when(upcoming, tz))
    elif schedule.kind == "instant":
        text += " " + tr.t(
            "A development is posted as soon as {outlets} outlets carry it within {minutes} minutes.",
            outlets=rt.config.digest.breaking_outlets,
            minutes=int(rt.config.digest.breaking_window // 60),
        )
    if resumed:
        text += " " + tr.t("Deliveries to this chat were paused and are resumed.")
    return text


async def _manageable_chats(rt: Runtime, context: Context, user_id: int) -> list[ChatInfo]:
    """Groups and channels the bot is in where ``user_id`` is an admin (and the bot can post)."""
    found = []
    for candidate in await delivery.candidate_chats(rt.storage, user_id):
        if not await rt.permissions.is_member_admin(context.bot, candidate.id, user_id):
            continue
        if candidate.type == ChatType.CHANNEL and not await rt.permissions.is_member_admin(
            context.bot, candidate.id, context.bot.id
        ):
            continue
        found.append(candidate)
    return found


async def _offer_chats(
    rt: Runtime, context: Context, tr: Translator, chat: ChatInfo, user_id: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """/subscribe in private: which chat to set up, as buttons, and the other ways."""
    signer = await signer_of(rt)
    chats = await _manageable_chats(rt, context, user_id)
    lines = [tr.t("📬 <b>Which chat should get digests?</b>")]
    if not chats:
        lines.append(tr.t("I know no group or channel where you are an admin and I am in."))
    lines.append(
        tr.t(
            "Add me to a group, or as an admin to a channel; or send <code>/subscribe -100… NAME</code> "
            "with the channel's numeric id, or forward me a post from the channel. "
            "For this chat: <code>/subscribe NAME</code>."
        )
    )
    rows = [
        [signer.button(_short(c.title or str(c.id), 40), chat.id, "pick", c.id)]
        for c in chats[:MAX_STORY_BUTTONS]
    ]
    return "\n".join(lines), markup(rows)


async def _offer_stories(
    rt: Runtime, tr: Translator, chat: ChatInfo, target: ChatInfo
) -> tuple[list[str], InlineKeyboardMarkup | None]:
    """Buttons (in ``chat``) subscribing ``target`` to each story it can see."""
    signer = await signer_of(rt)
    subscribed = {s.story_id for s in await delivery.list_subscriptions(rt.storage, target.id)}
    visible = await rt.storage.list_stories(chat_id=target.id)
    title = _e(target.title or str(target.id), 64)
    if not visible:
        return [tr.t("No stories yet. Chat admins can add one: /watch add NAME QUERY")], None
    lines = [tr.t("📚 Stories for <b>{chat}</b>: tap one to subscribe.", chat=title)]
    rows = []
    for story_seen in visible[:MAX_STORY_BUTTONS]:
        mark = "✅ " if story_seen.id in subscribed else "🔔 "
        rows.append(
            [signer.button(mark + _short(story_seen.name, 40), chat.id, "sc", target.id, story_seen.id)]
        )
    return lines, markup(rows)


async def unsubscribe(update: Update, context: Context) -> None:
    """/unsubscribe [@channel] NAME: stop a story's digests."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, actor, chat = setup
    args = list(context.args or [])
    if not args or (args[0].startswith("@") and len(args) < 2):
        await send(
            update,
            context,
            "Usage: <code>/unsubscribe NAME</code> or <code>/unsubscribe @channel NAME</code>",
        )
        return
    target = await _target(update, context, rt, actor, chat, args)
    if target is None:
        return
    where, rest = target
    found = await _find_story(rt, where.id, rest)
    if (
        found is None
        or found[0].id is None
        or not await delivery.unsubscribe(rt.storage, where.id, found[0].id)
    ):
        await send(
            update,
            context,
            f"❓ {_e(where.title or str(where.id), 64)} is not subscribed to "
            f"{_e(' '.join(rest), 64)}. See /subscriptions.",
        )
        return
    await send(
        update,
        context,
        f"✅ Unsubscribed {_e(where.title or str(where.id), 64)} from <b>{_e(found[0].name, 64)}</b>.",
    )


async def subscriptions(update: Update, context: Context) -> None:
    """/subscriptions [@channel]: what the chat receives, when, and whether deliveries are paused."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, actor, chat = setup
    args = list(context.args or [])
    where = chat
    if args and args[0].startswith("@"):
        target = await _target(update, context, rt, actor, chat, args)
        if target is None:
            return
        where = target[0]
    subs = await delivery.list_subscriptions(rt.storage, where.id)
    tz = _zone(where.timezone)
    title = _e(where.title or str(where.id), 64)
    lines = [f"📬 <b>Subscriptions of {title}</b> (time zone {escape(where.timezone)})"]
    if where.paused:
        lines.append(f"⏸ <b>Deliveries paused</b>: {_e(where.paused_reason or 'unknown reason', 300)}")
        lines.append("An admin can resume them with /subscribe NAME once I can post here again.")
    if not subs:
        lines.append("None yet: /subscribe NAME [schedule]. See /stories.")
    lines.extend(_subscription_line(sub, where, tz) for sub in subs)
    if where is chat and chat.type == ChatType.PRIVATE and actor.user_id is not None:
        others: dict[int, list[str]] = {}
        heads: dict[int, str] = {}
        for other, sub in await delivery.managed_subscriptions(rt.storage, actor.user_id):
            other_tz = _zone(other.timezone)
            heads.setdefault(other.id, _managed_heading(other))
            others.setdefault(other.id, []).append(_subscription_line(sub, other, other_tz))
        for chat_id, sub_lines in others.items():
            lines.append("")
            lines.append(heads[chat_id])
            lines.extend(sub_lines)
    await send(update, context, pack_lines(lines))


def _subscription_line(sub: delivery.SubscriptionInfo, chat: ChatInfo, tz: ZoneInfo) -> str:
    line = f"• <b>{_e(sub.story_name, 64)}</b> — {escape(_schedule_text(sub.schedule, chat.timezone))}"
    if sub.next_digest_at is not None and not chat.paused:
        line += f", next {_when(sub.next_digest_at, tz)}"
    if sub.last_digest_at is not None:
        line += f", last {_when(sub.last_digest_at, tz)}"
    return line


def _managed_heading(chat: ChatInfo) -> str:
    name = _e(chat.title or str(chat.id), 64)
    if chat.username:
        name += f" (@{_e(chat.username, 64)})"
    head = f"📬 <b>You subscribed {name}</b>"
    if chat.paused:
        head += f"\n⏸ <b>Deliveries paused</b>: {_e(chat.paused_reason or 'unknown reason', 300)}"
    return head


async def timezone(update: Update, context: Context) -> None:
    """/timezone ZONE: the zone this chat's schedules and times use (admins)."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, actor, chat = setup
    args = context.args or []
    if not args:
        await send(
            update,
            context,
            f"This chat's time zone is {escape(chat.timezone)}. "
            "Change it: <code>/timezone Europe/Madrid</code>",
        )
        return
    if not await _is_chat_admin(rt, context, actor):
        await _refuse(update, context, "Only this chat's admins can change its time zone.")
        return
    try:
        tz = resolve_timezone(args[0])
    except ScheduleError as exc:
        await send(update, context, f"❌ {escape(str(exc))}")
        return
    await _apply_timezone(rt, chat.id, tz)
    now = datetime.now(UTC)
    await send(update, context, f"✅ Time zone set to {escape(tz.key)}; it is now {_when(now, tz)} there.")


async def _apply_timezone(rt: Runtime, chat_id: int, tz: ZoneInfo) -> None:
    """Set a chat's time zone and move its subscriptions' next digests to it."""
    await delivery.set_chat_timezone(rt.storage, chat_id, tz.key)
    now = datetime.now(UTC)
    changes = []
    for sub in await delivery.list_subscriptions(rt.storage, chat_id):
        try:
            changes.append(
                delivery.ScheduleUpdate(sub.id, None, next_run(parse_schedule(sub.schedule), now, tz))
            )
        except ScheduleError:
            continue
    await delivery.reschedule(rt.storage, changes)


async def digest(update: Update, context: Context) -> None:
    """/digest: this chat's digest now (what is new since its last one)."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    if chat.paused:
        await delivery.resume_chat(rt.storage, chat.id)  # it reached us, so we can post again
    async with rt.digest_lock:
        written = await send_digest_now(rt.storage, rt.config, chat.id, thread_id=thread_of(update))
    if written is None:
        await send(update, context, "This chat has no subscriptions yet: /subscribe NAME. See /stories.")
    elif written == 0:
        await send(update, context, "Nothing new since the last digest.")
    else:
        await rt.sender.send_pending()


# -- watchlists ---------------------------------------------------------------------------


WATCH_USAGE = (
    "Usage: <code>/watch add NAME QUERY</code>, <code>/watch edit NAME QUERY</code>, "
    "<code>/watch rm NAME</code>, <code>/watch show NAME</code>, "
    "<code>/watch title NAME Display title</code> (digests use it). "
    'Query: words (all must appear), "exact phrases", prefix*, OR, -word, parentheses.'
)


async def watch(update: Update, context: Context) -> None:
    """/watch add|edit|rm|show NAME [QUERY]: this chat's own stories (bot admins: /watch global ...)."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, actor, chat = setup
    args = list(context.args or [])
    skip = 0
    scope = chat.id
    if args and args[0].lower() == "global":
        scope, args, skip = GLOBAL_SCOPE, args[1:], 1
    if len(args) < 2 or args[0].lower() not in ("add", "edit", "rm", "show", "title"):
        await send(update, context, WATCH_USAGE)
        return
    action, name = args[0].lower(), args[1]
    if action == "show":
        await _watch_show(update, context, rt, chat, name, scope)
        return
    if scope == GLOBAL_SCOPE:
        if not rt.permissions.is_bot_admin(actor):
            await _refuse(update, context, "Only bot admins can change global stories.")
            return
    elif not await _is_chat_admin(rt, context, actor):
        await _refuse(update, context, "Only this chat's admins can change its stories.")
        return
    if not _NAME.match(name):
        await send(
            update, context, "❌ A story name is one word of letters, digits, '-', '_' or '.', at most 64."
        )
        return
    if action == "title":
        await _watch_title(update, context, rt, chat, name, scope, _text_after(update, 2 + skip))
        return
    if action in ("add", "edit"):
        query = _text_after(update, 2 + skip)
        problem = _validate_query(rt, query)
        if problem:
            await send(update, context, problem)
            return
        try:
            if action == "add":
                if (
                    scope != GLOBAL_SCOPE
                    and await delivery.count_chat_stories(rt.storage, scope)
                    >= rt.config.telegram.max_stories_per_chat
                ):
                    await send(
                        update,
                        context,
                        f"❌ This chat already has {rt.config.telegram.max_stories_per_chat} stories, "
                        "the limit. Remove one first.",
                    )
                    return
                await rt.storage.add_story(
                    name, query, scope=scope, user_id=actor.user_id, user_name=actor.name
                )
                text = (
                    f"✅ Added story <b>{_e(name, 64)}</b>: <code>{_e(query, 300)}</code>"
                    f". It matches news from now on; /subscribe {_e(name, 64)} for digests."
                )
            else:
                await rt.storage.edit_story(
                    name, query, scope=scope, user_id=actor.user_id, user_name=actor.name
                )
                text = f"✅ Story <b>{_e(name, 64)}</b> now watches <code>{_e(query, 300)}</code>."
        except (AlreadyExists, NotFound) as exc:
            await send(update, context, f"❌ {escape(str(exc))}.")
            return
    else:
        try:
            await rt.storage.remove_story(name, scope=scope, user_id=actor.user_id, user_name=actor.name)
        except NotFound as exc:
            await send(update, context, f"❌ {escape(str(exc))}.")
            return
        text = f"✅ Removed story <b>{_e(name, 64)}</b> (its subscriptions went with it)."
    if rt.services.tracking is not None:
        await rt.services.tracking.refresh_stories()
    await send(update, context, text)


async def _watch_title(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, name: str, scope: int, title: str
) -> None:
    """/watch title NAME TITLE: the story's display title (empty: back to its name)."""
    found = await rt.storage.get_story(name, chat_id=None if scope == GLOBAL_SCOPE else chat.id)
    if found is None or found.id is None or (found.owner_chat_id or GLOBAL_SCOPE) != scope:
        await send(update, context, await _suggest(rt, chat.id, name))
        return
    title = " ".join(title.split())
    if len(title) > MAX_TITLE:
        await send(update, context, f"❌ A title is at most {MAX_TITLE} characters.")
        return
    await delivery.set_story_title(rt.storage, found.id, title or None)
    if title:
        text = f"✅ Story <b>{_e(found.name, 64)}</b> is titled “{_e(title, MAX_TITLE)}” in digests."
    else:
        text = f"✅ Story <b>{_e(found.name, 64)}</b> has no title any more: digests use its name."
    await send(update, context, text)


async def _watch_show(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, name: str, scope: int
) -> None:
    found = await rt.storage.get_story(name, chat_id=None if scope == GLOBAL_SCOPE else chat.id)
    audit_scope = scope if found is None else (found.owner_chat_id or GLOBAL_SCOPE)
    history = await rt.storage.story_audit(name, scope=audit_scope)
    if found is None and not history:
        await send(update, context, await _suggest(rt, chat.id, name))
        return
    tz = _zone(chat.timezone)
    lines = []
    if found is not None:
        owner = "this chat's story" if found.owner_chat_id is not None else "global story"
        lines.append(f"🔎 <b>{_e(found.name, 64)}</b> ({owner})\n<code>{_e(found.query, 400)}</code>")
    else:
        lines.append(f"🗑 <b>{_e(name, 64)}</b> was removed.")
    lines.append("\n<b>History</b>")
    for entry in history:
        who = _e(entry.user_name or (str(entry.user_id) if entry.user_id else "unknown"), 80)
        line = f"• {_when(entry.at, tz)} {escape(entry.action)} by {who}"
        if entry.action == "edit":
            old, new = _e(entry.old_query or "", 200), _e(entry.new_query or "", 200)
            line += f": <code>{old}</code> → <code>{new}</code>"
        elif entry.new_query:
            line += f": <code>{_e(entry.new_query, 300)}</code>"
        lines.append(line)
    await send(update, context, pack_lines(lines))


# -- feeds (bot admins) -------------------------------------------------------------------


def _valid_feed_url(url: str) -> str | None:
    """An error message for a URL that cannot be a feed, else None."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return "that is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "a feed URL starts with http:// or https:// and names a host"
    if len(url) > 2048 or any(ch.isspace() for ch in url):
        return "the URL is too long or contains spaces"
    return None


async def _bot_admin(
    update: Update, context: Context, rt: Runtime, actor: Actor, what: str = "manage feeds"
) -> bool:
    if actor.is_channel_post:
        await _refuse(
            update,
            context,
            f"Only bot admins can {what}, from a private chat or a group, not a channel post.",
        )
        return False
    if not rt.permissions.is_bot_admin(actor):
        await _refuse(update, context, f"Only bot admins can {what} (your user id is {actor.user_id}).")
        return False
    return True


async def status(update: Update, context: Context) -> None:
    """/status (bot admins): feeds by health, items, developments, outbox and workers."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, actor, _ = setup
    if not await _bot_admin(update, context, rt, actor, "see the status"):
        return
    from .status import collect_status

    info = await collect_status(rt.storage)
    outbox = ", ".join(f"{_e(str(k), 20)} {v}" for k, v in sorted(info["outbox"].items())) or "empty"
    lines = [
        "📊 <b>Status</b>",
        f"Feeds: {info['feeds']} ({info['feeds_ok']} ok, {info['feeds_failing']} failing, "
        f"{info['feeds_disabled']} disabled); due {info['feeds_due']}, leased {info['feeds_leased']}",
        f"Items: {info['items']} ({info['items_untracked']} not yet tracked); "
        f"developments: {info['developments']}",
        f"Outbox: {outbox}",
        f"Workers: {len(info['workers'])}; database: {_e(str(info['database']), 20)}",
    ]
    await send(update, context, "\n".join(lines))


async def feed(update: Update, context: Context) -> None:
    """/feed add|rm|enable URL (bot admins): manage the feeds everything is read from."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, actor, _ = setup
    args = list(context.args or [])
    if len(args) != 2 or args[0].lower() not in ("add", "rm", "enable"):
        await send(
            update,
            context,
            "Usage: <code>/feed add URL</code>, <code>/feed rm URL</code>, "
            "<code>/feed enable URL</code>; /feeds lists them.",
        )
        return
    if not await _bot_admin(update, context, rt, actor):
        return
    action, url = args[0].lower(), args[1].strip()
    if action == "add":
        problem = _valid_feed_url(url)
        if problem:
            await send(update, context, f"❌ {_e(url, 200)}: {problem}.")
            return
        try:
            state = await rt.storage.add_feed(url, added_by=actor.user_id)
        except AlreadyExists:
            await send(update, context, f"ℹ️ {_e(url, 200)} is already a feed. /feeds shows its health.")
            return
        text = f"✅ Added feed {_e(url, 200)}."
        poller = rt.services.poller
        if poller is None:
            text += " It will be fetched on the next poll."
        else:
            async with rt.poll_lock:
                summary = await poller.poll_once(feeds=[state])
            report = summary.reports[0] if summary.reports else None
            if report is not None and report.error:
                text += (
                    f"\n⚠️ The first fetch failed: {_e(report.error, 300)}"
                    f". It will be retried; /feed rm {_e(url, 200)} removes it."
                )
            elif report is not None:
                fresh = await rt.storage.get_feed(url)
                title = fresh.title if fresh and fresh.title else ""
                text += f"\nFirst fetch: {report.new_items} new items"
                text += f" from “{_e(title, 100)}”." if title else "."
            if rt.services.tracking is not None:
                await rt.services.tracking.track_pending()
        await send(update, context, text)
        return
    try:
        if action == "rm":
            await rt.storage.remove_feed(url)
            await send(update, context, f"✅ Removed feed {_e(url, 200)}.")
        else:
            await rt.storage.set_feed_enabled(url, True)
            await send(update, context, f"✅ Enabled feed {_e(url, 200)}; it is fetched on the next poll.")
    except NotFound:
        await send(update, context, f"❓ No feed {_e(url, 200)}. /feeds lists them.")


async def feeds(update: Update, context: Context) -> None:
    """/feeds: every feed with its health (errors, disabled, items)."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    summaries = await rt.storage.list_feeds()
    if not summaries:
        await send(update, context, "No feeds yet. Bot admins add them with /feed add URL.")
        return
    tz = _zone(chat.timezone)
    healthy = sum(1 for s in summaries if not s.state.disabled and not s.state.consecutive_errors)
    lines = [f"📡 <b>Feeds</b>: {len(summaries)}, {healthy} healthy"]
    for summary in summaries:
        state = summary.state
        name = _e(state.title or state.url, 80)
        if state.disabled:
            mark, health = "⛔", f"disabled: {_e(state.disabled_reason or '', 200)}"
        elif state.consecutive_errors:
            mark, health = "⚠️", f"{state.consecutive_errors} errors, last: {_e(state.last_error or '', 200)}"
        else:
            mark, health = "✅", "ok"
        fetched = (
            f", fetched {_when(state.last_fetched_at, tz)}" if state.last_fetched_at else ", never fetched"
        )
        lines.append(
            f"{mark} {name} — {health}; {summary.item_count} items{fetched}\n"
            f"  <code>{_e(state.url, 300)}</code>"
        )
    await send(update, context, pack_lines(lines))


# -- chat changes -------------------------------------------------------------------------


async def my_chat_member(update: Update, context: Context) -> None:
    """The bot was added to or removed from a chat: resume or pause its deliveries."""
    change = update.my_chat_member
    if change is None:
        return
    rt = runtime_of(context)
    status = change.new_chat_member.status
    old = change.old_chat_member.status
    gone = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)
    joined = status not in gone and old in gone
    adder = change.from_user.id if change.from_user and not change.from_user.is_bot else None
    chat = change.chat
    info = await delivery.upsert_chat(
        rt.storage,
        chat.id,
        type=_chat_kind(chat),
        title=chat.title or chat.full_name or chat.username,
        username=chat.username,
        timezone=rt.config.digest.timezone,
        added_by=adder if joined or status in ADMIN_STATUSES else None,
    )
    rt.permissions.forget(chat.id)
    if status in gone:
        by = change.from_user.full_name if change.from_user else "someone"
        await delivery.pause_chat(rt.storage, chat.id, f"the bot was removed from the chat by {by}")
        return
    await delivery.resume_chat(rt.storage, chat.id)
    if chat.type == ChatType.PRIVATE or not (
        joined or (status in ADMIN_STATUSES and old not in ADMIN_STATUSES)
    ):
        return
    await _greet(update, context, rt, info, adder)


async def _greet(update: Update, context: Context, rt: Runtime, chat: ChatInfo, adder: int | None) -> None:
    """The bot was just added: next steps in the group; for a channel (where a greeting would
    be a post to every subscriber), to the admin who added it, with subscribe buttons."""
    tr = tr_of(update, chat)
    title = _e(chat.title or str(chat.id), 64)
    if chat.type != ChatType.CHANNEL:
        text = tr.t(
            "👋 Hello, {chat}! I follow news stories and post digests of what is new.\n"
            "Next steps: /stories to see the stories and subscribe with a tap, "
            "/settings for the language and time zone, /help for every command.",
            chat=title,
        )
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(
                chat.id, text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
            )
        return
    if adder is None:
        return
    private = await delivery.get_chat(rt.storage, adder)
    adder_tr = tr_of(update, private)
    if not await rt.permissions.is_member_admin(context.bot, chat.id, context.bot.id):
        text = adder_tr.t(
            "👋 You added me to {chat}. Make me an admin there (allowed to post), then pick its stories "
            "with /subscribe.",
            chat=title,
        )
        keyboard = None
    else:
        owner = private or ChatInfo(
            adder, "private", None, None, rt.config.digest.timezone, False, None, None
        )
        lines, keyboard = await _offer_stories(rt, adder_tr, owner, chat)
        text = adder_tr.t("👋 I am in {chat}. Pick the stories it should get digests of:", chat=title)
        text += "\n" + "\n".join(lines[1:])
    with contextlib.suppress(TelegramError):  # they may never have started a chat with the bot
        await context.bot.send_message(
            adder, text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW, reply_markup=keyboard
        )


async def forwarded(update: Update, context: Context) -> None:
    """A post forwarded from a channel into a private chat: offer to subscribe that channel."""
    setup = await _setup(update, context)
    message = update.effective_message
    if setup is None or message is None:
        return
    rt, actor, chat = setup
    tr = tr_of(update, chat)
    origin = message.forward_origin
    if not isinstance(origin, MessageOriginChannel) or actor.user_id is None:
        return
    channel = origin.chat
    title = _e(channel.title or str(channel.id), 64)
    if not await rt.permissions.is_member_admin(context.bot, channel.id, actor.user_id):
        await _refuse(update, context, tr.t("You are not an admin of {chat}.", chat=title))
        return
    if not await rt.permissions.is_member_admin(context.bot, channel.id, context.bot.id):
        await _refuse(
            update, context, tr.t("I am not an admin of {chat}: add me as an admin there first.", chat=title)
        )
        return
    target = await _register(rt, channel)
    lines, keyboard = await _offer_stories(rt, tr, chat, target)
    await send(update, context, lines, markup=keyboard)


async def migrated(update: Update, context: Context) -> None:
    """A group became a supergroup: follow it to its new id."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    rt = runtime_of(context)
    await delivery.migrate_chat(rt.storage, message.chat_id, message.migrate_to_chat_id)


async def on_error(update: object, context: Context) -> None:
    """The one error handler: log with the update's chat, and tell the user briefly."""
    log.error("handler failed for update %s", getattr(update, "update_id", "?"), exc_info=context.error)
    if (
        isinstance(update, Update)
        and update.effective_chat is not None
        and update.effective_message is not None
    ):
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(
                update.effective_chat.id, "Sorry, something went wrong on my side; it has been logged."
            )


__all__ = [
    "COMMANDS",
    "HELP",
    "digest",
    "feed",
    "feeds",
    "forwarded",
    "migrated",
    "my_chat_member",
    "on_button",
    "on_error",
    "pack_lines",
    "search",
    "send",
    "settings",
    "start",
    "stories",
    "story",
    "subscribe",
    "subscriptions",
    "timezone",
    "unsubscribe",
    "watch",
]
