"""Facts an item states, compared language-neutrally: what makes an item an *update*.

An item joins a development as an ``update`` only when it states facts the development
did not have: numbers, dates, names and places. A translation or a rewrite states the
same facts in other words and is a re-report. So facts are reduced to keys that do not
depend on the language or script they were written in:

- *Numbers* are normalised: ``1,200`` / ``1.200`` / ``1 200`` are ``1200``; ``51,2 %``
  and ``51.2%`` are ``51.2%``; a currency sign stays in front; numbers in words and with
  scale words count, dates are day/month (:mod:`stories.numbers`).
- *Names* are runs of capitalised words (see :func:`_names`), folded and transliterated
  to Latin letters with `anyascii` ("Песков" -> ``peskov``), so a Russian copy of an
  English report names the same people. Inflected forms ("Пригожина", "Ростове") are
  recognised by a shared stem (:func:`name_stem`): the first ``STEM`` letters, without
  the vowels a short name ends in ("Сирии" = "Сирия" = "Syria").

Text with no capitals at all (pre-lowercased corpora) yields numbers only; the
developments module then falls back to rare words.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime

from anyascii import anyascii

from stories.model import Item
from stories.numbers import MONTH_NUMBER, MONTHS, date_fact, number_key, scan
from stories.text import STOP_TEXT

__all__ = [
    "STEM",
    "date_fact",
    "extract_facts",
    "fact_is_known",
    "fold",
    "is_number",
    "name_stem",
    "new_facts",
    "number_key",
    "shown_first",
    "stems_of",
    "surface",
    "written",
]

STEM = 5
"""Letters of a transliterated name word that identify it across inflections."""

# Common function words (stories.text.STOP_TEXT) and more Spanish and Russian ones; a
# capitalised one (the first word of a sentence, "El", "В") is no name.
_MORE_STOP_TEXT = """
    sus tras ante sin sobre entre desde hasta este esta estos estas ese esa segun según como mas más
    ni pero aunque mientras durante tambien también ya hoy ayer ademas además luego asi así incluso
    cuando donde mañana manana
    во со а но же бы то его ее её их он она они это этот эта после при до над под между также уже более
    ранее однако сейчас теперь сегодня вчера завтра затем кроме пока тогда поэтому лишь только даже
    ни около почти там здесь
    meanwhile however earlier later today yesterday tomorrow yet still even
"""
STOP_WORDS = frozenset(STOP_TEXT.split()) | frozenset(_MORE_STOP_TEXT.split())

_WORD = re.compile(r"\w+")
_SENTENCE_END = frozenset(".!?:;\"'“”«»—-")
_RUN_BREAK = _SENTENCE_END | frozenset(",;()[]")
_TOKEN = re.compile(r"\S+")
_STRIP = ".,!?:;\"'“”‘’«»()[]"


def fold(text: str) -> str:
    """Lowercase and strip accents ("Guaidó" -> "guaido"); ASCII takes the fast path."""
    text = text.lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Spellings of one sound that differ between transliterations and languages:
# Khartoum / Khartum / Jartum / Хартум, Wagner / Вагнер, Dmitry / Dmitrii, González /
# Гонсалес, Caracas / Каракас. Names are compared by their stems of this key
# (:func:`name_stem`), so each spelling meets; facts themselves stay readable.
_SOUNDS = (
    ("th", "t"),  # Perthes / Пертес
    ("gue", "ge"),  # Spanish writes a hard g before e and i as "gu": Serguéi, Yevgueni
    ("gui", "gi"),
    ("kh", "h"),
    ("j", "h"),
    ("ou", "u"),
    ("w", "v"),
    ("y", "i"),
    ("ck", "k"),
    ("c", "k"),
    ("q", "k"),
    ("x", "ks"),
    ("ph", "f"),
    ("z", "s"),
    ("ii", "i"),
)
# Capitalised words that name no person, place or body: weekdays, the months above, and
# the time zones of a clock time ("1400 GMT").
_WEEKDAY_TEXT = """monday tuesday wednesday thursday friday saturday sunday
    lunes martes miercoles jueves viernes sabado domingo
    понедельник вторник среда среду четверг пятница пятницу суббота субботу воскресенье"""
_NOT_NAMES = MONTHS | frozenset(_WEEKDAY_TEXT.split()) | frozenset(["gmt", "utc", "мск"])
# A title before a name is no part of it: English capitalises "Governor Vasily Golubev",
# Spanish and Russian write "el gobernador", "губернатор". Matched by stem ("губернатора").
_TITLE_TEXT = """
    president minister governor general lieutenant brigadier secretary spokesman
    spokeswoman spokesperson ambassador chief director mayor
    presidente presidenta ministro ministra gobernador teniente coronel secretario secretaria
    portavoz embajador director alcalde canciller
    президент министр губернатор генерал полковник секретарь посол директор
