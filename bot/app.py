"""Composition root: the only place that builds concrete objects from the config.

``run`` is ``newsbot run``: migrations, seeding, then either the Telegram bot (with a
token) or terminal mode (no token: fetch, track and print digests to stdout).
``fetch_once``, ``print_status`` and ``print_digest`` back the matching CLI commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feeds.fetch import resolve_file_url
from storage.db import upgrade
from storage.repository import Storage
from stories.model import Decision

from .config import TOKEN_ENV, Config
from .maintenance import PRUNE_INTERVAL, prune_old_items
from .observability import install_log_redaction
from .poller import FeedReport, Poller, PollSummary
from .tracking import TrackingService

log = logging.getLogger("newsbot")

# How often run mode looks for due feeds; each feed keeps its own interval.
POLL_TICK_SECONDS = 30.0


def feed_url(config: Config, url: str) -> str:
    """A configured feed URL, with relative ``file:`` paths resolved against the config's folder."""
    base = config.path.parent if config.path else Path.cwd()
    return resolve_file_url(url, base)


@asynccontextmanager
async def open_storage(config: Config, *, seed: bool = True) -> AsyncIterator[Storage]:
    """Migrate the database, open it, and seed configured feeds and stories on first start."""
    install_log_redaction(*config.secrets())
    await asyncio.to_thread(upgrade, config.database.url)
    storage = Storage.connect(config.database.url)
    try:
        if seed:
            feeds, stories = await storage.seed(
                [(feed_url(config, f.url), f.title) for f in config.feeds],
                [(s.name, s.query) for s in config.stories],
            )
            if feeds or stories:
                log.info("first start: added %d feeds and %d stories from %s", feeds, stories, config.path)
        yield storage
    finally:
        await storage.close()


class ProgressBar:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int, report: FeedReport) -> None:
        if not self.enabled or total == 0:
            return
        width = 30
        filled = int(width * done / total)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _summary_text(summary: PollSummary, tracked: list[Decision]) -> str:
    lines = [
        f"{summary.feeds} feeds: {summary.fetched} fetched, {summary.not_modified} not modified, "
        f"{summary.unchanged} unchanged, {summary.errors} errors",
        f"{summary.new_items} new items, {summary.updated_items} updated; "
        f"tracker: {sum(d.kind == 'new' for d in tracked)} new developments, "
        f"{sum(d.kind == 'update' for d in tracked)} updates, "
        f"{sum(d.kind == 'rereport' for d in tracked)} re-reports",
    ]
    for report in summary.reports:
        if report.error:
            lines.append(f"  error: {report.url}: {report.error}")
    for url in summary.disabled:
        lines.append(f"  disabled: {url}")
    return "\n".join(lines)


async def fetch_once(config: Config, *, include_all: bool = False, as_json: bool = False) -> int:
    """``newsbot fetch --once``: one poll cycle over due (or all) feeds, then tracking."""
    async with open_storage(config) as storage:
        tracking = TrackingService.from_config(storage, config)
        await tracking.start()
        async with Poller.from_config(storage, config) as poller:
            summary = await poller.poll_once(include_all=include_all, progress=ProgressBar("fetching"))
        decisions = await tracking.track_pending()
        await tracking.save()
    if as_json:
        data = summary.as_dict()
        data["developments_new"] = sum(d.kind == "new" for d in decisions)
        data["developments_updated"] = sum(d.kind == "update" for d in decisions)
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(_summary_text(summary, decisions))
    return 0


async def print_status(config: Config, *, as_json: bool = False) -> int:
    """``newsbot status``: feeds by health, items, developments, outbox depth."""
    from .status import collect_status

    async with open_storage(config, seed=False) as storage:
        status = await collect_status(storage)
    if as_json:
        print(json.dumps(status, ensure_ascii=False, default=str))
    else:
        for key, value in status.items():
            print(f"{key}: {value}")
    return 0


async def print_digest(
    config: Config, *, chat_id: int | None = None, since: datetime | None = None, as_json: bool = False
) -> int:
    """``newsbot digest``: the digest of every story (or one chat's) as plain text."""
    from .digests import terminal_digest

    since = since or datetime.now(UTC) - timedelta(days=1)
    async with open_storage(config) as storage:
        messages = await terminal_digest(storage, config, since=since, chat_id=chat_id)
    if as_json:
        print(json.dumps({"since": since.isoformat(), "messages": messages}, ensure_ascii=False))
    elif messages:
        print("\n\n".join(messages))
    else:
        print("nothing new")
    return 0


async def run_terminal(config: Config, *, fetch: bool = True, stop: asyncio.Event | None = None) -> None:
    """No token: fetch and track on schedule and print each new digest to stdout."""
    from .digests import terminal_digest

    stop = stop or asyncio.Event()
    async with open_storage(config) as storage:
        tracking = TrackingService.from_config(storage, config)
        await tracking.start()
        async with Poller.from_config(storage, config) as poller:
            since = datetime.now(UTC) - timedelta(days=1)
            last_prune = 0.0
            while not stop.is_set():
                if time.monotonic() - last_prune >= PRUNE_INTERVAL:
                    await prune_old_items(storage, config)
                    last_prune = time.monotonic()
                if fetch:
                    summary = await poller.poll_once()
                    decisions = await tracking.track_pending()
                    if summary.feeds:
                        # Each feed's error is already on its own fetch line.
                        log.info(
                            "poll: feeds=%d fetched=%d not_modified=%d errors=%d new_items=%d decisions=%d",
                            summary.feeds,
                            summary.fetched,
                            summary.not_modified,
                            summary.errors,
                            summary.new_items,
                            len(decisions),
                        )
                now = datetime.now(UTC)
                messages = await terminal_digest(storage, config, since=since)
                since = now
                for message in messages:
                    print(message, flush=True)
                    print("-" * 40, flush=True)
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_TICK_SECONDS)
        await tracking.save()


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # non-Unix
            loop.add_signal_handler(sig, stop.set)


def run(config: Config, *, fetch: bool = True) -> int:
    """``newsbot run``: apply migrations, then run the bot (or terminal mode) until stopped.

    Both modes open the database through ``open_storage``, which applies the migrations.
    From here on no log line shows the token, the webhook secret or the database password.
    """
    install_log_redaction(*config.secrets())
    if not config.telegram.token:
        print(
            "newsbot: no Telegram token configured, so running in terminal mode: feeds are fetched "
            "and tracked on schedule and digests are printed here.\n"
            f"  To connect to Telegram, create a bot with @BotFather and set {TOKEN_ENV}=<token> "
            f"(or [telegram] token in {config.path}).",
            file=sys.stderr,
            flush=True,
        )

        async def terminal() -> None:
            stop = asyncio.Event()
            _install_signal_handlers(stop)
            await run_terminal(config, fetch=fetch, stop=stop)

        asyncio.run(terminal())
        return 0
    from .telegram import run_telegram

    return run_telegram(config, fetch=fetch)


def run_worker(config: Config) -> int:
    """``newsbot worker``: fetch and track only, leasing feeds in a shared PostgreSQL database."""
    from .worker import run_worker as worker_main

    install_log_redaction(*config.secrets())
    return worker_main(config)
