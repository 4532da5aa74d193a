"""``newsbot stories ...`` (global watchlists) and ``newsbot story NAME`` (its developments)."""

from __future__ import annotations

import argparse
import difflib
import json
from datetime import datetime
from typing import Any

from storage.repository import AlreadyExists, NotFound, Storage, StoredItem
from stories.query import QueryError, parse

from .app import open_storage
from .config import Config
from .errors import CommandFailed, UsageError, bad_query


def check_query(query: str, *, max_length: int | None = None) -> str:
    """Validate a watchlist query; a UsageError points at the position of the problem."""
    if max_length is not None and len(query) > max_length:
        raise UsageError(f"query too long: {len(query)} characters, at most {max_length}")
    try:
        parse(query)
    except QueryError as exc:
        raise bad_query(query, exc.position, str(exc)) from None
    return query


def group_developments(items: list[StoredItem]) -> list[dict[str, Any]]:
    """A story's items grouped into developments, newest development first."""
    groups: dict[int, list[StoredItem]] = {}
    for stored in items:
        key = stored.development_id if stored.development_id is not None else -stored.id
        groups.setdefault(key, []).append(stored)
    developments = []
    for dev_id, members in groups.items():
        members.sort(key=lambda s: (s.first_seen, s.id))
        # The lead is the earliest original report (never a copy), and it is listed first.
        originals = sorted((m for m in members if m.kind == "new"), key=lambda s: (s.item.published, s.id))
        lead = originals[0] if originals else members[0]
        members.remove(lead)
        members.insert(0, lead)
        outlets = sorted({o for m in members for o in (m.sources or (m.item.outlet,))})
        developments.append(
            {
                "id": dev_id,
                "title": lead.item.title,
                "first_seen": min(m.first_seen for m in members).isoformat(),
                "last_seen": max(m.first_seen for m in members).isoformat(),
                "outlets": outlets,
                "items": [
                    {
                        "title": m.item.title,
                        "url": m.item.url,
                        "outlet": m.item.outlet,
                        "published": m.item.published.isoformat(),
                        "kind": m.kind or "new",
                        "sources": list(m.sources),
                    }
                    for m in members
                ],
            }
        )
    developments.sort(key=lambda d: str(d["last_seen"]), reverse=True)
    return developments


async def _names(storage: Storage) -> list[str]:
    return [s.name for s in await storage.list_stories(scope=0)]


async def _missing(storage: Storage, name: str) -> CommandFailed:
    close = difflib.get_close_matches(name, await _names(storage), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `newsbot stories list` shows them"
    return CommandFailed(f"no story named {name!r}{hint}")


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
            query = check_query(args.query)
            try:
                if action == "add":
                    story = await storage.add_story(args.name, query, user_name="cli")
                else:
                    story = await storage.edit_story(args.name, query, user_name="cli")
            except AlreadyExists as exc:
                raise UsageError(str(exc)) from None
            except NotFound:
                raise await _missing(storage, args.name) from None
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
                raise await _missing(storage, args.name) from None
            print(json.dumps({"removed": args.name}) if args.json else f"removed {args.name}")
            return 0
        if action == "show":
            shown = await storage.get_story(args.name)
            if shown is None:
                raise await _missing(storage, args.name)
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
    """``newsbot story NAME``: developments newest first, with their items and kinds."""
    async with open_storage(config) as storage:
        story = await storage.get_story(name)
        if story is None or story.id is None:
            raise await _missing(storage, name)
        developments = group_developments(await storage.story_items(story.id, since=since))
    if as_json:
        print(json.dumps({"story": story.name, "developments": developments}, ensure_ascii=False))
        return 0
    if not developments:
        print(f"{story.name}: nothing yet (query: {story.query})")
    for dev in developments:
        print(f"{dev['last_seen'][:16].replace('T', ' ')}  {dev['title']}  [{len(dev['outlets'])} outlets]")
        for item in dev["items"]:
            marker = {"new": "*", "update": "+", "rereport": "="}.get(item["kind"], "?")
            print(f"   {marker} {item['outlet']}: {item['title']}  {item['url'] or ''}")
    return 0
