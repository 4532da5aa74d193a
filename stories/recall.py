"""What the tracker remembers of recent items by their sentence vectors.

- :class:`RecallConfig`: the tuning of everything vector-based in the tracker (memory,
  thresholds, and the two fitted models of :mod:`stories.linking`);
- :class:`Recall`: recent items with their unit vectors, bounded by count and time;
- :class:`StoryCentres`: each story's running mean vector, taken out of similarities
  within the story.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Centre", "Recall", "RecallConfig", "Recent", "StoryCentres", "Vector"]

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class RecallConfig:
    """How recent items are remembered with their vectors, and what counts as a copy."""

    max_items: int = 4096
    """Recent items kept with their vectors (float32, 2 KiB each at 512 dimensions)."""
    window_hours: float = 72.0
    """Items older than this (against the newest item time) are forgotten."""
    min_similarity: float = 0.34
    """Vector cosines below this are no evidence of the same event (chosen on the fit
    stories, Wagner and Sudan, with ``candidates``: 0.33-0.35 score alike there, 0.3 and
    0.36 lower; the centre of that plateau)."""
    nearest: int = 32
    """Nearest remembered items an item is compared with (bounds the cost per item)."""
    candidates: int = 3
    """Developments (the nearest items' best) the link model weighs per item (3 chosen on
    the fit stories: a fourth-nearest development was more often a wrong join than a
    right one)."""
    credit_similarity: float = 0.8
    """A reprint that names its origin outlet copies that outlet's most similar recent
    item, if at least this similar (a reprint is close to verbatim; at 0.45 it took
    another report of the outlet on the same story: chosen on the fit stories)."""
    wire_similarity: float = 0.7
    """An item crediting a wire copies another outlet's copy of the same wire story if
    at least this similar and it adds no facts."""
    pending: int = 256
    """Reprints remembered while their original has not arrived."""
    merge_similarity: float = 0.25
    """At each merge check (``merge_story_hours``), two developments whose reports are this alike on
    average (average-link cosine of their sentence vectors, each with its story's mean
    taken out) are merged: one event, found twice. Chosen on the fit stories (Wagner and
    Sudan); the raw-cosine merge it replaced (0.6) gained nothing there."""
    merge_similarity_raw: float = 0.6
    """The same for developments of no watchlist story, by raw average-link cosine (as
    measured on GoogleNews titles: +0.015 B-cubed; the centred bar chained its topics)."""
    merge_every: int = 32
    """Items between two merge checks."""
    merge_story_hours: float = 3.0
    """Developments of watched stories are checked for merges by the items' own time, every
    this many hours (at its multiples since the epoch), not every ``merge_every`` items:
    counted items made where a story's checks fell depend on how many items of other
    stories came before it, which moved a story's figures by up to 0.17 of the fit
    objective. Chosen on the fit stories (Wagner and Sudan): 3-12 hours score alike
    (6.33-6.36, the 32-item count 6.357 averaged over its phases), 1-2 hours worse (6.18-
    6.22); the shortest period of that plateau, so a split event is mended soonest. 0: by
    count, as before."""
    merge_gap_hours: float = 36.0
    """Only developments active within this time of each other merge."""
    centre_decay: float = 1 / 256
    """Each story's mean vector (see :class:`StoryCentres`) forgets this share per item."""
    centre_prior: float = 8.0
    """...and counts as this many zero vectors more, so a young story's mean is weak."""
    link_bias: float = -5.296
    link_weights: tuple[float, ...] = (
        1.985,
        1.573,
        4.127,
        6.698,
        1.368,
        0.114,
        0.059,
        -2.352,
        -0.177,
        0.0,
        1.421,
        -3.049,
    )
    """A logistic model over :data:`LINK_FEATURES`: an item joins the development with
    the highest ``bias + weights . features`` if that is above 0, else starts one.
    Fitted by ``bench/fit_tracker.py`` on two stories of the development corpus (Wagner
    and Sudan; Venezuela and Turkey-Syria are held out), as the README says."""
    kind_bias: float = -0.281
    kind_weights: tuple[float, ...] = (1.646, 0.337, 0.253, -1.327, 1.089, 0.246, -1.052, -0.975, -1.573)
    """A logistic model over :data:`KIND_FEATURES`: an item that joins a development and
    states facts it lacked is an ``update`` if ``bias + weights . features`` is above 0,
    else a ``rereport`` (a copy that words a known fact anew). Empty: the lexical rule
    (a new number or date, or enough new names). Fitted like the link model, on the updates
    and re-reports whose title does not label them commentary (those are never updates)."""


