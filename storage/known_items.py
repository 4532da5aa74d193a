"""What the repository remembers of each feed's current window, to skip known items.

A changed feed usually repeats most of its entries (a rolling window: 5 new, 45 seen
before). Looking each of them up again costs the poll cycle most of its time, so the
repository keeps, per feed, the entries of the last stored fetch: guid -> (item id,
hash of title and summary). An entry whose hash matches is known and unchanged and
never reaches the database; a new or edited one goes through the full lookup.

Only a shortcut: the memory is per process and starts empty (after a restart every
entry is looked up once, as before), and what it forgets costs a lookup, never an item.
What it cannot see is another process editing the same item in between and the feed
then reverting to the text this process saw last; that revert is not stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from stories.model import Item

__all__ = ["KnownItems", "content_hash"]


def content_hash(item: Item) -> int:
    """What decides "edited": the stored title and summary (the repository compares
    exactly these). In-process only, so Python's own string hash is enough."""
    return hash((item.title, item.summary))


class KnownItems:
    """Per feed, the guids of its last stored window with their item id and content hash."""

    def __init__(self, *, per_feed: int = 1_000, feeds: int = 100_000) -> None:
        self.per_feed = per_feed
        self.feeds = feeds
        self._windows: dict[int, dict[str, tuple[int, int]]] = {}

    def split(self, feed_id: int, items: Mapping[str, Item]) -> tuple[dict[str, int], dict[str, Item]]:
        """(unchanged: guid -> item id, rest: guid -> item) for one fetch's unique items."""
        window = self._windows.get(feed_id)
        if not window:
            return {}, dict(items)
        unchanged: dict[str, int] = {}
        rest: dict[str, Item] = {}
        for guid, item in items.items():
            known = window.get(guid)
            if known is not None and known[1] == content_hash(item):
                unchanged[guid] = known[0]
            else:
                rest[guid] = item
        return unchanged, rest

    def remember(
        self,
        feed_id: int,
        items: Mapping[str, Item],
        ids: Mapping[str, int],
        kept: Iterable[str] = (),
    ) -> None:
        """The feed's window is now these items: those whose row (``ids``) holds exactly
        their title and summary, at most ``per_feed``; ``kept`` names entries of the old
        window that this fetch brought again unchanged (split off before, not in ``items``)."""
        old = self._windows.get(feed_id, {})
        window: dict[str, tuple[int, int]] = {}
        for guid in kept:
            entry = old.get(guid)
            if entry is not None:
                window[guid] = entry
        # Two entries of one fetch on one row (the same URL under two guids) can disagree
        # about its text: those are always looked up, as before this memory existed.
        counts = Counter(ids.values())
        counts.update(item_id for item_id, _ in window.values())
        shared = {item_id for item_id, n in counts.items() if n > 1}
        for guid in [guid for guid, (item_id, _) in window.items() if item_id in shared]:
            del window[guid]
        for guid, item in items.items():
            item_id = ids.get(guid)
            if len(window) >= self.per_feed:
                break
            if item_id is not None and item_id not in shared:
                window[guid] = (item_id, content_hash(item))
        self._windows.pop(feed_id, None)
        if len(self._windows) >= self.feeds:
            # The oldest remembered feed goes first (dicts keep insertion order).
            self._windows.pop(next(iter(self._windows)))
        self._windows[feed_id] = window

    def forget(self, feed_ids: Iterable[int] | None = None) -> None:
        """Drop the windows of these feeds (all with None): their next fetch is looked up."""
        if feed_ids is None:
            self._windows.clear()
            return
        for feed_id in feed_ids:
            self._windows.pop(feed_id, None)

    def __len__(self) -> int:
        return sum(len(window) for window in self._windows.values())
