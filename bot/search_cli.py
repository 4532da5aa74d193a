"""``newsbot search QUERY``: full-text search over stored items."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from stories.query import QueryError

from .app import open_storage
from .config import Config
from .errors import CommandFailed, UsageError, bad_query

HIGHLIGHT_START, HIGHLIGHT_END = "\ue000", "\ue001"


async def run(config: Config, args: argparse.Namespace, since: datetime | None) -> int:
    """Search and print results (or rebuild the index with --rebuild)."""
    from storage.search import rebuild_index, search_items

    async with open_storage(config) as storage:
        if args.rebuild:
            count = await rebuild_index(storage.engine)
            print(
                f"search index rebuilt ({count} items)" if isinstance(count, int) else "search index rebuilt"
            )
            return 0
        if not args.query.strip():
            raise UsageError('a query is needed, e.g. newsbot search "Wagner Group" --since 7d')
        if args.limit < 1 or args.limit > 1000:
            raise UsageError("--limit must be between 1 and 1000")
        story_id = None
        if args.story:
            story = await storage.get_story(args.story)
            if story is None:
                raise CommandFailed(f"no story named {args.story!r}")
            story_id = story.id
        try:
            hits = await search_items(
                storage.engine, args.query, since=since, story_id=story_id, limit=args.limit
            )
        except QueryError as exc:
            raise bad_query(args.query, exc.position, str(exc)) from None
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
