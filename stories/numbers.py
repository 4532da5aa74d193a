"""Numbers and dates an item states, read the same however a language writes them.

Digits are normalised across conventions (``1,200`` / ``1.200`` / ``1 200`` are ``1200``;
``51,2 %`` and ``51.2%`` are ``51.2%``; a currency sign stays in front), a scale word
multiplies its number ("21 тысячу" = "21 mil" = ``21000``), small numbers written as words
count ("five", "treinta y nueve", "пять"), and a day next to a month name is a date
(``17/10``). Years, times of day and digits written onto letters ("G7") are none of these.
:mod:`stories.facts` reads names and keeps these as facts beside them.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["MONTHS", "MONTH_NUMBER", "date_fact", "number_key", "scan"]

# Digits with thousands spaces ("1 200"), or digits with separators ("1,200", "51,2"),
# then an optional percent sign.
# The look-ahead says what a number starts with, so the search skips other characters
# at once (2.6 times as fast as trying the pattern at every position; the same matches).
_NUMBER = re.compile(
    r"(?=[$€£¥\d])[$€£¥]?(?:\d{1,3}(?:[\u00a0\u202f ]\d{3})+(?!\d)|\d+(?:[.,]\d+)*)(?:\s?%)?"
)
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
_NUMBER_WORD_FIRST = "".join(sorted({word[0] for word in _NUMBER_WORDS}))
_NUMBER_WORD = re.compile(
    r"(?<!\w)(?=[" + _NUMBER_WORD_FIRST + r"])(?:" + _NUMBER_WORD_ALTERNATIVES + r")(?!\w)"
)
_NUMBER_WORD_ANY_CASE = re.compile(_NUMBER_WORD.pattern, re.IGNORECASE)

# Month names, twelve per line; variants of one month joined by "|".
_MONTH_TEXT = """january february march april may june july august september october november december
    jan feb mar apr may jun jul aug sep|sept oct nov dec
    enero febrero marzo abril mayo junio julio agosto septiembre|setiembre octubre noviembre diciembre
    января февраля марта апреля мая июня июля августа сентября октября ноября декабря
    январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь
    ene feb mar abr may jun jul ago sep|set oct nov dic
    янв фев мар апр мая июн июл авг сен окт ноя дек"""
MONTH_NUMBER = {
    name: month
    for line in _MONTH_TEXT.splitlines()
    for month, names in enumerate(line.split(), start=1)
    for name in names.split("|")
}
MONTHS = frozenset(MONTH_NUMBER)


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


def scan(text: str, english: bool) -> tuple[list[tuple[str, int, int]], list[str]]:
    """The numbers ``text`` states, each as its key and where its written form starts and
    ends (with its scale word, if any), and the dates it states ("17/10"), in one pass.
    Years and times of day are neither (see :func:`_when`); small numbers written as
    words count ("five" is ``5``).

    Before a scale word, English writes a decimal point where Spanish and Russian write
    a thousands point: "86.262 billion" is "86.262 millones" (86,262 million), so in
    ``english`` text (an item in English) a point there is read as a decimal one."""
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
            month = MONTH_NUMBER.get(w)
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
