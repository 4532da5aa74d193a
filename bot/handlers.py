"""Telegram command handlers: thin async functions that check, call storage/digests, reply.

Every reply is Telegram HTML built from escaped pieces (``bot.render.escape``), sent with link
previews off. Commands work in private chats, groups (also as ``/cmd@botname``) and channel
posts (a channel post counts as coming from a channel admin: only admins can post).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from telegram import Chat, ChatFullInfo, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from storage import delivery
from storage.delivery import ChatInfo
from storage.repository import GLOBAL_SCOPE, AlreadyExists, NotFound
from stories.digest import SearchHit
from stories.model import Story
from stories.query import QueryError, matches_everything, parse

from .digests import (
    SCHEDULE_HELP,
    ScheduleError,
    next_run,
    parse_schedule,
    resolve_timezone,
    send_digest_now,
    story_developments,
)
from .outbox import NO_PREVIEW
from .permissions import Actor, actor_of
from .render import escape, render_plain, render_search_results, render_story, visible_length
from .services import Runtime, SearchPage, runtime_of

log = logging.getLogger("newsbot.bot")

Context = ContextTypes.DEFAULT_TYPE

SEARCH_PAGE = 5
STORY_DEVELOPMENTS = 10
MAX_SEARCHES_KEPT = 500
_NAME = re.compile(r"^[\w][\w.-]{0,63}$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "What this bot does"),
    ("help", "Every command"),
    ("stories", "Stories this chat can see"),
    ("story", "Latest developments of a story: /story NAME"),
    ("search", "Search stored news: /search WORDS"),
    ("subscribe", "Digests of a story: /subscribe NAME [schedule]"),
    ("unsubscribe", "Stop a story's digests: /unsubscribe NAME"),
    ("subscriptions", "What this chat receives, and when"),
    ("timezone", "This chat's time zone: /timezone Europe/Madrid"),
    ("digest", "The digest for this chat now"),
    ("watch", "This chat's own stories: /watch add|edit|rm|show NAME [QUERY]"),
    ("feed", "Bot admins: /feed add|rm|enable URL"),
    ("feeds", "Feeds and their health"),
    ("status", "Bot admins: feeds, items, developments, outbox, workers"),
)

HELP = "\n".join(
    [
        "🗞 <b>newsbot</b> follows news stories across many outlets, folds copies of the same "
        "report together and sends digests of what is new.",
        "",
        "/stories — the stories this chat can see",
        "/story NAME — latest developments of a story",
        "/search WORDS — search stored news (same syntax as watchlists)",
        "/subscribe [@channel] NAME [schedule] — digests of a story; schedule: "
        "<code>daily 08:00</code>, <code>every 6h</code>, <code>instant</code> (breaking alerts) "
        "or <code>off</code>",
        "/unsubscribe [@channel] NAME — stop them",
        "/subscriptions [@channel] — what this chat receives, and when",
        "/timezone ZONE — e.g. <code>/timezone Europe/Madrid</code>",
        "/digest — the digest for this chat now",
        "",
        "<b>Chat admins</b>: /watch add NAME QUERY, /watch edit NAME QUERY, /watch rm NAME, "
        "/watch show NAME — this chat's own stories",
        "<b>Bot admins</b>: /watch global add|edit|rm NAME [QUERY], /feed add URL, /feed rm URL, "
        "/feed enable URL, /feeds, /status",
    ]
)


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


async def send(
    update: Update,
    context: Context,
    text: str | Sequence[str],
    *,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Send one or more HTML messages to the chat the update came from (previews off)."""
    chat = update.effective_chat
    if chat is None:
        return
    parts = [text] if isinstance(text, str) else list(text)
    for n, part in enumerate(parts):
        await context.bot.send_message(
            chat.id,
            part,
            parse_mode=ParseMode.HTML,
            link_preview_options=NO_PREVIEW,
            reply_markup=markup if n == len(parts) - 1 else None,
        )


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
    """/start and /help: what the bot does and every command."""
    if await _setup(update, context) is None:
        return
    await send(update, context, HELP)


