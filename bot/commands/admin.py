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
from ..i18n import Translator
from ..permissions import Actor
from ..render import escape
from ..services import Runtime
from .common import (
    MAX_TITLE,
    N_,
    Asked,
    Context,
    asked,
    esc,
    is_chat_admin,
    pack_lines,
    prepare,
    refuse,
    say,
    send,
    story_not_found,
    text_after,
    thread_of,
    tr_of,
    validate_query,
    when,
)

WATCH_USAGE = N_(
    "Usage: <code>/watch add NAME QUERY</code>, <code>/watch edit NAME QUERY</code>, "
    "<code>/watch rm NAME</code>, <code>/watch show NAME</code>, "
    "<code>/watch title NAME Display title</code> (digests use it). "
    'Query: words (all must appear), "exact phrases", prefix*, OR, -word, parentheses.'
)
_NAME = re.compile(r"^[\w][\w.-]{0,63}$")


async def watch(update: Update, context: Context) -> None:
    """/watch add|edit|rm|show NAME [QUERY]: this chat's own stories (bot admins: /watch global ...)."""
    ask = await asked(update, context)
    if ask is None:
        return
    rt, actor, chat, tr, args = ask
    skip = 0
    scope = chat.id
    if args and args[0].lower() == "global":
        scope, args, skip = GLOBAL_SCOPE, args[1:], 1
    if len(args) < 2 or args[0].lower() not in ("add", "edit", "rm", "show", "title"):
        await send(update, context, tr.t(WATCH_USAGE))
        return
    action, name = args[0].lower(), args[1]
    if action == "show":
        await _watch_show(update, context, rt, chat, tr, name, scope)
        return
    if scope == GLOBAL_SCOPE:
        if not rt.permissions.is_bot_admin(actor):
            await refuse(update, context, tr.t("Only bot admins can change global stories."))
            return
    elif not await is_chat_admin(rt, context, actor):
        await refuse(update, context, tr.t("Only this chat's admins can change its stories."))
        return
    if not _NAME.match(name):
        await send(
            update,
            context,
            "❌ " + tr.t("A story name is one word of letters, digits, '-', '_' or '.', at most 64."),
        )
        return
    if action == "title":
        await _watch_title(update, context, rt, chat, tr, name, scope, text_after(update, 2 + skip))
        return
    if action == "add" and not text_after(update, 2 + skip):
        await _ask_for_query(update, context, rt, actor, chat, name, scope)
        return
    await _change_story(update, context, rt, actor, tr, action, name, scope, text_after(update, 2 + skip))


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
    prompt = json.loads(raw)
    if prompt.get("user") not in (None, actor.user_id):
        await put_setting(rt.storage, key, raw)  # not theirs to answer: keep it for the asker
        return
    tr = tr_of(update, chat)
    await _change_story(
        update, context, rt, actor, tr, "add", str(prompt["name"]), int(prompt["scope"]), message.text
    )


async def _change_story(
    update: Update,
    context: Context,
    rt: Runtime,
    actor: Actor,
    tr: Translator,
    action: str,
    name: str,
    scope: int,
    query: str,
) -> None:
    """/watch add|edit|rm NAME [QUERY] once its sender may: do it and say what was done."""
    shown = esc(name, 64)
    if action in ("add", "edit"):
        problem = validate_query(rt, query, tr)
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
                    limit = rt.config.telegram.max_stories_per_chat
                    await send(
                        update,
                        context,
                        "❌ "
                        + tr.t("This chat already has {n} stories, the limit. Remove one first.", n=limit),
                    )
                    return
                await rt.storage.add_story(
                    name, query, scope=scope, user_id=actor.user_id, user_name=actor.name
                )
                text = "✅ " + tr.t(
                    "Added story <b>{name}</b>: <code>{query}</code>. "
                    "It matches news from now on; /subscribe {name} for digests.",
                    name=shown,
                    query=esc(query, 300),
                )
            else:
                await rt.storage.edit_story(
                    name, query, scope=scope, user_id=actor.user_id, user_name=actor.name
                )
                text = "✅ " + tr.t(
                    "Story <b>{name}</b> now watches <code>{query}</code>.", name=shown, query=esc(query, 300)
                )
        except AlreadyExists:
            await send(
                update, context, "❌ " + tr.t("A story named <b>{name}</b> already exists.", name=shown)
            )
            return
        except NotFound:
            await send(update, context, "❌ " + tr.t("No story named <b>{name}</b> here.", name=shown))
            return
    else:
        try:
            await rt.storage.remove_story(name, scope=scope, user_id=actor.user_id, user_name=actor.name)
        except NotFound:
            await send(update, context, "❌ " + tr.t("No story named <b>{name}</b> here.", name=shown))
            return
        text = "✅ " + tr.t("Removed story <b>{name}</b> (its subscriptions went with it).", name=shown)
    if rt.services.tracking is not None:
        await rt.services.tracking.refresh_stories()
    await send(update, context, text)


