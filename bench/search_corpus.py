"""Synthetic but realistic news items for the search benchmark.

Deterministic for a seed. Headlines of 8-14 words and summaries of 25-40 words
drawn from a Zipfian vocabulary (real function and news words at the top, then
pronounceable invented words down a long tail), with named entities (some
accented, some Cyrillic) the way wire copy repeats them, and about 5% of items
written in Russian-like Cyrillic. Publication times run over the last year in
arrival order with a few hours of jitter and a small share of back-dated items.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# The head of the distribution: real words as they rank in news copy.
HEAD = [
    "the",
    "of",
    "to",
    "in",
    "and",
    "a",
    "on",
    "for",
    "says",
    "with",
    "at",
    "by",
    "after",
    "from",
    "as",
    "is",
    "over",
    "new",
    "president",
    "government",
    "police",
    "minister",
    "officials",
    "people",
    "city",
    "state",
    "war",
    "military",
    "talks",
    "election",
    "court",
    "report",
    "deal",
    "country",
    "forces",
    "killed",
    "attack",
    "year",
    "first",
    "security",
    "leader",
    "protest",
    "crisis",
    "troops",
    "economy",
    "prices",
    "opposition",
    "border",
    "peace",
    "group",
    "capital",
    "national",
    "health",
    "vote",
    "rebels",
    "army",
    "ceasefire",
    "sanctions",
    "oil",
    "talks",
    "parliament",
    "aid",
    "refugees",
    "strike",
    "region",
    "workers",
    "inflation",
    "trade",
    "energy",
    "drought",
    "flood",
    "market",
    "bank",
    "ministry",
    "charges",
    "investigation",
    "spokesman",
    "agency",
    "week",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "months",
    "officials",
    "warned",
]

FIRST = [
    "Nicolás",
    "Juan",
    "María",
    "José",
    "Jesús",
    "Yevgeny",
    "Dmitri",
    "Sergei",
    "Abdel",
    "Mohamed",
    "Omar",
    "Ali",
    "Fatima",
    "Ana",
    "Luis",
    "Carlos",
    "Elena",
    "Olga",
    "Pierre",
    "Hans",
    "Jürgen",
    "Zoë",
    "Ahmed",
    "Ibrahim",
    "Li",
    "Wei",
    "Amara",
    "Kwame",
    "Chidi",
    "Ngozi",
    "Samuel",
    "David",
    "Sarah",
    "Anna",
    "Igor",
    "Andrés",
    "Inés",
    "Raúl",
    "Sofía",
]
LAST = [
    "Maduro",
    "Guaidó",
    "Machado",
    "González",
    "Prigozhin",
    "Utkin",
    "Shoigu",
    "Gerasimov",
    "Burhan",
    "Dagalo",
    "Hemedti",
    "Bashir",
    "Hamdok",
    "López",
    "Pérez",
    "Rodríguez",
    "Müller",
    "Dubois",
    "Okafor",
    "Mensah",
    "Nkosi",
    "Zhang",
    "Petrov",
    "Ivanova",
    "Kovalenko",
    "Haddad",
    "Mansour",
    "Diallo",
    "Traoré",
    "Núñez",
    "Díaz",
    "Castillo",
    "Fernández",
    "Wagner",
    "Adeyemi",
    "Kariuki",
    "Ortega",
    "Álvarez",
    "Sánchez",
    "Benítez",
]
PLACES = [
    "Caracas",
    "Venezuela",
    "Khartoum",
    "Sudan",
    "Darfur",
    "Omdurman",
    "Moscow",
    "Russia",
    "Kyiv",
    "Ukraine",
    "Bakhmut",
    "Mali",
    "Bamako",
    "Libya",
    "Tripoli",
    "Syria",
    "Damascus",
    "Bogotá",
    "Colombia",
    "Brasília",
    "São_Paulo",
    "Zürich",
    "Geneva",
    "Brussels",
    "Washington",
    "Beijing",
    "Addis_Ababa",
    "Nairobi",
    "Port_Sudan",
    "El_Fasher",
    "Maracaibo",
    "Valencia",
    "Rostov",
    "Belgorod",
    "Niamey",
    "Ouagadougou",
]
ORGS = [
    "United_Nations",
    "European_Union",
    "African_Union",
    "Wagner_Group",
    "Rapid_Support_Forces",
    "Sudanese_Armed_Forces",
    "Red_Cross",
    "World_Bank",
    "OPEC",
    "NATO",
    "Kremlin",
    "Pentagon",
    "National_Assembly",
    "Supreme_Court",
    "Central_Bank",
    "PDVSA",
    "Interpol",
    "UNHCR",
    "WHO",
    "IMF",
]
CYRILLIC_NAMES = [
    "Пригожин",
    "Вагнер",
    "Шойгу",
    "Путин",
    "Мадуро",
    "Гуайдо",
    "Уткин",
    "Герасимов",
    "Москва",
    "Ростов",
]
SYLLABLES = [
    "ka",
    "ri",
    "to",
    "ma",
    "ne",
    "lo",
    "su",
    "vi",
    "da",
    "mo",
    "re",
    "ta",
    "na",
    "pe",
    "li",
    "go",
    "ba",
    "sa",
    "ke",
    "ru",
    "zo",
    "fi",
    "te",
    "no",
    "ha",
    "mi",
]
CYR_SYLLABLES = [
    "ка",
    "ри",
    "то",
    "ма",
    "не",
    "ло",
    "су",
    "ви",
    "да",
    "мо",
    "ре",
    "та",
    "на",
    "пе",
    "ли",
    "го",
    "ба",
    "са",
    "ке",
    "ру",
    "зо",
    "фи",
    "те",
    "но",
    "ё",
    "й",
]
OUTLETS = tuple(
    f"Outlet {name}"
    for name in [
        "Reuters",
        "AP",
        "AFP",
        "BBC",
        "DW",
        "France24",
        "AlJazeera",
        "Guardian",
        "ElPais",
        "ElNacional",
        "Efecto",
        "Meduza",
        "Novaya",
        "Interfax",
        "TASS",
        "SudanTribune",
        "RadioDabanga",
        "Nation",
        "Standard",
        "Premium",
        "Punch",
        "Vanguard",
        "Clarin",
        "Folha",
        "Tiempo",
        "Semana",
        "Universal",
        "Prensa",
        "Mundo",
        "Observador",
    ]
)


def _zipf_cum_weights(size: int, exponent: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in range(size)))


def _invented(rng: random.Random, syllables: list[str], count: int, seen: set[str]) -> list[str]:
    words: list[str] = []
    while len(words) < count:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


@dataclass(frozen=True, slots=True)
class SyntheticItem:
    """One generated item: what the benchmark stores."""

    title: str
    summary: str
    outlet: str
    published: datetime
    first_seen: datetime
    feed: int
    stories: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The generator's vocabulary, exposed so the benchmark can pick query words by rank."""

    words: list[str]
    cyrillic: list[str]
    entities: list[str]