"""
_WIRE_TEXT = "reuters ap afp efe tass ria interfax xinhua associated press novosti"
_WIRE_NAMES = frozenset(_WIRE_TEXT.split())


_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


@functools.lru_cache(maxsize=131072)
def _latin(word: str) -> str:
    """A name word folded and in Latin letters ("Пескова" -> "peskova")."""
    folded = fold(word)
    latin = folded if folded.isascii() else anyascii(folded).lower()
    return _NOT_ALNUM.sub("", latin)


@functools.lru_cache(maxsize=131072)
def _latin_token(token: str) -> str:
    """A token as :func:`_latin` reads it, the possessive off ("Prigozhin's Concord" writes
    the name "prigozhin concord")."""
    return _latin(_unpossessive(token))


def _unpossessive(word: str) -> str:
    """``word`` without an English possessive ("Fed's" names the Fed)."""
    return word.removesuffix("'s").removesuffix("’s")


@functools.lru_cache(maxsize=65536)
def sound_key(word: str) -> str:
    """A Latin name word with spelling variants merged ("jartum" ~ "khartoum" -> "hartum")."""
    for a, b in _SOUNDS:
        word = word.replace(a, b)
    if word.startswith("ie"):  # a Russian initial "Е" written "Ye": Yevgeny / Евгений, Yeltsin
        word = word[1:]
    out: list[str] = []
    for c in word:
        if not out or out[-1] != c:  # doubled letters: Khartoum ~ Hartum, Massar ~ Masar
            out.append(c)
    return "".join(out)


def _english(item: Item) -> bool:
    return (item.language or "").startswith("en")


def name_stem(word: str) -> str:
    """The part of a transliterated name word that survives inflection and spelling."""
    key = sound_key(word)
    # Russian declines a short name by its ending (Сирия / Сирии, Дон / Дону, Газа / Газе):
    # vowels at its end are no part of its stem.
    base = key.rstrip("aeiou")
    if len(base) >= 3:
        key = base
    return key if len(key) <= STEM else key[:STEM]


def extract_facts(item: Item, credited: str | None = None) -> frozenset[str]:
    """Fact keys an item states: normalised numbers and transliterated names.

    A name is a run of capitalised words (``Charles Plosser``); each word also counts
    alone, so a later bare ``Plosser`` is no new fact. The first word of a sentence is
    capitalised anyway, so it counts only when the next word is capitalised too, or as
    an acronym (``NSA``). A Title Case title capitalises every word, so from one only
    acronyms and words the summary also capitalises count.

    The item's own outlet, and the outlet it ``credited`` as its source (a reprint's
    "originally published by Liberty Desk", :func:`stories.syndication.read_signals`),
    are no facts: naming where a report comes from states nothing about the event.
    """
    text = item.text
    facts: set[str] = set()
    numbers, dates = scan(text, _english(item))
    facts.update(key for key, _, _ in numbers)
    facts.update(dates)
    if text.islower() or not any(c.isupper() for c in text):
        return frozenset(facts)
    summary_names = _names(item.summary, None) if item.summary else set()
    title_words = [w for w in _WORD.findall(item.title) if len(w) > 3]
    capitalised = sum(1 for w in title_words if w[0].isupper())
    title_case = len(title_words) >= 3 and capitalised >= 0.7 * len(title_words)
    facts |= summary_names
    facts |= _names(item.title, summary_names if title_case else None)
    # "... residents told Liberty Desk": the outlet naming itself states nothing.
    for outlet in (item.outlet, credited):
        own = {_latin(w) for w in _WORD.findall(outlet)} if outlet else set()
        if own:
            facts = {f for f in facts if is_number(f) or not set(f.split()) <= own}
    return frozenset(facts)


def _names(text: str, allowed: set[str] | None) -> set[str]:
    """Capitalised runs in ``text``; with ``allowed``, only acronyms and allowed words."""
    found: set[str] = set()
    tokens = text.split()  # the runs of non-space that r"\S+" finds (same notion of space)
    caps = list(map(_capitalised_core, tokens))  # the token's core if capitalised, else ""
    last = len(tokens) - 1
    run: list[str] = []
    prev = -2
    # Only capitalised words can be names; a run is consecutive words found to be.
    for i in itertools.compress(range(len(tokens)), caps):
        core = caps[i]
        ok = len(core) > 1 and core.isupper()
        if not ok and allowed is not None:
            ok = _latin(core) in allowed
        elif not ok:
            # The first word of a sentence is capitalised anyway: a name only before another.
            sentence_start = i == 0 or tokens[i - 1][-1] in _SENTENCE_END
            ok = not sentence_start or (i < last and bool(caps[_past_particles(tokens, i + 1)]))
        if ok:
            if run:
                # A run is broken by a gap or by punctuation: "Maracaibo, Valencia" are two
                # names; not by the lower-case particles inside one ("Ursula von der Leyen").
                if _past_particles(tokens, prev + 1) != i or tokens[prev][-1] in _RUN_BREAK:
                    _add_name(found, run)
                    run = []
                else:
                    run.extend(tokens[prev + 1 : i])  # the particles, if any
            run.append(core)
            prev = i
    if run:
        _add_name(found, run)
    return found


# Lower-case words inside a name: "Ursula von der Leyen", "Rutger van Boxtel", "Hamad bin
# Khalifa". (Spanish and Portuguese "de", "da", "dos" are left out: they also join names to
# the places and bodies after them, "Gobierno de Maduro".)
_NAME_PARTICLES = frozenset(["von", "van", "der", "den", "ter", "ten", "bin", "ibn"])
_PARTICLE = re.compile(r"(?:al|el|ad|as|ash|at|an|ar|az|bin|ibn|abu|d|l)[-‑'’]")


@functools.lru_cache(maxsize=131072)
def _capitalised_core(token: str) -> str:
    """The token without the punctuation around it ("Fed's" names the Fed: the possessive
    is no part of the name) if that is capitalised and may be (part of) a name, not a stop
    word, weekday or month; else ``""``."""
    core = _unpossessive(token.strip(_STRIP))
    if core and not core[0].isupper():
        # "al-Burhan", "el-Sisi", "d'Ivoire": the name after its lower-case particle
        particle = _PARTICLE.match(core)
        core = core[particle.end() :] if particle is not None else ""
    if not core or not core[0].isupper():
        return ""
    folded = fold(core)
    return core if folded not in STOP_WORDS and folded not in _NOT_NAMES else ""


def _past_particles(tokens: list[str], i: int) -> int:
    """The index of the first token from ``i`` on that is not a name particle (at most two
    are skipped: "Ursula von der Leyen"); ``i`` itself if that runs out of tokens."""
    j = i
    while j < len(tokens) - 1 and j - i < 2 and tokens[j] in _NAME_PARTICLES:
        j += 1
    return j


def _add_name(facts: set[str], run: list[str]) -> None:
    """A run's name words as facts, and the whole run as one (its particles in it: they
    are part of the name as written, but no facts alone)."""
    words: list[str] = []
    spelt: list[str] = []
    for core in run:
        if core in _NAME_PARTICLES:
            spelt.append(core)
        else:
            parts = _core_words(core)
            words.extend(parts)
            spelt.extend(parts)
    facts.update(words)
    if len(words) > 1:
        facts.add(" ".join(spelt))


@functools.lru_cache(maxsize=131072)
def _core_words(core: str) -> tuple[str, ...]:
    """The name words of a capitalised token's core, in Latin letters. A word part that
    starts with a digit would read as a number ("G7" stays, "0A" goes); a lower-case part
    of a compound is no name ("Minsk-brokered", "Ростове-на-Дону"), nor is a Roman numeral
    in capitals ("XXI века"), a title ("Governor") or a wire's name."""
    words = (
        _latin(p)
        for p in _WORD.findall(core)
        if not p[0].islower() and not (p.isupper() and _ROMAN.fullmatch(p))
    )
    return tuple(
        w
        for w in words
        if len(w) > 1 and not w[0].isdigit() and w not in _WIRE_NAMES and name_stem(w) not in _TITLE_STEMS
    )


