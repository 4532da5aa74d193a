"""The bot's own texts in English, Spanish and Russian, from gettext catalogues.

The catalogues are ``bot/locale/<lang>/LC_MESSAGES/newsbot.po`` (committed, edited by hand or
with Babel's tools); they are compiled in memory with Babel on first use, so there is no
build step and no stale ``.mo``. Messages are marked ``t("...")`` (and ``tn(singular, plural,
n)``) in the code, with ``{name}`` placeholders filled by ``str.format`` after translation;
a message's HTML is ours, the values are escaped before they are put in.

A chat's language is its setting (``/settings``), else the language of the user who wrote,
else English.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "LOCALE_DIR",
    "Translator",
    "choose_language",
    "translator",
]

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "newsbot"
LANGUAGES = ("en", "es", "ru")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "es": "Español", "ru": "Русский"}


def catalogue_path(language: str) -> Path:
    """Where a language's ``.po`` file lives."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def _translations(language: str) -> gettext.NullTranslations:
    path = catalogue_path(language)
    if language == DEFAULT_LANGUAGE or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@dataclass(frozen=True, slots=True)
class Translator:
    """The texts of one language: ``t(message)`` and ``tn(singular, plural, n)``."""

    language: str
    _gettext: Callable[[str], str]
    _ngettext: Callable[[str, str, int], str]

    def t(self, message: str, /, **values: object) -> str:
        """``message`` translated, with ``{name}`` placeholders filled from ``values``."""
        text = self._gettext(message)
        return text.format(**values) if values else text

    def tn(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        """The plural form for ``n`` (``{n}`` is filled too)."""
        return self._ngettext(singular, plural, n).format(n=n, **values)


@cache
def translator(language: str | None) -> Translator:
    """The translator of ``language`` (English for an unknown one)."""
    lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
    tr = _translations(lang)
    return Translator(lang, tr.gettext, tr.ngettext)


def choose_language(chat_language: str | None, user_language_code: str | None) -> str:
    """The chat's setting, else the user's Telegram language (``es-ES`` -> ``es``), else English."""
    if chat_language is not None and chat_language in LANGUAGES:
        return chat_language
    if user_language_code:
        base = user_language_code.split("-", 1)[0].lower()
        if base in LANGUAGES:
            return base
    return DEFAULT_LANGUAGE