class Corpus:
    """Deterministic item generator (see the module docstring)."""

    def __init__(self, seed: int = 20261126, vocabulary_size: int = 40_000) -> None:
        rng = random.Random(seed)
        seen = set(HEAD)
        self.rng = rng
        self.words = list(HEAD) + _invented(rng, SYLLABLES, vocabulary_size - len(HEAD), seen)
        self.cyrillic = _invented(rng, CYR_SYLLABLES, 8_000, set())
        people = [f"{first} {last}" for first in FIRST for last in LAST]
        rng.shuffle(people)
        entities = [p.replace("_", " ") for p in PLACES + ORGS] + people[:1500]
        rng.shuffle(entities)
        self.entities = entities
        self.word_weights = _zipf_cum_weights(len(self.words), 1.07)
        self.cyr_weights = _zipf_cum_weights(len(self.cyrillic), 1.07)
        self.entity_weights = _zipf_cum_weights(len(self.entities), 1.0)
        self.vocabulary = Vocabulary(self.words, self.cyrillic, self.entities)

    def _text(self, length: int, cyrillic: bool) -> str:
        rng = self.rng
        pool, weights = (self.cyrillic, self.cyr_weights) if cyrillic else (self.words, self.word_weights)
        words = rng.choices(pool, cum_weights=weights, k=length)
        # One or two entities per text, as wire copy names who and where.
        for _ in range(rng.randint(1, 2)):
            if cyrillic:
                entity = rng.choice(CYRILLIC_NAMES)
            else:
                entity = rng.choices(self.entities, cum_weights=self.entity_weights)[0]
            words.insert(rng.randrange(len(words) + 1), entity)
        text = " ".join(words)
        return text[0].upper() + text[1:]

    def items(self, count: int, *, now: datetime, feeds: int = 80) -> Iterator[SyntheticItem]:
        """``count`` items in arrival order, first seen over the year before ``now``."""
        rng = self.rng
        span = timedelta(days=365).total_seconds()
        for index in range(count):
            cyrillic = rng.random() < 0.05
            title = self._text(rng.randint(8, 14) - 1, cyrillic)
            summary = self._text(rng.randint(25, 40) - 2, cyrillic) + "."
            first_seen = now - timedelta(seconds=span * (1 - (index + 1) / count))
            # Feeds publish a little before we see an item; a few back-date it by weeks.
            lag = rng.uniform(0, 3) * 3600
            if rng.random() < 0.01:
                lag += rng.uniform(0, 30) * 86400
            feed = rng.randrange(feeds)
            lowered = f"{title} {summary}".lower()
            stories = tuple(
                story
                for story, marker in enumerate(("venezuela", "wagner", "sudan"), start=1)
                if marker in lowered
            )
            yield SyntheticItem(
                title=title,
                summary=summary,
                outlet=OUTLETS[feed % len(OUTLETS)],
                published=(first_seen - timedelta(seconds=lag)).astimezone(UTC),
                first_seen=first_seen.astimezone(UTC),
                feed=feed,
                stories=stories,
            )
