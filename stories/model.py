"""The core's value types: what a news item is once it leaves the feed layer.

Everything here is pure data: frozen dataclasses, timezone-aware UTC datetimes.
`feeds/` produces `Item`s, `storage/` stores them, the tracker in `stories/`
decides what each one means for the stories people follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ItemKind = Literal["new", "update", "rereport"]
"""What an item means for its development: starts one, adds facts to one, or repeats one."""


@dataclass(frozen=True, slots=True)
class Item:
    """A normalised news item, as one feed carried it.

    ``guid`` is stable within its feed (the entry's guid, else its link, else a hash
    of title and date). ``url`` is the canonical URL (tracking parameters removed),
    used to recognise the same article arriving through two feeds. ``title`` and
    ``summary`` are plain text (HTML stripped, entities decoded, whitespace folded).
    ``published`` is timezone-aware UTC.
    """

    guid: str
    url: str | None
    title: str
    summary: str
    published: datetime
    outlet: str
    author: str | None = None
    language: str | None = None
    source_name: str | None = None
    """The outlet or wire the feed credits as the origin (``<source>``), if any."""
    source_url: str | None = None
    """The original's URL when the feed gives one (a canonical link elsewhere,
    ``dc:source``, ``<source url>``): the tracker folds the item into that report."""

    def __post_init__(self) -> None:
        if self.published.tzinfo is None:
            raise ValueError("Item.published must be timezone-aware")

    @property
    def text(self) -> str:
        """Title and summary joined: what queries and the tracker read."""
        return f"{self.title}\n{self.summary}" if self.summary else self.title


@dataclass(frozen=True, slots=True)
class Story:
    """A tracked story: a name and a watchlist query.

    ``owner_chat_id`` is None for global stories (edited by bot admins) and a chat
    id for a chat's own stories (edited by that chat's admins).
    """

    name: str
    query: str
    owner_chat_id: int | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What the tracker decided about one item.

    ``duplicate_of`` is the key of the earlier item this one copies (same URL, same
    text, or a near copy); such an item is folded into that report as an extra source
    and its kind is ``rereport``. ``development_id`` is the development (event) it
    belongs to; ``kind`` says whether it started it, added facts, or repeated it.
    ``stories`` are the ids of the stories whose query matches the item.
    """

    key: int
    kind: ItemKind
    development_id: int
    duplicate_of: int | None = None
    stories: frozenset[int] = field(default_factory=frozenset)
    new_facts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed and what the fetcher remembers about it between polls.

    Shared by ``feeds/`` (which computes the next state from a fetch outcome) and
    ``storage/`` (which persists it); neither imports the other, both import this.
    ``next_fetch_at`` already includes jitter, Retry-After and backoff.
    """

    url: str
    id: int | None = None
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    next_fetch_at: datetime | None = None
    last_fetched_at: datetime | None = None
    consecutive_errors: int = 0
    last_error: str | None = None
    disabled: bool = False
    disabled_reason: str | None = None