@dataclass(slots=True)
class Recent:
    """One remembered item: which development it is in, when, from whom."""

    key: int
    development: int
    when: float
    outlet: str
    wire: str | None
    original: bool  # not itself a copy
    language: str = ""
    centre: int = -1  # the story whose mean is taken out of its vector (see StoryCentres)


GRID = 2048.0
"""Vectors are compared on a grid of 1/2048 per component (see :func:`on_grid`)."""


def on_grid(vector: Vector) -> Vector:
    """``vector`` rounded to multiples of 1/2048 (float32; 2.4e-4 at most per component).

    On this grid a dot product of two unit vectors is exact in float32 whatever order its
    terms are summed in: each product is a multiple of 2^-22 below 1, and so is every
    partial sum (of magnitude at most about 1), which float32 holds exactly. So a cosine
    is the same number computed one item at a time, as a batch's matrix product (see
    :meth:`Recall.prepare`) or by another CPU's BLAS kernels, and a replay after a
    restart decides exactly as the poll batches did. The grid's values are exact in the
    stored float16 too.
    """
    scaled = np.round(np.asarray(vector, dtype=np.float32) * np.float32(GRID))
    return (scaled / np.float32(GRID)).astype(np.float32, copy=False)


@dataclass(slots=True)
class _Prepared:
    first: int  # the first and past-the-last rows (counted as ``Recall._added``) compared
    end: int
    sims: npt.NDArray[np.float32]  # rows x batch items
    columns: dict[int, int]  # an item's key -> its column


