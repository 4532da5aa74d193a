"""``newsbot feeds ...``: list, add, rm, enable, import and export feeds."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from storage.repository import AlreadyExists, NotFound, Storage

from .actions import feeds as feed_actions
from .config import Config
from .errors import CommandFailed, UsageError
from .poller import Poller
from .storage_access import open_storage
from .tracking import TrackingService


async def _add(storage: Storage, config: Config, url: str) -> dict[str, object]:
    """``feeds add``: add the feed, fetch it once and track what it brought, as ``/feed add`` does."""
    tracking = TrackingService.from_config(storage, config)
    await tracking.start()
    async with Poller.from_config(storage, config) as poller:
        added = await feed_actions.add_feed(storage, url, poller=poller, tracking=tracking)
    await tracking.save()
    report = added.report
    return {
        "url": url,
        "title": added.title,
        "result": report.kind if report else None,
        "new_items": report.new_items if report else 0,
        "error": report.error if report else None,
    }


async def run(config: Config, args: argparse.Namespace) -> int:
    """Dispatch one ``feeds`` action."""
    from feeds.opml import parse_opml, to_opml

    action = args.feeds_command
    async with open_storage(config) as storage:
        if action == "list":
            feeds = await storage.list_feeds()
            rows = [
                {
                    "url": f.state.url,
                    "title": f.state.title,
                    "status": feed_actions.health(f.state),
                    "disabled_reason": f.state.disabled_reason,
                    "last_error": f.state.last_error,
                    "consecutive_errors": f.state.consecutive_errors,
                    "last_fetched_at": f.state.last_fetched_at,
                    "next_fetch_at": f.state.next_fetch_at,
                    "items": f.item_count,
                }
                for f in feeds
            ]
            if args.json:
                print(json.dumps({"feeds": rows}, ensure_ascii=False, default=str))
                return 0
            if not rows:
                print("no feeds yet: add one with `newsbot feeds add URL`")
            for row in rows:
                when = row["next_fetch_at"]
                nxt = when.strftime("%Y-%m-%d %H:%M") if isinstance(when, datetime) else "-"
                print(f"{row['status']:<8} {row['items']:>6} items  next {nxt}  {row['url']}")
                if row["title"]:
                    print(f"{'':<8} {row['title']}")
                if row["disabled_reason"] or row["last_error"]:
                    print(f"{'':<8} last error: {row['disabled_reason'] or row['last_error']}")
            return 0
        if action == "add":
            url = feed_actions.check_feed_url(args.url, allow_files=config.fetch.allow_local_files)
            try:
                result = await _add(storage, config, url)
            except AlreadyExists as exc:
                raise UsageError(str(exc)) from None
            if args.json:
                print(json.dumps(result, ensure_ascii=False))
            elif result["error"]:
                print(f"added {url}, but the first fetch failed: {result['error']} (it will be retried)")
            else:
                print(f"added {url}: {result['title'] or 'untitled'}, {result['new_items']} items")
            return 0
        if action in ("rm", "enable"):
            try:
                if action == "rm":
                    await storage.remove_feed(args.url)
                    message = f"removed {args.url}"
                else:
                    await storage.set_feed_enabled(args.url, True)
                    message = f"enabled {args.url}; it will be fetched on the next cycle"
            except NotFound as exc:
                raise CommandFailed(str(exc)) from None
            print(json.dumps({"ok": True, "url": args.url}) if args.json else message)
            return 0
        if action == "import":
            try:
                data = Path(args.file).read_bytes()
            except OSError as exc:
                raise UsageError(f"{args.file}: cannot read: {exc.strerror}") from None
            try:
                entries = parse_opml(data)
            except ValueError as exc:
                raise UsageError(f"{args.file}: {exc}") from None
            added, skipped = [], []
            for url, title in entries:
                try:
                    feed_actions.check_feed_url(url, allow_files=config.fetch.allow_local_files)
                    await storage.add_feed(url, title=title or None)
                    added.append(url)
                except (AlreadyExists, feed_actions.BadFeedUrl) as exc:
                    skipped.append({"url": url, "reason": str(exc)})
            if args.json:
                print(json.dumps({"added": added, "skipped": skipped}, ensure_ascii=False))
            else:
                print(
                    f"imported {len(added)} feeds, skipped {len(skipped)}; they are fetched on the next cycle"
                )
                for skip in skipped:
                    print(f"  skipped {skip['url']}: {skip['reason']}")
            return 0
        if action == "export":
            feeds = await storage.list_feeds()
            print(to_opml([(f.state.url, f.state.title or "") for f in feeds]))
            return 0
    raise UsageError(f"unknown feeds action {action!r}")
