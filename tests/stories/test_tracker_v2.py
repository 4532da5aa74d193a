"""Tracker v2: syndication signals, cross-language copies, facts, merges and determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

from stories.encoder import UniversalSentenceEncoder, encoder_text, pack, unpack
from stories.facts import date_fact, extract_facts, is_number, new_facts, number_key, stems_of, written
from stories.model import Item
from stories.syndication import declared_commentary, read_signals
from stories.tracker import Tracker

T0 = datetime(2023, 6, 24, 8, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent.parent


def item(title: str, summary: str, outlet: str, minutes: int, url: str, **kw: object) -> Item:
    return Item(url, url, title, summary, T0 + timedelta(minutes=minutes), outlet, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def encoder() -> UniversalSentenceEncoder:
    return UniversalSentenceEncoder()


def decide(
    items: list[Item],
    encoder: UniversalSentenceEncoder | None,
    polls: list[int],
    stories: dict[int, str] | None = None,
) -> dict[int, object]:
    """Decide ``items`` in poll batches (``polls`` gives each item's poll); the last decision wins."""
    vecs = {}
    if encoder is not None:
        vecs = {n: unpack(pack(v)) for n, v in enumerate(encoder.encode([encoder_text(i) for i in items]))}
    tracker = Tracker(stories=stories)
    out: dict[int, object] = {}
    for poll in sorted(set(polls)):
        batch = [(n, it) for n, it in enumerate(items) if polls[n] == poll]
        for d in tracker.observe_many(batch, {n: vecs[n] for n, _ in batch} if vecs else None):
            out[d.key] = d
    return out


ORIGINAL = item(
    "Wagner fighters take control of army headquarters in Rostov",
    "ROSTOV-ON-DON (Reuters) - Fighters of the Wagner group took over the southern military district "
    "headquarters in Rostov-on-Don on Saturday, Yevgeny Prigozhin said in a video.",
    "WireWatch",
    0,
    "https://wirewatch.example/1",
)


# A report of ORIGINAL's event that adds a figure and a name.
UPDATE = item(
    "Wagner fighters in Rostov number 5,000, Prigozhin says, as Surovikin urges them to stop",
    "Yevgeny Prigozhin said 5,000 of his fighters were inside the Rostov-on-Don military headquarters "
    "compound, while General Sergei Surovikin appealed to them to halt.",
    "Liberty Desk",
    90,
    "https://liberty.example/11",
)


def test_a_reprint_with_a_notice_folds_into_the_original_even_when_it_arrives_first() -> None:
    reprint = item(
        ORIGINAL.title,
        ORIGINAL.summary
        + " This article was originally published by WireWatch and is reprinted with permission.",
        "Frontline Post",
        -30,
        "https://frontline.example/2",
    )
    decisions = decide([ORIGINAL, reprint], None, polls=[1, 0])
    assert decisions[1].kind == "rereport" and decisions[1].duplicate_of == 0  # type: ignore[attr-defined]
    assert decisions[0].kind == "new"  # type: ignore[attr-defined]
    assert decisions[0].development_id == decisions[1].development_id  # type: ignore[attr-defined]


def test_a_canonical_link_names_the_original() -> None:
    copy = item(
        "Rostov HQ seized", "Short rewrite.", "Other", 10, "https://other.example/3", source_url=ORIGINAL.url
    )
    decisions = decide([ORIGINAL, copy], None, polls=[0, 1])
    assert decisions[1].kind == "rereport" and decisions[1].duplicate_of == 0  # type: ignore[attr-defined]


def test_a_translation_is_folded_and_a_new_event_is_not(encoder: UniversalSentenceEncoder) -> None:
    spanish = item(
        "Combatientes de Wagner toman el cuartel del ejército en Rostov",
        "Los combatientes del grupo Wagner tomaron el sábado el cuartel general del distrito militar sur en "
        "Rostov del Don, dijo Yevgueni Prigozhin en un video. (Reuters)",
        "Noticias del Sur",
        40,
        "https://noticias.example/4",
        language="es",
    )
    russian = item(
        "Бойцы «Вагнера» заняли штаб Южного военного округа в Ростове",
        "Бойцы группы Вагнера в субботу заняли штаб Южного военного округа в Ростове-на-Дону, заявил "
        "Евгений Пригожин в видеообращении, сообщает Reuters.",
        "Лента дня",
        50,
        "https://lenta.example/5",
        language="ru",
    )
    other = item(
        "Lukashenko says he brokered a deal to halt the Wagner march on Moscow",
        "Belarus's leader Alexander Lukashenko said Prigozhin agreed to stop his column 200 km from Moscow "
        "in exchange for security guarantees.",
        "The Global Ledger",
        600,
        "https://ledger.example/6",
    )
    decisions = decide([ORIGINAL, spanish, russian, other], encoder, polls=[0, 1, 1, 2])
    dev = decisions[0].development_id  # type: ignore[attr-defined]
    assert decisions[1].development_id == dev and decisions[1].kind == "rereport"  # type: ignore[attr-defined]
    assert decisions[2].development_id == dev and decisions[2].kind == "rereport"  # type: ignore[attr-defined]
    assert decisions[3].development_id != dev and decisions[3].kind == "new"  # type: ignore[attr-defined]


def test_facts_compare_across_languages() -> None:
    en = item(
        "Peskov says case against Prigozhin will be dropped",
        "Kremlin spokesman Dmitry Peskov said 1,200 fighters would return to base.",
        "A",
        0,
        "u1",
    )
    ru = item(
        "Песков: дело против Пригожина прекратят",
        "Пресс-секретарь Кремля Дмитрий Песков заявил, что 1 200 бойцов вернутся на базы.",
        "B",
        5,
        "u2",
    )
    known = extract_facts(en)
    assert new_facts(extract_facts(ru), set(known), stems_of(known), ru.published) == []
    update = item(
        "Песков: Пригожин уедет в Белоруссию",
        "Пригожин уедет в Белоруссию, а 400 бойцов подпишут контракты, заявил Песков.",
        "B",
        9,
        "u3",
    )
    assert "400" in new_facts(extract_facts(update), set(known), stems_of(known), update.published)


@given(st.integers(min_value=1000, max_value=99_999_999))
def test_a_number_is_one_fact_however_it_is_written(n: int) -> None:
    en, es, ru = f"{n:,}", f"{n:,}".replace(",", "."), f"{n:,}".replace(",", " ")
    assert number_key(en) == number_key(es) == number_key(ru) == str(n)


def facts_of(text: str) -> frozenset[str]:
    return extract_facts(item(text, "", "", 0, "u"))


@given(
    st.integers(min_value=1, max_value=999),
    st.sampled_from(
        [
            (3, ["thousand", "mil", "тысяч", "тысячи", "тысячу", "тыс."]),
            (6, ["million", "mln", "millones", "millón", "миллионов", "млн"]),
            (9, ["billion", "bn", "mil millones", "миллиарда", "млрд"]),
        ]
    ),
)
def test_a_scale_word_multiplies_its_number_in_every_language(n: int, scale: tuple[int, list[str]]) -> None:
    power, words = scale
    digits = str(n * 10**power)
    for word in words:
        assert facts_of(f"Toll passes {n} {word} people") == {digits}, word
    assert facts_of(f"Toll passes {n * 10**power:,} people") == {digits}


def test_numbers_in_words_and_with_scales_are_the_facts_digits_state() -> None:
    assert facts_of("Quake toll passes 21,000") == facts_of("Число погибших превысило 21 тысячу") == {"21000"}
    assert facts_of("1,3 млн пострадавших") == facts_of("1.3 million affected") == {"1300000"}
    assert facts_of("Cinco días de luto") == facts_of("пять дней траура") == facts_of("5 days") == {"5"}
    assert facts_of("Fund of €2bn") == {"€2000000000"}
    assert facts_of("Turnout 51,2 % million") == {"51.2%"}  # a share is not scaled
    # What is not a scale stays a plain number: metres, kilometres, miles.
    assert facts_of("Epicentre 10 m deep, 18km away, 30 millas") == {"10", "18", "30"}
    shown = item("Число погибших превысило 21 тысячу", "", "", 0, "u")
    assert written(["21000"], shown) == {"21000": "21 тысячу"}
    assert written(["5"], item("Five days of mourning", "", "", 0, "u")) == {"5": "Five days"}


@given(
    st.sampled_from(["five", "cinco", "пять", "twenty", "двух"]),
    st.lists(st.booleans(), min_size=6, max_size=6),
    st.sampled_from(["", "İstanbul: ", "ß "]),
)
def test_a_number_word_is_read_in_any_case_and_shown_as_written(
    word: str, upper: list[bool], before: str
) -> None:
    cased = "".join(c.upper() if up else c for c, up in zip(word, upper, strict=False)) + word[6:]
    report = item(f"{before}{cased} days of talks", "", "", 0, "u")
    key = {"five": "5", "cinco": "5", "пять": "5", "twenty": "20", "двух": "2"}[word]
    assert key in extract_facts(report)
    assert written([key], report)[key] == f"{cased} days"  # its place found in the text itself


_NUMBERISH = st.lists(
    st.one_of(
        st.integers(0, 10**7).map(str),
        st.sampled_from(["1,3", "86.262", "2.500", "$1.5", "€2", "51,2 %", "1 200", "0.750", "17"]),
        st.sampled_from(["thousand", "mil", "тысяч", "млн", "bn", "mil millones", "million", "m", "km"]),
        st.sampled_from(
            ["five", "Cinco", "ПЯТЬ", "двух", "one", "octubre", "March", "İ", "ß", ",", ".", ":"]
        ),
        st.text(min_size=1, max_size=8),
    ),
    max_size=12,
).map(" ".join)


@given(_NUMBERISH, st.sampled_from(["en", "es", "ru", None]))
def test_every_number_read_is_a_number_and_is_shown_as_the_text_wrote_it(
    text: str, language: str | None
) -> None:
    report = item(text, "", "", 0, "u", language=language)
    numbers = [f for f in extract_facts(report) if is_number(f) and date_fact(f) is None]
    shown = written(numbers, report)
    for key in numbers:
        value = key.lstrip("$€£¥").rstrip("%")
        assert Decimal(value) >= 0 and "E" not in value, key  # a plain decimal numeral
        assert shown[key] in text, (key, shown[key])  # found where the text wrote it


def test_english_reads_a_point_before_a_scale_word_as_a_decimal_point() -> None:
    english = item("Putin says Wagner was paid 86.262 billion roubles", "", "", 0, "u", language="en")
    spanish = item("Putin dice que Wagner cobró 86.262 millones de rublos", "", "", 0, "u", language="es")
    numbers = {f for f in extract_facts(english) if is_number(f)}
    assert numbers == {f for f in extract_facts(spanish) if is_number(f)} == {"86262000000"}
    assert facts_of("1.200 muertos") == {"1200"}  # no scale word: a thousands point


def test_a_comma_ends_a_name() -> None:
    facts = extract_facts(
        item("Rallies", "Crowds marched in Caracas, Maracaibo, Valencia and Madrid.", "", 0, "u")
    )
    assert {"caracas", "maracaibo", "valencia", "madrid"} <= facts
    assert not any(" " in f for f in facts)  # four places, no "maracaibo valencia"
    assert "charles plosser" in extract_facts(item("Fed", "Then Charles Plosser spoke.", "", 0, "u"))


def test_a_name_after_a_lower_case_particle_is_a_name() -> None:
    facts = extract_facts(
        item("Talks", "Army chief Abdel Fattah al-Burhan met el-Sisi in Abidjan.", "", 0, "u")
    )
    assert {"burhan", "sisi", "abdel fattah burhan"} <= facts and "al" not in facts
    assert "burhan" in extract_facts(item("Talks", "Then al-Burhan spoke.", "", 0, "u"))


def test_the_outlet_a_reprint_credits_is_no_fact() -> None:
    reprint = item(
        "Sudan's army denies RSF took the palace",
        "Army spokesman Nabil Abdallah denied it. This article was originally published by "
        "Liberty Desk and is reprinted with permission.",
        "Horn Monitor",
        0,
        "u",
    )
    credited = read_signals(reprint).credited
    assert credited == "liberty desk"
    facts = extract_facts(reprint, credited)
    assert "nabil abdallah" in facts and not {"liberty", "desk", "liberty desk"} & facts
    assert "liberty desk" in extract_facts(reprint)  # without the signal it reads as a name


def test_wire_credits_and_notices_are_read() -> None:
    assert read_signals(ORIGINAL).wire == "reuters"
    assert read_signals(item("t", "Бойцы заняли штаб. — ТАСС", "x", 0, "u")).wire == "tass"
    notice = read_signals(item("t", "Texto. Publicado originalmente en Diario del Caribe.", "x", 0, "u"))
    assert notice.notice and notice.credited == "diario del caribe"


def test_state_round_trips_and_decides_on_identically(encoder: UniversalSentenceEncoder) -> None:
    items = [ORIGINAL] + [
        item(
            f"Report {n} on the Rostov events",
            f"Prigozhin said {n} things in Rostov.",
            f"O{n}",
            10 * n,
            f"https://x.example/{n}",
        )
        for n in range(1, 8)
    ]
    vecs = {n: unpack(pack(v)) for n, v in enumerate(encoder.encode([encoder_text(i) for i in items]))}
    whole = Tracker()
    expected = whole.observe_many(list(enumerate(items)), vecs)
    first = Tracker()
    head = first.observe_many(list(enumerate(items[:4])), {n: vecs[n] for n in range(4)})
    restored = Tracker.loads(first.dumps())
    tail = restored.observe_many([(n, items[n]) for n in range(4, 8)], {n: vecs[n] for n in range(4, 8)})
    latest = {d.key: d for d in head + tail}
    assert latest == {d.key: d for d in expected}


_DETERMINISM = """
import json, sys
sys.path.insert(0, {root!r})
from stories.devcorpus import load_corpus, simulate_items
from stories.encoder import unpack
from stories.tracker import Tracker
import numpy as np
corpus = load_corpus(__import__("pathlib").Path({corpus!r}), stories=["sudan"])
vectors = np.load({vectors!r})
tracker = Tracker()
out = {{}}
for batch in simulate_items(corpus):
    for d in tracker.observe_many(batch, {{k: vectors[k] for k, _ in batch}}):
        out[d.key] = [d.kind, tracker.resolve(d.development_id), d.duplicate_of]
print(json.dumps(out, sort_keys=True))
"""


def test_decisions_do_not_depend_on_the_process(tmp_path: Path, encoder: UniversalSentenceEncoder) -> None:
    from stories.devcorpus import load_corpus, report_items

    corpus_dir = ROOT / "tests" / "data" / "developments"
    items = report_items(load_corpus(corpus_dir, stories=["sudan"]))
    vectors = encoder.encode([encoder_text(items[n]) for n in range(len(items))])
    path = tmp_path / "vectors.npy"
    np.save(path, np.stack([unpack(pack(v)) for v in vectors]))
    script = _DETERMINISM.format(root=str(ROOT), corpus=str(corpus_dir), vectors=str(path))
    runs = []
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        runs.append(json.loads(done.stdout))
    assert runs[0] == runs[1]
    assert len(runs[0]) == len(items)


def test_replaying_item_by_item_decides_as_the_poll_batches_did(encoder: UniversalSentenceEncoder) -> None:
    """A restart replays stored items one by one, in decision order: it must land where the
    original poll batches did (merges included)."""
    from stories.devcorpus import load_corpus, report_items, simulate_items

    corpus = load_corpus(ROOT / "tests" / "data" / "developments", stories=["venezuela"])
    items = report_items(corpus)
    encoded = encoder.encode([encoder_text(items[n]) for n in range(len(items))])
    vectors = {n: unpack(pack(v)) for n, v in enumerate(encoded)}
    batched = Tracker()
    first: dict[int, object] = {}
    order: list[int] = []
    for batch in simulate_items(corpus):
        made = batched.observe_many(batch, {k: vectors[k] for k, _ in batch})
        order += [d.key for d in made[: len(batch)]]
        for d in made:
            first[d.key] = d
    replayed = Tracker()
    again = {d.key: d for d in replayed.replay([(k, items[k]) for k in order], vectors)}
    assert again == first


def test_a_report_published_first_but_seen_later_becomes_the_lead(encoder: UniversalSentenceEncoder) -> None:
    # A Spanish translation (no notice, no link) reaches us one poll before the English
    # report it translates, which a slow feed publishes late: the English report, though
    # seen second, is the original and leads; the translation is its copy.
    translation = item(
        "Combatientes de Wagner toman el cuartel del ejército en Rostov",
        "Los combatientes del grupo Wagner tomaron el sábado el cuartel general del distrito militar sur en "
        "Rostov del Don, dijo Yevgueni Prigozhin en un video.",
        "Noticias del Sur",
        40,
        "https://noticias.example/6",
        language="es",
    )
    original = item(
        ORIGINAL.title, ORIGINAL.summary, "Liberty Desk", 0, "https://liberty.example/7", language="en"
    )
    decisions = decide([translation, original], encoder, polls=[0, 1])
    assert decisions[1].kind == "new"  # type: ignore[attr-defined]
    assert decisions[0].kind == "rereport" and decisions[0].duplicate_of == 1  # type: ignore[attr-defined]
    assert decisions[0].development_id == decisions[1].development_id  # type: ignore[attr-defined]


def test_crediting_a_wire_names_no_outlet_to_copy() -> None:
    # "<source>Reuters</source>" says the item is a Reuters story, not that it copies
    # another outlet's Reuters report on the same story.
    signals = read_signals(
        item(
            "Peru recognizes González",
            "Lima said.",
            "WireWatch",
            0,
            "https://w.example/8",
            source_name="Reuters",
        )
    )
    assert signals.credited is None and signals.wire == "reuters"
    signals = read_signals(
        item(
            "Rostov HQ seized",
            "Text.",
            "Frontline Post",
            0,
            "https://f.example/9",
            source_name="Liberty Desk",
        )
    )
    assert signals.credited == "liberty desk"


@pytest.mark.parametrize(
    ("title", "commentary"),
    [
        ("Explainer: Who are Sudan's Rapid Support Forces?", True),
        ("Análisis: por qué las treguas no se sostienen en Sudán", True),
        ("Перемирие на сутки: что известно о попытке остановить войну", True),
        ("Why Lukashenko ended up brokering the deal", True),
        ("Sudan army launches air strikes on paramilitary bases", False),
        ("Победа Мадуро подтверждена ЦИК", False),
    ],
)
def test_explainers_and_analysis_pieces_are_marked(title: str, commentary: bool) -> None:
    assert read_signals(item(title, "Text.", "Outlet", 0, "https://o.example/10")).commentary is commentary


def test_an_update_states_what_it_adds_and_a_copy_in_other_words_adds_nothing(
    encoder: UniversalSentenceEncoder,
) -> None:
    rewrite = item(
        "Wagner takes over Rostov military headquarters, Prigozhin says",
        "Wagner group fighters seized the headquarters of Russia's southern military district in "
        "Rostov-on-Don on Saturday, Yevgeny Prigozhin said in a video.",
        "Nile Observer",
        120,
        "https://nile.example/12",
    )
    decisions = decide([ORIGINAL, UPDATE, rewrite], encoder, polls=[0, 1, 2])
    dev = decisions[0].development_id  # type: ignore[attr-defined]
    assert decisions[1].development_id == dev and decisions[1].kind == "update"  # type: ignore[attr-defined]
    assert "5,000" in decisions[1].new_facts  # type: ignore[attr-defined]
    assert decisions[2].development_id == dev and decisions[2].kind == "rereport"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("title", "declared"),
    [
        ("Explainer: Who are Sudan's Rapid Support Forces?", True),
        ("Análisis: por qué las treguas no se sostienen en Sudán", True),
        ("Перемирие на сутки: что известно о попытке остановить войну", True),
        ("The Belarus bargain: what we know about the deal", True),
        # A bare "why" is news wording too: commentary for the link model, no label.
        ("Why Lukashenko ended up brokering the deal", False),
        ("Песков объяснил, почему Путин не выступил", False),
    ],
)
def test_commentary_is_declared_only_by_a_label(title: str, declared: bool) -> None:
    assert declared_commentary(title) is declared


