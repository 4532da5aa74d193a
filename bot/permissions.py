"""Who may do what: chat admins (by ``getChatMember``, cached briefly) and bot admins (config).

- In a private chat the user is the admin of that chat.
- In groups, creators and administrators are chat admins; a message from an anonymous admin
  (``sender_chat`` is the group itself) counts as an admin's.
- A ``channel_post`` has no user: only a channel's admins can post, so the channel itself is
  treated as its admin. Channel posts are never bot admins (there is no user id to check).
- Bot admins are the user ids in ``telegram.admins``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from telegram import Bot, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError

ADMIN_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})

__all__ = ["ADMIN_STATUSES", "Actor", "Permissions", "actor_of"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who sent an update: a user id (None for channel posts) and a name for the audit trail."""

    user_id: int | None
    name: str
    chat_id: int
    chat_type: str
    is_channel_post: bool = False
    is_anonymous_admin: bool = False


def actor_of(update: Update) -> Actor | None:
    """The actor of a message or channel post (None for updates without a chat)."""
    chat = update.effective_chat
    if chat is None:
        return None
    message = update.effective_message
    if update.channel_post is not None or chat.type == ChatType.CHANNEL:
        signature = message.author_signature if message else None
        name = f"{chat.title or chat.username or chat.id} (channel)"
        if signature:
            name = f"{signature} in {name}"
        return Actor(None, name, chat.id, chat.type, is_channel_post=True)
    if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
        return Actor(
            None, f"anonymous admin of {chat.title or chat.id}", chat.id, chat.type, is_anonymous_admin=True
        )
    user = update.effective_user
    if user is None:
        return None
    name = f"@{user.username}" if user.username else user.full_name
    return Actor(user.id, f"{name} ({user.id})", chat.id, chat.type)


@dataclass
class Permissions:
    """Permission checks with a short cache of ``getChatMember`` answers."""

    bot_admins: Collection[int]
    ttl: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _cache: dict[tuple[int | str, int], tuple[float, bool]] = field(default_factory=dict)

    def is_bot_admin(self, actor: Actor) -> bool:
        """True for users listed in ``telegram.admins`` (never for channel posts)."""
        return actor.user_id is not None and actor.user_id in self.bot_admins

    async def is_member_admin(self, bot: Bot, chat: int | str, user_id: int) -> bool:
        """True when ``user_id`` is creator or administrator of ``chat`` (cached ``ttl`` s).

        A failing ``getChatMember`` (chat unknown, bot not in it) means no.
        """
        key = (chat, user_id)
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        try:
            member = await bot.get_chat_member(chat, user_id)
        except TelegramError:
            return False
        allowed = member.status in ADMIN_STATUSES
        self._cache[key] = (now, allowed)
        return allowed

    async def is_chat_admin(self, bot: Bot, actor: Actor) -> bool:
        """True when the actor may manage the chat the update came from."""
        if actor.is_channel_post or actor.is_anonymous_admin or actor.chat_type == ChatType.PRIVATE:
            return True
        if actor.user_id is None:
            return False
        return await self.is_member_admin(bot, actor.chat_id, actor.user_id)

    def forget(self, chat: int | str | None = None) -> None:
        """Drop cached answers (of one chat, or all)."""
        if chat is None:
            self._cache.clear()
        else:
            for key in [k for k in self._cache if k[0] == chat]:
                del self._cache[key]