class Recall:
    """Recent items with their unit vectors, for same-event similarity."""

    def __init__(self, config: RecallConfig) -> None:
        self.config = config
        self.dim = 0
        # Rows start..start+len(meta) of the buffer hold the remembered vectors, oldest
        # first; the buffer is compacted when it runs out at the end.
        self._buffer: Vector = np.zeros((0, 0), dtype=np.float32)
        # Each row's development id as first decided, beside its vector (for array-wide
        # look-ups: which rows belong to some developments).
        self._devs: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._whens: npt.NDArray[np.float64] = np.zeros(0, dtype=np.float64)
        self._centres: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._start = 0
        self.meta: deque[Recent] = deque()
        self.now = -math.inf
        # Rows ever added: row ``i`` of ``meta`` is the ``added - len(meta) + i``-th.
        self._added = 0
        # A batch's similarities to the rows remembered when it was prepared (see prepare).
        self._prepared: _Prepared | None = None
        # Per development id as decided, the sum of its rows of no watched story, kept as
        # rows come and go: the merge check reads a group's sum instead of gathering its
        # rows. Rows are on the 1/2048 grid, so while a development has at most 8,192 rows
        # (the recall keeps 4,096 in all) every sum is a multiple of 2^-11 below 2^13,
        # which float32 holds exactly: the same numbers whatever the order of adding and
        # taking away, and the same as summing the rows.
        self._raw_sums: dict[int, Vector] = {}
        self._raw_counts: dict[int, int] = {}

    @property
    def vectors(self) -> Vector:
        return self._buffer[self._start : self._start + len(self.meta)]

    @property
    def developments(self) -> npt.NDArray[np.int64]:
        """Each remembered row's development id as decided (row order as ``meta``)."""
        return self._devs[self._start : self._start + len(self.meta)]

    @property
    def whens(self) -> npt.NDArray[np.float64]:
        """Each remembered row's time (``Recent.when``)."""
        return self._whens[self._start : self._start + len(self.meta)]

    @property
    def centres(self) -> npt.NDArray[np.int64]:
        """Each remembered row's story centre (``Recent.centre``)."""
        return self._centres[self._start : self._start + len(self.meta)]

    def _columns(self) -> None:
        size = len(self._buffer)
        self._devs = np.zeros(size, dtype=np.int64)
        self._whens = np.zeros(size, dtype=np.float64)
        self._centres = np.zeros(size, dtype=np.int64)

    def add(self, vector: Vector, entry: Recent) -> None:
        if self.dim == 0:
            self.dim = int(vector.shape[0])
            self._buffer = np.zeros((2 * self.config.max_items + 1, self.dim), dtype=np.float32)
            self._columns()
        if vector.shape[0] != self.dim:
            return
        self.now = max(self.now, entry.when)
        end = self._start + len(self.meta)
        if end >= len(self._buffer):
            n = len(self.meta)
            self._buffer[:n] = self._buffer[self._start : end]
            for column in (self._devs, self._whens, self._centres):
                column[:n] = column[self._start : end]
            self._start, end = 0, n
        self._buffer[end] = vector
        if entry.centre == -1:
            self._count_raw(entry.development, self._buffer[end], 1)
        self._devs[end] = entry.development
        self._whens[end] = entry.when
        self._centres[end] = entry.centre
        self.meta.append(entry)
        self._added += 1
        self._evict()

    def advance(self, when: float) -> None:
        """Move the clock to an item's time, forgetting items now out of the window."""
        if when > self.now:
            self.now = when
            self._evict()

    def _evict(self) -> None:
        cfg = self.config
        horizon = self.now - cfg.window_hours * 3600.0
        meta = self.meta
        while meta and (len(meta) > cfg.max_items or meta[0].when < horizon):
            gone = meta.popleft()
            if gone.centre == -1:
                self._count_raw(gone.development, self._buffer[self._start], -1)
            self._start += 1

    def _count_raw(self, development: int, row: Vector, sign: int) -> None:
        total = self._raw_sums.get(development)
        if total is None:
            if sign > 0:  # (a row leaving was always counted in)
                self._raw_sums[development] = row.copy()
                self._raw_counts[development] = 1
            return
        if sign > 0:
            total += row
            self._raw_counts[development] += 1
        else:
            total -= row
            self._raw_counts[development] -= 1
            if not self._raw_counts[development]:
                del self._raw_sums[development], self._raw_counts[development]

    def raw_sum(self, development: int) -> Vector | None:
        """The sum of a development's remembered rows of no watched story (by the id its
        rows were decided into), exact; None if it has none."""
        return self._raw_sums.get(development)

    def prepare(self, vectors: Mapping[int, Vector]) -> None:
        """Compare a batch of items about to be observed (their vectors by key) with every
        remembered row at once: one matrix product instead of one pass over all rows per
        item (which reads the whole window, 8 MB at 4,096 rows, for each item).
        :meth:`similar`, given an item's key, then reads its column and compares it only
        with the rows added since."""
        rows = {k: v for k, v in vectors.items() if self.dim and v.shape[0] == self.dim}
        if not rows or not self.meta:
            self._prepared = None
            return
        sims = self.vectors @ np.stack(list(rows.values())).T
        columns = {k: n for n, k in enumerate(rows)}
        self._prepared = _Prepared(self._added - len(self.meta), self._added, sims, columns)

    def _similarities(self, vector: Vector, key: int | None) -> npt.NDArray[np.float32]:
        pre = self._prepared
        col = pre.columns.get(key) if pre is not None and key is not None else None
        if pre is None or col is None:
            sims: npt.NDArray[np.float32] = self.vectors @ vector
            return sims
        first = self._added - len(self.meta)  # rows only leave from the front
        kept = pre.sims[max(0, first - pre.first) :, col]
        fresh = self.vectors[max(0, pre.end - first) :]
        if not len(fresh):
            return kept
        return np.concatenate([kept, fresh @ vector])

    def similar(self, vector: Vector, key: int | None = None) -> list[tuple[float, int]]:
        """``(cosine, index)`` of the ``nearest`` remembered items at least ``min_similarity``
        alike, best first. ``key``: the item's key if its vector (this one) was prepared."""
        if not self.meta or self.dim != vector.shape[0]:
            return []
        sims = self._similarities(vector, key)
        idx = np.nonzero(sims >= self.config.min_similarity)[0]
        k = self.config.nearest
        if len(idx) > k:
            idx = idx[np.argpartition(-sims[idx], k - 1)[:k]]
        # Ties go to the older item, so the order is fully determined.
        found = sims[idx]
        order = np.lexsort((idx, -found))
        return list(zip(found[order].tolist(), idx[order].tolist(), strict=True))

    def done(self) -> None:
        """Forget a prepared batch (see :meth:`prepare`)."""
        self._prepared = None

    def to_dict(self) -> dict[str, Any]:
        data = np.asarray(self.vectors, dtype=np.float16).tobytes()
        return {
            "dim": self.dim,
            "now": self.now if math.isfinite(self.now) else None,
            "vectors": base64.b64encode(data).decode(),
            "meta": [
                [m.key, m.development, m.when, m.outlet, m.wire, m.original, m.language, m.centre]
                for m in self.meta
            ],
        }

    @classmethod
    def from_dict(cls, config: RecallConfig, data: Mapping[str, Any]) -> Recall:
        self = cls(config)
        self.dim = int(data["dim"])
        self.now = -math.inf if data["now"] is None else float(data["now"])
        self.meta = deque(
            Recent(int(k), int(d), float(w), str(o), w2, bool(orig), str(lang), int(c))
            for k, d, w, o, w2, orig, lang, c in (
                row if len(row) == 8 else [*row, -1] for row in data["meta"]
            )
        )
        self._added = len(self.meta)
        if self.dim:
            raw = np.frombuffer(base64.b64decode(data["vectors"]), dtype=np.float16).astype(np.float32)
            self._buffer = np.zeros((2 * config.max_items + 1, self.dim), dtype=np.float32)
            self._buffer[: len(self.meta)] = raw.reshape((-1, self.dim))
            self._columns()
            n = len(self.meta)
            self._devs[:n] = [m.development for m in self.meta]
            self._whens[:n] = [m.when for m in self.meta]
            self._centres[:n] = [m.centre for m in self.meta]
            for i, m in enumerate(self.meta):
                if m.centre == -1:
                    self._count_raw(m.development, self._buffer[i], 1)
        return self


