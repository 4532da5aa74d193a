"""The Telegram commands, one module per family; ``bot/telegram.py`` registers them.

Each handler is thin: it parses the update, calls an action (``bot.actions``) and renders the
result as Telegram HTML built from escaped pieces, previews off. Commands work in private
chats, groups (also as ``/cmd@botname``) and channel posts (a channel post counts as coming
from a channel admin: only admins can post).

- ``welcome``: /start, /help, deep links; the command menus per scope.
- ``reading``: /stories, /story, /search (paged).
- ``subscribing``: /subscribe, /unsubscribe, /subscriptions, /digest.
- ``chat_settings``: /settings, /timezone.
- ``admin``: /watch (and the reply to its "send me the query" prompt), /feed, /feeds, /status.
- ``membership``: the bot added to or removed from chats, forwarded channel posts, migrations,
  and the error handler.
- ``buttons``: every inline button press.
- ``common``: what they share (replies, translation, refusals).
"""

from __future__ import annotations

from .admin import feed, feeds, status, watch, watch_reply
from .buttons import on_button
from .chat_settings import settings, timezone
from .common import pack_lines, send
from .membership import forwarded, migrated, my_chat_member, on_error
from .reading import search, stories, story
from .subscribing import digest, subscribe, subscriptions, unsubscribe
from .welcome import COMMANDS, HELP, help_text, start

__all__ = [
    "COMMANDS",
    "HELP",
    "digest",
    "feed",
    "feeds",
    "forwarded",
    "help_text",
    "migrated",
    "my_chat_member",
    "on_button",
    "on_error",
    "pack_lines",
    "search",
    "send",
    "settings",
    "start",
    "status",
    "stories",
    "story",
    "subscribe",
    "subscriptions",
    "timezone",
    "unsubscribe",
    "watch",
    "watch_reply",
]
