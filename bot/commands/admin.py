"""Admin commands: /watch (a chat's own stories; bot admins: ``/watch global``), and for bot
admins /feed add|rm|enable, /feeds with each feed's health, and /status."""

from __future__ import annotations

import json
import re

from telegram import ForceReply, Update
from telegram.constants import ParseMode

from storage import chats as chat_store
from storage import subscriptions as subscription_store
from storage.chats import ChatInfo
from storage.repository import GLOBAL_SCOPE, AlreadyExists, NotFound
from storage.settings import put_setting, take_setting

from ..actions.feeds import BadFeedUrl, add_feed, check_feed_url, health
from ..actions.subscriptions import zone_of
from ..permissions import Actor
from ..render import escape
from ..services import Runtime
from .common import (
    MAX_TITLE,
    Context,
    esc,
    is_chat_admin,
    pack_lines,
    prepare,
    refuse,
    send,
    story_not_found,
    text_after,
    thread_of,
    tr_of,
    validate_query,
    when,
)

WATCH_USAGE = (
    "Usage: <code>/watch add NAME QUERY</code>, <code>/watch edit NAME QUERY</code>, "
    "<code>/watch rm NAME</code>, <code>/watch show NAME</code>, "
    "<code>/watch title NAME Display title</code> (digests use it). "
    'Query: words (all must appear), "exact phrases", prefix*, OR, -word, parentheses.'
)
_NAME = re.compile(r"^[\w][\w.-]{0,63}$")


async def watch(update: Update, context: Context) -> None:
    """/watch add|edit|rm|show NAME [QUERY]: this chat's own stories (bot admins: /watch global ...)."""
    setup = await prepare(update, context)
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
            await refuse(update, context, "Only bot admins can change global stories.")
            return
    elif not await is_chat_admin(rt, context, actor):
        await refuse(update, context, "Only this chat's admins can change its stories.")
        return
    if not _NAME.match(name):
        await send(
            update, context, "❌ A story name is one word of letters, digits, '-', '_' or '.', at most 64."
        )
        return
    if action == "title":
        await _watch_title(update, context, rt, chat, name, scope, text_after(update, 2 + skip))
        return
    if action == "add" and not text_after(update, 2 + skip):
        await _ask_for_query(update, context, rt, actor, chat, name, scope)
        return
    await _change_story(update, context, rt, actor, action, name, scope, text_after(update, 2 + skip))


PROMPT_KEY = "telegram.prompt.watch:{chat}:{message}"


async def _ask_for_query(
    update: Update, context: Context, rt: Runtime, actor: Actor, chat: ChatInfo, name: str, scope: int
) -> None:
    """/watch add NAME without a query: ask for it (ForceReply); the reply completes the add.
    What was asked is kept in the database, so any bot process, also after a restart, takes
    the reply."""
    tr = tr_of(update, chat)
    message = await context.bot.send_message(
        chat.id,
        tr.t(
            "✍️ Send me the query for <b>{name}</b> as a reply to this message, e.g. "
            '<code>Sudan OR Khartoum -football</code> or <code>"El Fasher"</code>.',
            name=esc(name, 64),
        ),
        parse_mode=ParseMode.HTML,
        reply_markup=ForceReply(selective=True, input_field_placeholder=tr.t("the story's query")),
        message_thread_id=thread_of(update),
    )
    await put_setting(
        rt.storage,
        PROMPT_KEY.format(chat=chat.id, message=message.message_id),
        json.dumps({"name": name, "scope": scope, "user": actor.user_id}),
    )


async def watch_reply(update: Update, context: Context) -> None:
    """A reply to a "send me the query" prompt of /watch add NAME: add the story with it. A
    reply to any other message, or by someone other than who asked, is left alone."""
    message = update.effective_message
    if message is None or message.reply_to_message is None or not message.text:
        return
    replied = message.reply_to_message
    if replied.from_user is None or replied.from_user.id != context.bot.id:
        return
    setup = await prepare(update, context)
    if setup is None:
        return
    rt, actor, chat = setup
    key = PROMPT_KEY.format(chat=chat.id, message=replied.message_id)
    raw = await take_setting(rt.storage, key)
    if raw is None:
        return
    asked = json.loads(raw)
    if asked.get("user") not in (None, actor.user_id):
        await put_setting(rt.storage, key, raw)  # not theirs to answer: keep it for the asker
        return
    await _change_story(
        update, context, rt, actor, "add", str(asked["name"]), int(asked["scope"]), message.text
    )


