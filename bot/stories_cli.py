"""``newsbot stories ...`` (global watchlists) and ``newsbot story NAME`` (its developments)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from storage.repository import AlreadyExists, NotFound
from stories.digest import DigestDevelopment
from stories.query import QueryError

from .actions import stories as story_actions
from .config import Config
from .errors import CommandFailed, UsageError, bad_query
from .storage_access import open_storage


def check_query(query: str, *, max_length: int | None = None) -> str:
    """Validate a watchlist query (``actions.story_actions.check_query``); a UsageError points at the
    position of the problem."""
    try:
        story_actions.check_query(query, max_length=max_length)
    except QueryError as exc:
        raise query_usage_error(query, exc) from None
    return query


def query_usage_error(query: str, exc: QueryError) -> UsageError:
    """The command line's error for a query ``check_query`` refused: a caret under the position
    at fault, unless the query is missing or too long as a whole."""
    if isinstance(exc, story_actions.QueryMissing | story_actions.QueryTooLong):
        return UsageError(exc.reason)
    return bad_query(query, exc.position, str(exc))


def development_json(dev: DigestDevelopment) -> dict[str, Any]:
    """A development as ``newsbot story --json`` prints it: its lead report first; each item's
    ``sources`` are the outlets that carried it (its own first, then those of folded copies);
    an update's ``adds`` are the facts it added, as it wrote them (empty for other kinds)."""
    return {
        "id": dev.id,
        "title": dev.title,
        "first_seen": dev.first_seen.isoformat(),
        "last_seen": dev.last_seen.isoformat(),
        "outlets": sorted({o for item in dev.items for o in (item.outlet, *item.extra_outlets)}),
        "items": [
            {
                "title": item.title,
                "url": item.url,
                "outlet": item.outlet,
                "published": item.published.isoformat(),
                "kind": item.kind,
                "sources": [item.outlet, *item.extra_outlets],
                "extra_sources": item.extra_sources,
                "adds": list(item.adds),
            }
            for item in dev.items
        ],
    }


def _missing(exc: story_actions.StoryNotFound) -> CommandFailed:
    hint = f"; did you mean {', '.join(exc.close)}?" if exc.close else "; `newsbot stories list` shows them"
    return CommandFailed(f"{exc}{hint}")


async def run_stories(config: Config, args: argparse.Namespace) -> int:
    """Dispatch one ``stories`` action on global stories."""
    action = args.stories_command
    async with open_storage(config) as storage:
        if action == "list":
            stories = await storage.list_stories(scope=0)
            if args.json:
                print(
                    json.dumps(
                        {"stories": [{"name": s.name, "query": s.query} for s in stories]}, ensure_ascii=False
                    )
                )
            elif not stories:
                print('no stories yet: add one with `newsbot stories add NAME "QUERY"`')
            for story in stories if not args.json else []:
                print(f"{story.name}: {story.query}")
            return 0
        if action in ("add", "edit"):
            query = check_query(args.query, max_length=config.telegram.max_query_length)
            try:
                if action == "add":
                    story = await storage.add_story(args.name, query, user_name="cli")
                else:
                    story = await storage.edit_story(args.name, query, user_name="cli")
            except AlreadyExists as exc:
                raise UsageError(str(exc)) from None
            except NotFound:
                raise _missing(await story_actions.missing_story(storage, args.name)) from None
            out = {"name": story.name, "query": story.query}
            print(
                json.dumps(out, ensure_ascii=False)
                if args.json
                else f"{action}ed {story.name}: {story.query}"
            )
            return 0
        if action == "rm":
            try:
                await storage.remove_story(args.name, user_name="cli")
            except NotFound:
                raise _missing(await story_actions.missing_story(storage, args.name)) from None
            print(json.dumps({"removed": args.name}) if args.json else f"removed {args.name}")
            return 0
        if action == "show":
            shown = await storage.get_story(args.name)
            if shown is None:
                raise _missing(await story_actions.missing_story(storage, args.name))
            story = shown
            history = await storage.story_audit(story.name)
            if args.json:
                print(
                    json.dumps(
                        {
                            "name": story.name,
                            "query": story.query,
                            "history": [
                                {
                                    "action": h.action,
                                    "old_query": h.old_query,
                                    "new_query": h.new_query,
                                    "user_id": h.user_id,
                                    "user_name": h.user_name,
                                    "at": h.at.isoformat(),
                                }
                                for h in history
                            ],
                        },
                        ensure_ascii=False,
                    )
                )
            else:
                print(f"{story.name}: {story.query}")
                for h in history:
                    who = h.user_name or h.user_id or "?"
                    change = h.new_query if h.action != "remove" else h.old_query
                    print(f"  {h.at:%Y-%m-%d %H:%M} {h.action} by {who}: {change}")
            return 0
    raise UsageError(f"unknown stories action {action!r}")


async def run_story(config: Config, name: str, since: datetime | None, as_json: bool) -> int:
    """``newsbot story NAME``: the story's developments as ``/story`` lists them (most recent
    first, lead report first), with their reports and kinds."""
    async with open_storage(config) as storage:
        try:
            story = await story_actions.find_story(storage, name)
        except story_actions.StoryNotFound as exc:
            raise _missing(exc) from None
        assert story.id is not None
        developments = await story_actions.story_developments(storage, story.id, since=since)
    if as_json:
        shown = [development_json(dev) for dev in developments]
        print(json.dumps({"story": story.name, "developments": shown}, ensure_ascii=False))
        return 0
    if not developments:
        print(f"{story.name}: nothing yet (query: {story.query})")
    for dev in developments:
        outlets = f"{dev.outlets} outlet" + ("" if dev.outlets == 1 else "s")
        print(f"{dev.last_seen:%Y-%m-%d %H:%M}  {dev.title}  [{outlets}]")
        for item in dev.items:
            marker = {"new": "*", "update": "+", "rereport": "="}.get(item.kind, "?")
            n = item.extra_sources
            more = f"  (+{n} more source{'' if n == 1 else 's'})" if n else ""
            adds = f"  [adds: {', '.join(item.adds)}]" if item.adds else ""
            print(f"   {marker} {item.outlet}: {item.title}{adds}  {item.url or ''}{more}")
    return 0
