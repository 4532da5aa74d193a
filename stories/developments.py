"""Developments: assigning each item, online and in arrival order, to an event.

A *development* is one event as several outlets report it ("Fed's Plosser warns on
taper", "Stocks fall after Fed official hints at faster tapering"). Each item either
starts a development (kind ``new``), joins one and brings facts it did not have
(``update``: new names, numbers, places) or joins one and repeats it (``rereport``).

The method is single-pass TF-IDF clustering, improved where the naive version fails
on news streams (measured with ``newsbot eval clustering``; see the README):

- *Terms*: folded, accent-stripped words without stop words, plurals reduced, so raw
  feed titles and pre-normalised corpora look alike; numbers kept. Title words count
  double (the title states the event) and also as their first four letters, a cheap,
  language-blind stemmer ("frustrated" ~ "frustration") whose weight fades for long
  texts, which have enough exact words.
- *Weights*: sublinear TF times IDF from document frequencies maintained online, with
  a prior of ``prior_documents`` imaginary documents so a fresh tracker is sane.
- *Prototypes, grouped*: an item is compared by cosine with prototype centroids (each
  the sum of its members' unit vectors, its ``max_terms`` heaviest terms kept), found
  through an inverted index so only prototypes sharing a term are scored. A
  development is a *group* of prototypes: when an item is close to two prototypes of
  different developments whose centroids are also alike, the developments merge (the
  older id survives). This repairs the early splits of single-pass clustering
  without diluting one centroid with the other's vocabulary.
- *Size prior*: a prototype's score is scaled by ``1 + size_boost * ln(size)``, the
  rich-get-richer prior of a Chinese restaurant process: established events attract
  borderline items, a fresh singleton does not steal them. Like any prior it weighs
  less against more evidence, so it shrinks for items with many terms. For the same
  reason a long item joins at a somewhat lower threshold (it shares a smaller part of
  its weight even with its own event) and bridges developments only over a firmer bar.
- *Neighbour vote*: the mean cosine of the item's three nearest recent items in a
  development is added to its score; a centroid blurs the several angles a story is
  told from, the nearest reports do not.
- *Sentence vectors*, when the caller has them (``assign(similar=...)``; the tracker's
  items of no watched story): the cosines of the item's nearest recent reports in a
  development, above a floor (unrelated news titles are that alike), add a vote as
  the neighbours' do, and a development the item shares no word with can win on it
  alone ("HP" for "Hewlett-Packard", a translation). Topic grouping keeps its
  lexical evidence; the vectors bridge what words miss.
- *Time*: scores decay with the time between the item and the prototype's last item
  (half-life ``half_life_hours``), and prototypes quiet for ``quiet_hours`` leave the
  active set, so state stays bounded and old events stop attracting items.

Facts (for ``update`` versus ``rereport``) are numbers and capitalised names in raw
text; text with no capitals at all (pre-lowercased corpora) falls back to rare words.

Everything is deterministic: the same items in the same order give the same
decisions, and :meth:`Developments.to_dict` / :meth:`Developments.from_dict` round-trip
the whole state through JSON-able values.

The module is longer than 600 lines on purpose: it is one data structure (postings,
prototypes, groups, document frequencies, the active set) whose methods all keep the
same invariants; split, each part would reach into the others' fields.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from anyascii import anyascii

from stories.facts import extract_facts, is_number, name_stem, new_facts, stems_of
from stories.model import Item, ItemKind
from stories.text import STOP_TEXT

__all__ = [
    "Assignment",
    "DevelopmentConfig",
    "DevelopmentInfo",
    "Developments",
    "extract_facts",
    "terms",
]

# Common function words of the languages feeds mostly carry (English first). They
# match across unrelated events and would only add noise to short titles.
_STOP_WORDS = frozenset(STOP_TEXT.split())

_WORD = re.compile(r"\w+")
# A number as written in raw text: 3, 3.5, 1,200, 45%, and a currency sign in front.


def _fold(text: str) -> str:
    """Lowercase and strip accents ("Guaidó" -> "guaido"); ASCII takes the fast path."""
    text = text.lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _stem(word: str) -> str:
    """Reduce an English plural to its singular ("cities" -> "city", "bronco" stays)."""
    if len(word) > 3 and word[-1] == "s" and word[-2] not in "su'" and not word.endswith("is"):
        if word.endswith("ies") and len(word) > 4:
            return word[:-3] + "y"
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """The content terms of a text: folded words, stop words out, plurals reduced; words
    in other scripts transliterated ("Пригожин" -> "prigozhin"), so names meet across
    languages."""
    out = []
    for w in _WORD.findall(_fold(text)):
        if w in _STOP_WORDS:
            continue
        if not w.isascii():
            w = anyascii(w).lower()
        out.append(_stem(w))
    return out


@dataclass(frozen=True, slots=True)
class DevelopmentConfig:
    """Tuning of the development clustering; the defaults are what newsbot ships.

    One configuration serves every corpus and feed (no per-dataset tuning); see the
    README's evaluation table for what it scores.
    """

    threshold: float = 0.28
    """Minimum decayed, size-boosted cosine for an item to join a prototype."""
    threshold_length_exponent: float = 0.15
    """Items with more terms than ``boost_reference_terms`` join at a lower threshold,
    times ``(boost_reference_terms / terms) ** threshold_length_exponent``: a long
    report spreads its weight over words of its own (quotes, background), so even a
    report of the same event shares a smaller part of it with a centroid."""
    size_boost: float = 0.4
    """Scale of the ``1 + size_boost * ln(size)`` prior on a prototype's score."""
    boost_reference_terms: int = 12
    """Items with more terms than this get a proportionally weaker size prior
    (times the square root of the ratio): more words are more evidence of their own."""
    neighbour_weight: float = 0.5
    """Weight of the nearest-neighbour vote: the mean cosine of the item's
    ``neighbours`` most similar recent items in a development, added to the centroid
    score. Centroids blur a development's several angles; neighbours keep them."""
    candidate_terms: int = 24
    """Terms of an item used to find candidate prototypes (its heaviest); the others
    still count in the score of every candidate that comes near the threshold."""
    candidate_postings: int = 32
    """Words in more prototypes than this do not look candidates up (see above)."""
    neighbours: int = 3
    neighbour_terms: int = 12
    neighbour_min_similarity: float = 0.1
    neighbour_postings: int = 32
    """Recent items remembered per term for the neighbour vote (bounds its cost)."""
    neighbour_window: int = 2048
    """Items that can vote: the most recent ones (bounds memory)."""
    prior_documents: int = 100
    """IDF counts this many imaginary documents without the word, so a fresh tracker
    (a dozen items) weighs words alike instead of trusting three-document statistics."""
    merge_similarity: float = 0.35
    """Centroid cosine at which two developments an item bridges are merged."""
    merge_length_exponent: float = 0.7
    """For items with more terms than ``boost_reference_terms`` the merge bar rises
    towards 1: its gap to 1 shrinks by ``(boost_reference_terms / terms) **
    merge_length_exponent``. A long item mentions more, so it bridges unrelated events
    more easily; with the lower join threshold for long items it needs a firmer bar."""
    title_weight: float = 2.0
    """How much a title word counts against a summary word."""
    prefix_length: int = 4
    prefix_weight: float = 0.5
    """Longer title words also count as their first ``prefix_length`` letters, at this
    weight: a cheap, language-blind stemmer ("frustrated", "frustration")."""
    half_life_hours: float = 36.0
    """Time after which a prototype's pull on a new item halves."""
    quiet_hours: float = 72.0
    """A prototype without a new item for this long leaves the active set."""
    max_terms: int = 120
    """Terms a prototype keeps: its heaviest; the tail is noise and costs time."""
    max_vocabulary: int = 500_000
    """Document frequencies kept; beyond this, words seen once are forgotten."""
    rare_fact_idf: float = 5.0
    """For text without capitals: a word this rare counts as a fact."""
    max_facts: int = 256
    """Facts remembered per development (enough to tell an update from a repeat)."""
    update_names: int = 3
    """New names (single words) that make an update when it adds no number or date."""
    vector_weight: float = 3.0
    vector_floor: float = 0.45
    """With sentence vectors (``assign(similar=...)``), a development's vote is
    ``vector_weight`` times the mean excess of its ``neighbours`` best cosines over
    ``vector_floor``, added to its lexical score (for items with more terms than
    ``boost_reference_terms``, weakened as the size prior is). Chosen on GoogleNews
    titles (googlenews-t) alone, with USE multilingual v3 vectors; see the README."""
    lexical_floor: float = 0.05
    """Lexical scores below this are not reported to the tracker's link model."""


