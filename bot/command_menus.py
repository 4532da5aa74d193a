"""The command menus Telegram shows, per scope (``BotCommandScope``) and language.

- everyone (default scope): the reader commands;
- chat administrators (``all_chat_administrators``): those and the chat admin commands;
- each bot admin, in their private chat (``chat`` scope): everything, ``/feed`` and
  ``/status`` included, which nobody else sees.

Each list is registered once without a language (English) and once per other language.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeChat,
    BotCommandScopeDefault,
)
from telegram.error import TelegramError

from .commands.welcome import BOT_ADMIN_COMMANDS, CHAT_ADMIN_COMMANDS, READER_COMMANDS
from .i18n import DEFAULT_LANGUAGE, LANGUAGES, translator

log = logging.getLogger("newsbot.telegram")

__all__ = ["command_menus", "register_commands"]


def command_menus(admins: Collection[int]) -> list[tuple[BotCommandScope, list[tuple[str, str]]]]:
    """(scope, [(command, English description)]) for every menu."""
    chat_admin = [*READER_COMMANDS, *CHAT_ADMIN_COMMANDS]
    menus: list[tuple[BotCommandScope, list[tuple[str, str]]]] = [
        (BotCommandScopeDefault(), list(READER_COMMANDS)),
        (BotCommandScopeAllChatAdministrators(), chat_admin),
    ]
    menus.extend(
        (BotCommandScopeChat(admin), [*chat_admin, *BOT_ADMIN_COMMANDS]) for admin in sorted(set(admins))
    )
    return menus


def _commands(language: str, entries: Sequence[tuple[str, str]]) -> list[BotCommand]:
    tr = translator(language)
    return [BotCommand(name, tr.t(description)) for name, description in entries]


async def register_commands(bot: Bot, admins: Collection[int]) -> int:
    """Register every menu in every language; returns how many lists Telegram accepted.
    A failure is logged and the others still go (the bot works without menus)."""
    done = 0
    for scope, entries in command_menus(admins):
        for language in LANGUAGES:
            code = None if language == DEFAULT_LANGUAGE else language
            try:
                await bot.set_my_commands(_commands(language, entries), scope=scope, language_code=code)
                done += 1
            except TelegramError as exc:
                log.warning(
                    "could not register the command list with Telegram (%s, %s): %s; carrying on",
                    scope.type,
                    language,
                    exc,
                )
    return done
