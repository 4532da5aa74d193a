"""Full-text search over stored items, as ``/search`` and ``newsbot search`` run it: the query
checked as a watchlist query is (``actions.stories.check_query``), then one page of hits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.repository import Storage
from storage.search import SearchHit, search_items

from .stories import check_query

__all__ = ["Found", "search"]


@dataclass(frozen=True, slots=True)
class Found:
    """One page of hits, best first, and whether more follow."""

    hits: Sequence[SearchHit]
    has_more: bool


async def search(
    storage: Storage,
    query: str,
    *,
    since: datetime | None = None,
    story_id: int | None = None,
    offset: int = 0,
    limit: int = 10,
    max_length: int | None = None,
) -> Found:
    """Hits ``offset`` to ``offset + limit`` for ``query`` (published since ``since``, in the story
    ``story_id``); a ``QueryError`` for a query ``check_query`` refuses."""
    parsed = check_query(query, max_length=max_length)
    # One more than a page tells whether more follow.
    found = await search_items(
        storage.engine, parsed, since=since, story_id=story_id, offset=offset, limit=limit + 1
    )
    return Found(found[:limit], has_more=len(found) > limit)