async def stories(update: Update, context: Context) -> None:
    """/stories: global stories and this chat's own, with queries and subscription state."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    visible = await rt.storage.list_stories(chat_id=chat.id)
    subs = {s.story_id: s for s in await delivery.list_subscriptions(rt.storage, chat.id)}
    if not visible:
        await send(update, context, "No stories yet. Chat admins can add one: /watch add NAME QUERY")
        return
    lines = ["📚 <b>Stories</b>"]
    for story in visible:
        owner = "this chat's" if story.owner_chat_id is not None else "global"
        sub = subs.get(story.id or -1)
        state = (
            f"✅ subscribed: {escape(_schedule_text(sub.schedule, chat.timezone))}"
            if sub
            else "not subscribed"
        )
        lines.append(
            f"• <b>{_e(story.name, 64)}</b> ({owner}) — {state}\n  <code>{_e(story.query, 300)}</code>"
        )
    lines.append("\n/story NAME for its latest developments, /subscribe NAME for digests.")
    await send(update, context, pack_lines(lines))


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
    """/story NAME: the latest developments of a story, newest first."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    name = " ".join(context.args or [])
    if not name:
        await send(
            update, context, "Usage: <code>/story NAME</code> — e.g. <code>/story sudan</code>. See /stories."
        )
        return
    found = await rt.storage.get_story(name, chat_id=chat.id)
    if found is None or found.id is None:
        await send(update, context, await _suggest(rt, chat.id, name))
        return
    devs = await story_developments(rt.storage, found.id, limit=STORY_DEVELOPMENTS)
    await send(update, context, render_story(found.name, devs, _zone(chat.timezone), now=datetime.now(UTC)))


async def _run_search(rt: Runtime, query: str, offset: int, limit: int) -> SearchPage:
    if rt.services.search is not None:
        return await rt.services.search(rt.storage, query, offset, limit)
    from storage.search import search_items

    # One more than a page tells whether a "more" button is needed.
    found = await search_items(rt.storage.engine, query, offset=offset, limit=limit + 1)
    hits = [
        SearchHit(title=h.title, url=h.url, outlet=h.outlet, published=h.published, snippet=h.snippet)
        for h in found[:limit]
    ]
    return SearchPage(hits, has_more=len(found) > limit)


def _search_token(rt: Runtime, query: str) -> str:
    token = hashlib.sha256(query.encode()).hexdigest()[:16]
    if token not in rt.searches and len(rt.searches) >= MAX_SEARCHES_KEPT:
        rt.searches.pop(next(iter(rt.searches)))
    rt.searches[token] = query
    return token