def test_a_piece_labelled_an_explainer_is_never_an_update(encoder: UniversalSentenceEncoder) -> None:
    explainer = replace(UPDATE, title="Explainer: " + UPDATE.title)
    stories = {1: "Wagner OR Prigozhin"}  # the link and kind models decide a watched story's items
    as_news = decide([ORIGINAL, UPDATE], encoder, polls=[0, 1], stories=stories)
    as_explainer = decide([ORIGINAL, explainer], encoder, polls=[0, 1], stories=stories)
    dev = as_news[0].development_id  # type: ignore[attr-defined]
    assert as_news[1].development_id == dev and as_news[1].kind == "update"  # type: ignore[attr-defined]
    assert as_explainer[1].development_id == as_explainer[0].development_id  # type: ignore[attr-defined]
    assert as_explainer[1].kind == "rereport" and as_explainer[1].new_facts == ()  # type: ignore[attr-defined]


def test_a_state_saved_by_the_previous_release_loads_with_this_releases_models(
    encoder: UniversalSentenceEncoder,
) -> None:
    items = [ORIGINAL] + [
        item(
            f"Report {n} on Rostov", f"Prigozhin said {n} things.", f"O{n}", 10 * n, f"https://y.example/{n}"
        )
        for n in range(1, 5)
    ]
    vecs = {n: unpack(pack(v)) for n, v in enumerate(encoder.encode([encoder_text(i) for i in items]))}
    first = Tracker()
    first.observe_many(list(enumerate(items[:3])), {n: vecs[n] for n in range(3)})
    old = first.to_dict()
    # What the previous release wrote: an 8-feature link model, no story means, no lead
    # times, remembered items without their story.
    old["recall_config"]["link_weights"] = [8.0, 6.7, 1.5, -0.8, -0.4, -4.0, -1.4, 0.0]
    old["recall_config"]["lexical_fallback"] = 1.0
    old["recall_config"]["credit_similarity"] = 0.45
    del old["centres"], old["lead_when"]
    old["recall"]["meta"] = [row[:7] for row in old["recall"]["meta"]]
    restored = Tracker.from_dict(json.loads(json.dumps(old)))
    assert restored.config.recall == Tracker().config.recall
    decisions = restored.observe_many([(n, items[n]) for n in (3, 4)], {n: vecs[n] for n in (3, 4)})
    assert {d.key for d in decisions} >= {3, 4}


