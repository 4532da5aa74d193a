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

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from anyascii import anyascii

from stories.model import Item
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
# Digits with thousands spaces ("1 200"), or digits with separators ("1,200", "51,2"),
# then an optional percent sign.
_NUMBER = re.compile(r"[$€£¥]?(?:\d{1,3}(?:[\u00a0\u202f ]\d{3})+(?!\d)|\d+(?:[.,]\d+)*)(?:\s?%)?")
# A scale word after a number multiplies it ("21 тысячу" = "21,000" = "21 mil"; "1,3 млн" =
# "1.3 million"), so a translation that writes the number in words states the same fact.
_SCALE_TEXT = """
    3 thousand thousands mil тысяча тысячи тысячу тысяч тысячах тысячами тыс
    6 million millions mn mln millón millon millones миллион миллиона миллионов миллионах млн
    9 billion billions bn millardo millardos миллиард миллиарда миллиардов млрд
"""
_SCALES = {
    word: int(line.split()[0]) for line in _SCALE_TEXT.strip().splitlines() for word in line.split()[1:]
}
# "mil millones": a thousand millions (Spanish for a billion).
_SCALE = re.compile(r"[\u00a0\u202f ]?(mil millones|[^\W\d_]+)\.?", re.IGNORECASE)
# Small numbers written as words: "five days" states what "5 días" does. "One" and its
# kin are left out (an article or a pronoun as often as a number).
_NUMBER_WORD_TEXT = """
    2 two dos два две двух 3 three tres три трех трёх 4 four cuatro четыре четырех четырёх
    5 five cinco пять пяти 6 six seis шесть шести 7 seven siete семь семи
    8 eight ocho восемь восьми 9 nine nueve девять девяти 10 ten diez десять десяти
    12 twelve doce двенадцать двенадцати 20 twenty veinte двадцать двадцати
    30 thirty treinta тридцать тридцати 100 hundred cien сто
    21 veintiuno veintiún veintiun 22 veintidós veintidos 23 veintitrés veintitres
    24 veinticuatro 25 veinticinco 26 veintiséis veintiseis 27 veintisiete 28 veintiocho
    29 veintinueve
"""
# A tens word and a unit word are one number ("thirty-nine", "treinta y nueve", "тридцать
# девять": 39, not 30 and 9). "One" counts here, where it can be nothing else.
_UNIT_AFTER_TENS = re.compile(r"(?: y |[-\u2011 ])([^\W\d_]+)", re.IGNORECASE)
_ONES = frozenset(["one", "uno", "un", "una", "один", "одна", "одно", "одного", "одной"])
# A number word before a fraction's denominator is a share, not a count: "two-thirds of the
# hospitals" is no "2" ("dos tercios", "две трети", "three quarters").
_FRACTION = re.compile(
    r"[-\u2011 ](?:thirds?|quarters?|tercios?|cuartas|трет[ьией]\w*|четверт[иейь]\w*)(?!\w)", re.IGNORECASE
)


def _number_words(text: str) -> dict[str, str]:
    words: dict[str, str] = {}
    value = ""
    for token in text.split():
        if token.isdigit():
            value = token
        else:
            words[token] = value
    return words


_NUMBER_WORDS = _number_words(_NUMBER_WORD_TEXT)
_NUMBER_WORD_ALTERNATIVES = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
# Run on lower-cased text: a case-insensitive alternation costs 6-7 times as much here.
_NUMBER_WORD = re.compile(r"(?<!\w)(?:" + _NUMBER_WORD_ALTERNATIVES + r")(?!\w)")
_NUMBER_WORD_ANY_CASE = re.compile(_NUMBER_WORD.pattern, re.IGNORECASE)
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
# Month names, twelve per line; variants of one month joined by "|".
_MONTH_TEXT = """january february march april may june july august september october november december
    jan feb mar apr may jun jul aug sep|sept oct nov dec
    enero febrero marzo abril mayo junio julio agosto septiembre|setiembre octubre noviembre diciembre
    января февраля марта апреля мая июня июля августа сентября октября ноября декабря
    январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь
    ene feb mar abr may jun jul ago sep|set oct nov dic
    янв фев мар апр мая июн июл авг сен окт ноя дек"""
