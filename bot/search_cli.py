"""``newsbot search QUERY [--since] [--story] [--outlet]``: full-text search over stored items
(``actions.search``, the filters ``/search`` takes)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from stories.query import QueryError

from .actions import search as search_actions
from .actions import stories as story_actions
from .config import Config
from .errors import CommandFailed, UsageError
from .storage_access import open_storage
from .stories_cli import query_usage_error

HIGHLIGHT_START, HIGHLIGHT_END = "\ue000", "\ue001"


async def run(config: Config, args: argparse.Namespace, since: datetime | None) -> int:
    """Search and print the results."""
    if not args.query.strip():
        raise UsageError('a query is needed, e.g. newsbot search "Wagner Group" --since 7d')
    if args.limit < 1 or args.limit > 1000:
        raise UsageError("--limit must be between 1 and 1000")
    async with open_storage(config) as storage:
        story_id = None
        if args.story:
            try:
                story_id = (await story_actions.find_story(storage, args.story)).id
            except story_actions.StoryNotFound:
                raise CommandFailed(f"no story named {args.story!r}") from None
        try:
            found = await search_actions.search(
                storage,
                args.query,
                since=since,
                story_id=story_id,
                outlet=(args.outlet or "").strip() or None,
                limit=args.limit,
                max_length=config.telegram.max_query_length,
            )
        except QueryError as exc:
            raise query_usage_error(args.query, exc) from None
    hits = found.hits
    results: list[dict[str, object]] = [
        {
            "title": h.title,
            "url": h.url,
            "outlet": h.outlet,
            "published": h.published.isoformat(),
            "snippet": h.snippet.replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, ""),
            "score": round(h.score, 6),
        }
        for h in hits
    ]
    if args.json:
        print(json.dumps({"query": args.query, "results": results}, ensure_ascii=False))
        return 0
    if not results:
        print("no results")
    for hit in hits:
        print(f"{hit.published:%Y-%m-%d %H:%M}  {hit.outlet}: {hit.title}")
        print(f"    {hit.snippet.replace(HIGHLIGHT_START, '[').replace(HIGHLIGHT_END, ']')}")
        if hit.url:
            print(f"    {hit.url}")
    return 0