def test_a_dateline_place_is_shown_as_a_name_and_an_acronym_as_written() -> None:
    from stories.facts import surface

    report = item(
        "Protestas en Venezuela",
        "CARACAS, 30 jul (EFE).- La OTAN y la ONU pidieron calma tras las protestas.",
        "Diario del Caribe",
        0,
        "https://d.example/13",
        language="es",
    )
    shown = surface(["caracas", "otan"], report)
    assert "Caracas" in shown and "OTAN" in shown


def test_an_update_shows_numbers_in_digits_first_and_numbers_in_words_last() -> None:
    from stories.facts import surface

    report = item(
        "Sudan death toll climbs to 330 as two more hospitals close",
        "WHO spokesperson Margaret Harris said nearly 3,200 people were injured.",
        "The Global Ledger",
        0,
        "https://g.example/1",
    )
    assert surface(extract_facts(report), report) == ("3,200 people", "330", "Margaret Harris", "two")
    assert surface(extract_facts(report), report, limit=2) == ("3,200 people", "330")


def test_an_outlets_second_report_leans_to_a_new_development(encoder: UniversalSentenceEncoder) -> None:
    """An outlet does not re-report its own report: the same follow-up text joins the
    development from another outlet, and starts the next one from the outlet that wrote
    the development's first report (the link model's ``same_outlet`` feature)."""
    title = "Wagner column reaches Voronezh region on its way north"
    summary = (
        "A convoy of Wagner armoured vehicles entered the Voronezh region on Saturday heading "
        "towards Moscow, the regional governor said."
    )
    joined = {}
    for outlet in ("WireWatch", "Global Ledger"):
        follow = item(title, summary, outlet, 45, "https://follow.example/9")
        decisions = decide([ORIGINAL, follow], encoder, polls=[0, 1], stories={1: "Wagner"})
        joined[outlet] = decisions[0].development_id == decisions[1].development_id  # type: ignore[attr-defined]
        if not joined[outlet]:
            assert decisions[1].kind == "new"  # type: ignore[attr-defined]
    assert joined == {"WireWatch": False, "Global Ledger": True}
    # Bare text with no outlet at all (a labelled corpus) says nothing about outlets.
    bare = [replace(ORIGINAL, outlet=""), item(title, summary, "", 45, "https://follow.example/9")]
    decisions = decide(bare, encoder, polls=[0, 1], stories={1: "Wagner"})
    assert decisions[0].development_id == decisions[1].development_id  # type: ignore[attr-defined]


