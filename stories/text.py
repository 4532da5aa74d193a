"""Text normalisation shared by queries, matching and search: folding and word tokens.

Both sides of every comparison go through the same two functions, so a query word
and the text it is looked for in are always normalised alike.

- :func:`fold` makes text case- and accent-insensitive: ``"Guaidó"`` -> ``"guaido"``,
  ``"ЁЛКА"`` -> ``"елка"``. Cyrillic stays Cyrillic (no transliteration).
- :func:`tokens` cuts text into folded whole words. A word is a run of letters,
  digits and combining marks; everything else separates words, including
  apostrophes, hyphens and underscores. So ``"Venezuela's"`` gives ``venezuela``,
  ``s`` (a query for ``Venezuela`` finds it), ``"al-Bashir"`` gives ``al``,
  ``bashir`` (a query for ``Bashir`` finds it), and a query word written
  ``al-Bashir`` becomes the phrase ``"al bashir"``. Words are found before folding,
  so a symbol that folds to letters (``"™"`` -> ``tm``) stays a separator.
  Scripts written without spaces (Chinese, Japanese, Thai) are not segmented: a
  whole run of such characters is one token. Every token is itself a one-token
  text (``tokens(t) == [t]``) and never holds a space, which the matcher relies on.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import chain
from typing import cast

# Common function words of the languages feeds mostly carry (English first): the tracker's
# terms and its name facts both leave them out.
STOP_TEXT = """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers him his how i if in into is
    it its itself just me more most my no nor not now of off on once only or other our out
    over own same she should so some such than that the their them then there these they
    this those through to too under until up very via was we were what when where which
    while who whom why will with would you your s t ll d re ve don new says said say
    el la los las de del y en un una por con para al lo se que es su
    le les des du et au aux une pour sur dans est
    der die das und den dem des ein eine mit von zu im ist fur auf
    и в на с по о к за из от что как для не
