"""The matcher: agrees with the reference evaluator; the example stories and their hard negatives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stories.examples import EXAMPLE_STORIES
from stories.matching import Matcher
from stories.query import Phrase, Query, QueryError, Term, evaluate, parse
from stories.text import tokens
from tests.stories.query_strategies import query_strings, query_trees, texts


def reference(stories: dict[int, Query], text: str) -> frozenset[int]:
    words = tokens(text)
    return frozenset(sid for sid, query in stories.items() if evaluate(query, words))


@settings(max_examples=200)
@given(st.lists(query_trees(), min_size=1, max_size=8), st.lists(texts(), min_size=1, max_size=5))
def test_matcher_agrees_with_evaluate_on_random_trees(
    queries: list[Query], samples: list[str]
) -> None:
    # Trees parse() would reject (matching everything) are included on purpose:
    # the matcher must still agree for hand-built queries.
    stories = dict(enumerate(queries))
    matcher = Matcher.compile(stories)
    for text in samples:
        assert matcher.match(text) == reference(stories, text)


@settings(max_examples=200)
@given(st.lists(query_strings(), min_size=1, max_size=8), st.lists(texts(), min_size=1, max_size=5))
def test_matcher_agrees_with_evaluate_on_parsed_strings(
    strings: list[str], samples: list[str]
) -> None:
    stories: dict[int, Query] = {}
    for number, q in enumerate(strings):
        try:
            stories[number] = parse(q)
        except QueryError:
            continue
    matcher = Matcher.compile({sid: str(query) for sid, query in stories.items()})
    for text in samples:
        assert matcher.match(text) == reference(stories, text)


@settings(max_examples=50)
@given(st.lists(query_trees(), min_size=2, max_size=6), texts())
def test_matcher_does_not_depend_on_story_order(queries: list[Query], text: str) -> None:
    forward = Matcher.compile(dict(enumerate(queries)))
    backward = Matcher.compile(dict(reversed(list(enumerate(queries)))))
    assert forward.match(text) == backward.match(text)


def test_whole_words_prefixes_phrases_accents_cyrillic() -> None:
    matcher = Matcher.compile(
        {
            1: "Sudan",
            2: "Sudan*",
            3: '"South Sudan"',
            4: "Guaido",
            5: "«ЧВК Вагнер»",
            6: "ёлка",
            7: "a",
        }
    )
    assert matcher.match("Sudanese army") == {2}
    assert matcher.match("South Sudan wins") == {1, 2, 3}
    assert matcher.match("GUAIDÓ habla") == {4}
    assert matcher.match("ЧВК «Вагнер» ушла") == {5}
    assert matcher.match("Вагнер, ЧВК") == set()
    assert matcher.match("ЕЛКА") == {6}
    assert matcher.match("abc") == set()  # a prefix of a word is not the word
    assert matcher.match("") == set()
    assert matcher.match_tokens(tokens("in Sudan")) == {1, 2}


def test_compile_reports_the_story_and_position() -> None:
    with pytest.raises(QueryError) as caught:
        Matcher.compile({1: "ok", 7: 'Wagner "Group'})
    assert str(caught.value) == "story 7: unclosed quote at 7"
    assert caught.value.position == 7


def test_empty_matcher_and_introspection() -> None:
    empty = Matcher.compile({})
    assert empty.match("anything at all") == frozenset()
    assert len(empty) == 0
    matcher = Matcher.compile({3: "a OR b", 4: parse("c")})
    assert len(matcher) == 2
    assert matcher.story_ids == {3, 4}
    assert matcher.query(3) == parse("a OR b")


def test_explain_names_the_positive_terms_found() -> None:
    matcher = Matcher.compile({1: EXAMPLE_STORIES["wagner"]})
    text = "Prigozhin's Wagner Group fighters leave Bakhmut"
    assert matcher.explain(text, 1) == (
        Phrase(("wagner", "group")),
        Term("prigozhin", True),
        Term("wagner"),
        Term("bakhmut"),
    )
    assert matcher.explain("nothing relevant", 1) == ()
    # leaves_in also reports negated leaves that occur.
    assert Term("opera") in matcher.leaves_in("Wagner opera")
    assert Term("opera") not in matcher.explain("Wagner opera", 1)


# --- the example stories and their hard negatives ---------------------------------------

EXAMPLES = Matcher.compile(dict(enumerate(EXAMPLE_STORIES.values())))
NAMES = dict(enumerate(EXAMPLE_STORIES))


def stories_of(text: str) -> set[str]:
    return {NAMES[sid] for sid in EXAMPLES.match(text)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Venezuela
        ("Maduro sworn in for a third term as Venezuela's opposition cries fraud", {"venezuela"}),
        ("Guaido calls for new protests in Caracas", {"venezuela"}),
        ("EE.UU. sanciona a funcionarios venezolanos", {"venezuela"}),
        ("María Corina Machado llama a votar", {"venezuela"}),
        ("Мадуро объявил о победе на выборах в Венесуэле", {"venezuela"}),
        ("Venezuelan migrants cross the Darién Gap", {"venezuela"}),
        # Wagner
        ("Wagner Group expands operations in Mali", {"wagner"}),
        ("Prigozhin's mutiny: what we know", {"wagner"}),
        ("Wagner mercenaries accused of killings in the Central African Republic", {"wagner"}),
        ("Russia's Wagner fighters leave Bakhmut", {"wagner"}),
        ("ЧВК «Вагнер» покидает Бахмут", {"wagner"}),
        ("Бойцы ЧВК Вагнера вернулись в Африку", {"wagner"}),
        ("Пригожин погиб в авиакатастрофе", {"wagner"}),
        ("El Grupo Wagner se retira de Malí", {"wagner"}),
        # Sudan
        ("Sudan's army retakes the presidential palace in Khartoum", {"sudan"}),
        ("Sudanese refugees flee to Chad", {"sudan"}),
        ("RSF paramilitaries seize El Fasher", {"sudan"}),
        ("Rapid Support Forces accused of ethnic killings", {"sudan"}),
        ("Refugees from Darfur pour into South Sudan", {"sudan"}),
        ("Sudán: el ejército recupera Jartum", {"sudan"}),
        ("Армия Судана отбила Хартум", {"sudan"}),
        # Two stories at once
        ("Wagner mercenaries seen in Sudan's gold mines", {"wagner", "sudan"}),
    ],
)
def test_examples_match(text: str, expected: set[str]) -> None:
    assert stories_of(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # Miss Venezuela and other pageants
        "Miss Venezuela 2024 crowned in Caracas",
        "Venezuela's Gabriela Isler wins Miss Universe",
        "Venezuela crowns a new beauty queen",
        "Venezuela dominates international beauty pageants again",
        "Nuevo certamen de belleza en Venezuela",
        # Richard Wagner's operas
        "Bayreuth Festival opens with a new Tristan und Isolde",
        "The Met revives Wagner's Ring cycle",
        "Russian soprano returns to Wagner at the Vienna State Opera",
        "Richard Wagner's operas and Russia: a complicated history",
        "Putin attends Wagner operas at the Mariinsky",
        # Honus Wagner
        "Honus Wagner T206 card sells for a record $7.25 million",
        "Pittsburgh unveils a restored Honus Wagner statue",
        "Baseball: Wagner's record from 1908 still stands, and Russia takes notice",
        # South Sudan, its football and its own news
        "South Sudan stun Sudan in World Cup qualifier",
        "South Sudan's Bright Stars draw with Uganda in football friendly",
        "South Sudan president Kiir reshuffles cabinet",
        "Sudán del Sur celebra su independencia",
        "Сборная Южного Судана сыграла вничью",
        "Sudan beat Togo 1-0 in AFCON qualifier",
    ],
)
def test_hard_negatives(text: str) -> None:
    assert stories_of(text) == set()


def test_example_queries_are_canonical_round_trips() -> None:
    for q in EXAMPLE_STORIES.values():
        query = parse(q)
        assert parse(str(query)) == query
