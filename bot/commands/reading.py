"""Reading commands: /stories, /story NAME [since:3d], /search WORDS [since:7d] [story:NAME] [outlet:NAME]
[outlet:reuters],
each paged with more / back buttons (their presses: ``bot.commands.buttons``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)

from storage import buttons as button_store
from storage import subscriptions as subscription_store
from storage.chats import ChatInfo
from stories.digest import SearchHit
from stories.errors import N_, Message
from stories.model import Story
from stories.query import QueryError

from ..actions import search as search_actions
from ..actions.stories import QueryTooLong, StoryNotFound, check_query, find_story, story_developments
from ..actions.subscriptions import schedule_text, zone_of
from ..i18n import Translator
from ..keyboards import markup
from ..render import render_search_results, render_story
from ..services import Runtime, SearchPage
from .common import (
    MAX_STORY_BUTTONS,
    MAX_TITLE,
    Context,
    esc,
    pack_lines,
    prepare,
    query_error_html,
    say,
    send,
    shorten,
    signer_of,
    story_not_found,
    story_not_found_html,
    text_after,
    tr_of,
)

SEARCH_PAGE = 5
STORY_DEVELOPMENTS = 5  # per /story page: more / back buttons page on


async def stories_view(
    rt: Runtime, chat: ChatInfo, tr: Translator
) -> tuple[list[str], InlineKeyboardMarkup | None]:
    """The /stories text and its keyboard: a subscribe / unsubscribe toggle per story."""
    visible = await rt.storage.list_stories(chat_id=chat.id)
    subs = {s.story_id: s for s in await subscription_store.list_subscriptions(rt.storage, chat.id)}
    if not visible:
        return [tr.t("No stories yet. Chat admins can add one: /watch add NAME QUERY")], None
    signer = await signer_of(rt)
    titles = await subscription_store.story_titles(rt.storage, [s.id for s in visible if s.id is not None])
    lines = [tr.t("📚 <b>Stories</b>")]
    rows: list[list[InlineKeyboardButton]] = []
    for story in visible:
        owner = tr.t("this chat's") if story.owner_chat_id is not None else tr.t("global")
        sub = subs.get(story.id or -1)
        state = (
            tr.t("✅ subscribed: {schedule}", schedule=say(tr, schedule_text(sub.schedule, chat.timezone)))
            if sub
            else tr.t("not subscribed")
        )
        heading = f"<b>{esc(story.name, 64)}</b>"
        if story.id in titles:
            heading += f" “{esc(titles[story.id], MAX_TITLE)}”"
        lines.append(f"• {heading} ({owner}) — {state}\n  <code>{esc(story.query, 300)}</code>")
        if story.id is not None and len(rows) < MAX_STORY_BUTTONS:
            label = tr.t("🔕 Unsubscribe {name}") if sub else tr.t("🔔 Subscribe {name}")
            rows.append(
                [
                    signer.button(
                        label.format(name=shorten(story.name, 40)), chat.id, "sub", story.id, 0 if sub else 1
                    )
                ]
            )
    lines.append("\n" + tr.t("/story NAME for its latest developments, /subscribe NAME for digests."))
    return pack_lines(lines), markup(rows)


async def stories(update: Update, context: Context) -> None:
    """/stories: global stories and this chat's own, with queries, subscription state and a
    subscribe / unsubscribe button for each."""
    setup = await prepare(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    texts, keyboard = await stories_view(rt, chat, tr_of(update, chat))
    await send(update, context, texts, markup=keyboard)


async def visible_story(rt: Runtime, chat_id: int, story_id: int) -> Story | None:
    """The story ``story_id`` if ``chat_id`` can see it (a button's story may be gone)."""
    for candidate in await rt.storage.list_stories(chat_id=chat_id):
        if candidate.id == story_id:
            return candidate
    return None


async def story(update: Update, context: Context) -> None:
    """/story NAME [since:3d]: the latest developments of a story, newest first, paged with
    more / back buttons."""
    setup = await prepare(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    tr = tr_of(update, chat)
    words, filters_found, problem = split_filters(list(context.args or []), allowed=("since",))
    if problem:
        await send(update, context, f"❌ {say(tr, problem)}")
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
    try:
        found = await find_story(rt.storage, name, chat_id=chat.id)
    except StoryNotFound as exc:
        await send(update, context, story_not_found_html(exc, tr))
        return
    days = since_days(filters_found.get("since"))
    texts, keyboard = await story_page(rt, chat, tr, found, 0, days)
    await send(update, context, texts, markup=keyboard)


async def story_page(
    rt: Runtime, chat: ChatInfo, tr: Translator, found: Story, offset: int, days: int
) -> tuple[list[str], InlineKeyboardMarkup | None]:
    """One page of /story: developments ``offset`` on (seen within ``days`` when > 0), with
    buttons. The developments are ``newsbot story``'s, in its order."""
    assert found.id is not None
    now = datetime.now(UTC)
    since = now - timedelta(days=days) if days else None
    devs = await story_developments(rt.storage, found.id, since=since, limit=offset + STORY_DEVELOPMENTS + 1)
    page = devs[offset : offset + STORY_DEVELOPMENTS]
    texts = render_story(found.name, page, zone_of(chat.timezone), now=now, tr=tr)
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
    rt: Runtime,
    query: str,
    offset: int,
    limit: int,
    since_days: int = 0,
    story_id: int | None = None,
    outlet: str | None = None,
) -> SearchPage:
    check_query(query, max_length=rt.config.telegram.max_query_length)  # a given backend too
    if rt.services.search is not None and not since_days and story_id is None and not outlet:
        return await rt.services.search(rt.storage, query, offset, limit)
    since = datetime.now(UTC) - timedelta(days=since_days) if since_days else None
    found = await search_actions.search(
        rt.storage,
        query,
        since=since,
        story_id=story_id,
        outlet=outlet,
        offset=offset,
        limit=limit,
        max_length=rt.config.telegram.max_query_length,
    )
    hits = [
        SearchHit(title=h.title, url=h.url, outlet=h.outlet, published=h.published, snippet=h.snippet)
        for h in found.hits
    ]
    return SearchPage(hits, has_more=found.has_more)


async def search_page(
    rt: Runtime, chat: ChatInfo, tr: Translator, query: str, offset: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    words, found_filters, _ = split_filters(query.split(), allowed=SEARCH_FILTERS)
    days = since_days(found_filters.get("since"))
    text_query = " ".join(words) if found_filters else query
    story_id = None
    if "story" in found_filters:
        in_story = await rt.storage.get_story(found_filters["story"], chat_id=chat.id)
        story_id = in_story.id if in_story is not None and in_story.id is not None else -1
    page = await _run_search(rt, text_query, offset, SEARCH_PAGE, days, story_id, found_filters.get("outlet"))
    text = render_search_results(
        query,
        list(page.hits),
        zone_of(chat.timezone),
        now=datetime.now(UTC),
        offset=offset,
        total=page.total,
        tr=tr,
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
    """/search QUERY [since:7d] [story:NAME] [outlet:reuters]: full-text search over stored
    items, paged with buttons."""
    setup = await prepare(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    tr = tr_of(update, chat)
    query = text_after(update, 0)
    if not query:
        await send(
            update,
            context,
            tr.t(
                "Usage: <code>/search WORDS [since:7d] [story:NAME] [outlet:NAME]</code> — e.g. "
                '<code>/search Khartoum ceasefire</code>, <code>/search "El Fasher" -football</code>'
            ),
        )
        return
    words, found_filters, problem = split_filters(query.split(), allowed=SEARCH_FILTERS)
    if problem:
        await send(update, context, f"❌ {say(tr, problem)}")
        return
    if (
        "story" in found_filters
        and await rt.storage.get_story(found_filters["story"], chat_id=chat.id) is None
    ):
        await send(update, context, await story_not_found(rt, chat.id, found_filters["story"], tr))
        return
    if found_filters and not words:
        await send(update, context, tr.t("❌ Give at least one word to search for besides the filters."))
        return
    try:
        text, keyboard = await search_page(rt, chat, tr, query, 0)
    except QueryTooLong as exc:
        await send(update, context, tr.t("❌ The query is too long (limit {limit}).", limit=exc.limit))
        return
    except QueryError as exc:
        await send(update, context, query_error_html(query, exc, tr))
        return
    await send(update, context, text, markup=keyboard)


SEARCH_FILTERS = ("since", "story", "outlet")
_FILTER = re.compile(r"^(since|story|outlet):(.+)$", re.IGNORECASE)
DAYS = re.compile(r"^(\d{1,3})d$")
_NOT_SUPPORTED = N_("{key}: is not supported here; filters: {filters}")
_SINCE_DAYS = N_("since: takes a number of days, e.g. since:7d")


def split_filters(
    words: Sequence[str], *, allowed: Sequence[str]
) -> tuple[list[str], dict[str, str], Message | None]:
    """Words without their ``key:value`` filters, the filters, and an error message for a
    filter not ``allowed`` or a malformed ``since:`` (else None; ``say`` shows it)."""
    kept: list[str] = []
    found: dict[str, str] = {}
    for word in words:
        match = _FILTER.match(word)
        if match is None:
            kept.append(word)
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key not in allowed:
            filters = ", ".join(f"{k}:" for k in allowed)
            return kept, found, Message(_NOT_SUPPORTED, {"key": key, "filters": filters})
        if key == "since" and not DAYS.match(value.lower()):
            return kept, found, Message(_SINCE_DAYS)
        found[key] = value
    return kept, found, None


def since_days(value: str | None) -> int:
    """The days of a ``since:7d`` filter (0: none), at most ten years."""
    match = DAYS.match(value.lower()) if value else None
    return min(int(match.group(1)), 3650) if match else 0
