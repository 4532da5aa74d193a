"""Text normalisation shared by queries, matching and search: folding and word tokens.

Both sides of every comparison go through the same two functions, so a query word
and the text it is looked for in are always normalised alike.

- :func:`fold` makes text case- and accent-insensitive: ``"Guaidó"`` -> ``"guaido"``,
  ``"ЁЛКА"`` -> ``"елка"``. Cyrillic stays Cyrillic (no transliteration).
- :func:`tokens` cuts folded text into whole words. A word is a run of letters,
  digits and combining marks; everything else separates words, including
  apostrophes and hyphens. So ``"Venezuela's"`` gives ``venezuela``, ``s`` (a query
  for ``Venezuela`` finds it), ``"al-Bashir"`` gives ``al``, ``bashir`` (a query for
  ``Bashir`` finds it), and a query word written ``al-Bashir`` becomes the phrase
  ``"al bashir"``. Scripts written without spaces (Chinese, Japanese, Thai) are not
  segmented: a whole run of such characters is one token.
"""

from __future__ import annotations

import re
import unicodedata


def _mark_ranges() -> str:
    """A regex character-class body covering Unicode combining marks (Mn, Mc, Me).

    Python's ``\\w`` leaves marks out, which would cut words in scripts such as
    Devanagari in pieces (``"हिन्दी"`` -> ``ह``, ``न``, ``द``). Marks that carry a
    canonical combining class are removed by :func:`fold` anyway; the spacing
    ones (class 0, e.g. Indic vowel signs) are part of the word. Scanning the
    planes that hold marks takes a few tens of milliseconds, once, at import.
    """
    ranges: list[tuple[int, int]] = []
    scan = (range(0x300, 0x20000), range(0xE0100, 0xE01F0))
    for block in scan:
        for code in block:
            if unicodedata.category(chr(code))[0] == "M":
                if ranges and ranges[-1][1] == code - 1:
                    ranges[-1] = (ranges[-1][0], code)
                else:
                    ranges.append((code, code))
    return "".join(
        re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
        for lo, hi in ranges
    )


# A word: letters and digits (``[^\W_]`` is \w without the underscore) and marks.
_WORD = re.compile(f"(?:[^\\W_]|[{_mark_ranges()}])+")

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
_DROP_MARKS: dict[int, None] = {
    code: None
    for lo, hi in _STRIPPED_RANGES
    for code in range(lo, hi + 1)
    if unicodedata.category(chr(code))[0] == "M"
}

# "й" is a letter of its own in Russian, Ukrainian and Belarusian, not an accented
# "и" (people do not type one for the other, unlike "ё" for "е"), so its breve
# is put back after decomposition. "ї" (Ukrainian) likewise stays apart from "і".
_KEEP_COMPOSED = (("и\u0306", "й"), ("і\u0308", "ї"))

def fold(text: str) -> str:
    """Case- and accent-fold ``text`` for comparison.

    Casefolds, decomposes compatibility characters (NFKD: ligatures, full-width
    forms, superscripts), then drops combining accents. ``"Guaidó"`` -> ``"guaido"``,
    ``"Straße"`` -> ``"strasse"``, ``"Ёж"`` -> ``"еж"``, ``"ЧВК Вагнер"`` ->
    ``"чвк вагнер"``; ``"й"`` and ``"ї"`` are kept (letters in their own right).
    """
    if text.isascii():
        # Most feed text is ASCII; lower() is casefold() there, and nothing to strip.
        return text.lower()
    # Decompose before casefolding too: compatibility forms such as "ℌ" only
    # become a cased letter ("H") once decomposed.
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    for pair, letter in _KEEP_COMPOSED:
        if pair in decomposed:
            decomposed = decomposed.replace(pair, letter)
    return decomposed.translate(_DROP_MARKS)


def tokens(text: str) -> list[str]:
    """The folded whole words of ``text``, in order (see the module docstring)."""
    return _WORD.findall(fold(text))


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """Folded words of ``text`` with their ``(start, end)`` offsets in ``text`` itself.

    For highlighting. Words are found in the original text and folded one by one;
    a word whose folded form splits further (rare: ``"½"`` -> ``1``, ``2``) yields
    each piece with the whole word's span. The words are the same as
    :func:`tokens` gives, except where folding joins or splits words differently
    (e.g. a character that folds to punctuation).
    """
    spans: list[tuple[str, int, int]] = []
    for found in _WORD.finditer(text):
        for word in _WORD.findall(fold(found.group())):
            spans.append((word, found.start(), found.end()))
    return spans


def is_token(word: str) -> bool:
    """True if ``word`` is exactly one folded token (what query leaves must hold)."""
    return bool(word) and _WORD.fullmatch(word) is not None and fold(word) == word