async def _change_story(
    update: Update,
    context: Context,
    rt: Runtime,
    actor: Actor,
    action: str,
    name: str,
    scope: int,
    query: str,
) -> None:
    """/watch add|edit|rm NAME [QUERY] once its sender may: do it and say what was done."""
    if action in ("add", "edit"):
        problem = validate_query(rt, query)
        if problem:
            await send(update, context, problem)
            return
        try:
            if action == "add":
                if (
                    scope != GLOBAL_SCOPE
                    and await chat_store.count_chat_stories(rt.storage, scope)
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
                    f"✅ Added story <b>{esc(name, 64)}</b>: <code>{esc(query, 300)}</code>"
                    f". It matches news from now on; /subscribe {esc(name, 64)} for digests."
                )
            else:
                await rt.storage.edit_story(
                    name, query, scope=scope, user_id=actor.user_id, user_name=actor.name
                )
                text = f"✅ Story <b>{esc(name, 64)}</b> now watches <code>{esc(query, 300)}</code>."
        except (AlreadyExists, NotFound) as exc:
            await send(update, context, f"❌ {escape(str(exc))}.")
            return
    else:
        try:
            await rt.storage.remove_story(name, scope=scope, user_id=actor.user_id, user_name=actor.name)
        except NotFound as exc:
            await send(update, context, f"❌ {escape(str(exc))}.")
            return
        text = f"✅ Removed story <b>{esc(name, 64)}</b> (its subscriptions went with it)."
    if rt.services.tracking is not None:
        await rt.services.tracking.refresh_stories()
    await send(update, context, text)


async def _watch_title(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, name: str, scope: int, title: str
) -> None:
    """/watch title NAME TITLE: the story's display title (empty: back to its name)."""
    found = await rt.storage.get_story(name, chat_id=None if scope == GLOBAL_SCOPE else chat.id)
    if found is None or found.id is None or (found.owner_chat_id or GLOBAL_SCOPE) != scope:
        await send(update, context, await story_not_found(rt, chat.id, name))
        return
    title = " ".join(title.split())
    if len(title) > MAX_TITLE:
        await send(update, context, f"❌ A title is at most {MAX_TITLE} characters.")
        return
    await subscription_store.set_story_title(rt.storage, found.id, title or None)
    if title:
        text = f"✅ Story <b>{esc(found.name, 64)}</b> is titled “{esc(title, MAX_TITLE)}” in digests."
    else:
        text = f"✅ Story <b>{esc(found.name, 64)}</b> has no title any more: digests use its name."
    await send(update, context, text)


async def _watch_show(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, name: str, scope: int
) -> None:
    found = await rt.storage.get_story(name, chat_id=None if scope == GLOBAL_SCOPE else chat.id)
    audit_scope = scope if found is None else (found.owner_chat_id or GLOBAL_SCOPE)
    history = await rt.storage.story_audit(name, scope=audit_scope)
    if found is None and not history:
        await send(update, context, await story_not_found(rt, chat.id, name))
        return
    tz = zone_of(chat.timezone)
    lines = []
    if found is not None:
        owner = "this chat's story" if found.owner_chat_id is not None else "global story"
        lines.append(f"🔎 <b>{esc(found.name, 64)}</b> ({owner})\n<code>{esc(found.query, 400)}</code>")
    else:
        lines.append(f"🗑 <b>{esc(name, 64)}</b> was removed.")
    lines.append("\n<b>History</b>")
    for entry in history:
        who = esc(entry.user_name or (str(entry.user_id) if entry.user_id else "unknown"), 80)
        line = f"• {when(entry.at, tz)} {escape(entry.action)} by {who}"
        if entry.action == "edit":
            old, new = esc(entry.old_query or "", 200), esc(entry.new_query or "", 200)
            line += f": <code>{old}</code> → <code>{new}</code>"
        elif entry.new_query:
            line += f": <code>{esc(entry.new_query, 300)}</code>"
        lines.append(line)
    await send(update, context, pack_lines(lines))


async def _bot_admin(
    update: Update, context: Context, rt: Runtime, actor: Actor, what: str = "manage feeds"
) -> bool:
    if actor.is_channel_post:
        await refuse(
            update,
            context,
            f"Only bot admins can {what}, from a private chat or a group, not a channel post.",
        )
        return False
    if not rt.permissions.is_bot_admin(actor):
        await refuse(update, context, f"Only bot admins can {what} (your user id is {actor.user_id}).")
        return False
    return True


