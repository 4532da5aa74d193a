"""The bot's own texts in English, Spanish and Russian, from gettext catalogues.

The catalogues are ``bot/locale/<lang>/LC_MESSAGES/newsbot.po`` (committed, edited by hand or
with Babel's tools); they are compiled in memory with Babel on first use, so there is no
build step and no stale ``.mo``. Messages are marked ``t("...")`` (and ``tn(singular, plural,
n)``) in the code, with ``{name}`` placeholders filled by ``str.format`` after translation;
a message's HTML is ours, the values are escaped before they are put in. Dates and numbers
are formatted for the language by Babel (``Translator.day``, ``Translator.number``).

A chat's language is its setting (``/settings``), else the language of the user who wrote,
else English.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

__all__ = [
    "DEFAULT_LANGUAGE",
    "ENGLISH",
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

    def form(self, singular: str, plural: str, n: int, /) -> str:
        """The translated plural form for ``n``, its placeholders left as they are."""
        return self._ngettext(singular, plural, n)

    def day(self, moment: date | datetime, *, year: bool = False) -> str:
        """A day as the language writes it short: "25 Nov", "25 nov", "25 нояб." (with the
        year: "25 Nov 2026")."""
        day = moment.date() if isinstance(moment, datetime) else moment
        return format_date(day, "d MMM y" if year else "d MMM", locale=self.language)

    def clock(self, moment: datetime) -> str:
        """A time of day, "14:05" (the 24-hour clock in all three languages)."""
        return f"{moment.hour:02d}:{moment.minute:02d}"

    def moment(self, moment: datetime, *, year: bool = False) -> str:
        """A local day and time: "25 Nov 14:05" (``moment`` already in the wanted zone)."""
        return f"{self.day(moment, year=year)} {self.clock(moment)}"

    def number(self, n: int) -> str:
        """A count with the language's grouping: "12,345", "12.345", "12 345"."""
        return format_decimal(n, locale=self.language)


@cache
def translator(language: str | None) -> Translator:
    """The translator of ``language`` (English for an unknown one)."""
    lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
    tr = _translations(lang)
    return Translator(lang, tr.gettext, tr.ngettext)


ENGLISH = translator(DEFAULT_LANGUAGE)


def choose_language(chat_language: str | None, user_language_code: str | None) -> str:
    """The chat's setting, else the user's Telegram language (``es-ES`` -> ``es``), else English."""
    if chat_language is not None and chat_language in LANGUAGES:
        return chat_language
    if user_language_code:
        base = user_language_code.split("-", 1)[0].lower()
        if base in LANGUAGES:
            return base
    return DEFAULT_LANGUAGE