class StoryCentres:
    """Each story's running mean vector, to take out of similarities within the story.

    All reports of one story share what the story is about (Sudan, its war, its
    generals); what tells one development from another is what is left once that
    common part is taken out. Cosines of the centred vectors separate same-development
    pairs from other developments of the story better than raw cosines (measured on the
    development corpus: pair AUC 0.889 -> 0.941 on Venezuela, 0.916 -> 0.946 on
    Wagner). The mean is a decayed sum over the story's items in the order they are
    observed, so it is as deterministic as every other decision.

    A multilingual encoder also puts each language somewhere of its own: the story's
    Russian reports share a part that its English ones lack. So each language of a story
    has its own mean (shrunk towards the story's by ``centre_prior`` items), and each
    vector is centred by its language's: same-development pairs across the corpus's
    three stories then stand out better still, across languages and within one (causal
    pair AUC 0.955 / 0.945 / 0.946 -> 0.961 / 0.955 / 0.954 on Sudan / Venezuela /
    Wagner, with the same prior anywhere from 4 to 32; see the README).
    """

    def __init__(self, config: RecallConfig) -> None:
        self.config = config
        self.sums: dict[int, Vector] = {}
        self.counts: dict[int, float] = {}
        # Per story, its languages' sums and counts (looked up per story, as items ask).
        self.language_sums: dict[int, dict[str, Vector]] = {}
        self.language_counts: dict[int, dict[str, float]] = {}

    def mean(self, story: int) -> Vector | None:
        total = self.sums.get(story)
        if total is None:
            return None
        return total / np.float32(self.counts[story] + self.config.centre_prior)

    def centre(self, story: int) -> Centre | None:
        """The story's means as they are now (None: no item of it yet)."""
        mean = self.mean(story)
        if mean is None:
            return None
        prior = np.float32(self.config.centre_prior)
        counts = self.language_counts.get(story, {})
        languages: dict[str, Vector] = {
            language: np.asarray(
                (total + prior * mean) / np.float32(counts[language] + prior), dtype=np.float32
            )
            for language, total in self.language_sums.get(story, {}).items()
        }
        return Centre(mean, languages)

    def add(self, story: int, vector: Vector, language: str = "") -> None:
        keep = np.float32(1.0 - self.config.centre_decay)
        self._add(self.sums, self.counts, story, vector, keep)
        if language and story != -1:
            sums = self.language_sums.setdefault(story, {})
            self._add(sums, self.language_counts.setdefault(story, {}), language, vector, keep)

    @staticmethod
    def _add(
        sums: dict[Any, Vector], counts: dict[Any, float], key: Any, vector: Vector, keep: np.float32
    ) -> None:
        total = sums.get(key)
        if total is None or total.shape != vector.shape:
            sums[key] = vector.astype(np.float32, copy=True)
            counts[key] = 1.0
        else:
            total *= keep
            total += vector
            counts[key] = counts[key] * float(keep) + 1.0

    def to_dict(self) -> dict[str, Any]:
        out = {
            str(k): [self.counts[k], base64.b64encode(np.asarray(v, dtype=np.float32).tobytes()).decode()]
            for k, v in sorted(self.sums.items())
        }
        for story, sums in sorted(self.language_sums.items()):
            for language, v in sorted(sums.items()):
                out[f"{story}/{language}"] = [
                    self.language_counts[story][language],
                    base64.b64encode(np.asarray(v, dtype=np.float32).tobytes()).decode(),
                ]
        return out

    @classmethod
    def from_dict(cls, config: RecallConfig, data: Mapping[str, Any]) -> StoryCentres:
        self = cls(config)
        for k, (count, raw) in data.items():
            vector = np.frombuffer(base64.b64decode(raw), dtype=np.float32).copy()
            story, _, language = k.partition("/")
            if language:
                self.language_sums.setdefault(int(story), {})[language] = vector
                self.language_counts.setdefault(int(story), {})[language] = float(count)
            else:
                self.sums[int(k)] = vector
                self.counts[int(k)] = float(count)
        return self


