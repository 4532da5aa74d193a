"""Facts read from item text: numbers, dates and names in English, Spanish and Russian."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stories.facts import extract_facts, fact_is_known, is_number, stems_of, written
from stories.model import Item

T0 = datetime(2023, 4, 20, 8, 0, tzinfo=UTC)


def facts_of(summary: str, title: str = "Report", language: str | None = None) -> frozenset[str]:
    return extract_facts(Item("u", "u", title, summary, T0, "", language=language))


@pytest.mark.parametrize(
    "text",
    [
        "Thirty-nine of the 59 hospitals are shut",
        "Treinta y nueve de los 59 hospitales están cerrados",
        "Тридцать девять из 59 больниц закрыты",
        "Закрыты тридцать девять из 59 больниц",
    ],
)
def test_a_tens_word_and_its_unit_are_one_number(text: str) -> None:
    assert facts_of(text) == {"39", "59"}


def test_compound_number_words_in_every_language() -> None:
    assert facts_of("twenty-one people") == facts_of("veintiún muertos") == {"21"}
    assert facts_of("двадцать одна жертва") == facts_of("veintiuno") == {"21"}
    assert facts_of("twenty-two thousand") == facts_of("veintidós mil") == {"22000"}
    assert facts_of("twenty, five") == {"20", "5"}  # a comma between: two numbers


def test_a_share_written_in_words_is_no_count() -> None:
    for text in ("Two-thirds of hospitals", "Две трети больниц", "Dos tercios de los hospitales"):
        assert facts_of(text) == frozenset(), text
    assert facts_of("three quarters of the city") == frozenset()


def test_digits_written_onto_letters_are_a_name_not_a_count() -> None:
    assert not any(map(is_number, facts_of("Колонна идёт по трассе М-4, сбит Ил-22")))
    assert facts_of("Blinken spoke at the G7 meeting") == {"g7"}
    assert facts_of("F-16 jets, 12 of them") == {"12"}
    assert "$10000000" in facts_of("Aid of US$10 million")  # a currency sign is no letter


def test_a_lower_case_part_of_a_compound_is_no_name() -> None:
    facts = facts_of("They halted the Minsk-brokered march and left Rostov-on-Don.")
    assert {"minsk", "rostov", "don"} <= facts and not {"brokered", "on"} & facts
    assert "na" not in facts_of("Войска ушли из Ростова-на-Дону, сообщили Telegram-каналы.")
    assert "managed" not in facts_of("A WFP-managed aircraft was hit.")


def test_a_sentence_adverb_or_conjunction_before_a_name_is_no_name() -> None:
    assert facts_of("Ранее СБР показали видео.") == {"sbr"}
    assert facts_of("Ni Burhan ni Hemedti controlan a sus tropas.") == {"burhan", "hemedti"}
    assert facts_of("Meanwhile Peskov said nothing.") == {"peskov"}


def known(fact: str, facts: frozenset[str]) -> bool:
    return fact_is_known(fact, set(facts), stems_of(facts))


def test_spellings_of_one_name_across_languages_meet() -> None:
    russian = facts_of("Основатель ЧВК Евгений Пригожин, генерал Сергей Суровикин и Фолькер Пертес.")
    for spelling in ("Yevgeny", "Yevgueni", "Sergei", "Serguéi", "Perthes"):
        (name,) = facts_of(f"Then {spelling} spoke.")
        assert known(name, russian), spelling


def test_a_short_name_declined_in_russian_is_the_same_name() -> None:
    base = facts_of("Удары по Сирии, войска у Киева, помощь Газе.")
    for name in ("Syria", "Siria", "Kiev", "Gaza"):
        (fact,) = facts_of(f"Then {name} spoke.")
        assert known(fact, base), name
    assert known("rossii", facts_of("Ранее Россия заявила."))  # "России" after "Россия"


def test_a_time_of_day_written_without_a_colon_is_no_fact() -> None:
    assert facts_of("Una pausa desde las 16.00 hora local del domingo") == frozenset()
    assert facts_of("Перемирие с 18.00 мск") == frozenset()
    assert facts_of("A truce from 4 p.m. (1400 GMT) on Sunday") == frozenset()
    assert facts_of("Más de 1.300 muertos y 18.50 dólares, 1400 people") == {"1300", "18.5", "1400"}


def test_a_title_before_a_name_is_no_part_of_it() -> None:
    english = facts_of("Then Regional Governor Vasily Golubev urged residents to stay home.")
    assert {"vasily", "golubev"} <= english and not any("governor" in f for f in english)
    russian = facts_of("Губернатор Василий Голубев призвал жителей не выходить из дома.")
    assert russian == {"vasilii", "golubev", "vasilii golubev"}
    assert "command" in facts_of("Fighting near the army's General Command.")


def test_a_roman_numeral_in_capitals_is_no_name() -> None:
    assert facts_of("Какие землетрясения XXI века были смертоноснее") == frozenset()
    assert facts_of("Then Pope John Paul II came.") == {"pope", "john", "paul", "pope john paul"}
    assert "xi" in facts_of("Then Putin met Xi Jinping.")  # a name, not eleven


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["1", "200", "1,200", "3.5", " ", "%", "$", "€", "x", "dos", "две", "Five", "thirty-", "İ", "\n"]
        ),
        max_size=25,
    ).map("".join)
)
def test_the_number_patterns_look_ahead_changes_no_match(text: str) -> None:
    """The first-character look-aheads only skip positions where no number can start."""
    import re

    from stories import numbers

    for pattern, plain, haystack in (
        (numbers._NUMBER, numbers._NUMBER.pattern.replace(r"(?=[$€£¥\d])", "", 1), text),
        (numbers._NUMBER_WORD, r"(?<!\w)(?:" + numbers._NUMBER_WORD_ALTERNATIVES + r")(?!\w)", text.lower()),
    ):
        assert pattern.pattern != plain
        found = [m.span() for m in pattern.finditer(haystack)]
        assert found == [m.span() for m in re.finditer(plain, haystack)]


def test_a_name_keeps_its_lower_case_particles() -> None:
    """ "Ursula von der Leyen" is one name, shown as written; the particles are no facts alone."""
    item = Item(
        guid="p",
        url=None,
        title="EU pledges quake aid",
        summary="Ursula von der Leyen said the EU would host donors. Hamad bin Khalifa sent aid.",
        published=datetime(2023, 2, 9, tzinfo=UTC),
        outlet="Desk",
        language="en",
    )
    facts = extract_facts(item)
    assert {"ursula von der leyen", "hamad bin khalifa", "leyen", "ursula"} <= facts
    assert not {"von", "der", "bin"} & facts
    assert written(["ursula von der leyen"], item) == {"ursula von der leyen": "Ursula von der Leyen"}