_MONTH_NUMBER = {
    name: month
    for line in _MONTH_TEXT.splitlines()
    for month, names in enumerate(line.split(), start=1)
    for name in names.split("|")
}
_MONTHS = frozenset(_MONTH_NUMBER)
# Capitalised words that name no person, place or body: weekdays, the months above, and
# the time zones of a clock time ("1400 GMT").
_WEEKDAY_TEXT = """monday tuesday wednesday thursday friday saturday sunday
    lunes martes miercoles jueves viernes sabado domingo
    понедельник вторник среда среду четверг пятница пятницу суббота субботу воскресенье"""
_NOT_NAMES = _MONTHS | frozenset(_WEEKDAY_TEXT.split()) | frozenset(["gmt", "utc", "мск"])
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
    return _latin(token.removesuffix("'s").removesuffix("’s"))


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


def _scaled(text: str, key: str, end: int) -> tuple[str, int]:
    """A number's ``key``, multiplied by a scale word written after it (at ``end`` in
    ``text``: "21 тысячу" -> ``21000``), and where its written form ends."""
    if key.endswith("%"):
        return key, end
    after = _SCALE.match(text, end)
    if after is None:
        return key, end
    word = after.group(1).lower()
    power = 9 if word == "mil millones" else _SCALES.get(word)
    if power is None:
        return key, end
    currency = key[0] if key[0] in "$€£¥" else ""
    value = Decimal(key[len(currency) :]).scaleb(power)
    exact = value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()
    return currency + format(exact, "f"), after.end()


def _scan(text: str, english: bool) -> tuple[list[tuple[str, int, int]], list[str]]:
    """The numbers ``text`` states, each as its key and where its written form starts and
    ends (with its scale word, if any), and the dates it states ("17/10"), in one pass.
    Years and times of day are neither (see :func:`_when`); small numbers written as
    words count ("five" is ``5``).

    Before a scale word, English writes a decimal point where Spanish and Russian write
    a thousands point: "86.262 billion" is "86.262 millones" (86,262 million), so in
    ``english`` text (:func:`_english`) a point there is read as a decimal one."""
    numbers: list[tuple[str, int, int]] = []
    dates: list[str] = []
    for m in _NUMBER.finditer(text):
        if _designation(text, m.start()):
            continue
        kind = _when(text, m.start(), m.end())
        if kind is None:
            raw = m.group()
            key, end = _scaled(text, number_key(raw), m.end())
            if english and end != m.end() and raw.count(".") == 1 and "," not in raw:
                whole, _, fraction = raw.partition(".")
                key, end = _scaled(text, f"{number_key(whole)}.{fraction}", m.end())
            numbers.append((key, m.start(), end))
        elif kind:
            dates.append(kind)
    lower = text.lower()
    # A letter whose lower case is longer ("İ") would shift positions: match the text itself.
    words = _NUMBER_WORD.finditer(lower) if len(lower) == len(text) else _NUMBER_WORD_ANY_CASE.finditer(text)
    consumed = 0
    for m in words:
        if m.start() < consumed:
            continue  # the unit of a compound already read ("thirty-nine")
        value, end = _compound(text, int(_NUMBER_WORDS[m.group().lower()]), m.end())
        consumed = end
        if _FRACTION.match(text, end):
            continue
        key, end = _scaled(text, str(value), end)
        numbers.append((key, m.start(), end))
    return numbers, dates


def _compound(text: str, value: int, end: int) -> tuple[int, int]:
    """A tens word's ``value`` with the unit word written after it, if any ("thirty-nine",
    "treinta y nueve", "двадцать пять"), and where the number ends."""
    if value % 10 or not 20 <= value <= 90:
        return value, end
    unit = _UNIT_AFTER_TENS.match(text, end)
    if unit is None:
        return value, end
    word = unit.group(1).lower()
    digits = "1" if word in _ONES else _NUMBER_WORDS.get(word, "")
    if len(digits) != 1:
        return value, end
    return value + int(digits), unit.end()


def _designation(text: str, start: int) -> bool:
    """Whether the number at ``start`` is part of a name or a model ("G7", "MH17", "Ил-22",
    "F-16", "COVID-19", the road "М-4"): digits written onto letters count nothing."""
    if start == 0 or text[start] in "$€£¥":
        return False
    before = text[start - 1]
    if before in "-\u2011":
        return start > 1 and text[start - 2].isalpha()
    return before.isalpha()