"""


def _mark_ranges() -> list[tuple[int, int]]:
    """Code point ranges of the Unicode combining marks (Mn, Mc, Me).

    Python's ``\\w`` leaves marks out, which would cut words in scripts such as
    Devanagari in pieces (``"हिन्दी"`` -> ``ह``, ``न``, ``द``). Scanning the planes
    that hold marks takes a few tens of milliseconds, once, at import.
    """
    ranges: list[tuple[int, int]] = []
    for block in (range(0x300, 0x20000), range(0xE0100, 0xE01F0)):
        for code in block:
            if unicodedata.category(chr(code))[0] == "M":
                if ranges and ranges[-1][1] == code - 1:
                    ranges[-1] = (ranges[-1][0], code)
                else:
                    ranges.append((code, code))
    return ranges


def _char_class(ranges: list[tuple[int, int]]) -> str:
    return "".join(
        re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
        for lo, hi in ranges
    )


_MARKS = _mark_ranges()
_BMP_MARKS = _char_class([(lo, hi) for lo, hi in _MARKS if hi <= 0xFFFF])
_ALL_MARKS = _char_class(_MARKS)

# A raw word in unfolded text: word characters, with marks inside (decomposed
# accents, Indic vowel signs). Marks are only tried where \w stops, so the
# common case stays a plain \w scan. A character class with ranges beyond the
# BMP is several times slower in `re`, so texts without such characters (nearly
# all; one quick regex search tells) use the BMP-only pattern.
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_RAW_WORD_BMP = re.compile(f"\\w+(?:[{_BMP_MARKS}]+\\w*)*")
_RAW_WORD_ALL = re.compile(f"\\w+(?:[{_ALL_MARKS}]+\\w*)*")
# A token inside a folded raw word: like a raw word, without "_". Like a raw word
# it starts with a letter or digit (a mark left in front by folding, as the Thai
# "ำ" leaves one, is dropped), so every token is a raw word that folds to itself.
_PIECE = re.compile(f"[^\\W_]+(?:[{_ALL_MARKS}]+[^\\W_]*)*")

# Accents to strip once NFKD has split them off their letters: the generic
# diacritic blocks that Latin, Greek and Cyrillic use, plus Arabic harakat and
# Hebrew points (optional vowel signs, mostly left out in news text anyway).
# Marks that change a letter in other scripts (an Indic virama or nukta, a Thai
# tone mark) are kept: "हिन्दी" must not turn into another word.
_STRIPPED_RANGES = (
    (0x0300, 0x036F),  # Combining Diacritical Marks
    (0x0591, 0x05C7),  # Hebrew points and cantillation
    (0x064B, 0x065F),  # Arabic harakat
    (0x0670, 0x0670),  # Arabic superscript alef
    (0x1AB0, 0x1AFF),  # Combining Diacritical Marks Extended
    (0x1DC0, 0x1DFF),  # Combining Diacritical Marks Supplement
    (0x20D0, 0x20FF),  # Combining Diacritical Marks for Symbols
    (0xFE20, 0xFE2F),  # Combining Half Marks
)
_STRIP = re.compile(
    "[" + "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in _STRIPPED_RANGES) + "]+"
)

# "й" is a letter of its own in Russian, Ukrainian and Belarusian, not an accented
# "и" (people do not type one for the other, unlike "ё" for "е"), so its breve
# is put back after decomposition. Ukrainian "ї" and Belarusian "ў" likewise stay
# apart from "і" and "у".
_KEEP_COMPOSED = (("и\u0306", "й"), ("і\u0308", "ї"), ("у\u0306", "ў"))

# Folded tokens of each raw word seen, so the Unicode work is done once per
# distinct word rather than once per occurrence. Cleared when it grows past the
# limit, which bounds memory in a long-running bot.
_PIECES: dict[str, tuple[str, ...]] = {}
_PIECES_LIMIT = 200_000
_flatten = chain.from_iterable


def fold(text: str) -> str:
    """Case- and accent-fold ``text`` for comparison.

    Casefolds, decomposes compatibility characters (NFKD: ligatures, full-width
    forms, superscripts), then drops combining accents. ``"Guaidó"`` -> ``"guaido"``,
    ``"Straße"`` -> ``"strasse"``, ``"Ёж"`` -> ``"еж"``, ``"ЧВК Вагнер"`` ->
    ``"чвк вагнер"``; ``"й"``, ``"ї"`` and ``"ў"`` are kept (letters in their own right).
    """
    if text.isascii():
        # Most feed text is ASCII; lower() is casefold() there, and nothing to strip.
        return text.lower()
    # Decompose before casefolding too: compatibility forms such as "ℌ" only
    # become a cased letter ("H") once decomposed; casefolding can in turn
    # produce composed letters again ("ẞ" -> "ss" is fine, "ǰ" is not).
    folded = unicodedata.normalize("NFKD", text).casefold()
    if not unicodedata.is_normalized("NFKD", folded):
        folded = unicodedata.normalize("NFKD", folded)
    for pair, letter in _KEEP_COMPOSED:
        if pair in folded:
            folded = folded.replace(pair, letter)
    return _STRIP.sub("", folded)


def _raw_word_pattern(text: str) -> re.Pattern[str]:
    if text.isascii() or _ASTRAL.search(text) is None:
        return _RAW_WORD_BMP
    return _RAW_WORD_ALL


def _pieces(raw: str) -> tuple[str, ...]:
    """The tokens of one raw word: usually one, several for "snake_case" or "½"."""
    pieces = _PIECES.get(raw)
    if pieces is None:
        if len(_PIECES) >= _PIECES_LIMIT:
            _PIECES.clear()
        pieces = _PIECES[raw] = tuple(_PIECE.findall(fold(raw)))
    return pieces


def tokens(text: str) -> list[str]:
    """The folded whole words of ``text``, in order (see the module docstring).

    Words are found in the original text (runs of letters, digits and marks), then
    folded; the rare word whose folded form holds a separator (``"snake_case"``,
    ``"½"`` -> ``1⁄2``) gives several tokens.
    """
    raws = _raw_word_pattern(text).findall(text)
    # One C-level pass through the cache; a text with an unseen word (rare once
    # the cache is warm) takes the slower path that fills it in.
    cached = list(map(_PIECES.get, raws))
    if None in cached:
        return [word for raw in raws for word in _pieces(raw)]
    return list(_flatten(cast("list[tuple[str, ...]]", cached)))


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """The tokens of ``text`` with the ``(start, end)`` offsets of their words in ``text``.

    For highlighting. The tokens are exactly :func:`tokens`; a word that gives
    several tokens (``"snake_case"``) gives each the whole word's span.
    """
    pattern = _raw_word_pattern(text)
    return [
        (piece, found.start(), found.end())
        for found in pattern.finditer(text)
        for piece in _pieces(found.group())
    ]


def is_token(word: str) -> bool:
    """True if ``word`` is exactly one token, as :func:`tokens` gives them (query leaves are)."""
    return tokens(word) == [word]