async def _watch_title(
    update: Update,
    context: Context,
    rt: Runtime,
    chat: ChatInfo,
    tr: Translator,
    name: str,
    scope: int,
    title: str,
) -> None:
    """/watch title NAME TITLE: the story's display title (empty: back to its name)."""
    found = await rt.storage.get_story(name, chat_id=None if scope == GLOBAL_SCOPE else chat.id)
    if found is None or found.id is None or (found.owner_chat_id or GLOBAL_SCOPE) != scope:
        await send(update, context, await story_not_found(rt, chat.id, name, tr))
        return
    title = " ".join(title.split())
    if len(title) > MAX_TITLE:
        await send(update, context, "❌ " + tr.t("A title is at most {n} characters.", n=MAX_TITLE))
        return
    await subscription_store.set_story_title(rt.storage, found.id, title or None)
    shown = esc(found.name, 64)
    if title:
        text = tr.t(
            "Story <b>{name}</b> is titled “{title}” in digests.", name=shown, title=esc(title, MAX_TITLE)
        )
    else:
        text = tr.t("Story <b>{name}</b> has no title any more: digests use its name.", name=shown)
    await send(update, context, "✅ " + text)


# What the audit calls each change, as /watch show says it.
_AUDIT_ACTIONS = {"add": N_("add"), "edit": N_("edit"), "remove": N_("remove")}


async def _watch_show(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, name: str, scope: int
) -> None:
    found = await rt.storage.get_story(name, chat_id=None if scope == GLOBAL_SCOPE else chat.id)
    audit_scope = scope if found is None else (found.owner_chat_id or GLOBAL_SCOPE)
    history = await rt.storage.story_audit(name, scope=audit_scope)
    if found is None and not history:
        await send(update, context, await story_not_found(rt, chat.id, name, tr))
        return
    tz = zone_of(chat.timezone)
    lines = []
    if found is not None:
        owner = tr.t("this chat's story") if found.owner_chat_id is not None else tr.t("global story")
        lines.append(f"🔎 <b>{esc(found.name, 64)}</b> ({owner})\n<code>{esc(found.query, 400)}</code>")
    else:
        lines.append("🗑 " + tr.t("<b>{name}</b> was removed.", name=esc(name, 64)))
    lines.append("\n<b>" + tr.t("History") + "</b>")
    for entry in history:
        who = esc(entry.user_name or (str(entry.user_id) if entry.user_id else tr.t("unknown")), 80)
        action = (
            tr.t(_AUDIT_ACTIONS[entry.action]) if entry.action in _AUDIT_ACTIONS else escape(entry.action)
        )
        line = "• " + tr.t("{when} {action} by {who}", when=when(entry.at, tz, tr), action=action, who=who)
        if entry.action == "edit":
            old, new = esc(entry.old_query or "", 200), esc(entry.new_query or "", 200)
            line += f": <code>{old}</code> → <code>{new}</code>"
        elif entry.new_query:
            line += f": <code>{esc(entry.new_query, 300)}</code>"
        lines.append(line)
    await send(update, context, pack_lines(lines))


async def _bot_admin(update: Update, context: Context, ask: Asked, what: str = N_("manage feeds")) -> bool:
    """True when the sender is a bot admin; else says so (``what``: the phrase it may not do)."""
    rt, actor, _, tr, _ = ask
    if actor.is_channel_post:
        await refuse(
            update,
            context,
            tr.t(
                "Only bot admins can {what}, from a private chat or a group, not a channel post.",
                what=tr.t(what),
            ),
        )
        return False
    if not rt.permissions.is_bot_admin(actor):
        await refuse(
            update,
            context,
            tr.t("Only bot admins can {what} (your user id is {id}).", what=tr.t(what), id=actor.user_id),
        )
        return False
    return True


async def status(update: Update, context: Context) -> None:
    """/status (bot admins): feeds by health, items, developments, outbox and workers."""
    ask = await asked(update, context)
    if ask is None or not await _bot_admin(update, context, ask, N_("see the status")):
        return
    from ..status import collect_status

    tr = ask.tr
    info = await collect_status(ask.rt.storage)
    outbox = ", ".join(f"{esc(str(k), 20)} {v}" for k, v in sorted(info["outbox"].items())) or tr.t("empty")
    lines = [
        "📊 <b>" + tr.t("Status") + "</b>",
        tr.t(
            "Feeds: {feeds} ({ok} ok, {failing} failing, {disabled} disabled); due {due}, leased {leased}",
            feeds=info["feeds"],
            ok=info["feeds_ok"],
            failing=info["feeds_failing"],
            disabled=info["feeds_disabled"],
            due=info["feeds_due"],
            leased=info["feeds_leased"],
        ),
        tr.t(
            "Items: {items} ({untracked} not yet tracked); developments: {developments}",
            items=info["items"],
            untracked=info["items_untracked"],
            developments=info["developments"],
        ),
        tr.t("Outbox: {outbox}", outbox=outbox),
        tr.t(
            "Workers: {workers}; database: {database}",
            workers=len(info["workers"]),
            database=esc(str(info["database"]), 20),
        ),
    ]
    await send(update, context, "\n".join(lines))


