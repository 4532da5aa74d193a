"""Composition root: where every newsbot process builds its objects from the config.

``run`` is ``newsbot run``: the Telegram bot with a token (``run_telegram``), else terminal
mode (fetch, track and print digests to stdout). ``run_worker`` is ``newsbot worker``.
``fetch_once``, ``print_status`` and ``print_digest`` back the matching CLI commands, and
the other commands open the database through ``open_storage`` or ``open_services``.

The database is opened one way everywhere: migrations under the migration lock
(``storage.locks.upgrade_once``, so a bot and workers starting together take turns), then
the configured feeds and stories seeded on first start. The process lifetimes (one event
loop that SIGINT and SIGTERM stop, see ``run_until_signalled``) are here too. What is built
here is handed on: the Telegram application is wired by ``bot.telegram.build_application``
from the ``Services``, a worker's loop by ``bot.worker.Worker``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta

from storage.db import backend_name
from stories.errors import EXIT_USAGE
from stories.model import Decision

from .actions.digests import terminal_digest
from .config import TOKEN_ENV, Config
from .maintenance import PRUNE_INTERVAL, prune_old_items
from .observability import REGISTRY, MetricsServer, database_gauges, install_log_redaction, log_event
from .poller import FeedReport, Poller, PollSummary
from .services import Services
from .status import print_status as print_status
from .storage_access import feed_url as feed_url
from .storage_access import open_storage as open_storage
from .tracking import TrackingService
from .worker import SQLITE_REFUSAL, Worker, connect_storage

log = logging.getLogger("newsbot")
worker_log = logging.getLogger("newsbot.worker")

# How often run mode looks for due feeds; each feed keeps its own interval.
POLL_TICK_SECONDS = 30.0


@asynccontextmanager
async def open_services(config: Config, *, fetch: bool = True, seed: bool = True) -> AsyncIterator[Services]:
    """Storage, and with ``fetch`` an entered poller and a (not yet started) tracking service;
    the tracker's state is saved when the block ends normally."""
    async with open_storage(config, seed=seed) as storage, AsyncExitStack() as stack:
        poller = await stack.enter_async_context(Poller.from_config(storage, config)) if fetch else None
        tracking = TrackingService.from_config(storage, config) if fetch else None
        yield Services(config, storage, poller=poller, tracking=tracking)
        if tracking is not None:
            await tracking.save()


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
    async with open_services(config) as services:
        poller, tracking = services.poller, services.tracking
        assert poller is not None and tracking is not None
        await tracking.start()
        summary = await poller.poll_once(include_all=include_all, progress=ProgressBar("fetching"))
        decisions = await tracking.track_pending()
    if as_json:
        data = summary.as_dict()
        data["developments_new"] = sum(d.kind == "new" for d in decisions)
        data["developments_updated"] = sum(d.kind == "update" for d in decisions)
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(_summary_text(summary, decisions))
    return 0


async def print_digest(
    config: Config, *, chat_id: int | None = None, since: datetime | None = None, as_json: bool = False
) -> int:
    """``newsbot digest``: the digest of every story (or one chat's) as plain text."""
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
    stop = stop or asyncio.Event()
    async with open_services(config, fetch=fetch) as services:
        storage, poller, tracking = services.storage, services.poller, services.tracking
        if tracking is not None:
            await tracking.start()
        since = datetime.now(UTC) - timedelta(days=1)
        last_prune = 0.0
        while not stop.is_set():
            if time.monotonic() - last_prune >= PRUNE_INTERVAL:
                await prune_old_items(storage, config)
                last_prune = time.monotonic()
            if poller is not None and tracking is not None:
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


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` in a new event loop until it returns; SIGINT and SIGTERM set ``stop``.

    Every long-running process (bot, terminal mode, worker) stops this one way.
    """

    async def body() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError, RuntimeError):  # non-Unix, or not the main thread
                loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(body())


def run(config: Config, *, fetch: bool = True) -> int:
    """``newsbot run``: apply migrations, then run the bot (or terminal mode) until stopped.

    Both modes open the database through ``open_storage``, which applies the migrations
    under the migration lock.
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

        run_until_signalled(lambda stop: run_terminal(config, fetch=fetch, stop=stop))
        return 0
    return run_telegram(config, fetch=fetch)


def run_telegram(config: Config, *, fetch: bool = True) -> int:
    """``newsbot run`` with a token: open storage, poller and tracker, serve until SIGINT/SIGTERM."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its log lines carry the token
    install_log_redaction(*config.secrets())  # and so do PTB's InvalidToken and its traceback
    from .telegram import build_application, intervals_from_env, serve  # only `run` needs PTB

    async def main(stop: asyncio.Event) -> None:
        # With --no-fetch, workers fetch and one of them tracks; the bot must not track too.
        async with open_services(config, fetch=fetch) as services, AsyncExitStack() as stack:
            if config.telegram.metrics_port:
                metrics = MetricsServer(
                    REGISTRY,
                    host=config.telegram.metrics_listen,
                    port=config.telegram.metrics_port,
                    collect=database_gauges(services.storage),
                )
                await stack.enter_async_context(metrics)
            await serve(build_application(services, intervals=intervals_from_env()), stop)

    run_until_signalled(main)
    return 0


def run_worker(config: Config) -> int:
    """``newsbot worker``: fetch and track only, leasing feeds in a shared PostgreSQL database.

    SQLite is refused (exit 2): one ``newsbot run`` does everything there.
    """
    install_log_redaction(*config.secrets())
    url = config.database.url
    backend = backend_name(url)
    if backend != "postgresql":
        print(f"newsbot: {SQLITE_REFUSAL.format(url=url, backend=backend)}", file=sys.stderr)
        return EXIT_USAGE
    run_until_signalled(lambda stop: serve_worker(config, stop=stop))
    return 0


async def serve_worker(config: Config, *, stop: asyncio.Event | None = None) -> None:
    """Run one worker (and its metrics server, if configured) until ``stop`` is set."""
    stop = stop or asyncio.Event()
    async with open_storage(config, seed=False, connect=connect_storage) as storage:
        worker = Worker(storage, config)
        log_event(
            worker_log,
            "worker_start",
            worker=worker.name,
            batch_size=worker.lease.batch_size,
            lease_seconds=worker.lease.lease_seconds,
            per_host=worker.lease.per_host,
            started=datetime.now(UTC).isoformat(),
        )
        settings = config.worker
        async with AsyncExitStack() as stack:
            if settings.metrics_port:
                server = MetricsServer(
                    worker.metrics,
                    host=settings.metrics_listen,
                    port=settings.metrics_port,
                    collect=worker.collect,
                    health=worker.health,
                )
                port = await server.start()
                stack.push_async_callback(server.close)
                log_event(worker_log, "metrics_listen", address=f"{settings.metrics_listen}:{port}")
            await worker.run(stop)