@pytest.mark.parametrize("with_vectors", [False, True])
def test_a_verbatim_reprint_without_a_notice_seen_first_gives_way_to_its_original(
    with_vectors: bool, encoder: UniversalSentenceEncoder
) -> None:
    """Same title, no notice, published after the original but polled before it: once
    the original arrives it is the lead and the reprint its copy (not the reverse)."""
    reprint = item(ORIGINAL.title, ORIGINAL.summary, "Frontline Post", 20, "https://frontline.example/7")
    decisions = decide([ORIGINAL, reprint], encoder if with_vectors else None, polls=[1, 0])
    assert decisions[0].kind == "new"  # type: ignore[attr-defined]
    assert decisions[1].kind == "rereport" and decisions[1].duplicate_of == 0  # type: ignore[attr-defined]
    assert decisions[0].development_id == decisions[1].development_id  # type: ignore[attr-defined]


def test_an_item_of_no_watched_story_is_grouped_by_words_and_vector_votes(
    encoder: UniversalSentenceEncoder,
) -> None:
    """Outside the watchlist the link model (fitted on one story's developments) is not
    used: the lexical clustering decides, and the vectors' votes let a rewording that
    shares hardly a word join; an unrelated report does not."""
    rewording = item(
        "Armed group occupies military HQ in southern Russian city",
        "A private army took over the command centre of the southern district, its chief said in a "
        "recorded message.",
        "Global Ledger",
        30,
        "https://ledger.example/4",
    )
    unrelated = item(
        "Central bank raises interest rates to curb inflation",
        "The central bank raised its key rate by half a point on Saturday.",
        "Global Ledger",
        40,
        "https://ledger.example/5",
    )
    for vectors, joins in ((encoder, True), (None, False)):
        decisions = decide([ORIGINAL, rewording, unrelated], vectors, polls=[0, 1, 1])
        dev = decisions[0].development_id  # type: ignore[attr-defined]
        assert (decisions[1].development_id == dev) is joins  # type: ignore[attr-defined]
        assert decisions[2].development_id != dev  # type: ignore[attr-defined]


