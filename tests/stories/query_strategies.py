"""Hypothesis strategies for queries and texts over a small shared vocabulary.

The vocabulary is small, and mixes accents, Cyrillic, prefixes of other words and
words that contain each other, so random queries and random texts actually meet.
"""

from __future__ import annotations

from hypothesis import strategies as st

from stories.query import And, Not, Or, Phrase, Query, Term
from stories.text import tokens

# Surface forms as they appear in text (cased, accented, punctuated).
SURFACE = [
    "Sudan",
    "Sudanese",
    "SUDAN",
    "South",
    "Wagner",
    "Wagner's",
    "Group",
    "Guaidó",
    "Guaido",
    "Venezuela",
    "ЧВК",
    "Вагнер",
    "Вагнера",
    "«Вагнер»",
    "Ёлка",
    "елка",
    "opera",
    "operations",
    "al-Bashir",
    "Straße",
    "strasse",
    "a",
    "ab",
    "abc",
    "Ab",
    "𐌰𐌱",  # Gothic letters: outside the BMP
    "𝐀𝐁",  # mathematical bold, folds to "ab"
]
SEPARATORS = [" ", "  ", ", ", ". ", "\n", " - ", "—", "!", "(", ") ", '"']

# Folded single words queries are built from: every token of the surface forms.
WORDS = sorted({word for surface in SURFACE for word in tokens(surface)})
# Prefixes of those words, so prefix terms hit and miss in interesting ways.
PREFIXES = sorted({word[:cut] for word in WORDS for cut in range(1, len(word) + 1)})


def texts() -> st.SearchStrategy[str]:
    """Texts made of vocabulary words and separators."""
    piece = st.tuples(st.sampled_from(SURFACE), st.sampled_from(SEPARATORS))
    return st.lists(piece, max_size=12).map(lambda pieces: "".join(a + b for a, b in pieces))


def leaves() -> st.SearchStrategy[Query]:
    """Words, prefixes and phrases over the vocabulary."""
    return st.one_of(
        st.builds(Term, st.sampled_from(WORDS), st.just(False)),
        st.builds(Term, st.sampled_from(PREFIXES), st.just(True)),
        st.lists(st.sampled_from(WORDS), min_size=2, max_size=3).map(
            lambda words: Phrase(tuple(words))
        ),
    )


def query_trees() -> st.SearchStrategy[Query]:
    """Arbitrary trees, including ones :func:`stories.query.parse` would reject."""
    return st.recursive(
        leaves(),
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=4).map(lambda parts: And(tuple(parts))),
            st.lists(inner, min_size=2, max_size=4).map(lambda parts: Or(tuple(parts))),
            inner.map(Not),
        ),
        max_leaves=10,
    )


# Pieces of query syntax, glued with or without spaces, to reach the parser's corners.
_SYNTAX = [
    "OR",
    "AND",
    "NOT",
    "|",
    "(",
    ")",
    "-",
    '"',
    "«",
    "»",
    "*",
    "or",
    "Sudan",
    "sudan*",
    "Guaidó",
    "Вагнер*",
    "al-Bashir",
    '"South Sudan"',
    "-opera",
    "-(a",
    "b)",
    "!!",
]


def query_strings() -> st.SearchStrategy[str]:
    """Strings made of query syntax pieces: many parse, many fail."""
    joiner = st.sampled_from([" ", "", "  "])
    return st.lists(st.tuples(st.sampled_from(_SYNTAX), joiner), min_size=0, max_size=10).map(
        lambda pieces: "".join(a + b for a, b in pieces)
    )
