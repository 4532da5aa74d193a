"""/start and /help (with ``/start sub-NAME`` deep links), and the command menus per scope
(``bot/command_menus.py`` registers them)."""

from __future__ import annotations

from telegram import Update

from storage.chats import ChatInfo

from ..i18n import Translator, translator
from ..permissions import Actor
from ..services import Runtime
from .common import (
    N_,
    Context,
    is_chat_admin,
    prepare,
    refuse,
    send,
    story_not_found,
    thread_of,
    tr_of,
)
from .subscribing import subscribe_to

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
            t(
                "/search WORDS [since:7d] [story:NAME] [outlet:NAME] — "
                "search stored news (same syntax as watchlists)"
            ),
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


async def start(update: Update, context: Context) -> None:
    """/start and /help: what the bot does and every command; ``/start sub-NAME`` (a deep link,
    ``t.me/<bot>?start=sub-NAME``) subscribes this chat to NAME in one tap."""
    setup = await prepare(update, context)
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
    if not await is_chat_admin(rt, context, actor):
        await refuse(update, context, tr.t("Only this chat's admins can change its subscriptions."))
        return
    found = await rt.storage.get_story(name, chat_id=chat.id)
    if found is None or found.id is None:
        await send(update, context, await story_not_found(rt, chat.id, name, tr))
        return
    text = await subscribe_to(rt, tr, chat, found, None, actor.user_id, thread_of(update))
    await send(update, context, text)
