"""Facts an item states, compared language-neutrally: what makes an item an *update*.

An item joins a development as an ``update`` only when it states facts the development
did not have: numbers, dates, names and places. A translation or a rewrite states the
same facts in other words and is a re-report. So facts are reduced to keys that do not
depend on the language or script they were written in:

- *Numbers* are normalised: ``1,200`` / ``1.200`` / ``1 200`` are ``1200``; ``51,2 %``
  and ``51.2%`` are ``51.2%``; a currency sign stays in front.
- *Names* are runs of capitalised words (see :func:`_names`), folded and transliterated
  to Latin letters with `anyascii` ("Песков" -> ``peskov``), so a Russian copy of an
  English report names the same people. Inflected forms ("Пригожина", "Ростове") are
  recognised by a shared stem (:func:`name_stem`), the first ``STEM`` letters.

Text with no capitals at all (pre-lowercased corpora) yields numbers only; the
developments module then falls back to rare words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from anyascii import anyascii

from stories.model import Item

__all__ = [
    "STEM",
    "extract_facts",
    "fact_is_known",
    "fold",
    "is_number",
    "name_stem",
    "new_facts",
    "number_key",
    "stems_of",
]

STEM = 5
"""Letters of a transliterated name word that identify it across inflections."""

# Common function words of the languages feeds mostly carry; a capitalised one (the
# first word of a sentence, "El", "В") is no name.
_STOP_TEXT = """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers him his how i if in into is
    it its itself just me more most my no nor not now of off on once only or other our out
    over own same she should so some such than that the their them then there these they
    this those through to too under until up very via was we were what when where which
    while who whom why will with would you your s t ll d re ve don new says said say
    el la los las de del y en un una por con para al lo se que es su sus tras ante sin
    sobre entre desde hasta este esta estos estas ese esa segun según como mas más
    le les des du et au aux une pour sur dans est
    der die das und den dem des ein eine mit von zu im ist fur auf
    и в на с по о к за из от что как для не во со а но же бы то его ее её их он она они
    это этот эта после при до над под между также уже более
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

_WORD = re.compile(r"\w+")
# Digits with thousands spaces ("1 200"), or digits with separators ("1,200", "51,2"),
# then an optional percent sign.
_NUMBER = re.compile(r"[$€£¥]?(?:\d{1,3}(?:[\u00a0\u202f ]\d{3})+(?!\d)|\d+(?:[.,]\d+)*)(?:\s?%)?")
_SENTENCE_END = frozenset(".!?:;\"'“”«»—-")
_TOKEN = re.compile(r"\S+")
_STRIP = ".,!?:;\"'“”‘’«»()[]"


def fold(text: str) -> str:
    """Lowercase and strip accents ("Guaidó" -> "guaido"); ASCII takes the fast path."""
    text = text.lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _latin(word: str) -> str:
    """A folded word in Latin letters ("пескова" -> "peskova")."""
    folded = fold(word)
    return folded if folded.isascii() else anyascii(folded).lower()


def number_key(raw: str) -> str:
    """A number as written, normalised across conventions ("1.200" -> "1200", "51,2 %" -> "51.2%")."""
    s = raw.replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    currency = s[0] if s and s[0] in "$€£¥" else ""
    body = s[len(currency) :]
    percent = body.endswith("%")
    body = body.rstrip("%")
    groups = re.split(r"[.,]", body)
    if len(groups) > 1 and all(len(g) == 3 for g in groups[1:]):
        body = "".join(groups)  # thousands separators
    elif len(groups) == 2:
        body = groups[0] + "." + groups[1].rstrip("0") if groups[1].strip("0") else groups[0]
    else:
        body = "".join(groups)
    body = body.lstrip("0") or "0"
    return currency + body + ("%" if percent else "")


def name_stem(word: str) -> str:
    """The part of a transliterated name word that survives inflection."""
    return word if len(word) <= STEM else word[:STEM]


def extract_facts(item: Item) -> frozenset[str]:
    """Fact keys an item states: normalised numbers and transliterated names.

    A name is a run of capitalised words (``Charles Plosser``); each word also counts
    alone, so a later bare ``Plosser`` is no new fact. The first word of a sentence is
    capitalised anyway, so it counts only when the next word is capitalised too, or as
    an acronym (``NSA``). A Title Case title capitalises every word, so from one only
    acronyms and words the summary also capitalises count.
    """
    text = item.text
    facts = {number_key(m.group()) for m in _NUMBER.finditer(text)}
    if text.islower() or not any(c.isupper() for c in text):
        return frozenset(facts)
    summary_names = _names(item.summary, None) if item.summary else set()
    title_words = [w for w in _WORD.findall(item.title) if len(w) > 3]
    capitalised = sum(1 for w in title_words if w[0].isupper())
    title_case = len(title_words) >= 3 and capitalised >= 0.7 * len(title_words)
    facts |= summary_names
    facts |= _names(item.title, summary_names if title_case else None)
    return frozenset(facts)


def _names(text: str, allowed: set[str] | None) -> set[str]:
    """Capitalised runs in ``text``; with ``allowed``, only acronyms and allowed words."""
    found: set[str] = set()
    cores: list[str] = []
    starts: list[bool] = []
    sentence_start = True
    for m in _TOKEN.finditer(text):
        token = m.group()
        # "Fed's" names the Fed: the possessive is no part of the name.
        cores.append(token.strip(_STRIP).removesuffix("'s").removesuffix("’s"))
        starts.append(sentence_start)
        sentence_start = token[-1] in _SENTENCE_END

    def capitalised(core: str) -> bool:
        return bool(core) and core[0].isupper() and fold(core) not in STOP_WORDS

    run: list[str] = []
    for i, core in enumerate(cores):
        ok = False
        if capitalised(core):
            ok = len(core) > 1 and core.isupper()
            if not ok and allowed is not None:
                ok = _latin(core) in allowed
            elif not ok:
                ok = not starts[i] or (i + 1 < len(cores) and capitalised(cores[i + 1]))
        if ok:
            run.append(core)
        elif run:
            _add_name(found, run)
            run = []
    if run:
        _add_name(found, run)
    return found


def _add_name(facts: set[str], run: list[str]) -> None:
    words = [w for w in (_latin(part) for core in run for part in _WORD.findall(core)) if len(w) > 1]
    facts.update(words)
    if len(words) > 1:
        facts.add(" ".join(words))


def fact_is_known(fact: str, known: set[str], stems: set[str]) -> bool:
    """Whether ``fact`` is already among ``known`` (names up to inflection, see module doc)."""
    if fact in known:
        return True
    if is_number(fact):
        return False
    words = fact.split()
    # A name is new only if one of its words is: "Fed's Plosser" after
    # "Charles Plosser" and "Fed" adds nothing.
    return all(w in known or name_stem(w) in stems for w in words)


def new_facts(facts: Iterable[str], known: set[str], stems: set[str]) -> list[str]:
    """The facts not yet known, sorted; ``stems`` are the name stems of ``known``."""
    return sorted(f for f in facts if not fact_is_known(f, known, stems))


def stems_of(facts: Iterable[str]) -> set[str]:
    """Name stems of fact keys (numbers have none)."""
    return {name_stem(w) for f in facts if not is_number(f) for w in f.split()}


def is_number(fact: str) -> bool:
    """Whether a fact key is a number (names start with a letter)."""
    return fact[0].isdigit() or fact[0] in "$€£¥"