async def status(update: Update, context: Context) -> None:
    """/status (bot admins): feeds by health, items, developments, outbox and workers."""
    setup = await prepare(update, context)
    if setup is None:
        return
    rt, actor, _ = setup
    if not await _bot_admin(update, context, rt, actor, "see the status"):
        return
    from ..status import collect_status

    info = await collect_status(rt.storage)
    outbox = ", ".join(f"{esc(str(k), 20)} {v}" for k, v in sorted(info["outbox"].items())) or "empty"
    lines = [
        "📊 <b>Status</b>",
        f"Feeds: {info['feeds']} ({info['feeds_ok']} ok, {info['feeds_failing']} failing, "
        f"{info['feeds_disabled']} disabled); due {info['feeds_due']}, leased {info['feeds_leased']}",
        f"Items: {info['items']} ({info['items_untracked']} not yet tracked); "
        f"developments: {info['developments']}",
        f"Outbox: {outbox}",
        f"Workers: {len(info['workers'])}; database: {esc(str(info['database']), 20)}",
    ]
    await send(update, context, "\n".join(lines))


async def feed(update: Update, context: Context) -> None:
    """/feed add|rm|enable URL (bot admins): manage the feeds everything is read from."""
    setup = await prepare(update, context)
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
        await _add_feed(update, context, rt, actor, url)
        return
    try:
        if action == "rm":
            await rt.storage.remove_feed(url)
            await send(update, context, f"✅ Removed feed {esc(url, 200)}.")
        else:
            await rt.storage.set_feed_enabled(url, True)
            await send(update, context, f"✅ Enabled feed {esc(url, 200)}; it is fetched on the next poll.")
    except NotFound:
        await send(update, context, f"❓ No feed {esc(url, 200)}. /feeds lists them.")


async def _add_feed(update: Update, context: Context, rt: Runtime, actor: Actor, url: str) -> None:
    """/feed add URL: add it, fetch it once and track it (``actions.feeds.add_feed``)."""
    try:
        url = check_feed_url(url)
        async with rt.poll_lock:
            added = await add_feed(
                rt.storage,
                url,
                poller=rt.services.poller,
                tracking=rt.services.tracking,
                added_by=actor.user_id,
            )
    except BadFeedUrl as exc:
        await send(update, context, f"❌ {esc(url, 200)}: {escape(exc.reason)}.")
        return
    except AlreadyExists:
        await send(update, context, f"ℹ️ {esc(url, 200)} is already a feed. /feeds shows its health.")
        return
    text = f"✅ Added feed {esc(url, 200)}."
    report = added.report
    if rt.services.poller is None:
        text += " It will be fetched on the next poll."
    elif report is not None and report.error:
        text += (
            f"\n⚠️ The first fetch failed: {esc(report.error, 300)}"
            f". It will be retried; /feed rm {esc(url, 200)} removes it."
        )
    elif report is not None:
        text += f"\nFirst fetch: {report.new_items} new items"
        text += f" from “{esc(added.title, 100)}”." if added.title else "."
    await send(update, context, text)


_HEALTH_MARKS = {"ok": "✅", "failing": "⚠️", "disabled": "⛔"}


async def feeds(update: Update, context: Context) -> None:
    """/feeds: every feed with its health (errors, disabled, items)."""
    setup = await prepare(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    summaries = await rt.storage.list_feeds()
    if not summaries:
        await send(update, context, "No feeds yet. Bot admins add them with /feed add URL.")
        return
    tz = zone_of(chat.timezone)
    healths = [health(s.state) for s in summaries]
    lines = [f"📡 <b>Feeds</b>: {len(summaries)}, {healths.count('ok')} healthy"]
    for summary, status in zip(summaries, healths, strict=True):
        state = summary.state
        name = esc(state.title or state.url, 80)
        if status == "disabled":
            shown = f"disabled: {esc(state.disabled_reason or '', 200)}"
        elif status == "failing":
            shown = f"{state.consecutive_errors} errors, last: {esc(state.last_error or '', 200)}"
        else:
            shown = "ok"
        fetched = (
            f", fetched {when(state.last_fetched_at, tz)}" if state.last_fetched_at else ", never fetched"
        )
        lines.append(
            f"{_HEALTH_MARKS[status]} {name} — {shown}; {summary.item_count} items{fetched}\n"
            f"  <code>{esc(state.url, 300)}</code>"
        )
    await send(update, context, pack_lines(lines))