# A Roman numeral ("XXI века", "siglo XXI", "World War II") counts or orders, it names nothing.
_ROMAN = re.compile(r"X{0,3}(?:IX|IV|V?I{0,3})")
_TITLE_STEMS = frozenset(name_stem(_latin(w)) for w in _TITLE_TEXT.split())


def surface(facts: Iterable[str], item: Item, limit: int = 4) -> tuple[str, ...]:
    """Fact keys as the item wrote them, for people ("peskov" -> "Peskov", "1200" -> "1,200"),
    in :func:`shown_first` order."""
    spelt = written(set(facts), item)
    return tuple(spelt[f] for f in shown_first(spelt, limit))


def shown_first(spelt: Mapping[str, str], limit: int = 4) -> list[str]:
    """Which of some facts (key -> as written) to show, at most ``limit``, in order.

    Words of a longer name in the same list are left out ("Maria Corina Machado", not also
    "Machado"); numbers first (they are what an update most often adds), but a small
    number written as a word last: "two" says little out of its sentence.
    """
    keys = sorted(spelt, key=lambda f: (not is_number(f), -len(f.split()), f))
    multi = [f.split() for f in keys if " " in f and not is_number(f)]
    kept = [f for f in keys if " " in f or not any(f in words for words in multi)]
    worded = [f for f in kept if is_number(f) and not any(c.isdigit() for c in spelt[f])]
    shown = [f for f in kept if f not in worded][:limit]
    return shown + worded[: limit - len(shown)]