def _story_partition(config: object, unrelated: int, encoder: UniversalSentenceEncoder) -> object:
    """The Sudan story's decisions after ``unrelated`` items of no watched story: each
    report's kind and copy, and which reports share a development (ids aside)."""
    from stories.devcorpus import load_corpus, report_items, simulate_items
    from stories.tracker import TrackerConfig

    corpus = load_corpus(ROOT / "tests" / "data" / "developments", stories=["sudan"])
    items = report_items(corpus)
    first = min(it.published for it in items.values())
    before = [
        Item(
            guid=f"other-{n}",
            url=f"https://bakery.example/{n}",
            title=f"Village bakery number {n} wins a regional bread award",
            summary="The judges praised the sourdough and the rye loaves.",
            published=first - timedelta(hours=200 - n),
            outlet="Bakery Weekly",
        )
        for n in range(unrelated)
    ]
    texts = [encoder_text(it) for it in [*before, *(items[n] for n in range(len(items)))]]
    vectors = [unpack(pack(v)) for v in encoder.encode(texts)]
    assert isinstance(config, TrackerConfig)
    tracker = Tracker(config, {0: corpus.stories["sudan"].query})
    base = 1_000_000  # the unrelated items' keys, apart from the reports'
    if before:
        tracker.observe_many(
            [(base + n, it) for n, it in enumerate(before)], {base + n: vectors[n] for n in range(unrelated)}
        )
    decided = {}
    for batch in simulate_items(corpus):
        for d in tracker.observe_many(batch, {k: vectors[unrelated + k] for k, _ in batch}):
            decided[d.key] = d
    groups: dict[int, set[int]] = {}
    for k, d in decided.items():
        groups.setdefault(tracker.resolve(d.development_id), set()).add(k)
    return (
        {k: (d.kind, d.duplicate_of) for k, d in decided.items()},
        sorted(sorted(g) for g in groups.values()),
    )


