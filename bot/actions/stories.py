"""Stories and watchlists: query checks, name suggestions, and a story's developments.

``story_developments`` is the one read model of "a development as people see it" (lead
report first, copies folded in as extra sources, then the reports that updated it):
``/story`` renders it as HTML, ``newsbot story`` prints it or dumps it as JSON.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import datetime

from storage import digest_reads
from storage.digest_reads import CandidateItem
from storage.repository import Storage
from stories.digest import DigestDevelopment, assemble_development
from stories.errors import NewsbotError
from stories.model import Story
from stories.query import Query, QueryError, parse

__all__ = [
    "QueryMissing",
    "QueryTooLong",
    "StoryNotFound",
    "check_query",
    "close_names",
    "find_story",
    "story_developments",
]

# How many of a story's newest items are read to find its latest developments.
SCAN_ITEMS = 500


class QueryMissing(QueryError):
    """No query was given."""

    def __init__(self) -> None:
        super().__init__("the query is missing", 0)


class QueryTooLong(QueryError):
    """A query over the configured length limit."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"the query is {length} characters long; the limit is {limit}", limit)
        self.length = length
        self.limit = limit


def check_query(query: str, *, max_length: int | None = None) -> Query:
    """A watchlist or search query, parsed; a ``QueryError`` (with the position at fault) when it
    cannot be used: missing, over ``max_length`` characters, or not in the query language."""
    if not query.strip():
        raise QueryMissing()
    if max_length is not None and len(query) > max_length:
        raise QueryTooLong(len(query), max_length)
    return parse(query)


class StoryNotFound(NewsbotError):
    """No story by that name where it was looked for; ``close`` are the names it may mean,
    ``known`` every name that is there."""

    def __init__(self, name: str, close: Sequence[str], known: Sequence[str]) -> None:
        super().__init__(f"no story named {name!r}")
        self.name = name
        self.close = tuple(close)
        self.known = tuple(known)


def close_names(name: str, names: Sequence[str], *, n: int = 3) -> list[str]:
    """The names in ``names`` closest to ``name`` (case-insensitive), best first."""
    by_key = {known.casefold(): known for known in names}
    return [by_key[key] for key in difflib.get_close_matches(name.casefold(), list(by_key), n=n, cutoff=0.5)]


async def missing_story(storage: Storage, name: str, *, chat_id: int | None = None) -> StoryNotFound:
    """The ``StoryNotFound`` for ``name``, with suggestions among the stories visible there
    (``chat_id`` None: the global ones)."""
    if chat_id is not None:
        names = [s.name for s in await storage.list_stories(chat_id=chat_id)]
    else:
        names = [s.name for s in await storage.list_stories(scope=0)]
    return StoryNotFound(name, close_names(name, names), names)


async def find_story(storage: Storage, name: str, *, chat_id: int | None = None) -> Story:
    """The story ``name`` as a chat sees it (``chat_id`` None: a global story); a
    ``StoryNotFound`` with suggestions when there is none."""
    found = await storage.get_story(name, chat_id=chat_id)
    if found is None or found.id is None:
        raise await missing_story(storage, name, chat_id=chat_id)
    return found


async def story_developments(
    storage: Storage, story_id: int, *, since: datetime | None = None, limit: int | None = None
) -> list[DigestDevelopment]:
    """A story's latest developments (with an item of the story seen since ``since``; at most
    ``limit``), most recent first by ``last_seen``: each with its lead report, copies folded in
    as extra sources, then the reports that updated it."""
    scan = SCAN_ITEMS if limit is None else max(limit * 20, 100)
    dev_ids: list[int] = []
    for stored in await storage.story_items(story_id, since=since, limit=scan):  # newest first
        if stored.development_id is not None and stored.development_id not in dev_ids:
            dev_ids.append(stored.development_id)
    infos = await digest_reads.developments(storage, dev_ids)
    by_dev: dict[int, list[CandidateItem]] = {}
    for item in await digest_reads.development_items(storage, dev_ids, story_id):  # oldest first
        if item.development_id is not None:
            by_dev.setdefault(item.development_id, []).append(item)
    shown = [
        dev
        for dev_id in dev_ids
        if dev_id in infos and dev_id in by_dev
        for dev in [assemble_development(infos[dev_id], by_dev[dev_id])]
        if dev is not None
    ]
    shown.sort(key=lambda d: (d.last_seen, d.id), reverse=True)
    return shown if limit is None else shown[:limit]


async def one_development(storage: Storage, development_id: int, story_id: int) -> DigestDevelopment | None:
    """One development of a story, whole (every report of it in the story, folded as /story
    shows it); None when it is gone or has no report in the story."""
    infos = await digest_reads.developments(storage, [development_id])
    items = await digest_reads.development_items(storage, [development_id], story_id)
    if development_id not in infos or not items:
        return None
    return assemble_development(infos[development_id], items)
