"""The story tracker: what each new item means for the stories people follow.

For each item, in a canonical order (see :meth:`Tracker.observe_many`)::

    stories   = watchlist queries the item matches                 (stories.matching)
    origin    = the report it says or shows it copies:             (stories.syndication, dedup)
                its canonical link / dc:source / <source> URL, the outlet a reprint
                notice credits, the same title or lead sentence, a near copy of the
                text, or the same wire story in another outlet
    if origin:  a ``rereport`` of it, in its development
    elif it is the original an earlier reprint credited:
                it takes the reprint's place (and kind); the reprint becomes its copy
    else:       a development: with sentence vectors by the link model  (stories.linking)
                over story-centred cosines, names, numbers, time and language; without
                them by the lexical tracker                               (developments)
                ``update`` if the facts it adds make it one (the kind model; without
                vectors, a new number or date or enough new names), else ``rereport``;
                a copy published before its development's lead takes the lead's place
    every 3 hours of the items' own time (a watched story's developments; the others every
    32 items): developments alike on average merge (one event found twice)

Sentence vectors (``stories.encoder``) are optional: without them the tracker is the
lexical one. With them, an item can join a development it shares no word with (a
translation), and a re-report names the nearest item of its development as the one it
copies.

Decisions depend only on the items, their vectors and their order, never on the wall
clock (the items' own times are used), so replaying stored items through a fresh
tracker (:meth:`Tracker.replay`) rebuilds the same state; :meth:`Tracker.dumps` /
:meth:`Tracker.loads` save and load it compactly instead. The watchlist is not part of
that state: pass it again with :meth:`Tracker.set_stories`.

What stands alone lives beside it: vector memory and story means (``stories.recall``),
the two fitted models (``stories.linking``), signals (``stories.syndication``), facts
(``stories.facts``), lexical developments (``stories.developments``). The module is
still over 600 lines: the decision procedure is one object whose steps (origin,
awaited originals, link, kind, merges and the revisions they cause) share its state.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from stories.dedup import DedupConfig, Duplicate, DuplicateIndex
from stories.developments import DevelopmentConfig, DevelopmentInfo, Developments
from stories.facts import extract_facts, is_number, new_facts, shown_first, stems_of, surface, written
from stories.linking import kind_features, kind_score, link_features, link_score
from stories.matching import Matcher
from stories.model import Decision, Item, ItemKind
from stories.query import Query
from stories.recall import Centre, Recall, RecallConfig, Recent, StoryCentres, Vector, on_grid
from stories.syndication import Signals, declared_commentary, outlet_key, read_signals

__all__ = ["RecallConfig", "Tracker", "TrackerConfig", "Vector"]


def _never(added: Sequence[str]) -> bool:
    """The kind rule of an item that cannot be an update."""
    return False


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """The tracker's tuning. The defaults are what newsbot ships."""

    dedup: DedupConfig = field(default_factory=DedupConfig)
    developments: DevelopmentConfig = field(default_factory=DevelopmentConfig)
    recall: RecallConfig = field(default_factory=RecallConfig)


@dataclass(slots=True)
class _Pending:
    key: int
    development: int
    kind: ItemKind
    new_facts: tuple[str, ...]
    stories: frozenset[int]
    credited: str | None
    url: str | None


