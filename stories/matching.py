"""Match each new item against every story's query at a cost nearly independent of their number.

All leaves (words, prefixes, phrases) of all stories go into one Aho-Corasick
automaton, keyed on the folded word stream written as ``" w1 w2 … wn "``: a
word is the pattern ``" word "``, a prefix ``" pre"``, a phrase ``" w1 w2 "``. The
spaces make every hit whole-word (or word-start for prefixes), because words
never contain spaces. One pass over an item finds every leaf that occurs; only
stories with at least one *positive* leaf among them (one not under a negation)
can match, and only those have their boolean tree evaluated, over the set of
leaves that fired. The result is exactly what :func:`stories.query.evaluate`
says for each story, which the tests check on random queries and texts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import ahocorasick

from stories.query import (
    And,
    Leaf,
    Not,
    Phrase,
    Query,
    QueryError,
    Term,
    matches_everything,
    parse,
    positive_terms,
    terms,
)
from stories.text import tokens

# A story's tree, compiled for evaluation over the set of fired leaf numbers.
# A node is a leaf number, or (op, positive leaves, negated leaves, sub-nodes):
# the leaves directly under an AND/OR, plain or negated, are tested with one
# C-level set operation each (``pos <= fired``, ``fired.isdisjoint(neg)``), so a
# typical watchlist query, "a OR b OR "c d" -e -f", is two or three set operations.
_AND, _OR, _NOT = 0, 1, 2
_Node: TypeAlias = "int | tuple[int, frozenset[int], frozenset[int], tuple[_Node, ...]]"
_NONE: frozenset[int] = frozenset()


def _pattern(leaf: Leaf) -> str:
    if isinstance(leaf, Term):
        return f" {leaf.word}" if leaf.prefix else f" {leaf.word} "
    return " " + " ".join(leaf.words) + " "


def _compile_tree(query: Query, index: dict[Leaf, int]) -> _Node:
    if isinstance(query, Term | Phrase):
        return index[query]
    if isinstance(query, Not):
        inner = query.part
        if isinstance(inner, Term | Phrase):
            return (_AND, _NONE, frozenset((index[inner],)), ())
        return (_NOT, _NONE, _NONE, (_compile_tree(inner, index),))
    positive: set[int] = set()
    negated: set[int] = set()
    kids: list[_Node] = []
    for part in query.parts:
        if isinstance(part, Term | Phrase):
            positive.add(index[part])
        elif isinstance(part, Not) and isinstance(part.part, Term | Phrase):
            negated.add(index[part.part])
        else:
            kids.append(_compile_tree(part, index))
    op = _AND if isinstance(query, And) else _OR
    return (op, frozenset(positive), frozenset(negated), tuple(kids))


def _holds(node: _Node, fired: set[int]) -> bool:
    if isinstance(node, int):
        return node in fired
    op, positive, negated, kids = node
    if op == _AND:
        if not positive <= fired or not fired.isdisjoint(negated):
            return False
        # Plain loops: generator expressions in all()/any() cost more than the
        # work here, which runs for every candidate story of every item.
        for kid in kids:  # noqa: SIM110 (speed, see above)
            if not _holds(kid, fired):
                return False
        return True
    if op == _OR:
        if not positive.isdisjoint(fired) or not negated <= fired:
            return True
        for kid in kids:  # noqa: SIM110 (speed, see above)
            if _holds(kid, fired):
                return True
        return False
    return not _holds(kids[0], fired)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One story, ready to evaluate."""

    query: Query
    tree: _Node


class Matcher:
    """Which stories' queries match a text. Build with :meth:`compile`; immutable after."""

    __slots__ = ("_automaton", "_by_leaf", "_leaves", "_stories", "_unfiltered")

    def __init__(
        self,
        stories: dict[int, _Compiled],
        leaves: tuple[Leaf, ...],
        by_leaf: tuple[tuple[int, ...], ...],
        unfiltered: tuple[int, ...],
        automaton: ahocorasick.Automaton | None,
    ) -> None:
        """Internal: use :meth:`compile`."""
        self._stories = stories
        self._leaves = leaves
        self._by_leaf = by_leaf
        self._unfiltered = unfiltered
        self._automaton = automaton

    @classmethod
    def compile(cls, stories: Mapping[int, Query | str]) -> Matcher:
        """Build a matcher for ``{story_id: query}``; query strings are parsed.

        A query string that does not parse raises :class:`QueryError` naming the
        story (``story 7: unclosed quote at 3``; ``position`` is into that query).
        """
        compiled: dict[int, _Compiled] = {}
        index: dict[Leaf, int] = {}
        by_leaf: list[set[int]] = []
        unfiltered: list[int] = []
        for story_id, source in stories.items():
            if isinstance(source, str):
                try:
                    query = parse(source)
                except QueryError as error:
                    raise QueryError(f"story {story_id}: {error.reason}", error.position) from None
            else:
                query = source
            for leaf in terms(query):
                if leaf not in index:
                    index[leaf] = len(index)
                    by_leaf.append(set())
            compiled[story_id] = _Compiled(query, _compile_tree(query, index))
            if matches_everything(query):
                # Only hand-built trees get here (parse() rejects them): they can
                # match with no leaf present, so they are checked on every text.
                unfiltered.append(story_id)
            else:
                for leaf in positive_terms(query):
                    by_leaf[index[leaf]].add(story_id)
        automaton: ahocorasick.Automaton | None = None
        if index:
            automaton = ahocorasick.Automaton()
            for leaf, number in index.items():
                automaton.add_word(_pattern(leaf), number)
            automaton.make_automaton()
        return cls(
            compiled,
            tuple(index),
            tuple(tuple(sorted(ids)) for ids in by_leaf),
            tuple(unfiltered),
            automaton,
        )

    def __len__(self) -> int:
        """Number of stories."""
        return len(self._stories)

    @property
    def story_ids(self) -> frozenset[int]:
        """Ids of the stories this matcher knows."""
        return frozenset(self._stories)

    def query(self, story_id: int) -> Query:
        """The parsed query of ``story_id``."""
        return self._stories[story_id].query

    def match(self, text: str) -> frozenset[int]:
        """Ids of the stories whose query matches ``text`` (e.g. an item's title and summary)."""
        return self.match_tokens(tokens(text))

    def match_tokens(self, words: Sequence[str]) -> frozenset[int]:
        """Like :meth:`match`, for words already cut by :func:`stories.text.tokens`."""
        fired = self._fired(words)
        candidates: set[int] = set(self._unfiltered)
        by_leaf = self._by_leaf
        for number in fired:
            candidates.update(by_leaf[number])
        stories = self._stories
        return frozenset(sid for sid in candidates if _holds(stories[sid].tree, fired))

    def explain(self, text: str, story_id: int) -> tuple[Leaf, ...]:
        """The positive leaves of ``story_id``'s query found in ``text``, in query order.

        Says why an item matched ("Prigozhin", "wagner group"); empty if none.
        """
        fired = self.leaves_in(text)
        seen: list[Leaf] = []
        for leaf in positive_terms(self._stories[story_id].query):
            if leaf in fired and leaf not in seen:
                seen.append(leaf)
        return tuple(seen)

    def leaves_in(self, text: str) -> frozenset[Leaf]:
        """The leaves of any story's query that occur in ``text`` (negated ones too)."""
        return frozenset(self._leaves[number] for number in self._fired(tokens(text)))

    def _fired(self, words: Iterable[str]) -> set[int]:
        if self._automaton is None:
            return set()
        haystack = " " + " ".join(words) + " "
        return {number for _end, number in self._automaton.iter(haystack)}
