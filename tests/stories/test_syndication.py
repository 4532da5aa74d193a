"""Syndication signals: the guarded patterns find exactly what the plain patterns find.

``wire_of``, ``commentary`` and ``declared_commentary`` skip their patterns on text that
lacks the words the patterns need (a pattern with many alternatives is tried at every
position); these tests compare them with the plain patterns, unguarded, on generated text
built of the pieces that matter, letters that fold oddly included.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import hypothesis.strategies as st
from hypothesis import given, settings

from stories import syndication as s
from stories.model import Item

# The credit pattern as one regular expression, as the tracker first wrote it.
REFERENCE_WIRE = re.compile(
    rf"\(\s*(?P<p>{s._ALIASES})\s*\)|[—–-]\s*(?P<d>{s._ALIASES})\b\s*[.,]?\s*$"
    rf"|(?:{'|'.join(s._CREDIT_VERBS)})\s+(?:агентство\s+|la agencia\s+|agencia\s+)?(?P<v>{s._ALIASES})\b",
    re.IGNORECASE | re.MULTILINE,
)


def reference_wire(text: str) -> str | None:
    m = REFERENCE_WIRE.search(text)
    if m is None:
        return None
    return s._WIRE_NAME.get((m.group("p") or m.group("d") or m.group("v") or "").lower())


PIECES = [
    *s._WIRE_NAME,
    "REUTERS",
    "Рейтер",
    "Associated Press",
    *s._CREDIT_VERBS,
    "Reported By",
    "СООБЩАЕТ",
    "агентство ",
    "la agencia ",
    *s._COMMENTARY_WORDS,
    "Explainer",
    "ANÁLISIS",
    "Что известно",
    "What we know",
    "Why ",
    "Por qué",
    "explained",
    "(", ")", " (", ") ", " — ", " - ", "–", ": ", ":", "|", ". ", ", ", "\n", " ", "  ",
    # Letters that IGNORECASE matches with others, or that fold to two letters.
    "ſ", "K", "İ", "ı", "ß", "ᲃ", "ᲂ", "ᲄ", "Σ", "ς", "ﬁ",
]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=14).map("".join)


@settings(max_examples=600)
@given(texts)
def test_wire_credits_are_found_as_by_the_single_pattern(text: str) -> None:
    assert s.wire_of(text) == reference_wire(text)


@settings(max_examples=600)
@given(texts)
def test_commentary_is_found_as_by_the_plain_patterns(title: str) -> None:
    assert s.commentary(title) is (s._COMMENTARY.search(title) is not None)
    assert s.declared_commentary(title) is (s._DECLARED.search(title) is not None)


stops = st.lists(st.sampled_from([".", "!", "?", " ", "\n", "\t", "\u00a0", "\u2009", "a", "é"]), max_size=12)


@settings(max_examples=600)
@given(st.lists(stops.map("".join) | texts, max_size=4).map("".join))
def test_the_first_sentence_ends_where_the_look_behind_split_ended_it(text: str) -> None:
    stop = s._FIRST_STOP.search(text)
    assert (text[: stop.end()] if stop is not None else text) == re.split(r"(?<=[.!?])\s", text, maxsplit=1)[
        0
    ]


def test_credits_in_the_three_forms_and_letters_that_fold_oddly() -> None:
    assert s.wire_of("MOSCOW (Reuters) - Troops moved.") == "reuters"
    assert s.wire_of("Бойцы заняли штаб. — ТАСС") == "tass"
    assert s.wire_of("Los combates siguen, informó la agencia EFE.") == "efe"
    assert s.wire_of("Troops moved, a spokesman TOLD Reuters") == "reuters"
    # The earliest credit wins, whichever form it has.
    assert s.wire_of("Сообщает ТАСС. Позже (Reuters) уточнило") == "tass"
    assert s.wire_of("No credit here (Reutersx) - apex") is None
    # "ſ" is "s" to a case-insensitive pattern: "ſegún" is "según".
    assert s.wire_of("Hubo combates, ſegún EFE") == reference_wire("Hubo combates, ſegún EFE") == "efe"
    assert s.commentary("İs this why it matters") is True


def test_the_notice_guard_lets_through_what_the_notice_pattern_matches() -> None:
    def notice(summary: str) -> tuple[bool, str | None]:
        signals = s.read_signals(
            Item("g", "https://a.example/1", "Title", summary, datetime(2026, 1, 1, tzinfo=UTC), "A")
        )
        return signals.notice, signals.credited

    assert notice("Text. First published by Liberty Desk.") == (True, "liberty desk")
    # "ſ" is "s" to the case-insensitive notice pattern; the guard folds it as well.
    assert s._NOTICE.search("Text. Firſt published by Liberty Desk.") is not None
    assert notice("Text. Firſt published by Liberty Desk.") == (True, "liberty desk")
    assert notice("Text with no notice at all.") == (False, None)