class Tracker:
    """Decides, item by item in a canonical order, what each item is (see the module doc)."""

    def __init__(
        self,
        config: TrackerConfig | None = None,
        stories: Mapping[int, Query | str] | None = None,
    ) -> None:
        self.config = config or TrackerConfig()
        self._dedup = DuplicateIndex(self.config.dedup)
        self._developments = Developments(self.config.developments)
        self._recall = Recall(self.config.recall)
        self._centres = StoryCentres(self.config.recall)
        self._matcher: Matcher | None = None
        # Syndication look-ups: folded title / lead sentence hash -> (item key,
        # development, outlet key).
        self._by_title: dict[str, tuple[int, int, str, float]] = {}
        self._by_lead: dict[str, tuple[int, int, str, float]] = {}
        self._pending: deque[_Pending] = deque()
        self._revised: list[Decision] = []
        # Recent decisions (for revising them on a merge) and the facts of recent leads.
        self._decided: dict[int, Decision] = {}
        # A recent lead's facts, each as it wrote it (shown if a merge makes it an update).
        self._lead_facts: dict[int, dict[str, str]] = {}
        self._lead_when: dict[int, float] = {}  # a recent lead's publish time
        self._members: dict[int, list[int]] = {}  # development id -> keys in _decided
        # Developments decided since the last merge check -> those of their nearest reports.
        self._near: dict[int, set[int]] = {}
        self._since_merge = 0
        # The same for developments of watched stories, when they are checked by time
        # (``merge_story_hours``), and the item time of their next check.
        self._near_story: dict[int, set[int]] = {}
        self._next_story_merge = -math.inf
        self.trace: list[tuple[str, int, tuple[float, ...]]] | None = None
        """When a list, the link model's candidates are recorded here (for fitting)."""
        if stories:
            self.set_stories(stories)

    def set_stories(self, stories: Mapping[int, Query | str]) -> None:
        """Replace the watchlist: ``{story_id: query}``; a bad query raises QueryError.

        The previous watchlist stays in force if the new one does not compile.
        """
        self._matcher = Matcher.compile(stories) if stories else None

    # -- deciding -------------------------------------------------------------

    def observe_many(
        self,
        items: Sequence[tuple[int, Item]],
        vectors: Mapping[int, Vector] | None = None,
        *,
        canonical: bool = True,
    ) -> list[Decision]:
        """Decide one poll cycle's items in canonical order (publish time, then URL, then key).

        The order items arrive in (which feed finished first) never changes a decision.
        Returns the decisions, followed by any revision of an earlier decision (a
        reprint whose original has now arrived); a later decision for a key supersedes
        an earlier one. ``canonical`` False keeps the given order (a labelled stream
        whose order is the protocol).
        """
        ordered = (
            sorted(items, key=lambda ki: (ki[1].published, ki[1].url or "", ki[0]))
            if canonical
            else list(items)
        )
        out = self._observe_all(ordered, vectors or {})
        out.extend(self.take_revisions())
        return out

    # Items whose similarities to the remembered ones are computed together (one matrix
    # product; see Recall.prepare): 64 columns of 4,096 rows are 1 MB.
    PREPARE_BATCH = 64

    def _observe_all(
        self, items: Sequence[tuple[int, Item]], vectors: Mapping[int, Vector]
    ) -> list[Decision]:
        out: list[Decision] = []
        step = self.PREPARE_BATCH
        for start in range(0, len(items), step):
            chunk = items[start : start + step]
            grid = {k: on_grid(v) for k, _ in chunk if (v := vectors.get(k)) is not None}
            if grid:
                self._recall.prepare(grid)
            try:
                out.extend(self._observe(key, item, grid.get(key)) for key, item in chunk)
            finally:
                self._recall.done()
        return out

    def _merge_alike(self, touched: dict[int, set[int]]) -> None:
        """Merge developments decided on since the last check with any that turn out to be
        the same event.

        Single-pass decisions split an event when its first reports differ (an update
        that read like news of its own); average-link similarity over all their reports
        is firmer evidence than any one item had. The younger development's first report
        becomes an update (or a re-report) of the older one; every remembered decision
        of it is revised to the surviving id.
        """
        cfg = self.config.recall
        meta = self._recall.meta
        if not meta or not touched:
            return
        resolve = self._developments.resolve
        # Candidate pairs: a touched development and those among its items' nearest reports.
        wanted: dict[int, set[int]] = {}
        for a, near in touched.items():
            a = resolve(a)
            others = {resolve(b) for b in near} - {a}
            if others:
                wanted.setdefault(a, set()).update(others)
        if not wanted:
            return
        involved = set(wanted) | {b for near in wanted.values() for b in near}
        # The rows of the involved developments, grouped by development, found array-wide
        # (each remembered development id resolved once): a loop over every remembered
        # report per check cost more than the rest of the tracker's work with vectors.
        recall = self._recall
        ids, inverse = np.unique(recall.developments, return_inverse=True)
        id_now = np.fromiter((resolve(int(d)) for d in ids), dtype=np.int64, count=len(ids))
        now_ids = id_now[inverse]
        picked = np.flatnonzero(np.isin(now_ids, sorted(involved)))
        if picked.size == 0:
            return
        picked = picked[np.argsort(now_ids[picked], kind="stable")]  # by development, rows in order
        groups, starts, counts = np.unique(now_ids[picked], return_index=True, return_counts=True)
        # Within a story, each report with the story's mean taken out (as in the link
        # model), normalised; reports of no watchlist story have no story mean worth the
        # name (all the news there is), so their developments compare raw vectors, whose
        # sums the recall keeps (exact: the same numbers as summing the rows here).
        centres = recall.centres[picked]
        story_group = np.maximum.reduceat(centres != -1, starts)
        in_story_rows = np.repeat(story_group, counts)
        rows = picked[in_story_rows]
        x = recall.vectors[rows]
        row_centres = centres[in_story_rows]
        row_languages = np.array([meta[i].language for i in rows.tolist()], dtype=object)
        for c in np.unique(row_centres[row_centres != -1]).tolist():
            means = self._centres.centre(c)
            if means is None:
                continue
            of_story = row_centres == c
            for language in sorted(set(row_languages[of_story].tolist())):
                x[of_story & (row_languages == language)] -= means.of(language)
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)
        raw_ids: dict[int, list[int]] = {}
        for d, now in zip(ids.tolist(), id_now.tolist(), strict=True):
            raw_ids.setdefault(now, []).append(d)
        group_sums: list[Vector] = []
        offset = 0
        for g, n in zip(groups.tolist(), counts.tolist(), strict=True):
            if story_group[len(group_sums)]:
                # Summed slice by slice (np.add.reduceat over rows was 4x slower here).
                group_sums.append(x[offset : offset + n].sum(axis=0))
                offset += n
            else:
                parts = [t for d in raw_ids[g] if (t := recall.raw_sum(d)) is not None]
                group_sums.append(parts[0] + sum(parts[1:]) if len(parts) > 1 else parts[0])
        group_latest = np.maximum.reduceat(recall.whens[picked], starts)
        n_of: dict[int, int] = {}
        sums: dict[int, Vector] = {}
        latest: dict[int, float] = {}
        in_story: dict[int, bool] = {}
        first: dict[int, int] = {}
        for g, d in enumerate(groups.tolist()):
            n_of[d], first[d] = int(counts[g]), int(starts[g])
            sums[d], latest[d] = group_sums[g], float(group_latest[g])
            in_story[d] = bool(in_story_rows[starts[g]])

        def outlets(d: int) -> set[str]:
            # The outlets of a development's original reports: an outlet that wrote an
            # original in both is telling two events apart (it does not report one twice).
            # An item without an outlet (a labelled corpus's bare text) says nothing.
            rows = picked[first[d] : first[d] + n_of[d]].tolist()
            return {meta[i].outlet for i in rows if meta[i].original and meta[i].outlet}

        gap = cfg.merge_gap_hours * 3600.0
        pairs: list[tuple[float, int, int]] = []
        for a in sorted(wanted):
            if a not in sums:
                continue
            for b in sorted(wanted[a]):
                if b not in sums or abs(latest[a] - latest[b]) > gap or in_story[a] != in_story[b]:
                    continue
                avg = float(sums[a] @ sums[b]) / (n_of[a] * n_of[b])
                bar = cfg.merge_similarity if in_story[a] else cfg.merge_similarity_raw
                if avg >= bar and not outlets(a) & outlets(b):
                    pairs.append((avg, min(a, b), max(a, b)))
        for _, a, b in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
            a, b = resolve(a), resolve(b)
            if a != b:
                self._merge(a, b)

    def _merge(self, a: int, b: int) -> None:
        # What the surviving development knew before the merge teaches it the other's facts.
        known = self._developments.facts_of(min(a, b))
        keep_facts = set(known.facts) if known is not None else set()
        keep_stems = set(known.stems) if known is not None else set()
        keep = self._developments.merge(a, b)
        gone = b if keep == a else a
        moved = self._members.pop(gone, [])
        for key in moved:
            d = self._decided.get(key)
            if d is None or d.development_id != gone:
                continue  # forgotten, or decided again since
            if d.kind == "new":
                written = self._lead_facts.get(key, {})
                added = new_facts(written, keep_facts, keep_stems)
                kind: ItemKind = "update" if added else "rereport"
                shown = tuple(written[f] for f in shown_first({f: written[f] for f in added}))
                revised = Decision(key, kind, keep, stories=d.stories, new_facts=shown)
            else:
                revised = Decision(key, d.kind, keep, d.duplicate_of, d.stories, d.new_facts)
            self._revised.append(self._record(revised))

    def _record(self, decision: Decision, facts: dict[str, str] | None = None) -> Decision:
        """Remember a decision (bounded), so a later merge can revise it."""
        decided = self._decided
        decided.pop(decision.key, None)
        decided[decision.key] = decision
        self._members.setdefault(decision.development_id, []).append(decision.key)
        if facts is not None and decision.kind == "new":
            self._lead_facts[decision.key] = facts
        limit = 2 * self.config.recall.max_items
        while len(decided) > limit:
            old = next(iter(decided))
            del decided[old]
            self._lead_facts.pop(old, None)
            self._lead_when.pop(old, None)
        if len(self._members) > limit:
            # Forget developments none of whose remembered decisions is still remembered.
            self._members = {
                dev: live
                for dev, keys in self._members.items()
                if (live := [k for k in keys if k in decided and decided[k].development_id == dev])
            }
        return decision

    def take_revisions(self) -> list[Decision]:
        """Earlier decisions changed since the last call (see :meth:`observe_many`)."""
        revised, self._revised = self._revised, []
        return revised

    def observe(self, key: int, item: Item, vector: Vector | None = None) -> Decision:
        """Decide about one item; ``key`` identifies it (e.g. its database id)."""
        return self._observe(key, item, on_grid(vector) if vector is not None else None)

    def _observe(self, key: int, item: Item, vector: Vector | None) -> Decision:
        """:meth:`observe` with the vector on the comparison grid (see ``on_grid``)."""
        when = item.published.timestamp()
        hours = self.config.recall.merge_story_hours
        if hours > 0 and when >= self._next_story_merge:
            # A watched story's developments, by the items' own time: the first item at or
            # past the next multiple of ``hours`` checks what the items before it decided.
            period = hours * 3600.0
            touched, self._near_story = self._near_story, {}
            self._merge_alike(touched)
            self._next_story_merge = (math.floor(when / period) + 1) * period
        # The others every ``merge_every`` items (not per call or poll: a replay must merge
        # at the same points).
        self._since_merge += 1
        if self._since_merge > self.config.recall.merge_every:
            self._since_merge = 1
            touched, self._near = self._near, {}
            self._merge_alike(touched)
        stories = self._matcher.match(item.text) if self._matcher is not None else frozenset()
        signals = read_signals(item)
        sk = self._dedup.sketch(item)
        facts = extract_facts(item, signals.credited)
        # What is older than the windows is forgotten before anything is compared with it.
        self._dedup.advance(when)
        self._recall.advance(when)
        similar = self._recall.similar(vector, key) if vector is not None else []
        # The story whose mean is taken out of this item's similarities (-1: none).
        centre = self._centre_of(stories, vector)
        mean: Centre | None = None
        if vector is not None:
            # The story's means before this item: what its reports have in common so far
            # (only the link model, for items of a watched story, reads them).
            if centre != -1:
                mean = self._centres.centre(centre)
            self._centres.add(centre, vector, item.language or "")
        dup = self._dedup.find(sk)
        awaited = self._awaited(item, similar, dup)
        origin: tuple[int, int, float | None] | None = None
        if awaited is None:
            origin = self._origin(item, signals, dup, similar, facts)
            awaited = self._copy_seen_first(origin, when)
        if awaited is not None:
            dev_id = self._developments.join(awaited.development, item)
            if dev_id >= 0:
                # The original of an earlier reprint: it takes the reprint's place.
                self._revised.append(
                    self._record(
                        Decision(awaited.key, "rereport", dev_id, duplicate_of=key, stories=awaited.stories)
                    )
                )
                self._dedup.reroot(awaited.key, key, dev_id)
                self._remember(key, item, signals, sk, vector, centre, dev_id, when, origin=None)
                if awaited.kind == "new":
                    self._lead_when[key] = when
                return self._record(
                    Decision(key, awaited.kind, dev_id, stories=stories, new_facts=awaited.new_facts),
                    written(facts, item),
                )
        if origin is not None:
            origin_key, origin_dev, _ = origin
            dev_id = self._developments.join(origin_dev, item)
            if dev_id >= 0:
                self._remember(key, item, signals, sk, vector, centre, dev_id, when, origin=origin_key)
                return self._record(
                    Decision(key, "rereport", dev_id, duplicate_of=origin_key, stories=stories)
                )
        # The development each of the nearest rows was decided into, read once.
        devs = self._rows_developments(similar)
        if vector is None:
            a = self._developments.assign(item, facts=facts)
        elif centre == -1:
            # An item of no watched story: the link model was fitted to tell apart the
            # developments of one story, not to group a stream of all the news there is.
            # Its topic is found lexically, with the vectors' votes as evidence.
            by_dev = self._by_development(similar, devs)
            cosines = {dev: [sim for sim, _ in near] for dev, near in by_dev.items()}
            a = self._developments.assign(item, facts=facts, similar=cosines)
        else:
            chosen, comparable = self._link(
                item, vector, mean, similar, devs, when, facts, signals.commentary
            )
            if chosen is None:
                a = self._developments.assign(item, decided=True, development=None, facts=facts)
            else:
                a = self._developments.assign(
                    item,
                    decided=True,
                    development=chosen,
                    names_comparable=comparable,
                    facts=facts,
                    update_if=self._update_rule(item, signals, similar, chosen, vector, mean),
                )
        if similar:
            near = self._near_story if hours > 0 and centre != -1 else self._near
            near.setdefault(a.development_id, set()).update(devs)
        duplicate_of = None
        kind = a.kind
        if kind == "rereport" and similar:
            nearest = self._nearest(similar, a.development_id, originals=True)[1]
            duplicate_of = self._recall.meta[nearest].key if nearest is not None else None
            lead = self._later_lead(a.development_id, when)
            if lead is not None:
                # Published before the development's lead, seen after it (a slow feed): a
                # copy of nothing the development has, it is the original, and the lead
                # its copy.
                old = self._decided[lead]
                self._revised.append(
                    self._record(
                        Decision(lead, "rereport", a.development_id, duplicate_of=key, stories=old.stories)
                    )
                )
                self._dedup.reroot(lead, key, a.development_id)
                kind, duplicate_of = "new", None
        self._remember(key, item, signals, sk, vector, centre, a.development_id, when, origin=duplicate_of)
        if signals.notice or signals.credited or signals.wire or item.source_url:
            # It says it is a copy but its original is not known yet: when that arrives,
            # it becomes the lead and this item its copy.
            self._pending.append(
                _Pending(
                    key,
                    a.development_id,
                    a.kind,
                    a.new_facts,
                    stories,
                    signals.credited or signals.wire,
                    item.source_url,
                )
            )
            while len(self._pending) > self.config.recall.pending:
                self._pending.popleft()
        decision = Decision(
            key,
            kind,
            a.development_id,
            duplicate_of=duplicate_of,
            stories=stories,
            new_facts=surface(a.new_facts, item),
        )
        if kind == "new":
            self._lead_when[key] = when
        return self._record(decision, written(facts, item) if kind == "new" else None)

    def _by_development(
        self, similar: list[tuple[float, int]], devs: list[int]
    ) -> dict[int, list[tuple[float, int]]]:
        """The item's nearest remembered reports ``(cosine, row)`` per development (the id
        it goes by now), best first; ``devs``: their rows' ids as decided
        (:meth:`_rows_developments`)."""
        resolve = self._developments.resolve
        out: dict[int, list[tuple[float, int]]] = {}
        ids: dict[int, int] = {}  # each decided id resolved once
        for (sim, i), d in zip(similar, devs, strict=True):
            now = ids.get(d)
            if now is None:
                now = ids[d] = resolve(d)
            out.setdefault(now, []).append((sim, i))
        return out

    def _rows_developments(self, similar: list[tuple[float, int]]) -> list[int]:
        """The development id each of ``similar``'s rows was decided into (read from the
        recall's column: indexing its deque of rows walks it)."""
        return self._recall.developments[[i for _, i in similar]].tolist() if similar else []

    def _later_lead(self, development: int, when: float) -> int | None:
        """The development's lead (its ``new`` report), if it was published after ``when``."""
        for k in reversed(self._members.get(development, ())):
            d = self._decided.get(k)
            if d is not None and d.kind == "new" and d.development_id == development:
                lead_when = self._lead_when.get(k)
                return k if lead_when is not None and when < lead_when else None
        return None

    def _origin(
        self,
        item: Item,
        signals: Signals,
        dup: Duplicate | None,
        similar: list[tuple[float, int]],
        facts: frozenset[str],
    ) -> tuple[int, int, float | None] | None:
        """The report this item copies, by what it says or shows: ``(key, development,
        its publish time)``, the time only for the same title or lead sentence."""
        if item.source_url:
            dup = self._dedup.find_url(item.source_url)
            if dup is not None:
                return dup.key, dup.tag, None
        own = outlet_key(item.outlet)
        for index, found in ((self._by_title, signals.title), (self._by_lead, signals.lead)):
            if found is not None and found in index:
                hit_key, hit_dev, hit_outlet, hit_when = index[found]
                recent = item.published.timestamp() - hit_when <= self.config.recall.window_hours * 3600.0
                if hit_outlet != own and recent:
                    return hit_key, self._developments.resolve(hit_dev), hit_when
        if dup is not None:
            return dup.key, dup.tag, None
        if not similar:
            return None
        cfg = self.config.recall
        meta = self._recall.meta
        if signals.credited:
            for sim, i in similar:
                if sim < cfg.credit_similarity:
                    break
                m = meta[i]
                if m.outlet == signals.credited or (m.wire is not None and m.wire == signals.credited):
                    return m.key, m.development, None
        if signals.wire:
            for sim, i in similar:
                if sim < cfg.wire_similarity:
                    break
                m = meta[i]
                if m.outlet != own and (m.wire == signals.wire or m.outlet == signals.wire):
                    known = self._developments.facts_of(m.development)
                    if known is not None and not new_facts(facts, known.facts, known.stems):
                        return m.key, m.development, None
        return None

    def _copy_seen_first(self, origin: tuple[int, int, float | None] | None, when: float) -> _Pending | None:
        """The report with the same title or lead as this item (``origin``), when it was
        published after it but seen before it (a faster feed's copy): this item is its
        original and takes its place, as an awaited original takes a reprint's."""
        if origin is None or origin[2] is None or when >= origin[2]:
            return None
        copied = self._decided.get(origin[0])
        if copied is None or copied.kind == "rereport":
            return None
        return _Pending(copied.key, origin[1], copied.kind, copied.new_facts, copied.stories, None, None)

    def _awaited(
        self, item: Item, similar: list[tuple[float, int]], dup: Duplicate | None
    ) -> _Pending | None:
        """The pending reprint this item is the original of, if any (then no longer pending).

        A reprint awaits its original by URL, or by the outlet (or wire) it credits and
        a similar text (a near copy, or a close sentence vector).
        """
        if not self._pending:
            return None
        own = outlet_key(item.outlet)
        close: dict[int, float] | None = None  # built only when a reprint credits this outlet
        for n, p in enumerate(self._pending):
            by_url = p.url is not None and item.url is not None and p.url == item.url
            by_credit = False
            if not by_url and p.credited == own:
                if close is None:
                    close = {self._recall.meta[i].key: sim for sim, i in similar}
                    if dup is not None:
                        close[dup.key] = 1.0
                by_credit = close.get(p.key, 0.0) >= self.config.recall.credit_similarity
            if by_url or by_credit:
                del self._pending[n]
                p.development = self._developments.resolve(p.development)
                return p
        return None

    def _link(
        self,
        item: Item,
        vector: Vector,
        mean: Centre | None,
        similar: list[tuple[float, int]],
        devs: list[int],
        when: float,
        facts: frozenset[str],
        commentary: bool = False,
    ) -> tuple[int | None, bool]:
        """The development the item reports, by the link model (None: a new one), and
        whether names can be compared with it (it has a report in the item's language)."""
        meta = self._recall.meta
        per_dev = {dev: [i for _, i in near] for dev, near in self._by_development(similar, devs).items()}
        if not per_dev:
            return None, True
        names = stems_of(f for f in facts if not is_number(f))
        numbers = {f for f in facts if is_number(f)}
        sims = dict((i, sim) for sim, i in similar)
        language = item.language or ""
        own = outlet_key(item.outlet)
        best: tuple[float, int, bool] | None = None
        tops = sorted(((sims[hits[0]], dev) for dev, hits in per_dev.items()), reverse=True)
        for _, dev in tops[: self.config.recall.candidates]:
            hits = per_dev[dev]
            known = self._developments.facts_of(dev)
            if known is None:
                continue
            latest = max(meta[i].when for i in hits)
            nearest = hits[0]
            runner_up = next((c for c, d in tops if d != dev), 0.0)
            raw = [sims[i] for i in hits]
            features = link_features(
                raw,
                self._centred(mean, language, vector, hits, raw),
                names,
                numbers,
                known.stems,
                known.numbers,
                abs(when - latest),
                meta[nearest].language == language,
                runner_up,
                commentary,
                bool(own) and any(meta[i].outlet == own for i in hits),
            )
            z = link_score(self.config.recall, features)
            if self.trace is not None:
                self.trace.append((item.guid, dev, features))
            if best is None or z > best[0]:
                best = (z, dev, any(meta[i].language == language for i in hits))
        if best is None or best[0] <= 0:
            return None, True
        return best[1], best[2]

    def _update_rule(
        self,
        item: Item,
        signals: Signals,
        similar: list[tuple[float, int]],
        development: int,
        vector: Vector,
        mean: Centre | None,
    ) -> Callable[[Sequence[str]], bool] | None:
        """The kind model, for an item joining ``development`` (None: the lexical rule)."""
        cfg = self.config.recall
        if not cfg.kind_weights:
            return None
        if signals.commentary and declared_commentary(item.title):
            # A piece its title labels an explainer or an analysis restates its event: the
            # facts it adds are background, not news (all 27 explainers and analyses of
            # the development corpus are labelled re-reports). Chosen on the fit stories
            # (Wagner and Sudan), see the README.
            return _never
        cos, nearest = self._nearest(similar, development)
        same, centred = False, 0.0
        if nearest is not None:
            same = self._recall.meta[nearest].language == (item.language or "")
            centred = self._centred(mean, item.language or "", vector, [nearest], [cos])[0]
        says_copy = bool(signals.notice or signals.credited or signals.wire)

        def update_if(added: Sequence[str]) -> bool:
            features = kind_features(added, cos, same, says_copy, signals.commentary, centred)
            return kind_score(cfg, features) > 0

        return update_if

    def _centre_of(self, stories: frozenset[int], vector: Vector | None) -> int:
        """The story whose means centre the item: its only one, or, if it matches several,
        the one whose mean it is most like (ties and no vector: the smallest id). A report of
        one story that names another (Venezuela backing Putin against Wagner) would otherwise
        be centred by, and feed, whichever story has the smaller id."""
        if len(stories) <= 1 or vector is None:
            return min(stories, default=-1)
        best, best_score = min(stories), -math.inf
        for story in sorted(stories):
            mean = self._centres.mean(story)
            if mean is None:
                continue
            norm = float(np.linalg.norm(mean))
            score = float(vector @ mean) / norm if norm > 0 else -math.inf
            if score > best_score:
                best, best_score = story, score
        return best

    def _centred(
        self, centre: Centre | None, language: str, vector: Vector, rows: list[int], raw: Sequence[float]
    ) -> list[float]:
        """The item's cosines with recall ``rows``, each side's story-and-language mean
        taken out (see :class:`stories.recall.StoryCentres`)."""
        if centre is None:
            return list(raw)
        meta = self._recall.meta
        languages = [meta[i].language for i in rows]
        return centre.centred(language, vector, self._recall.vectors[rows], languages, raw)

    def _nearest(
        self, similar: list[tuple[float, int]], development: int, *, originals: bool = False
    ) -> tuple[float, int | None]:
        """The cosine and recall row of the item's nearest remembered report in a
        development (with ``originals``, not itself a copy: what a re-report copies);
        ``(0, None)`` when it has none among ``similar``."""
        resolve = self._developments.resolve
        for sim, i in similar:
            m = self._recall.meta[i]
            if (m.original or not originals) and resolve(m.development) == development:
                return sim, i
        return 0.0, None

    def _remember(
        self,
        key: int,
        item: Item,
        signals: Signals,
        sk: Any,
        vector: Vector | None,
        centre: int,
        dev_id: int,
        when: float,
        origin: int | None,
    ) -> None:
        self._dedup.add(key, sk, dev_id, duplicate_of=origin)
        if vector is not None:
            self._recall.add(
                vector,
                Recent(
                    key,
                    dev_id,
                    when,
                    outlet_key(item.outlet),
                    signals.wire,
                    origin is None,
                    item.language or "",
                    centre,
                ),
            )
        for index, found in ((self._by_title, signals.title), (self._by_lead, signals.lead)):
            if found is not None and found not in index:
                index[found] = (key, dev_id, outlet_key(item.outlet), when)
                if len(index) > 2 * self.config.recall.max_items:
                    del index[next(iter(index))]

    # -- reading --------------------------------------------------------------

    def replay(
        self, items: Iterable[tuple[int, Item]], vectors: Mapping[int, Vector] | None = None
    ) -> list[Decision]:
        """Observe stored ``(key, item)`` pairs in order (rebuilding state after a restart)."""
        out = self._observe_all(list(items), vectors or {})
        out.extend(self.take_revisions())
        return out

    def resolve(self, development_id: int) -> int:
        """The id a development goes by now: developments merge when an item bridges them."""
        return self._developments.resolve(development_id)

    def development(self, development_id: int) -> DevelopmentInfo | None:
        """An active development's summary, or None once it has gone quiet."""
        return self._developments.info(development_id)

    def active_developments(self) -> list[int]:
        """Ids of the developments still in the active set."""
        return self._developments.active()

    def __len__(self) -> int:
        """Items currently remembered by the duplicate index."""
        return len(self._dedup)

    # -- persistence ----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The tracker's state (not its watchlist) as JSON-able values."""
        return {
            "version": 2,
            "recall_config": asdict(self.config.recall),
            "dedup": self._dedup.to_dict(),
            "developments": self._developments.to_dict(),
            "recall": self._recall.to_dict(),
            "centres": self._centres.to_dict(),
            "by_title": self._by_title,
            "by_lead": self._by_lead,
            "decided": [
                [d.key, d.kind, d.development_id, d.duplicate_of, sorted(d.stories), list(d.new_facts)]
                for d in self._decided.values()
            ],
            "lead_facts": {str(k): v for k, v in self._lead_facts.items()},
            "lead_when": {str(k): v for k, v in self._lead_when.items()},
            "near": {str(k): sorted(v) for k, v in self._near.items()},
            "since_merge": self._since_merge,
            "near_story": {str(k): sorted(v) for k, v in self._near_story.items()},
            "next_story_merge": self._next_story_merge if math.isfinite(self._next_story_merge) else None,
            "pending": [
                [p.key, p.development, p.kind, list(p.new_facts), sorted(p.stories), p.credited, p.url]
                for p in self._pending
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], stories: Mapping[int, Query | str] | None = None) -> Tracker:
        """Load a state saved by :meth:`to_dict`; pass the watchlist again."""
        if data.get("version") != 2:
            raise ValueError(f"unsupported tracker state version {data.get('version')!r}")
        dedup = DuplicateIndex.from_dict(data["dedup"])
        developments = Developments.from_dict(data["developments"])
        # The tuning (models, thresholds, merges) is the release's, not state: a state saved
        # by an older release is read with this release's; only the memory's bounds carry over.
        saved = data["recall_config"]
        recall_config = RecallConfig(**{k: saved[k] for k in ("max_items", "window_hours") if k in saved})
        self = cls(TrackerConfig(dedup.config, developments.config, recall_config), stories)
        self._dedup = dedup
        self._developments = developments
        self._recall = Recall.from_dict(recall_config, data["recall"])
        self._centres = StoryCentres.from_dict(recall_config, data.get("centres", {}))
        self._by_title = {
            str(k): (int(a), int(b), str(c), float(w)) for k, (a, b, c, w) in data["by_title"].items()
        }
        self._by_lead = {
            str(k): (int(a), int(b), str(c), float(w)) for k, (a, b, c, w) in data["by_lead"].items()
        }
        self._decided = {
            int(k): Decision(int(k), kind, int(dev), dup, frozenset(st), tuple(nf))
            for k, kind, dev, dup, st, nf in data["decided"]
        }
        self._lead_facts = {
            int(k): {str(f): str(w) for f, w in v.items()} for k, v in data["lead_facts"].items()
        }
        self._lead_when = {int(k): float(v) for k, v in data.get("lead_when", {}).items()}
        for d in self._decided.values():
            self._members.setdefault(d.development_id, []).append(d.key)
        self._near = {int(k): {int(x) for x in v} for k, v in data["near"].items()}
        self._since_merge = int(data["since_merge"])
        self._near_story = {int(k): {int(x) for x in v} for k, v in data.get("near_story", {}).items()}
        next_merge = data.get("next_story_merge")
        self._next_story_merge = -math.inf if next_merge is None else float(next_merge)
        self._pending = deque(
            _Pending(int(k), int(d), kind, tuple(f), frozenset(s), c, u)
            for k, d, kind, f, s, c, u in data["pending"]
        )
        return self

    def dumps(self) -> bytes:
        """The state, compactly: JSON compressed with zlib (a few MB at 100,000 items)."""
        return zlib.compress(json.dumps(self.to_dict(), separators=(",", ":")).encode(), 6)

    @classmethod
    def loads(cls, data: bytes, stories: Mapping[int, Query | str] | None = None) -> Tracker:
        """Load a state saved by :meth:`dumps`."""
        return cls.from_dict(json.loads(zlib.decompress(data)), stories)