async def _search_page(
    rt: Runtime, chat: ChatInfo, query: str, offset: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    page = await _run_search(rt, query, offset, SEARCH_PAGE)
    text = render_search_results(
        query, list(page.hits), _zone(chat.timezone), now=datetime.now(UTC), offset=offset, total=page.total
    )
    token = _search_token(rt, query)
    buttons = []
    if offset > 0:
        buttons.append(
            InlineKeyboardButton("◂ back", callback_data=f"s:{token}:{max(0, offset - SEARCH_PAGE)}")
        )
    if page.has_more:
        buttons.append(InlineKeyboardButton("more ▸", callback_data=f"s:{token}:{offset + SEARCH_PAGE}"))
    return text, InlineKeyboardMarkup([buttons]) if buttons else None


async def search(update: Update, context: Context) -> None:
    """/search QUERY: full-text search over stored items, paged with inline buttons."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    query = _text_after(update, 0)
    if not query:
        await send(
            update,
            context,
            "Usage: <code>/search WORDS</code> — e.g. <code>/search Khartoum ceasefire</code>, "
            '<code>/search "El Fasher" -football</code>',
        )
        return
    if len(query) > rt.config.telegram.max_query_length:
        await send(
            update, context, f"❌ The query is too long (limit {rt.config.telegram.max_query_length})."
        )
        return
    try:
        parse(query)
        text, markup = await _search_page(rt, chat, query, 0)
    except QueryError as exc:
        await send(update, context, _query_error(query, exc))
        return
    await send(update, context, text, markup=markup)


async def search_more(update: Update, context: Context) -> None:
    """The "more" / "back" buttons under search results: show that page in the same message."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    rt = runtime_of(context)
    _, token, offset_text = [*query.data.split(":"), "", ""][:3]
    text_query = rt.searches.get(token)
    message = query.message
    chat = update.effective_chat
    if text_query is None or chat is None or not offset_text.isdigit():
        await query.answer("This search has expired: run /search again.", show_alert=False)
        return
    info = await _register(rt, chat)
    text, markup = await _search_page(rt, info, text_query, int(offset_text))
    await query.answer()
    if message is not None and message.is_accessible:
        try:
            await context.bot.edit_message_text(
                text,
                chat_id=chat.id,
                message_id=message.message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
                reply_markup=markup,
            )
            return
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return
            log.info("search page: cannot edit (%s); sending a new message", exc.message)
    await context.bot.send_message(
        chat.id, text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW, reply_markup=markup
    )


# -- subscriptions ------------------------------------------------------------------------


async def _target(
    update: Update, context: Context, rt: Runtime, actor: Actor, chat: ChatInfo, args: list[str]
) -> tuple[ChatInfo, list[str]] | None:
    """The chat to manage: ``@channel`` as first argument (user and bot must be its admins), else
    this chat (the sender must be its admin). Replies and returns None when not allowed."""
    if args and args[0].startswith("@"):
        handle = args[0]
        if actor.user_id is None:
            await _refuse(
                update, context, "Name another chat from a private chat or a group, not from a channel post."
            )
            return None
        try:
            target = await context.bot.get_chat(handle)
        except TelegramError:
            await send(update, context, f"❓ I cannot find {_e(handle, 64)}: add me there as an admin first.")
            return None
        if not await rt.permissions.is_member_admin(context.bot, target.id, actor.user_id):
            await _refuse(update, context, f"You are not an admin of {_e(handle, 64)}.")
            return None
        if not await rt.permissions.is_member_admin(context.bot, target.id, context.bot.id):
            await _refuse(
                update, context, f"I am not an admin of {_e(handle, 64)}: add me as an admin there first."
            )
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
    """/subscribe [@channel] NAME [schedule]: digests of a story for this chat (or a channel)."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, actor, chat = setup
    args = list(context.args or [])
    if not args or (args[0].startswith("@") and len(args) < 2):
        await send(
            update,
            context,
            "Usage: <code>/subscribe NAME [schedule]</code> or "
            "<code>/subscribe @channel NAME [schedule]</code>; " + escape(SCHEDULE_HELP) + ". See /stories.",
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
    assert story_found.id is not None
    try:
        schedule = parse_schedule(" ".join(schedule_words) if schedule_words else rt.config.digest.schedule)
    except ScheduleError as exc:
        await send(update, context, f"❌ {escape(str(exc))}")
        return
    now = datetime.now(UTC)
    tz = _zone(where.timezone)
    upcoming = next_run(schedule, now, tz)
    sub, created = await delivery.subscribe(
        rt.storage,
        where.id,
        story_found.id,
        schedule=str(schedule),
        next_digest_at=upcoming,
        user_id=actor.user_id,
    )
    resumed = await delivery.resume_chat(rt.storage, where.id)
    rt.permissions.forget(where.id)
    verb = "Subscribed" if created else "Changed the schedule of"
    title = _e(where.title or str(where.id), 64)
    when = escape(_schedule_text(sub.schedule, where.timezone))
    text = f"✅ {verb} {title} to <b>{_e(story_found.name, 64)}</b>: {when}."
    if upcoming is not None:
        text += f" Next digest {_when(upcoming, tz)}."
    elif schedule.kind == "instant":
        text += (
            f" A development is posted as soon as {rt.config.digest.breaking_outlets} outlets carry it "
            f"within {int(rt.config.digest.breaking_window // 60)} minutes."
        )
    if resumed:
        text += " Deliveries to this chat were paused and are resumed."
    await send(update, context, text)


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
    await delivery.set_chat_timezone(rt.storage, chat.id, tz.key)
    now = datetime.now(UTC)
    changes = []
    for sub in await delivery.list_subscriptions(rt.storage, chat.id):
        try:
            changes.append(
                delivery.ScheduleUpdate(sub.id, None, next_run(parse_schedule(sub.schedule), now, tz))
            )
        except ScheduleError:
            continue
    await delivery.reschedule(rt.storage, changes)
    await send(update, context, f"✅ Time zone set to {escape(tz.key)}; it is now {_when(now, tz)} there.")


async def digest(update: Update, context: Context) -> None:
    """/digest: this chat's digest now (what is new since its last one)."""
    setup = await _setup(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    if chat.paused:
        await delivery.resume_chat(rt.storage, chat.id)  # it reached us, so we can post again
    async with rt.digest_lock:
        written = await send_digest_now(rt.storage, rt.config, chat.id)
    if written is None:
        await send(update, context, "This chat has no subscriptions yet: /subscribe NAME. See /stories.")
    elif written == 0:
        await send(update, context, "Nothing new since the last digest.")
    else:
        await rt.sender.send_pending()


# -- watchlists ---------------------------------------------------------------------------


WATCH_USAGE = (
    "Usage: <code>/watch add NAME QUERY</code>, <code>/watch edit NAME QUERY</code>, "
    "<code>/watch rm NAME</code>, <code>/watch show NAME</code>. "
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
    if len(args) < 2 or args[0].lower() not in ("add", "edit", "rm", "show"):
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
    await _register(rt, change.chat)
    status = change.new_chat_member.status
    rt.permissions.forget(change.chat.id)
    if status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
        by = change.from_user.full_name if change.from_user else "someone"
        await delivery.pause_chat(rt.storage, change.chat.id, f"the bot was removed from the chat by {by}")
    else:
        await delivery.resume_chat(rt.storage, change.chat.id)


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
    "migrated",
    "my_chat_member",
    "on_error",
    "pack_lines",
    "search",
    "search_more",
    "send",
    "start",
    "stories",
    "story",
    "subscribe",
    "subscriptions",
    "timezone",
    "unsubscribe",
    "watch",
]