def test_a_story_is_decided_alike_whatever_came_before_it(encoder: UniversalSentenceEncoder) -> None:
    """Items of no watched story before a story (another feed, another topic) do not move
    its merges: they are checked by the items' own time, not every 32 items counted over
    everything (which shifted where a story's checks fell, and its figures)."""
    from stories.recall import RecallConfig
    from stories.tracker import TrackerConfig

    timed = TrackerConfig()
    assert timed.recall.merge_story_hours > 0
    alone = _story_partition(timed, 0, encoder)
    assert _story_partition(timed, 7, encoder) == alone
    assert _story_partition(timed, 13, encoder) == alone
    # Counted, as before: the same story decides differently after 13 unrelated items.
    counted = TrackerConfig(recall=RecallConfig(merge_story_hours=0.0))
    assert _story_partition(counted, 13, encoder) != _story_partition(counted, 0, encoder)


def _venezuela_decisions(stories: list[str] | None, encoder: UniversalSentenceEncoder) -> object:
    from stories.devcorpus import load_corpus, report_items, simulate_items

    corpus = load_corpus(ROOT / "tests" / "data" / "developments", stories=stories)
    items = report_items(corpus)
    ids = list(corpus.reports)
    vectors = [unpack(pack(v)) for v in encoder.encode([encoder_text(items[n]) for n in range(len(items))])]
    names = dict(enumerate(sorted(corpus.stories)))
    tracker = Tracker(stories={i: corpus.stories[s].query for i, s in names.items()})
    decided = {}
    for batch in simulate_items(corpus):
        for d in tracker.observe_many(batch, {k: vectors[k] for k, _ in batch}):
            decided[d.key] = d
    mine = {k: d for k, d in decided.items() if ids[k].startswith("ve-")}
    groups: dict[int, set[str]] = {}
    for k, d in mine.items():
        groups.setdefault(tracker.resolve(d.development_id), set()).add(ids[k])
    return (
        {
            ids[k]: (d.kind, ids[d.duplicate_of] if d.duplicate_of is not None else None)
            for k, d in mine.items()
        },
        sorted(sorted(g) for g in groups.values()),
    )


def test_a_story_is_decided_alike_alone_or_beside_the_others(encoder: UniversalSentenceEncoder) -> None:
    """The Wagner file's report of Venezuela backing Putin matches both stories' queries:
    it is centred by the story whose mean it is most like (Wagner's), so it no longer feeds
    Venezuela's means, and Venezuela polled alone decides as it does in the whole corpus."""
    alone = _venezuela_decisions(["venezuela"], encoder)
    assert _venezuela_decisions(None, encoder) == alone
