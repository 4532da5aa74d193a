"""Syndication signals: what an item says about being a copy, read before any similarity.

A reprint often says so: a notice ("This article was originally published by Liberty
Desk and is reprinted with permission", "Publicado originalmente en ...", "Впервые
опубликовано ..."), a ``<source>`` or ``dc:source`` element, a canonical link to
another site (``Item.source_url`` / ``source_name``), or a wire byline or dateline
("MOSCOW (Reuters) -", "(EFE)", "— ТАСС"). These functions read those signals from an
item's text and fields; the tracker decides what they mean.
"""

from __future__ import annotations

import hashlib
import re

from stories.facts import fold
from stories.model import Item

__all__ = ["Signals", "declared_commentary", "outlet_key", "read_signals"]

# Wires by the names they go by in bylines and datelines, in the three languages.
_WIRES: dict[str, tuple[str, ...]] = {
    "reuters": ("reuters", "рейтер", "рейтерс"),
    "ap": ("associated press", "ap"),
    "afp": ("afp", "france-presse", "france presse", "франс пресс"),
    "efe": ("efe",),
    "tass": ("tass", "тасс"),
    "ria": ("ria novosti", "риа новости", "ria", "риа"),
    "interfax": ("interfax", "интерфакс"),
    "xinhua": ("xinhua", "синьхуа"),
}
_WIRE_NAME = {alias: wire for wire, aliases in _WIRES.items() for alias in aliases}
_ALIASES = "|".join(sorted((re.escape(a) for a in _WIRE_NAME), key=len, reverse=True))
# "(Reuters)", "(AP) —", "— ТАСС", "(EFE).", "сообщает РИА Новости", "reported by Reuters":
# three patterns, each run only on text that has what it starts with (one pattern of the
# three alternatives tried all of them at every position: 8 us a text, now about 1).
_WIRE_PAREN = re.compile(rf"\(\s*(?P<p>{_ALIASES})\s*\)", re.IGNORECASE)
_WIRE_DASH = re.compile(rf"[—–-]\s*(?P<d>{_ALIASES})\b\s*[.,]?\s*$", re.IGNORECASE | re.MULTILINE)
_CREDIT_VERBS = (
    "сообщает", "сообщило", "сообщили", "передает", "передаёт", "пишет", "según", "informó",
    "reported by", "told",
)  # fmt: skip
_WIRE_VERB = re.compile(
    rf"(?:{'|'.join(_CREDIT_VERBS)})\s+(?:агентство\s+|la agencia\s+|agencia\s+)?(?P<v>{_ALIASES})\b",
    re.IGNORECASE,
)


def _may_contain(text: str, words: tuple[str, ...]) -> bool:
    """False only where a case-insensitive pattern that needs one of ``words`` (lower case)
    cannot match: a cheap test before the pattern, which is tried at every position."""
    folded = text.casefold()
    # A letter that folds to two (ß, İ) shifts positions: let the pattern decide.
    return len(folded) != len(text) or any(w in folded for w in words)


_NOTICE = re.compile(
    r"(?:originally (?:published|appeared)(?: (?:by|on|in|at))?|first (?:published|appeared)"
    r"(?: (?:by|on|in|at))?|republished (?:from|with permission of)|reprinted (?:from|courtesy of)"
    r"|publicad[oa] originalmente (?:por|en)|apareci[oó] originalmente en|publicad[oa] por primera vez en"
    r"|впервые опубликован[оа]?(?: на| в)?|материал впервые опубликован(?: на| в)?"
    r"|перепечатан[оа]? с разрешения|оригинал(?: материала)? опубликован(?: на| в)?)"
    r"\s*[:«\"“]?\s*(?P<name>[^.,;:»\"”()\n]{2,60})",
    re.IGNORECASE,
)
_PERMISSION = re.compile(
    r"reprinted with permission|republished with permission|reproducido con permiso|"
    r"publicado con autorizaci[oó]n|перепечатан[оа]? с разрешения|публикуется с разрешения",
    re.IGNORECASE,
)
# The commentary a title declares outright: a label ("Explainer: ...", "Análisis: ..."),
# "What we know about ...", "Что известно ...".
_DECLARED_PATTERN = (
    r"^(?:explainer|analysis|opinion|comment|factbox|q&a|análisis|opinión|explicador|claves"
    r"|анализ|мнение|комментарий)\s*[:|—–-]"
    r"|\b(?:what we know|what is at stake|what next|what it means|explained)"
    r"|\b(?:qué se sabe|lo que sabemos|las claves)\b"
    r"|(?:что известно|что такое|кто такие|что означа\w*)"
)
_DECLARED = re.compile(_DECLARED_PATTERN, re.IGNORECASE)
# A piece about an event rather than news of it: declared, or asking "Why ...", "Por qué
# ...", "Почему ..." (which news headlines use too: "Peskov explained why ...").
_COMMENTARY = re.compile(
    _DECLARED_PATTERN + r"|\bwhy\s|\bpor qué\b|(?:почему|зачем|что показал\w*)", re.IGNORECASE
)
# Words every commentary pattern contains (lower case).
_COMMENTARY_WORDS = (
    "explain", "analys", "opinion", "comment", "factbox", "q&a", "análisis", "opinión", "explicador",
    "claves", "анализ", "мнение", "комментари", "what ", "qué se sabe", "lo que sabemos",
    "что ", "кто такие", "why", "por qué", "почему", "зачем",
)  # fmt: skip
_WORD = re.compile(r"\w+")
_NAME_TAIL = re.compile(r"\s+(?:and|y|и)\s+(?:is|are|es|fue|был[оа]?)\b.*$", re.IGNORECASE)
# The end of a summary's first sentence: a stop with a space after it (found where a
# stop is, not tried at every position as a look-behind for the space would be).
_FIRST_STOP = re.compile(r"[.!?](?=\s)")
# A dateline before the lead sentence: "MOSCOW (Reuters) - ".
_DATELINE = re.compile(r"^[^a-zа-я]*?\([^)]{1,30}\)\s*[-—–]\s*", re.IGNORECASE)