class _TermVector(dict[str, float]):
    """An item's unit TF-IDF vector (term -> weight) that sorts its terms by weight once:
    the candidate look-up, the neighbour vote and the item's memory each read its heaviest."""

    _order: list[tuple[str, float]] | None = None

    def heaviest(self, n: int) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """The ``n`` heaviest terms, heaviest first (ties: the earlier term), and the rest in
        that order; all terms in the vector's own order if it has no more than ``n``."""
        if len(self) <= n:
            return list(self.items()), []
        order = self._order
        if order is None:
            # Stable, like sorting by the negated weight: equal weights keep their order.
            order = self._order = sorted(self.items(), key=itemgetter(1), reverse=True)
        return order[:n], order[n:]


@dataclass(frozen=True, slots=True)
class KnownFacts:
    """A development's facts with the name stems and numbers among them."""

    facts: set[str]
    stems: set[str]
    numbers: set[str]


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where one item went: its development, its kind and the facts it added."""

    development_id: int
    kind: ItemKind
    new_facts: tuple[str, ...] = ()
    similarity: float = 0.0


@dataclass(frozen=True, slots=True)
class DevelopmentInfo:
    """A development as the tracker sees it: for listing and digests."""

    id: int
    title: str
    first_seen: datetime
    last_seen: datetime
    items: int
    outlets: tuple[str, ...]


@dataclass(slots=True)
class _Prototype:
    group: int
    size: int
    last_seen: float
    norm2: float
    terms: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Development:
    title: str
    first_seen: float
    last_seen: float
    items: int
    outlets: list[str]
    facts: set[str]
    prototypes: int  # live prototypes in the group; 0 means the development left
    stems: set[str] = field(default_factory=set)  # name stems of ``facts``, kept in step
    numbers: set[str] = field(default_factory=set)  # the numbers among ``facts``, kept in step


_MAX_OUTLETS = 32


class Developments:
    """Online assignment of items to developments; bounded, deterministic state."""

    def __init__(self, config: DevelopmentConfig | None = None) -> None:
        self.config = config or DevelopmentConfig()
        self._df: dict[str, int] = {}
        self._docs = 0
        self._now = -math.inf
        self._next_id = 1
        # term -> {prototype id: weight of the term in that prototype's centroid}
        self._postings: dict[str, dict[int, float]] = {}
        self._prototypes: dict[int, _Prototype] = {}
        # prototype id -> (1 / |centroid|, ln size), kept current
        self._scale: dict[int, tuple[float, float]] = {}
        self._developments: dict[int, _Development] = {}
        # merged development id -> the id it was merged into
        self._merged: dict[int, int] = {}
        self._since_sweep = 0
        self._swept_at = -math.inf  # the item time of the last sweep
        # Recent items for the neighbour vote: term -> [(item number, weight)], oldest
        # first, at most neighbour_postings each; the window of voting items in
        # arrival order as (item number, prototype, terms); item number -> prototype.
        self._item_postings: dict[str, list[tuple[int, float]]] = {}
        self._item_window: deque[tuple[int, int, tuple[str, ...]]] = deque()
        self._item_proto: dict[int, int] = {}
        self._items_seen = 0

    # -- public API ---------------------------------------------------------

    def assign(
        self,
        item: Item,
        *,
        decided: bool = False,
        development: int | None = None,
        names_comparable: bool = True,
        facts: frozenset[str] | None = None,
        update_if: Callable[[Sequence[str]], bool] | None = None,
        similar: Mapping[int, Sequence[float]] | None = None,
    ) -> Assignment:
        """Assign one item (call in arrival order) and return the decision.

        By default the lexical clustering decides. With ``decided``, the caller (the
        tracker, from sentence vectors and facts) has chosen: join ``development``, or
        start a new one when it is None; the item still updates the lexical state, so
        its words help later items. With ``names_comparable`` False (the development has
        no report in the item's language yet), only numbers can make it an update:
        names are spelt differently across languages. ``update_if`` (given the facts the
        item adds) replaces the rule that decides whether they make it an update.

        ``similar`` (lexical decisions only) is evidence from sentence vectors:
        development id -> the cosines of the item's nearest recent reports in it, best
        first. Their vote (see ``vector_weight``) adds to the lexical score, and a
        development the item shares no word with can win on it alone (a rewording).
        """
        when = item.published.timestamp()
        if when > self._now:
            self._now = when
        self._maybe_sweep()
        vec = self._vector(item)
        # ``facts``: the caller's extract_facts(item), when it has it already.
        facts = (extract_facts(item) if facts is None else facts) or self._rare_facts(item, vec)
        if not names_comparable:
            facts = frozenset(f for f in facts if is_number(f))
        if not decided:
            votes = None  # the lexical neighbours' votes, found only if a prototype is near
            if similar:
                votes = self._neighbour_votes(vec) if self.config.neighbour_weight > 0 else {}
                votes = self._add_vector_votes(votes, similar, len(vec))
            ranked = self._ranked(vec, when, votes)
            if votes:
                chosen = self._vote_only(ranked, votes, len(vec))
                if chosen is not None:
                    return self._join_development(item, vec, when, facts, chosen, votes[chosen])
            if not ranked:
                return self._start(item, vec, when, facts)
            return self._join_prototype(item, vec, when, facts, ranked)
        if development is None or self._find(development) not in self._developments:
            return self._start(item, vec, when, facts)
        return self._join_development(item, vec, when, facts, self._find(development), None, update_if)

    def _add_vector_votes(
        self, votes: dict[int, float], similar: Mapping[int, Sequence[float]], n_terms: int
    ) -> dict[int, float]:
        """The lexical neighbour votes plus the sentence vectors': per development,
        ``vector_weight`` times the mean excess over ``vector_floor`` of its
        ``neighbours`` best cosines (like the neighbour vote, a mean over ``neighbours``
        however many it has)."""
        cfg = self.config
        cosines: dict[int, list[float]] = {}
        for dev in sorted(similar):  # ids the caller held may have merged since
            found = self._find(dev)
            if found in self._developments:
                cosines.setdefault(found, []).extend(similar[dev])
        k = cfg.neighbours
        # Like the size prior, the vote weighs less against the evidence of many words.
        weight = cfg.vector_weight * min(1.0, math.sqrt(cfg.boost_reference_terms / max(1, n_terms)))
        out = dict(votes)
        for dev, near in cosines.items():
            best = sorted(near, reverse=True)[:k]
            vote = weight * sum(max(0.0, c - cfg.vector_floor) for c in best) / k
            if vote > 0:
                out[dev] = out.get(dev, 0.0) + vote
        return out

    def _vote_only(
        self, ranked: list[tuple[float, int, float]], votes: dict[int, float], n_terms: int
    ) -> int | None:
        """A development that beats every lexically found prototype on its votes alone."""
        if not votes:
            return None
        best = max(votes.items(), key=lambda dv: (dv[1], -dv[0]))
        dev, vote = best
        if vote < self._threshold(n_terms) or (ranked and ranked[0][0] >= vote):
            return None
        if ranked and self._find(self._prototypes[ranked[0][1]].group) == dev:
            return None
        return dev

    def _join_development(
        self,
        item: Item,
        vec: _TermVector,
        when: float,
        facts: frozenset[str],
        dev_id: int,
        score: float | None,
        update_if: Callable[[Sequence[str]], bool] | None = None,
    ) -> Assignment:
        """Join a development chosen by other evidence (the caller's decision, or votes):
        its prototype nearest the item, else a new prototype in it. ``score`` None
        reports the lexical similarity to that prototype."""
        best = self._best_prototype_in(vec, dev_id)
        if best is not None:
            pid, dot = best
            self._add_to_prototype(pid, self._prototypes[pid], vec, dot, when)
        else:
            # Few words in common (another language, a rewording): the item opens a
            # prototype of its own inside the development, so its next copies find it
            # by their words.
            pid, dot = self._new_prototype(dev_id, vec, when), 0.0
        self._remember_item(vec, pid)
        self._touch(self._developments[dev_id], item, when)
        return self._kind(dev_id, facts, dot if score is None else score, item.published, update_if)

    def _best_prototype_in(self, vec: dict[str, float], dev_id: int) -> tuple[int, float] | None:
        """The development's prototype nearest the item, if near enough to absorb it."""
        cfg = self.config
        postings, protos, find = self._postings, self._prototypes, self._find
        acc: dict[int, float] = {}
        for t, x in vec.items():
            plist = postings.get(t)
            if plist and len(plist) <= cfg.candidate_postings:
                for pid, w in plist.items():
                    if find(protos[pid].group) == dev_id:
                        acc[pid] = acc.get(pid, 0.0) + x * w
        if not acc:
            return None
        pid = max(acc, key=lambda p: (acc[p] * self._scale[p][0], -p))
        if acc[pid] * self._scale[pid][0] < 0.5 * self._threshold(len(vec)):
            return None
        return pid, acc[pid]

    def _start(self, item: Item, vec: _TermVector, when: float, facts: frozenset[str]) -> Assignment:
        dev_id = self._new_development(item, vec, when)
        self._remember_item(vec, dev_id)
        self._remember(self._developments[dev_id], sorted(facts))
        return Assignment(dev_id, "new", (), 0.0)

    def _join_prototype(
        self,
        item: Item,
        vec: _TermVector,
        when: float,
        facts: frozenset[str],
        ranked: list[tuple[float, int, float]],
    ) -> Assignment:
        score, proto_id, dot = ranked[0]
        proto = self._prototypes[proto_id]
        self._add_to_prototype(proto_id, proto, vec, dot, when)
        self._remember_item(vec, proto_id)
        dev_id = self._find(proto.group)
        dev_id = self._merge_bridged(proto_id, dev_id, ranked[1:4], len(vec))
        self._touch(self._developments[dev_id], item, when)
        return self._kind(dev_id, facts, score, item.published)

    def _kind(
        self,
        dev_id: int,
        facts: frozenset[str],
        score: float,
        when: datetime | None = None,
        update_if: Callable[[Sequence[str]], bool] | None = None,
    ) -> Assignment:
        """``update`` when the item states facts the development lacked, else ``rereport``.

        By default a new number or date makes an update, or enough new names
        (``update_names``); ``update_if`` decides instead when given."""
        dev = self._developments[dev_id]
        added = new_facts(facts, dev.facts, dev.stems, when)
        names = sum(1 for f in added if not is_number(f) and " " not in f)
        if update_if is not None:
            is_update = bool(added) and update_if(added)
        else:
            is_update = bool(added) and (len(added) > names or names >= self.config.update_names)
        if is_update:
            self._remember(dev, added)
            return Assignment(dev_id, "update", tuple(added), score)
        return Assignment(dev_id, "rereport", (), score)

    def merge(self, a: int, b: int) -> int:
        """Merge two active developments found to be one event; returns the surviving id."""
        a, b = self._find(a), self._find(b)
        if a == b or a not in self._developments or b not in self._developments:
            return a
        keep = self._merge(a, b)
        # The merged group's prototypes now answer to the surviving id.
        return keep

    def facts_of(self, development_id: int) -> KnownFacts | None:
        """What an active development has stated so far, or None once it has left: its
        facts, their name stems and their numbers, kept in step as it learns more. The
        sets are the development's own (copy them to keep them across a merge)."""
        dev = self._developments.get(self._find(development_id))
        return KnownFacts(dev.facts, dev.stems, dev.numbers) if dev is not None else None

    def _threshold(self, n_terms: int) -> float:
        cfg = self.config
        threshold = cfg.threshold
        if n_terms > cfg.boost_reference_terms:
            # A long item shares a smaller part of its weight even with its own event.
            threshold *= (cfg.boost_reference_terms / n_terms) ** cfg.threshold_length_exponent
        return threshold

    def join(self, development_id: int, item: Item) -> int:
        """Record that ``item`` (a copy the dedup found) belongs to a development.

        Returns the development's current id (it may have merged since), or -1 when
        it has left the active set, in which case nothing is recorded.
        """
        dev_id = self.resolve(development_id)
        dev = self._developments.get(dev_id)
        if dev is None or dev.prototypes == 0:
            return -1
        when = item.published.timestamp()
        if when > self._now:
            self._now = when
        self._touch(dev, item, when)
        return dev_id

    def resolve(self, development_id: int) -> int:
        """The id a development goes by now (after merges)."""
        return self._find(development_id)

    def info(self, development_id: int) -> DevelopmentInfo | None:
        """What is known about an active development, or None once it has left."""
        dev_id = self._find(development_id)
        dev = self._developments.get(dev_id)
        if dev is None:
            return None
        return DevelopmentInfo(
            dev_id,
            dev.title,
            datetime.fromtimestamp(dev.first_seen, UTC),
            datetime.fromtimestamp(dev.last_seen, UTC),
            dev.items,
            tuple(dev.outlets),
        )

    def active(self) -> list[int]:
        """Ids of the developments in the active set, oldest first."""
        return sorted(self._developments)

    def __len__(self) -> int:
        return len(self._developments)

    # -- persistence ----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-able values (see :meth:`from_dict`)."""
        protos: dict[str, Any] = {}
        for pid, p in self._prototypes.items():
            protos[str(pid)] = {
                "group": p.group,
                "size": p.size,
                "last_seen": p.last_seen,
                "norm2": p.norm2,
                "centroid": {t: self._postings[t][pid] for t in p.terms},
            }
        devs = {
            str(did): {
                "title": d.title,
                "first_seen": d.first_seen,
                "last_seen": d.last_seen,
                "items": d.items,
                "outlets": d.outlets,
                "facts": sorted(d.facts),
                "prototypes": d.prototypes,
            }
            for did, d in self._developments.items()
        }
        return {
            "version": 1,
            "config": asdict(self.config),
            "df": self._df,
            "docs": self._docs,
            "now": self._now if math.isfinite(self._now) else None,
            "next_id": self._next_id,
            "prototypes": protos,
            "developments": devs,
            "merged": {str(k): v for k, v in self._merged.items()},
            "since_sweep": self._since_sweep,
            "swept_at": self._swept_at if math.isfinite(self._swept_at) else None,
            "items_seen": self._items_seen,
            "item_postings": {t: [list(p) for p in plist] for t, plist in self._item_postings.items()},
            "item_window": [[i, pid, list(ts)] for i, pid, ts in self._item_window],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Developments:
        """Rebuild the state :meth:`to_dict` produced; decisions continue identically."""
        if data.get("version") != 1:
            raise ValueError(f"unsupported developments state version {data.get('version')!r}")
        self = cls(DevelopmentConfig(**data["config"]))
        self._df = {str(k): int(v) for k, v in data["df"].items()}
        self._docs = int(data["docs"])
        self._now = -math.inf if data["now"] is None else float(data["now"])
        self._next_id = int(data["next_id"])
        # Insertion order matters for deterministic tie-breaking: keep the saved order.
        for pid_s, p in data["prototypes"].items():
            pid = int(pid_s)
            centroid: dict[str, float] = p["centroid"]
            self._prototypes[pid] = _Prototype(
                int(p["group"]),
                int(p["size"]),
                float(p["last_seen"]),
                float(p["norm2"]),
                list(centroid),
            )
            for t, w in centroid.items():
                self._postings.setdefault(t, {})[pid] = float(w)
            self._rescale(pid, self._prototypes[pid])
        for did_s, d in data["developments"].items():
            self._developments[int(did_s)] = _Development(
                d["title"],
                float(d["first_seen"]),
                float(d["last_seen"]),
                int(d["items"]),
                list(d["outlets"]),
                set(d["facts"]),
                int(d["prototypes"]),
                stems_of(d["facts"]),
                {f for f in d["facts"] if is_number(f)},
            )
        self._merged = {int(k): int(v) for k, v in data["merged"].items()}
        self._since_sweep = int(data["since_sweep"])
        swept = data.get("swept_at")
        self._swept_at = -math.inf if swept is None else float(swept)
        self._items_seen = int(data["items_seen"])
        for t, plist in data["item_postings"].items():
            self._item_postings[t] = [(int(i), float(w)) for i, w in plist]
        for i, pid, ts in data["item_window"]:
            self._item_window.append((int(i), int(pid), tuple(ts)))
            self._item_proto[int(i)] = int(pid)
        return self

    # -- internals ------------------------------------------------------------

    def _vector(self, item: Item, count: bool = True) -> _TermVector:
        """The item's unit TF-IDF vector; counts the item into the document frequencies
        (with ``count`` False, weighs it as if counted but changes nothing)."""
        tf: dict[str, float] = {}
        cfg = self.config
        tw = cfg.title_weight
        title_terms = terms(item.title)
        for t in title_terms:
            tf[t] = tf.get(t, 0.0) + tw
        if item.summary:
            for t in terms(item.summary):
                tf[t] = tf.get(t, 0.0) + 1.0
        if cfg.prefix_weight > 0 and tf:
            n = cfg.prefix_length
            # Prefixes stand in for stemming where words are few; a long text has
            # enough exact words, so their weight shrinks like the size prior's.
            pw = cfg.prefix_weight * min(1.0, math.sqrt(cfg.boost_reference_terms / len(tf)))
            for t in dict.fromkeys(title_terms):  # not a set: its order varies per process
                if len(t) > n and not t.isdigit():
                    key = "#" + t[:n]  # "#" never occurs in a word, so no clash
                    tf[key] = tf.get(key, 0.0) + pw * tw
        df = self._df
        if count:
            self._docs += 1
            for t in tf:
                df[t] = df.get(t, 0) + 1
            if len(df) > self.config.max_vocabulary:
                self._prune_vocabulary()
        docs1 = self._docs + 1 + cfg.prior_documents + (0 if count else 1)
        extra = 0 if count else 1
        vec = _TermVector()
        norm2 = 0.0
        for t, c in tf.items():
            # Sublinear TF (1 + ln tf) times IDF; a word in every document weighs nothing.
            w = (1.0 + math.log(c)) * math.log(docs1 / (1 + df.get(t, 0) + extra))
            vec[t] = w
            norm2 += w * w
        if norm2 <= 0:
            return _TermVector()
        inv = 1.0 / math.sqrt(norm2)
        for t in vec:
            vec[t] *= inv
        return vec

    def _ranked(
        self, vec: _TermVector, when: float, votes: dict[int, float] | None
    ) -> list[tuple[float, int, float]]:
        """Prototypes scoring at least the threshold, best first: ``(score, id, dot)``.

        ``votes`` (development -> vote added to its prototypes' scores) are the lexical
        neighbours' when None, found only once some prototype shares a term.

        Scores are accumulated term by term over the inverted index, so only
        prototypes sharing a term are touched; the size prior and the norm are one
        cached factor per prototype, and decay (at most 1) is computed only for
        those that could still pass.
        """
        cfg = self.config
        # Long items look prototypes up by their heaviest terms only; the rest of the
        # dot product is added for the prototypes that come near the threshold.
        postings = self._postings
        probe, rest = vec.heaviest(cfg.candidate_terms)
        # A word in very many prototypes (a common word) finds no particular event;
        # it only counts towards the candidates the other words found.
        cap = cfg.candidate_postings
        common = [tw for tw in probe if len(postings.get(tw[0], ())) > cap]
        if common and len(common) < len(probe):
            probe = [tw for tw in probe if len(postings.get(tw[0], ())) <= cap]
            rest += common
        acc: dict[int, float] = {}
        get = acc.get
        for t, x in probe:
            plist = postings.get(t)
            if plist:
                for pid, w in plist.items():
                    acc[pid] = get(pid, 0.0) + x * w
        if not acc:
            return []
        threshold = self._threshold(len(vec))
        near = threshold * 0.8 if rest else threshold
        decay_rate = math.log(2) / (cfg.half_life_hours * 3600.0)
        scale = self._scale
        protos = self._prototypes
        boost = cfg.size_boost * min(1.0, math.sqrt(cfg.boost_reference_terms / len(vec)))
        if votes is None:
            votes = self._neighbour_votes(vec) if cfg.neighbour_weight > 0 else {}
        best_vote = max(votes.values(), default=0.0)
        find = self._find
        ranked: list[tuple[float, int, float]] = []
        for pid, dot in acc.items():
            inv_norm, log_size = scale[pid]
            factor = inv_norm * (1.0 + boost * log_size)
            if dot * factor + best_vote < near:
                continue
            proto = protos[pid]
            vote = votes.get(find(proto.group), 0.0) if votes else 0.0
            if dot * factor + vote < near:
                continue
            for t, x in rest:
                plist = postings.get(t)
                if plist:
                    weight = plist.get(pid)
                    if weight is not None:
                        dot += x * weight
            score = dot * factor + vote
            if score < threshold:
                continue
            gap = abs(when - proto.last_seen)
            if gap > 0:
                score *= math.exp(-decay_rate * gap)
                if score < threshold:
                    continue
            ranked.append((score, pid, dot))
        # Ties go to the older prototype, so the order is fully determined.
        ranked.sort(key=lambda r: (-r[0], r[1]))
        return ranked

    def _neighbour_votes(self, vec: _TermVector) -> dict[int, float]:
        """Development id -> weighted mean cosine of its nearest recent items.

        Only the item's heaviest terms look for neighbours and only neighbours with
        a cosine of at least ``neighbour_min_similarity`` vote: nearest neighbours
        share the rare words, and the long tail would cost time without moving a
        top-3 mean.
        """
        cfg = self.config
        probe = vec.heaviest(cfg.neighbour_terms)[0]
        sims: dict[int, float] = {}
        get = sims.get
        postings = self._item_postings
        for t, x in probe:
            plist = postings.get(t)
            if plist:
                for i, w in plist:
                    sims[i] = get(i, 0.0) + x * w
        floor = cfg.neighbour_min_similarity
        near = sorted(((sim, i) for i, sim in sims.items() if sim >= floor), reverse=True)
        if not near:
            return {}
        k = cfg.neighbours
        per_dev: dict[int, list[float]] = {}
        protos, item_proto, find = self._prototypes, self._item_proto, self._find
        for sim, i in near:
            pid = item_proto.get(i)
            proto = protos.get(pid) if pid is not None else None
            if proto is not None:
                found = per_dev.setdefault(find(proto.group), [])
                if len(found) < k:  # ``near`` is best first: the first k are the top k
                    found.append(sim)
        weight = cfg.neighbour_weight / k
        return {dev: weight * sum(found) for dev, found in per_dev.items()}

    def _remember_item(self, vec: _TermVector, pid: int) -> None:
        """Let the item vote for its development while it is among the recent ones."""
        cfg = self.config
        if cfg.neighbour_weight <= 0:
            return
        n = self._items_seen
        self._items_seen += 1
        cap = cfg.neighbour_postings
        postings = self._item_postings
        # Index the item's heaviest terms only, as probes use only theirs: two reports
        # of one event share their heavy words.
        kept = vec.heaviest(2 * cfg.neighbour_terms)[0]
        for t, x in kept:
            plist = postings.get(t)
            if plist is None:
                postings[t] = [(n, x)]
            else:
                plist.append((n, x))
                if len(plist) > cap:
                    del plist[0]
        self._item_proto[n] = pid
        self._item_window.append((n, pid, tuple(t for t, _ in kept)))
        while len(self._item_window) > cfg.neighbour_window:
            old, _, old_terms = self._item_window.popleft()
            del self._item_proto[old]
            # Lists are in arrival order, so the oldest item is first where it remains.
            for t in old_terms:
                plist = postings.get(t)
                if plist and plist[0][0] == old:
                    del plist[0]
                    if not plist:
                        del postings[t]

    def _rescale(self, pid: int, proto: _Prototype) -> None:
        """Cache the prototype's inverse centroid norm and log size."""
        self._scale[pid] = (1.0 / math.sqrt(proto.norm2), math.log(proto.size))

    def _add_to_prototype(
        self, pid: int, proto: _Prototype, vec: dict[str, float], dot: float, when: float
    ) -> None:
        postings = self._postings
        for t, x in vec.items():
            plist = postings.get(t)
            if plist is None:
                postings[t] = {pid: x}
                proto.terms.append(t)
            elif pid in plist:
                plist[pid] += x
            else:
                plist[pid] = x
                proto.terms.append(t)
        # |c + v|^2 = |c|^2 + 2 c.v + |v|^2, with |v| = 1.
        proto.norm2 += 2.0 * dot + 1.0
        if len(proto.terms) > 2 * self.config.max_terms:
            self._truncate(pid, proto)
        proto.size += 1
        proto.last_seen = max(proto.last_seen, when)
        self._rescale(pid, proto)

    def _truncate(self, pid: int, proto: _Prototype) -> None:
        """Keep a prototype's ``max_terms`` heaviest terms (ties: the earlier term)."""
        postings = self._postings
        weighted = [(postings[t][pid], i, t) for i, t in enumerate(proto.terms)]
        # Heaviest first; the sort is stable, so equal weights keep the earlier term first.
        weighted.sort(key=itemgetter(0), reverse=True)
        keep = self.config.max_terms
        for _, _, t in weighted[keep:]:
            plist = postings[t]
            del plist[pid]
            if not plist:
                del postings[t]
        kept = sorted(weighted[:keep], key=itemgetter(1))
        proto.terms = [t for _, _, t in kept]
        proto.norm2 = sum(w * w for w, _, _ in kept)

    def _new_development(self, item: Item, vec: dict[str, float], when: float) -> int:
        pid = self._next_id  # a development's id is its first prototype's
        self._developments[pid] = _Development(
            title=item.title,
            first_seen=when,
            last_seen=when,
            items=1,
            outlets=[item.outlet] if item.outlet else [],
            facts=set(),
            prototypes=0,
        )
        return self._new_prototype(pid, vec, when)

    def _new_prototype(self, dev_id: int, vec: dict[str, float], when: float) -> int:
        """A fresh prototype in an existing development's group."""
        pid = self._next_id
        self._next_id += 1
        proto = _Prototype(group=dev_id, size=1, last_seen=when, norm2=1.0, terms=list(vec))
        self._prototypes[pid] = proto
        self._rescale(pid, proto)
        postings = self._postings
        for t, x in vec.items():
            plist = postings.get(t)
            if plist is None:
                postings[t] = {pid: x}
            else:
                plist[pid] = x
        self._developments[dev_id].prototypes += 1
        return pid

    def _merge_bridged(
        self, pid: int, dev_id: int, others: Iterable[tuple[float, int, float]], n_terms: int
    ) -> int:
        """Merge developments the item bridges, if their prototypes are alike too.

        A long item bridges two events more easily (it mentions more), so the bar on
        the centroids rises with its length, as the size prior fades.
        """
        cfg = self.config
        ratio = min(1.0, cfg.boost_reference_terms / max(1, n_terms))
        bar = 1.0 - (1.0 - cfg.merge_similarity) * ratio**cfg.merge_length_exponent
        for score, qid, _ in others:
            # Only a strong bridge (above the base threshold, whatever the length) merges.
            if score < cfg.threshold:
                break
            other = self._find(self._prototypes[qid].group)
            if other == dev_id:
                continue
            if self._centroid_cosine(pid, qid) >= bar:
                dev_id = self._merge(dev_id, other)
        return dev_id

    def _centroid_cosine(self, a: int, b: int) -> float:
        pa, pb = self._prototypes[a], self._prototypes[b]
        if len(pa.terms) > len(pb.terms):
            a, b, pa, pb = b, a, pb, pa
        postings = self._postings
        dot = 0.0
        for t in pa.terms:
            plist = postings[t]
            wb = plist.get(b)
            if wb is not None:
                dot += plist[a] * wb
        return dot / math.sqrt(pa.norm2 * pb.norm2)

    def _merge(self, a: int, b: int) -> int:
        """Merge two developments; the older (smaller) id survives."""
        keep, gone = (a, b) if a < b else (b, a)
        dk, dg = self._developments[keep], self._developments.pop(gone)
        dk.first_seen = min(dk.first_seen, dg.first_seen)
        dk.last_seen = max(dk.last_seen, dg.last_seen)
        dk.items += dg.items
        dk.prototypes += dg.prototypes
        for o in dg.outlets:
            if o not in dk.outlets and len(dk.outlets) < _MAX_OUTLETS:
                dk.outlets.append(o)
        self._remember(dk, sorted(dg.facts))
        self._merged[gone] = keep
        return keep

    def _find(self, dev_id: int) -> int:
        merged = self._merged
        root = dev_id
        while root in merged:
            root = merged[root]
        # Path compression keeps later look-ups short.
        while dev_id in merged and merged[dev_id] != root:
            merged[dev_id], dev_id = root, merged[dev_id]
        return root

    def _touch(self, dev: _Development, item: Item, when: float) -> None:
        dev.items += 1
        dev.last_seen = max(dev.last_seen, when)
        if item.outlet and item.outlet not in dev.outlets and len(dev.outlets) < _MAX_OUTLETS:
            dev.outlets.append(item.outlet)

    def _remember(self, dev: _Development, facts: Iterable[str]) -> None:
        room = self.config.max_facts - len(dev.facts)
        for f in facts:
            if room <= 0:
                break
            if f not in dev.facts:
                dev.facts.add(f)
                if is_number(f):
                    dev.numbers.add(f)
                else:
                    dev.stems.update(map(name_stem, f.split()))  # stems_of((f,)) without a set per fact
                room -= 1

    def _rare_facts(self, item: Item, vec: dict[str, float]) -> frozenset[str]:
        """Facts of text without capitals: words rare enough to name something."""
        text = item.text
        if text != text.lower():
            return frozenset()
        limit = self.config.rare_fact_idf
        docs1 = self._docs + 1 + self.config.prior_documents

        def rare(df: int) -> bool:
            return math.log(docs1 / (1 + df)) >= limit

        # The IDF falls as the count rises, so "rare" is a count of at most ``most``: the
        # largest one that passes, found next to its estimate by the test itself.
        most = int(docs1 / math.exp(limit)) - 1
        while rare(most + 1):
            most += 1
        while most >= 0 and not rare(most):
            most -= 1
        df = self._df
        return frozenset(t for t in vec if len(t) > 3 and t[0] != "#" and df[t] <= most)

    def _maybe_sweep(self) -> None:
        """Every 256 items, or when time has moved on by half the quiet period, drop
        prototypes that have been quiet too long."""
        self._since_sweep += 1
        quiet = self.config.quiet_hours * 3600.0
        if self._since_sweep < 256 and self._now - self._swept_at < quiet / 2:
            return
        self._since_sweep = 0
        self._swept_at = self._now
        horizon = self._now - self.config.quiet_hours * 3600.0
        stale = [pid for pid, p in self._prototypes.items() if p.last_seen < horizon]
        for pid in stale:
            proto = self._prototypes.pop(pid)
            del self._scale[pid]
            for t in proto.terms:
                plist = self._postings[t]
                del plist[pid]
                if not plist:
                    del self._postings[t]
            dev_id = self._find(proto.group)
            dev = self._developments.get(dev_id)
            if dev is not None:
                dev.prototypes -= 1
                if dev.prototypes <= 0:
                    del self._developments[dev_id]
        if stale:
            live = set(self._developments)
            self._merged = {k: v for k, v in self._merged.items() if self._find(v) in live}

    def _prune_vocabulary(self) -> None:
        """Forget words seen once (and in no live centroid) when the vocabulary is full."""
        postings = self._postings
        self._df = {t: n for t, n in self._df.items() if n > 1 or t in postings}
