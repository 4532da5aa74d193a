"""Full-text search over stored items, as ``/search`` and ``newsbot search`` run it: the query
checked as a watchlist query is (``actions.stories.check_query``), then one page of hits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.repository import Storage
from storage.search import SearchHit, search_items

from .stories import check_query

__all__ = ["OUTLET_SCAN", "Found", "outlet_matches", "search"]


@dataclass(frozen=True, slots=True)
class Found:
    """One page of hits, best first, and whether more follow."""

    hits: Sequence[SearchHit]
    has_more: bool


# An outlet filter reads this many ranked hits at most (storage.search has no outlet filter of
# its own yet): enough for every page people read, bounded for a very common query.
OUTLET_SCAN = 1000
_SCAN_PAGE = 100


def outlet_matches(outlet: str, wanted: str) -> bool:
    """``outlet:reuters`` keeps "Reuters" and "Reuters Africa": case- and spacing-insensitive
    containment."""
    return "".join(wanted.casefold().split()) in "".join(outlet.casefold().split())


async def search(
    storage: Storage,
    query: str,
    *,
    since: datetime | None = None,
    story_id: int | None = None,
    outlet: str | None = None,
    offset: int = 0,
    limit: int = 10,
    max_length: int | None = None,
) -> Found:
    """Hits ``offset`` to ``offset + limit`` for ``query`` (published since ``since``, in the story
    ``story_id``, from an outlet whose name contains ``outlet``); a ``QueryError`` for a query
    ``check_query`` refuses."""
    parsed = check_query(query, max_length=max_length)
    if outlet:
        kept: list[SearchHit] = []
        for start in range(0, OUTLET_SCAN, _SCAN_PAGE):
            page = await search_items(
                storage.engine, parsed, since=since, story_id=story_id, offset=start, limit=_SCAN_PAGE
            )
            kept += [hit for hit in page if outlet_matches(hit.outlet, outlet)]
            if len(page) < _SCAN_PAGE or len(kept) > offset + limit:
                break
        return Found(kept[offset : offset + limit], has_more=len(kept) > offset + limit)
    # One more than a page tells whether more follow.
    found = await search_items(
        storage.engine, parsed, since=since, story_id=story_id, offset=offset, limit=limit + 1
    )
    return Found(found[:limit], has_more=len(found) > limit)
