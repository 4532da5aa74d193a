"""The story tracker: what each new item means for the stories people follow.

:class:`Tracker` combines the three pure parts of ``stories/``:

1. the :class:`~stories.matching.Matcher` tells which stories' queries match the item;
2. the :class:`~stories.dedup.DuplicateIndex` tells whether it copies a recent item
   (same URL, same text, or a near copy), in which case it is folded into that first
   report as an extra source: kind ``rereport``, the first report's development;
3. otherwise :class:`~stories.developments.Developments` assigns it to a development
   (event), as ``new``, ``update`` (with the facts it adds) or ``rereport``.

A story's developments are those with items matching its query, so matching and
clustering stay independent: the clustering runs over all feeds, whatever the
watchlist, and editing a story's query never changes a development.

Persistence: decisions depend only on the items seen and their order, so replaying
stored items through a fresh tracker (:meth:`Tracker.replay`) rebuilds the same state;
:meth:`Tracker.to_dict` / :meth:`Tracker.from_dict` save and load it as JSON-able
values instead. Either way the next decisions are the same. The watchlist is not part
of that state: pass it again with :meth:`Tracker.set_stories`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stories.dedup import DedupConfig, DuplicateIndex
from stories.developments import DevelopmentConfig, DevelopmentInfo, Developments
from stories.matching import Matcher
from stories.model import Decision, Item
from stories.query import Query

__all__ = ["Tracker", "TrackerConfig"]


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """The tracker's tuning: dedup and developments. The defaults are what newsbot ships."""

    dedup: DedupConfig = field(default_factory=DedupConfig)
    developments: DevelopmentConfig = field(default_factory=DevelopmentConfig)


class Tracker:
    """Decides, item by item in arrival order, what each item is (see the module doc)."""

    def __init__(
        self,
        config: TrackerConfig | None = None,
        stories: Mapping[int, Query | str] | None = None,
    ) -> None:
        self.config = config or TrackerConfig()
        self._dedup = DuplicateIndex(self.config.dedup)
        self._developments = Developments(self.config.developments)
        self._matcher: Matcher | None = None
        if stories:
            self.set_stories(stories)

    def set_stories(self, stories: Mapping[int, Query | str]) -> None:
        """Replace the watchlist: ``{story_id: query}``; a bad query raises QueryError.

        The previous watchlist stays in force if the new one does not compile.
        """
        self._matcher = Matcher.compile(stories) if stories else None

    def observe(self, key: int, item: Item) -> Decision:
        """Decide about one item; ``key`` identifies it (e.g. its database id)."""
        stories = self._matcher.match(item.text) if self._matcher is not None else frozenset()
        sk = self._dedup.sketch(item)
        dup = self._dedup.find(sk)
        if dup is not None:
            dev_id = self._developments.join(dup.tag, item)
            if dev_id < 0:
                # The first report's development has gone quiet and left: the copy
                # revives the event as a development of its own.
                dev_id = self._developments.assign(item).development_id
            self._dedup.add(key, sk, dev_id, duplicate_of=dup.key)
            return Decision(
                key=key,
                kind="rereport",
                development_id=dev_id,
                duplicate_of=dup.key,
                stories=stories,
            )
        a = self._developments.assign(item)
        self._dedup.add(key, sk, a.development_id)
        return Decision(
            key=key,
            kind=a.kind,
            development_id=a.development_id,
            stories=stories,
            new_facts=a.new_facts,
        )

    def replay(self, items: Iterable[tuple[int, Item]]) -> list[Decision]:
        """Observe stored ``(key, item)`` pairs in order (rebuilding state after a restart)."""
        return [self.observe(key, item) for key, item in items]

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

    def to_dict(self) -> dict[str, Any]:
        """The tracker's state (not its watchlist) as JSON-able values."""
        return {
            "version": 1,
            "dedup": self._dedup.to_dict(),
            "developments": self._developments.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], stories: Mapping[int, Query | str] | None = None) -> Tracker:
        """Load a state saved by :meth:`to_dict`; pass the watchlist again."""
        if data.get("version") != 1:
            raise ValueError(f"unsupported tracker state version {data.get('version')!r}")
        dedup = DuplicateIndex.from_dict(data["dedup"])
        developments = Developments.from_dict(data["developments"])
        self = cls(TrackerConfig(dedup.config, developments.config), stories)
        self._dedup = dedup
        self._developments = developments
        return self
