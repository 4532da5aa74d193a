"""Inline keyboards whose callback data is signed, so a button press can be trusted.

Telegram returns a button's ``callback_data`` (at most 64 bytes) verbatim, but anyone can
send any data with a crafted client, and a button copied into another chat still carries
the original's data. So every button's data is ``action:args...:stamp:mac``:

- ``stamp`` is the minute it was made (base 36); a press older than ``max_age`` is stale;
- ``mac`` is an HMAC-SHA256 (66 bits kept) of the chat id, action, arguments and stamp
  under a secret generated once and kept in the database (``storage.settings``), so every
  bot process sharing the database, and every restart, accepts it; a press whose data was
  not made by us *for this chat* is refused.

Nothing is kept in process memory: what a button needs beyond 64 bytes (a search query)
is stored in the database (``storage.buttons``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from storage.repository import Storage
from storage.settings import get_or_create_setting

from .i18n import Translator
from .render import DigestEntry, safe_url

__all__ = [
    "CALLBACK_LIMIT",
    "CALLBACK_SECRET_SETTING",
    "DIGEST_ENTRY_BUTTONS",
    "ButtonRefused",
    "CallbackSigner",
    "Press",
    "digest_keyboard",
    "load_signer",
    "markup",
]

CALLBACK_LIMIT = 64  # bytes, Telegram's limit for callback_data
CALLBACK_SECRET_SETTING = "telegram.callback.secret"
MAX_AGE = 30 * 24 * 3600.0  # a month: long enough for a digest read late
_MAC_CHARS = 11
_SEP = ":"


class ButtonRefused(Exception):
    """A press that must change nothing; ``reason`` is ``stale`` or ``forged``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Press:
    """A verified button press: what it asks for, in which chat."""

    chat_id: int
    action: str
    args: tuple[str, ...]

    def arg(self, n: int, default: str = "") -> str:
        """The n-th argument, or ``default``."""
        return self.args[n] if n < len(self.args) else default

    def int_arg(self, n: int, default: int = 0) -> int:
        """The n-th argument as an integer (``default`` when missing or not a number)."""
        value = self.arg(n)
        try:
            return int(value)
        except ValueError:
            return default


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


class CallbackSigner:
    """Makes and checks signed callback data for one secret."""

    def __init__(
        self, secret: bytes, *, max_age: float = MAX_AGE, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret
        self.max_age = max_age
        self.clock = clock

    def with_clock(self, clock: Callable[[], float]) -> CallbackSigner:
        """The same secret and age limit on another clock (tests, tools)."""
        return CallbackSigner(self._secret, max_age=self.max_age, clock=clock)

    def _mac(self, chat_id: int, payload: str) -> str:
        digest = hmac.new(self._secret, f"{chat_id}|{payload}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii")[:_MAC_CHARS]

    def sign(self, chat_id: int, action: str, *args: object) -> str:
        """Callback data for a button in ``chat_id``; ValueError when it exceeds 64 bytes or an
        argument contains the separator."""
        parts = [action, *(str(a) for a in args)]
        if any(_SEP in p for p in parts):
            raise ValueError(f"callback arguments may not contain {_SEP!r}: {parts!r}")
        stamp = _b36(int(self.clock() // 60))
        payload = _SEP.join([*parts, stamp])
        data = f"{payload}{_SEP}{self._mac(chat_id, payload)}"
        if len(data.encode("utf-8")) > CALLBACK_LIMIT:
            raise ValueError(f"callback data is {len(data.encode())} bytes, over {CALLBACK_LIMIT}: {data!r}")
        return data

    def verify(self, chat_id: int, data: str) -> Press:
        """The press ``data`` asks for in ``chat_id``; ButtonRefused when it was not signed by
        us for this chat (``forged``) or is older than ``max_age`` (``stale``)."""
        payload, _, mac = data.rpartition(_SEP)
        if not payload or not hmac.compare_digest(mac, self._mac(chat_id, payload)):
            raise ButtonRefused("forged")
        *parts, stamp = payload.split(_SEP)
        try:
            made = int(stamp, 36) * 60
        except ValueError:
            raise ButtonRefused("forged") from None
        if self.clock() - made > self.max_age:
            raise ButtonRefused("stale")
        if not parts:
            raise ButtonRefused("forged")
        return Press(chat_id, parts[0], tuple(parts[1:]))

    def button(self, text: str, chat_id: int, action: str, *args: object) -> InlineKeyboardButton:
        """An inline button carrying signed data."""
        return InlineKeyboardButton(text, callback_data=self.sign(chat_id, action, *args))


def markup(rows: Sequence[Sequence[InlineKeyboardButton]]) -> InlineKeyboardMarkup | None:
    """A keyboard of the non-empty rows, or None when there is no button at all."""
    kept = [list(row) for row in rows if row]
    return InlineKeyboardMarkup(kept) if kept else None


DIGEST_ENTRY_BUTTONS = 12  # developments per digest message that get a row of buttons
_LABEL = 28  # characters of a headline on its button


def _label(text: str, limit: int = _LABEL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def digest_keyboard(
    signer: CallbackSigner,
    chat_id: int,
    entries: Sequence[DigestEntry],
    tr: Translator,
    *,
    muted: Sequence[int] = (),
) -> InlineKeyboardMarkup | None:
    """The buttons under a digest message: per development, its lead report (a link) and the
    whole development (as /story shows one); per story, mute it here (unmute, when it is in
    ``muted``). Every callback is signed for ``chat_id``."""
    rows: list[list[InlineKeyboardButton]] = []
    stories: dict[int, str] = {}
    for entry in entries:
        dev = entry.development
        if entry.story_id is None:
            continue
        stories.setdefault(entry.story_id, entry.story)
        if len(rows) >= DIGEST_ENTRY_BUTTONS:
            continue
        row: list[InlineKeyboardButton] = []
        url = safe_url(dev.lead.url) if dev.lead is not None else None
        title = dev.title.strip() or (dev.lead.title if dev.lead else "")
        if url is not None:
            row.append(InlineKeyboardButton("↗ " + _label(title), url=url))
        thread = "🧵" if url is not None else "🧵 " + _label(title)
        row.append(signer.button(thread, chat_id, "dv", dev.id, entry.story_id))
        rows.append(row)
    for story_id, name in stories.items():
        label = tr.t("🔔 Unmute {name}") if story_id in muted else tr.t("🔕 Mute {name}")
        rows.append(
            [
                signer.button(
                    label.format(name=_label(name, 40)),
                    chat_id,
                    "mu",
                    story_id,
                    0 if story_id in muted else 1,
                )
            ]
        )
    return markup(rows)


async def load_signer(storage: Storage) -> CallbackSigner:
    """The signer with the shared secret (generated and stored on first use)."""
    secret = await get_or_create_setting(storage, CALLBACK_SECRET_SETTING, lambda: secrets.token_urlsafe(32))
    return CallbackSigner(secret.encode("utf-8"))
