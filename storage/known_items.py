"""What the repository remembers of each feed's current window, to skip known items.

A changed feed usually repeats most of its entries (a rolling window: 5 new, 45 seen
before). Looking each of them up again costs the poll cycle most of its time, so the
repository keeps, per feed, the entries of the last stored fetch: guid -> (item id,
hash of title and summary). An entry whose hash matches is known and unchanged and
never reaches the database; a new or edited one goes through the full lookup.

Reading and normalising those entries again cost a changed cycle about as much, so the
window also keeps the parser's fingerprint of each entry (``feeds.parse``: a hash of
everything read of the raw entry and its feed), given back as fingerprint -> guid: the
parser skips an entry whose fingerprint it is given and names its guid instead, which
counts as known and unchanged here (its item, read the same way, had this title and
summary).

Only a shortcut: the memory is per process and starts empty (after a restart every
entry is looked up once, as before), and what it forgets costs a lookup, never an item.
What it cannot see is another process editing the same item in between and the feed
then reverting to the text this process saw last; that revert is not stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from stories.model import Item

__all__ = ["KnownItems", "content_hash", "first_entries"]

_NONE: Mapping[int, str] = MappingProxyType({})
_NO_PRINTS: Mapping[str, int] = MappingProxyType({})
_BITS = 64
_MASK = (1 << _BITS) - 1


def content_hash(item: Item) -> int:
    """What decides "edited": the stored title and summary (the repository compares
    exactly these). In-process only, so Python's own string hash is enough."""
    return hash((item.title, item.summary)) & _MASK


def _entry(item_id: int, content: int, fingerprint: int = 0) -> int:
    """A window entry: item id, fingerprint (0: none; the parser's are 64-bit) and content
    hash in one int of 52 bytes (a tuple of the three took some 150: at 1,000 feeds of 50
    entries, 5 MB more at peak RSS)."""
    return item_id << 2 * _BITS | fingerprint << _BITS | content


def first_entries(
    items: Sequence[Item], recognised: Sequence[tuple[int, str]] = ()
) -> tuple[dict[str, Item], tuple[str, ...]]:
    """One fetch's entries by guid, the first of each guid in feed order (a feed may repeat
    an entry): (items by guid, guids of the entries the parser recognised and did not
    read, given as (index in ``items`` each came before, guid))."""
    unique: dict[str, Item] = {}
    if not recognised:
        for item in items:
            unique.setdefault(item.guid, item)
        return unique, ()
    first: dict[str, bool] = {}  # guid -> read (an item) or recognised, in feed order
    done = 0
    for position, guid in (*recognised, (len(items), None)):
        for item in items[done:position]:
            if item.guid not in first:
                first[item.guid] = True
                unique[item.guid] = item
        done = max(done, position)
        if guid is not None and guid not in first:
            first[guid] = False
    return unique, tuple(guid for guid, read in first.items() if not read)


class KnownItems:
    """Per feed, the guids of its last stored window with their item id, content hash and,
    when the parser gave one, fingerprint."""

    def __init__(self, *, per_feed: int = 1_000, feeds: int = 100_000) -> None:
        self.per_feed = per_feed
        self.feeds = feeds
        self._windows: dict[int, dict[str, int]] = {}  # feed -> guid -> _entry()

    def fingerprints(self, feed_id: int) -> Mapping[int, str]:
        """The feed's window as fingerprint -> guid: a new mapping, which the window moving
        on later does not change (a parsing thread may hold it)."""
        window = self._windows.get(feed_id)
        if not window:
            return _NONE
        found: dict[int, str] = {}
        for guid, entry in window.items():
            fingerprint = entry >> _BITS & _MASK
            if fingerprint:
                found[fingerprint] = guid
        return found

    def split(self, feed_id: int, items: Mapping[str, Item]) -> tuple[dict[str, int], dict[str, Item]]:
        """(unchanged: guid -> item id, rest: guid -> item) for one fetch's unique items."""
        window = self._windows.get(feed_id)
        if not window:
            return {}, dict(items)
        unchanged: dict[str, int] = {}
        rest: dict[str, Item] = {}
        for guid, item in items.items():
            known = window.get(guid)
            if known is not None and known & _MASK == content_hash(item):
                unchanged[guid] = known >> 2 * _BITS
            else:
                rest[guid] = item
        return unchanged, rest

    def remember(
        self,
        feed_id: int,
        items: Mapping[str, Item],
        ids: Mapping[str, int],
        kept: Iterable[str] = (),
        prints: Mapping[str, int] = _NO_PRINTS,
    ) -> None:
        """The feed's window is now these items: those whose row (``ids``) holds exactly
        their title and summary, at most ``per_feed``; ``kept`` names entries of the old
        window that this fetch brought again unchanged (split off before, not in ``items``).
        ``prints`` are fingerprints by guid, of ``items`` or kept entries; a kept entry
        without one keeps its old one."""
        old = self._windows.get(feed_id, {})
        window: dict[str, int] = {}
        for guid in kept:
            entry = old.get(guid)
            if entry is not None:
                fingerprint = prints.get(guid)
                if fingerprint is not None:
                    entry = _entry(entry >> 2 * _BITS, entry & _MASK, fingerprint)
                window[guid] = entry
        # Two entries of one fetch on one row (the same URL under two guids) can disagree
        # about its text: those are always looked up, as before this memory existed.
        counts = Counter(ids.values())
        counts.update(entry >> 2 * _BITS for entry in window.values())
        shared = {item_id for item_id, n in counts.items() if n > 1}
        if shared:
            for guid in [guid for guid, entry in window.items() if entry >> 2 * _BITS in shared]:
                del window[guid]
        for guid, item in items.items():
            item_id = ids.get(guid)
            if len(window) >= self.per_feed:
                break
            if item_id is not None and item_id not in shared:
                window[guid] = _entry(item_id, content_hash(item), prints.get(guid, 0))
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