def _english(item: Item) -> bool:
    return (item.language or "").startswith("en")


def _when(text: str, start: int, end: int) -> str | None:
    """What a number in ``text[start:end]`` is if it says when: ``""`` for a year or a time
    of day (no fact), ``"17/10"`` for a day next to a month name (a date fact), else None."""
    raw = text[start:end]
    if raw.isdigit() and len(raw) == 4 and 1900 <= int(raw) <= 2100:
        return ""
    if (end < len(text) and text[end] == ":") or (start > 0 and text[start - 1] == ":"):
        return ""
    if _clock(text, start, end):
        return ""
    if raw.isdigit() and 1 <= int(raw) <= 31:
        before = [w.strip(".,").lower() for w in text[max(0, start - 12) : start].split()[-1:]]
        after = [w.strip(".,").lower() for w in text[end : end + 14].split()[:2]]
        for w in after + before:
            month = _MONTH_NUMBER.get(w)
            if month is not None:
                return f"{int(raw)}/{month}"
    return None


# A time of day written without a colon: with a point as Spanish and Russian write it ("a
# las 16.00 hora local", "в 18.00 мск"), as a wire's "1400 GMT", or "4 p.m.": said by the
# article of hours before it, or the hour word, zone or half of the day after it.
_CLOCK = re.compile(r"(?:[01]?\d|2[0-3])\.?[0-5]\d")
_CLOCK_AFTER = re.compile(r"\s?(?:h|hrs?|horas?|hours|gmt|utc|мск|ч)(?!\w)", re.IGNORECASE)
_HALF_DAY = re.compile(r"\s?[ap]\.?m\.?(?!\w)", re.IGNORECASE)


def _clock(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a time of day written without a colon ("las 18.00",
    "1400 GMT", "6 p.m.")."""
    raw = text[start:end]
    if raw.isdigit() and len(raw) <= 2:
        return 1 <= int(raw) <= 12 and _HALF_DAY.match(text, end) is not None
    if _CLOCK.fullmatch(raw) is None or (raw.isdigit() and len(raw) != 4):
        return False
    return text[max(0, start - 4) : start].lower().endswith(("las ", "la ")) or bool(
        _CLOCK_AFTER.match(text, end)
    )


def date_fact(fact: str) -> tuple[int, int] | None:
    """``(day, month)`` of a date fact ("17/10"), else None."""
    day, sep, month = fact.partition("/")
    return (int(day), int(month)) if sep and day.isdigit() and month.isdigit() else None


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
    numbers, dates = _scan(text, _english(item))
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
            ok = not sentence_start or (i < last and bool(caps[i + 1]))
        if ok:
            # A run is broken by a gap or by punctuation: "Maracaibo, Valencia" are two names.
            if run and (i != prev + 1 or tokens[prev][-1] in _RUN_BREAK):
                _add_name(found, run)
                run = []
            run.append(core)
            prev = i
    if run:
        _add_name(found, run)
    return found


_PARTICLE = re.compile(r"(?:al|el|ad|as|ash|at|an|ar|az|bin|ibn|abu|d|l)[-‑'’]")


@functools.lru_cache(maxsize=131072)
def _capitalised_core(token: str) -> str:
    """The token without the punctuation around it ("Fed's" names the Fed: the possessive
    is no part of the name) if that is capitalised and may be (part of) a name, not a stop
    word, weekday or month; else ``""``."""
    core = token.strip(_STRIP).removesuffix("'s").removesuffix("’s")
    if core and not core[0].isupper():
        # "al-Burhan", "el-Sisi", "d'Ivoire": the name after its lower-case particle
        particle = _PARTICLE.match(core)
        core = core[particle.end() :] if particle is not None else ""
    if not core or not core[0].isupper():
        return ""
    folded = fold(core)
    return core if folded not in STOP_WORDS and folded not in _NOT_NAMES else ""


def _add_name(facts: set[str], run: list[str]) -> None:
    words = [w for core in run for w in _core_words(core)]
    facts.update(words)
    if len(words) > 1:
        facts.add(" ".join(words))


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
                found = _scan(text, _english(item))[0]
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
                if 0 <= j < len(tokens) and _MONTH_NUMBER.get(tokens[j].lower().strip(".,")) == int(month):
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