@dataclass(frozen=True, slots=True)
class Centre:
    """One story's means at one moment: the story's and each of its languages'."""

    story: Vector
    languages: dict[str, Vector]

    def of(self, language: str) -> Vector:
        """The mean a vector in ``language`` is centred by."""
        return self.languages.get(language, self.story)

    def centred(
        self, language: str, vector: Vector, rows: Vector, row_languages: Sequence[str], raw: Sequence[float]
    ) -> list[float]:
        """Cosines of ``vector`` (in ``language``) with each of ``rows`` (``raw`` their plain
        cosines), each side's language mean taken out of it; all vectors are unit vectors."""
        a = self.of(language)
        b = np.stack([self.of(x) for x in row_languages]) if len(row_languages) else rows[:0]
        aa = float(a @ a)
        va = float(vector @ a)
        vb = b @ vector
        ar = rows @ a
        ab = b @ a
        rb = np.einsum("ij,ij->i", rows, b)
        bb = np.einsum("ij,ij->i", b, b)
        v_norm = math.sqrt(max(1e-12, 1.0 - 2.0 * va + aa))
        r_norm = np.sqrt(np.maximum(1e-12, 1.0 - 2.0 * rb + bb))
        dots = np.asarray(raw, dtype=np.float32) - vb - ar + ab
        return [float(x) for x in dots / (r_norm * v_norm)]
