"""The watchlist query language, shared by story matching and ``/search``.

Syntax (a query is matched against an item's title and summary):

``word``
    The whole word, case- and accent-insensitively: ``Guaido`` finds "Guaidó";
    ``Sudan`` does not find "Sudanese".
``word*``
    Any word starting with ``word``: ``Sudan*`` finds "Sudanese".
``"exact phrase"``
    The words in this order, next to each other; punctuation between them in the
    text does not matter (``"ЧВК Вагнер"`` finds "ЧВК «Вагнер»"). ``«…»`` and
    ``“…”`` work as quotes too. No ``*`` inside phrases.
``a b``, ``a AND b``
    Both (implicit AND).
``a OR b``, ``a | b``
    Either. ``OR`` must be upper-case; lower-case ``or`` is an ordinary word.
``-a``, ``NOT a``, ``-"a phrase"``, ``-(a OR b)``
    Not. Only a ``-`` at the start of a word negates: ``al-Bashir`` is a word.
``( … )``
    Grouping.

Precedence, tightest first: ``-``/``NOT``, then ``OR``, then AND. OR binds
tighter than AND, as in web search: ``Wagner Prigozhin OR Utkin -opera`` means
Wagner AND (Prigozhin OR Utkin) AND NOT opera.

Words are cut like text is (see :mod:`stories.text`): a query word that holds
several words, such as ``al-Bashir`` or ``U.S.``, means that phrase.

A query must be able to match something and must not match everything: at least
one positive term, at most :data:`MAX_LENGTH` characters, :data:`MAX_TERMS` terms
and :data:`MAX_DEPTH` levels of nesting. Every mistake raises :class:`QueryError`
naming the 0-based position of the offending character.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from stories.errors import EXIT_USAGE, N_, Message, NewsbotError, Nn_
from stories.text import is_token, tokens

MAX_LENGTH = 1000
"""Longest accepted query, in characters."""
MAX_TERMS = 64
"""Most words, prefixes and phrases (leaves) in one query."""
MAX_DEPTH = 10
"""Deepest nesting of parentheses and negations."""

# Quote characters: any of them opens a phrase and any of them closes it, so
# «ЧВК Вагнер», “Wagner Group” and „Wagner“ all work as typed.
_QUOTES = frozenset('"«»“”„')
_SPECIAL = _QUOTES | frozenset("()|")

# The reasons a query is refused (``QueryError.reason_message``); the bot translates them.
_AT = N_("{reason} at {position}")
_UNCLOSED_QUOTE = N_("unclosed quote")
_DANGLING = N_("dangling {operator}")  # -, AND, OR, |, NOT
_UNEXPECTED_CLOSE = N_('unexpected ")"')
_UNCLOSED_PARENTHESIS = N_("unclosed parenthesis")
_EMPTY_PARENTHESES = N_("empty parentheses")
_EMPTY_PHRASE = N_("empty phrase")
_NOTHING_TO_SEARCH = N_("nothing to search for in {word}")
_PREFIX_OF_ONE_WORD = N_("* works on a single word, not {word}")
_TOO_MANY_TERMS = Nn_("too many terms (at most {n})", "too many terms (at most {n})")
_TOO_DEEP = Nn_("nested too deeply (at most {n} level)", "nested too deeply (at most {n} levels)")
_TOO_LONG = Nn_("query too long (at most {n} character)", "query too long (at most {n} characters)")
_EMPTY_QUERY = N_("empty query")
_NO_POSITIVE_TERM = N_("a query needs at least one positive term")


class QueryError(NewsbotError, ValueError):
    """A query that cannot be used, with the 0-based character position at fault.

    ``str(error)`` reads like ``unclosed quote at 17``; ``reason`` is the message
    without the position, ``position`` the offset into the query string, and
    ``reason_message`` the reason as a template with its values, to translate (None
    for a reason given as plain text).
    """

    exit_code = EXIT_USAGE

    def __init__(self, reason: str | Message, position: int) -> None:
        super().__init__(Message(_AT, {"reason": reason, "position": position}))
        self.reason = str(reason)
        self.reason_message = reason if isinstance(reason, Message) else None
        self.position = position


@dataclass(frozen=True, slots=True)
class Term:
    """One whole word (folded), or with ``prefix`` any word starting with it."""

    word: str
    prefix: bool = False

    def __post_init__(self) -> None:
        if not is_token(self.word):
            raise ValueError(f"Term.word must be one folded word, got {self.word!r}")

    def __str__(self) -> str:
        return f"{self.word}*" if self.prefix else self.word


@dataclass(frozen=True, slots=True)
class Phrase:
    """Consecutive whole words (folded)."""

    words: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.words or not all(is_token(word) for word in self.words):
            raise ValueError(f"Phrase.words must be folded words, got {self.words!r}")

    def __str__(self) -> str:
        return '"' + " ".join(self.words) + '"'


@dataclass(frozen=True, slots=True)
class And:
    """All parts match."""

    parts: tuple[Query, ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("And needs at least one part")

    def __str__(self) -> str:
        # Only an AND needs brackets inside an AND; OR binds tighter anyway.
        return " ".join(f"({part})" if isinstance(part, And) else str(part) for part in self.parts)


@dataclass(frozen=True, slots=True)
class Or:
    """At least one part matches."""

    parts: tuple[Query, ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("Or needs at least one part")

    def __str__(self) -> str:
        return " OR ".join(
            f"({part})" if isinstance(part, And | Or) else str(part) for part in self.parts
        )


@dataclass(frozen=True, slots=True)
class Not:
    """The part does not match."""

    part: Query

    def __str__(self) -> str:
        inner = self.part
        return f"-({inner})" if isinstance(inner, And | Or) else f"-{inner}"


Query: TypeAlias = Term | Phrase | And | Or | Not
Leaf: TypeAlias = Term | Phrase


def terms(query: Query) -> Iterator[Leaf]:
    """The leaves (words, prefixes, phrases) of ``query``, left to right, negated ones too."""
    if isinstance(query, Term | Phrase):
        yield query
    elif isinstance(query, Not):
        yield from terms(query.part)
    else:
        for part in query.parts:
            yield from terms(part)


def positive_terms(query: Query) -> Iterator[Leaf]:
    """The leaves under an even number of negations: those that can make ``query`` match.

    If no leaf of this set occurs in a text, a valid query (one that does not
    match the empty text) cannot match that text; the matcher relies on it.
    """
    return _leaves_by_polarity(query, negated=False)


def _leaves_by_polarity(query: Query, negated: bool) -> Iterator[Leaf]:
    if isinstance(query, Term | Phrase):
        if not negated:
            yield query
    elif isinstance(query, Not):
        yield from _leaves_by_polarity(query.part, not negated)
    else:
        for part in query.parts:
            yield from _leaves_by_polarity(part, negated)


def evaluate(query: Query, words: Sequence[str]) -> bool:
    """Does ``query`` match the folded word list ``words`` (from :func:`stories.text.tokens`)?

    The slow, obvious reference: every leaf scans the words. The matcher must
    agree with it exactly.
    """
    if isinstance(query, Term):
        if query.prefix:
            return any(word.startswith(query.word) for word in words)
        return query.word in words
    if isinstance(query, Phrase):
        size = len(query.words)
        return any(
            tuple(words[start : start + size]) == query.words
            for start in range(len(words) - size + 1)
        )
    if isinstance(query, Not):
        return not evaluate(query.part, words)
    if isinstance(query, And):
        return all(evaluate(part, words) for part in query.parts)
    return any(evaluate(part, words) for part in query.parts)


def evaluate_leaves(query: Query, fired: frozenset[Leaf] | set[Leaf]) -> bool:
    """Does ``query`` match a text in which exactly the leaves in ``fired`` occur?"""
    if isinstance(query, Term | Phrase):
        return query in fired
    if isinstance(query, Not):
        return not evaluate_leaves(query.part, fired)
    if isinstance(query, And):
        return all(evaluate_leaves(part, fired) for part in query.parts)
    return any(evaluate_leaves(part, fired) for part in query.parts)


def matches_everything(query: Query) -> bool:
    """True if ``query`` matches a text containing none of its words.

    Such a query (``-opera``, ``-a OR b``) would match nearly every item, so
    :func:`parse` rejects it.
    """
    return evaluate_leaves(query, frozenset())


# ---------------------------------------------------------------------------
# Lexer

_Kind = Literal["word", "phrase", "(", ")", "or", "and", "not", "-"]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    position: int
    text: str = ""


def _lex(q: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(q)
    while i < n:
        char = q[i]
        if char.isspace():
            i += 1
        elif char in _QUOTES:
            end = next((j for j in range(i + 1, n) if q[j] in _QUOTES), -1)
            if end < 0:
                raise QueryError(Message(_UNCLOSED_QUOTE), i)
            out.append(_Token("phrase", i, q[i + 1 : end]))
            i = end + 1
        elif char in "()":
            out.append(_Token("(" if char == "(" else ")", i))
            i += 1
        elif char == "|":
            out.append(_Token("or", i, char))
            i += 1
        elif char == "-" and i + 1 < n and not q[i + 1].isspace() and q[i + 1] not in ")|":
            # A minus glued to what follows negates it; "al-Bashir" never gets
            # here because the word branch below consumes inner hyphens.
            out.append(_Token("-", i))
            i += 1
        elif char == "-":
            raise QueryError(_dangling("-"), i)
        else:
            start = i
            while i < n and not q[i].isspace() and q[i] not in _SPECIAL:
                i += 1
            word = q[start:i]
            kind: _Kind = "word"
            if word == "OR":
                kind = "or"
            elif word == "AND":
                kind = "and"
            elif word == "NOT":
                kind = "not"
            out.append(_Token(kind, start, word))
    return out


# ---------------------------------------------------------------------------
# Parser: recursive descent over the token list.
#   query   := and_expr
#   and_expr:= or_expr ([AND] or_expr)*
#   or_expr := unary (OR unary)*
#   unary   := ("-" | NOT) unary | primary
#   primary := word | phrase | "(" and_expr ")"


class _Parser:
    def __init__(self, q: str, toks: list[_Token]) -> None:
        self.q = q
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.leaves = 0

    def peek(self) -> _Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> Query:
        query = self.and_expr()
        extra = self.peek()
        if extra is not None:
            # and_expr only stops early at ")" (anything else starts an operand
            # or is reported where it is met).
            raise QueryError(Message(_UNEXPECTED_CLOSE), extra.position)
        return query

    def and_expr(self) -> Query:
        parts: list[Query] = []
        while True:
            tok = self.peek()
            if tok is None:
                break
            if tok.kind == ")":
                if not parts:
                    raise QueryError(Message(_UNEXPECTED_CLOSE), tok.position)
                break
            if tok.kind == "and":
                if not parts:
                    raise QueryError(_dangling("AND"), tok.position)
                self.i += 1
                after = self.peek()
                if after is None or after.kind in (")", "and", "or"):
                    raise QueryError(_dangling("AND"), tok.position)
                continue
            part = self.or_expr()
            parts.extend(part.parts if isinstance(part, And) else (part,))
        if not parts:
            raise AssertionError("and_expr called with no operand")  # parse() and primary() check
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def or_expr(self) -> Query:
        first = self.peek()
        if first is not None and first.kind == "or":
            raise QueryError(_dangling(_or_name(first)), first.position)
        parts: list[Query] = []
        while True:
            part = self.unary()
            parts.extend(part.parts if isinstance(part, Or) else (part,))
            tok = self.peek()
            if tok is None or tok.kind != "or":
                break
            self.i += 1
            after = self.peek()
            if after is None or after.kind in (")", "or", "and"):
                raise QueryError(_dangling(_or_name(tok)), tok.position)
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def unary(self) -> Query:
        tok = self.peek()
        assert tok is not None  # callers only come here with an operand ahead
        if tok.kind in ("-", "not"):
            self.i += 1
            after = self.peek()
            if after is None or after.kind in (")", "or", "and"):
                raise QueryError(_dangling("NOT" if tok.kind == "not" else "-"), tok.position)
            self.enter(tok.position)
            part = self.unary()
            self.depth -= 1
            return Not(part)
        return self.primary()

    def primary(self) -> Query:
        tok = self.peek()
        assert tok is not None
        self.i += 1
        if tok.kind == "(":
            inner = self.peek()
            if inner is None:
                raise QueryError(Message(_UNCLOSED_PARENTHESIS), tok.position)
            if inner.kind == ")":
                raise QueryError(Message(_EMPTY_PARENTHESES), tok.position)
            self.enter(tok.position)
            query = self.and_expr()
            self.depth -= 1
            close = self.peek()
            if close is None:
                raise QueryError(Message(_UNCLOSED_PARENTHESIS), tok.position)
            self.i += 1
            return query
        if tok.kind == ")":
            raise QueryError(Message(_UNEXPECTED_CLOSE), tok.position)
        if tok.kind == "phrase":
            words = tokens(tok.text)
            if not words:
                raise QueryError(Message(_EMPTY_PHRASE), tok.position)
            return self.leaf(_leaf(words, prefix=False), tok.position)
        if tok.kind == "word":
            raw = tok.text
            prefix = raw.endswith("*")
            words = tokens(raw.rstrip("*") if prefix else raw)
            if not words:
                raise QueryError(Message(_NOTHING_TO_SEARCH, {"word": repr(raw)}), tok.position)
            if prefix and len(words) > 1:
                raise QueryError(Message(_PREFIX_OF_ONE_WORD, {"word": repr(raw)}), tok.position)
            return self.leaf(_leaf(words, prefix=prefix), tok.position)
        # "or" and "and" are caught by the callers, "-" and "not" by unary().
        raise AssertionError(f"unexpected token {tok}")

    def leaf(self, leaf: Leaf, position: int) -> Leaf:
        self.leaves += 1
        if self.leaves > MAX_TERMS:
            raise QueryError(Message(_TOO_MANY_TERMS, {"n": MAX_TERMS}), position)
        return leaf

    def enter(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(Message(_TOO_DEEP, {"n": MAX_DEPTH}), position)


def _dangling(operator: str) -> Message:
    return Message(_DANGLING, {"operator": operator})


def _or_name(tok: _Token) -> str:
    return "|" if tok.text == "|" else "OR"


def _leaf(words: list[str], prefix: bool) -> Leaf:
    if len(words) == 1:
        return Term(words[0], prefix)
    return Phrase(tuple(words))


def parse(q: str) -> Query:
    """Parse the query string ``q`` (syntax in the module docstring).

    Raises :class:`QueryError` (a ``ValueError``) with the position at fault for
    every malformed, empty, oversized or match-everything query; never anything else.
    """
    if len(q) > MAX_LENGTH:
        raise QueryError(Message(_TOO_LONG, {"n": MAX_LENGTH}), MAX_LENGTH)
    toks = _lex(q)
    if not toks:
        raise QueryError(Message(_EMPTY_QUERY), 0)
    query = _Parser(q, toks).parse()
    if matches_everything(query):
        raise QueryError(Message(_NO_POSITIVE_TERM), 0)
    return query