def _unshout(name: str, item: Item) -> str:
    """A place a dateline wrote in capitals ("JARTUM, 21 abr (EFE)") as names are written
    ("Jartum"); capitals anywhere else are an acronym's and stay ("NATO", "EEUU")."""
    if name.isupper() and (item.summary or "").lstrip().startswith(name):
        return " ".join(w.capitalize() for w in name.split())
    return name


def written(facts: Iterable[str], item: Item) -> dict[str, str]:
    """Each fact key with the words the item wrote it in (the key itself if not found)."""
    keys = list(facts)
    if not keys:
        return {}
    text = item.text
    tokens = [t.strip(_STRIP) for t in _TOKEN.findall(text)]
    numbers: dict[str, str] | None = None
    latin: list[str] | None = None
    positions: dict[str, list[int]] = {}
    out: dict[str, str] = {}
    for f in keys:
        if date_fact(f) is not None:
            out[f] = _date_surface(f, tokens)
        elif is_number(f):
            if numbers is None:  # read only when a number is asked for
                found = scan(text, _english(item))[0]
                numbers = {key: _counted(text, start, end) for key, start, end in found}
            out[f] = numbers.get(f, f)
        else:
            if latin is None:
                latin = [_latin_token(t) for t in tokens]
                for i, w in enumerate(latin):
                    positions.setdefault(w, []).append(i)
            words = f.split()
            at = next((i for i in positions.get(words[0], ()) if latin[i : i + len(words)] == words), None)
            out[f] = _unshout(" ".join(tokens[at : at + len(words)]), item) if at is not None else f
    return out


_COUNTED = re.compile(r"[\u00a0 ]([^\W\d_]{3,})\b")


def _counted(text: str, start: int, end: int) -> str:
    """A number as written, with the word it counts if one follows ("400 contractors",
    "eight magistrates", "330 killed"): a bare "400" says little in a digest line."""
    m = _COUNTED.match(text, end)
    if m is not None and m.group(1)[0].islower() and fold(m.group(1)) not in STOP_WORDS:
        end = m.end()
    return text[start:end].strip()


def _date_surface(fact: str, tokens: list[str]) -> str:
    day, _, month = fact.partition("/")
    for i, t in enumerate(tokens):
        if t == day:
            for j in (i + 1, i - 1, i + 2):
                if 0 <= j < len(tokens) and MONTH_NUMBER.get(tokens[j].lower().strip(".,")) == int(month):
                    lo, hi = min(i, j), max(i, j)
                    return " ".join(tokens[lo : hi + 1])
    return fact


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


def new_facts(
    facts: Iterable[str], known: set[str], stems: set[str], when: datetime | None = None
) -> list[str]:
    """The facts not yet known, sorted; ``stems`` are the name stems of ``known``.

    A date within a day of ``when`` (the item's time) is the date of the report itself
    ("on Tuesday" in one language, "el 18 de abril" in another): no new fact.

    A name run with one known word is known as a whole ("Госсекретарь США Энтони
    Блинкен" after "Antony Blinken": titles and first names are spelt many ways).
    """
    facts = set(facts)
    unknown = facts - known
    if not unknown:
        return []  # the common case: a repeat states nothing the development lacks
    covered: set[str] = set()
    for f in facts:
        if " " in f and not is_number(f):
            words = f.split()
            if any(w in known or name_stem(w) in stems for w in words):
                covered.update(words)
                covered.add(f)
    if when is not None:
        for f in unknown:
            dm = date_fact(f)
            if dm is not None:
                try:
                    day = datetime(when.year, dm[1], dm[0], tzinfo=when.tzinfo)
                except ValueError:
                    continue
                if abs((day - when).total_seconds()) <= 2 * 86400:
                    covered.add(f)
    return sorted(f for f in unknown if f not in covered and not fact_is_known(f, known, stems))


def stems_of(facts: Iterable[str]) -> set[str]:
    """Name stems of fact keys (numbers have none)."""
    return {name_stem(w) for f in facts if not is_number(f) for w in f.split()}


def is_number(fact: str) -> bool:
    """Whether a fact key is a number (names start with a letter)."""
    return fact[0].isdigit() or fact[0] in "$€£¥"