async def feed(update: Update, context: Context) -> None:
    """/feed add|rm|enable URL (bot admins): manage the feeds everything is read from."""
    ask = await asked(update, context)
    if ask is None:
        return
    rt, actor, _, tr, args = ask
    if len(args) != 2 or args[0].lower() not in ("add", "rm", "enable"):
        await send(
            update,
            context,
            tr.t(
                "Usage: <code>/feed add URL</code>, <code>/feed rm URL</code>, "
                "<code>/feed enable URL</code>; /feeds lists them."
            ),
        )
        return
    if not await _bot_admin(update, context, ask):
        return
    action, url = args[0].lower(), args[1].strip()
    if action == "add":
        await _add_feed(update, context, rt, actor, tr, url)
        return
    shown = esc(url, 200)
    try:
        if action == "rm":
            await rt.storage.remove_feed(url)
            await send(update, context, "✅ " + tr.t("Removed feed {url}.", url=shown))
        else:
            await rt.storage.set_feed_enabled(url, True)
            await send(
                update,
                context,
                "✅ " + tr.t("Enabled feed {url}; it is fetched on the next poll.", url=shown),
            )
    except NotFound:
        await send(update, context, "❓ " + tr.t("No feed {url}. /feeds lists them.", url=shown))


async def _add_feed(
    update: Update, context: Context, rt: Runtime, actor: Actor, tr: Translator, url: str
) -> None:
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
        await send(update, context, f"❌ {esc(url, 200)}: {say(tr, exc.reason_message or exc.reason)}.")
        return
    except AlreadyExists:
        await send(
            update,
            context,
            "ℹ️ " + tr.t("{url} is already a feed. /feeds shows its health.", url=esc(url, 200)),
        )
        return
    text = "✅ " + tr.t("Added feed {url}.", url=esc(url, 200))
    report = added.report
    if rt.services.poller is None:
        text += " " + tr.t("It will be fetched on the next poll.")
    elif report is not None and report.error:
        text += "\n⚠️ " + tr.t(
            "The first fetch failed: {error}. It will be retried; /feed rm {url} removes it.",
            error=esc(report.error, 300),
            url=esc(url, 200),
        )
    elif report is not None:
        n = report.new_items
        if added.title:
            text += "\n" + tr.tn(
                "First fetch: {n} new item from “{title}”.",
                "First fetch: {n} new items from “{title}”.",
                n,
                title=esc(added.title, 100),
            )
        else:
            text += "\n" + tr.tn("First fetch: {n} new item.", "First fetch: {n} new items.", n)
    await send(update, context, text)


_HEALTH_MARKS = {"ok": "✅", "failing": "⚠️", "disabled": "⛔"}


async def feeds(update: Update, context: Context) -> None:
    """/feeds: every feed with its health (errors, disabled, items)."""
    ask = await asked(update, context)
    if ask is None:
        return
    rt, _, chat, tr, _ = ask
    summaries = await rt.storage.list_feeds()
    if not summaries:
        await send(update, context, tr.t("No feeds yet. Bot admins add them with /feed add URL."))
        return
    tz = zone_of(chat.timezone)
    healths = [health(s.state) for s in summaries]
    lines = [tr.t("📡 <b>Feeds</b>: {n}, {healthy} healthy", n=len(summaries), healthy=healths.count("ok"))]
    for summary, status in zip(summaries, healths, strict=True):
        state = summary.state
        name = esc(state.title or state.url, 80)
        if status == "disabled":
            shown = tr.t("disabled: {reason}", reason=esc(state.disabled_reason or "", 200))
        elif status == "failing":
            shown = tr.tn(
                "{n} error, last: {error}",
                "{n} errors, last: {error}",
                state.consecutive_errors,
                error=esc(state.last_error or "", 200),
            )
        else:
            shown = tr.t("ok")
        items = tr.tn("{n} item", "{n} items", summary.item_count)
        if state.last_fetched_at:
            fetched = tr.t("fetched {when}", when=when(state.last_fetched_at, tz, tr))
        else:
            fetched = tr.t("never fetched")
        lines.append(
            f"{_HEALTH_MARKS[status]} {name} — {shown}; {items}, {fetched}\n"
            f"  <code>{esc(state.url, 300)}</code>"
        )
    await send(update, context, pack_lines(lines))