def declared_commentary(title: str) -> bool:
    """Whether a title labels its piece an explainer, an analysis or an opinion outright."""
    return _may_contain(title, _COMMENTARY_WORDS) and _DECLARED.search(title) is not None


def commentary(title: str) -> bool:
    """Whether a title marks a piece about an event rather than news of it: declared
    (:func:`declared_commentary`) or a question ("Why ...", "Почему ...")."""
    return _may_contain(title, _COMMENTARY_WORDS) and _COMMENTARY.search(title) is not None


def outlet_key(name: str) -> str:
    """An outlet's name folded for comparison ("The Liberty Desk" ~ "Liberty Desk")."""
    words = _WORD.findall(fold(name))
    if words and words[0] in ("the", "el", "la", "los", "las"):
        words = words[1:]
    return " ".join(words)


class Signals:
    """What one item says about where it comes from."""

    __slots__ = ("commentary", "credited", "lead", "notice", "title", "wire")

    def __init__(
        self,
        credited: str | None,
        wire: str | None,
        notice: bool,
        title: str | None,
        lead: str | None,
        commentary: bool = False,
    ) -> None:
        self.credited = credited
        """The outlet the item credits as its origin (outlet key), if it names one."""
        self.wire = wire
        """The wire it credits ("reuters", "tass"...), from byline, dateline or source."""
        self.notice = notice
        """It carries a reprint notice (it says it is a copy)."""
        self.title = title
        """A hash of its folded title when long enough to identify a report."""
        self.lead = lead
        """A hash of its folded first sentence when long enough to identify a report."""
        self.commentary = commentary
        """Its title marks an explainer or an analysis: it reports no event of its own."""


def _hash(words: list[str]) -> str:
    return hashlib.blake2b(" ".join(words).encode(), digest_size=8).hexdigest()


def wire_of(text: str) -> str | None:
    """The wire a byline or text credits, if any (the first credit in the text)."""
    found: list[re.Match[str]] = []
    if "(" in text and (m := _WIRE_PAREN.search(text)) is not None:
        found.append(m)
    if ("-" in text or "—" in text or "–" in text) and (m := _WIRE_DASH.search(text)) is not None:
        found.append(m)
    if _may_contain(text, _CREDIT_VERBS) and (m := _WIRE_VERB.search(text)) is not None:
        found.append(m)
    if not found:
        return None
    first = min(found, key=lambda m: m.start())
    alias = next(g for g in first.groups() if g is not None).lower()
    return _WIRE_NAME.get(alias)


# Words every notice contains: the notice patterns run only on text that has one.
_NOTICE_WORDS = (
    "originally", "first ", "republished", "reprinted", "permission", "publicad", "apareci",
    "permiso", "autoriz", "впервые", "перепечат", "оригинал", "разрешени",
)  # fmt: skip


def read_signals(item: Item) -> Signals:
    """Read the syndication signals of one item (pure; cheap)."""
    text = item.summary or ""
    credited: str | None = None
    notice = False
    if _may_contain(text, _NOTICE_WORDS):
        m = _NOTICE.search(text)
        if m is not None:
            notice = True
            name = _NAME_TAIL.sub("", m.group("name")).strip()
            credited = outlet_key(name) or None
        elif _PERMISSION.search(text):
            notice = True
    if credited is None and item.source_name:
        credited = outlet_key(item.source_name) or None
    wire = None
    if item.author:
        author = fold(item.author).strip()
        wire = _WIRE_NAME.get(author) or wire_of(f"({author})")
    if wire is None:
        wire = wire_of(text[:200]) or wire_of(text[-80:])
    if credited is not None and credited in _WIRE_NAME:
        # Crediting a wire says "a Reuters story", not which outlet's report it copies:
        # that is the wire rule's question (the same wire story, and no new facts).
        wire = wire or _WIRE_NAME[credited]
        credited = None
    if credited is not None and credited == outlet_key(item.outlet):
        credited = None  # crediting itself says nothing
    title_words = _WORD.findall(fold(item.title))
    title = _hash(title_words) if len(title_words) >= 5 else None
    stop = _FIRST_STOP.search(text)
    first = text[: stop.end()] if stop is not None else text
    # The dateline is no part of the sentence: copies of one wire story share it anyway.
    first = _DATELINE.sub("", first)
    lead_words = _WORD.findall(fold(first))
    lead = _hash(lead_words) if len(lead_words) >= 8 else None
    return Signals(credited, wire, notice, title, lead, commentary(item.title or ""))
