"""The Telegram application: wiring of handlers and jobs, start-up and shut-down.

``build_application(services)`` builds the python-telegram-bot ``Application`` (token and
``base_url`` from config, AIORateLimiter, handlers, one error handler, jobs); ``serve(app)``
runs it (long polling, or webhook with its secret token) until a stop event. What it runs on
(storage, poller, tracker) is built by the composition root, ``bot.app``.

Jobs (PTB JobQueue): the poll cycle (fetch due feeds, track, breaking alerts), the digest
scheduler (due subscriptions to the outbox) and the outbox sender. Whatever is written to the
outbox is sent by the sender, also after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from storage.outbox import enqueue
from storage.repository import Storage
from storage.settings import get_or_create_setting
from stories.model import FeedState

from . import commands
from .actions.digests import breaking_alerts, run_due_digests
from .command_menus import register_commands
from .config import Config, ConfigError, check_webhook_secret
from .maintenance import PRUNE_INTERVAL, prune_old_items
from .observability import install_log_redaction
from .outbox import OutboxSender, SendReport
from .permissions import Permissions
from .render import escape
from .services import RUNTIME_KEY, Runtime, Services, runtime_of
from .singleton import polling_lock

log = logging.getLogger("newsbot.telegram")

__all__ = [
    "CycleReport",
    "Intervals",
    "Services",
    "build_application",
    "digest_cycle",
    "intervals_from_env",
    "poll_cycle",
    "sender_name",
    "serve",
]

BotApplication = Application[Any, Any, Any, Any, Any, Any]
# A run that outlasts its interval makes the next one return at once (each job guards itself
# with a lock) instead of APScheduler logging "maximum number of running instances" warnings;
# runs missed while the loop was busy collapse into one.
_JOB_KWARGS: dict[str, Any] = {"max_instances": 3, "coalesce": True}


@dataclass(frozen=True, slots=True)
class Intervals:
    """Seconds between job runs. Each feed keeps its own fetch interval; this is how often the
    bot looks for due feeds, due digests and pending messages."""

    poll: float = 30.0
    digest: float = 30.0
    outbox: float = 5.0
    first_poll: float = 1.0


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one poll cycle did."""

    feeds: int = 0
    new_items: int = 0
    decisions: int = 0
    alerts: int = 0
    sent: SendReport = SendReport()  # noqa: RUF009 - frozen, so sharing it is safe


async def poll_cycle(runtime: Runtime) -> CycleReport:
    """Fetch due feeds, track new items, write breaking alerts, and send what is pending."""
    services = runtime.services
    feeds = new_items = decisions = 0
    async with runtime.poll_lock:
        if services.poller is not None:
            summary = await services.poller.poll_once()
            feeds, new_items = summary.feeds, summary.new_items
        if services.tracking is not None:
            decisions = len(await services.tracking.track_pending())
        async with runtime.digest_lock:
            alerts = await breaking_alerts(services.storage, services.config)
    sent = await runtime.sender.send_pending()
    return CycleReport(feeds, new_items, decisions, alerts, sent)


async def digest_cycle(runtime: Runtime, *, now: datetime | None = None) -> int:
    """Write every due digest to the outbox and send; returns the messages written."""
    async with runtime.digest_lock:
        written = await run_due_digests(runtime.storage, runtime.config, now=now)
    await runtime.sender.send_pending()
    return written


async def _poll_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime = runtime_of(context)
    if runtime.poll_lock.locked():
        return  # the previous cycle (or a /feed add) is still running
    report = await poll_cycle(runtime)
    if report.feeds or report.alerts:
        log.info(
            "poll: feeds=%d new_items=%d decisions=%d alerts=%d sent=%d",
            report.feeds,
            report.new_items,
            report.decisions,
            report.alerts,
            report.sent.sent,
        )


async def _prune_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime = runtime_of(context)
    await prune_old_items(runtime.storage, runtime.config)


async def _digest_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime = runtime_of(context)
    if runtime.digest_lock.locked():
        return
    written = await digest_cycle(runtime)
    if written:
        log.info("digests: %d messages written", written)


async def _outbox_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await runtime_of(context).sender.send_pending()


def _notify_admins(runtime: Runtime) -> Any:
    async def hook(state: FeedState) -> None:
        text = (
            f"⛔ Feed disabled: <code>{escape(state.url)}</code>\n"
            f"{escape(state.disabled_reason or state.last_error or 'too many errors')}\n"
            f"/feed enable {escape(state.url)} to try again."
        )
        for admin in runtime.config.telegram.admins:
            await enqueue(runtime.storage, admin, text, kind="notice")

    return hook


async def _post_init(app: BotApplication) -> None:
    """Start services: tracker caught up, command list registered, pending messages resumed
    (in the background: updates are answered meanwhile)."""
    runtime = runtime_of(app)
    runtime.bot_username = app.bot.username
    services = runtime.services
    if services.tracking is not None:
        await services.tracking.start()
    if services.poller is not None:
        services.poller.on_disabled.append(_notify_admins(runtime))
    # Menus per scope and language; a failure is logged inside, the bot carries on.
    await register_commands(app.bot, runtime.config.telegram.admins)
    await runtime.sender.recover()
    # What is pending is sent by a job, in the background, as soon as the app runs: sent here,
    # a backlog (and its 429 waits) kept the bot from answering anyone or fetching anything.
    jobs = app.job_queue
    if jobs is not None:
        jobs.run_once(_outbox_on_start_job, when=0.0, name="outbox-on-start")


async def _outbox_on_start_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    resumed = await runtime_of(context).sender.send_pending()
    if resumed.sent or resumed.failed:
        log.info("outbox on start: sent=%d failed=%d", resumed.sent, resumed.failed)


async def _post_shutdown(app: BotApplication) -> None:
    """Nothing to close here: storage and poller belong to whoever built the Services."""
    log.info("bot stopped")


def sender_name(config: Config) -> str:
    """The outbox sender's stable name: ``$NEWSBOT_SENDER_NAME``, else host and bot id. Two bot
    processes on one host sharing a database need distinct names."""
    explicit = os.environ.get("NEWSBOT_SENDER_NAME")
    if explicit:
        return explicit
    return f"sender:{socket.gethostname()}:{config.telegram.token.split(':', 1)[0]}"


def build_application(
    services: Services, *, intervals: Intervals = Intervals(), rate_limit: bool = True
) -> BotApplication:
    """The python-telegram-bot Application with every handler and job, not yet started."""
    config = services.config
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder().token(config.telegram.token).base_url(config.telegram.base_url)
    )
    if rate_limit:
        # Our own retry handles 429 (wait retry_after, then again); the limiter spaces requests.
        builder = builder.rate_limiter(AIORateLimiter(max_retries=0))
    builder = builder.post_init(_post_init).post_shutdown(_post_shutdown)
    app: BotApplication = builder.build()
    runtime = Runtime(
        services=services,
        permissions=Permissions(frozenset(config.telegram.admins)),
        sender=OutboxSender(services.storage, app.bot, owner=sender_name(config)),
    )
    app.bot_data[RUNTIME_KEY] = runtime

    updates = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
    command_handlers: list[tuple[str | tuple[str, ...], Any]] = [
        (("start", "help"), commands.start),
        ("stories", commands.stories),
        ("story", commands.story),
        ("search", commands.search),
        ("subscribe", commands.subscribe),
        ("unsubscribe", commands.unsubscribe),
        ("subscriptions", commands.subscriptions),
        ("timezone", commands.timezone),
        ("digest", commands.digest),
        ("watch", commands.watch),
        ("feed", commands.feed),
        ("feeds", commands.feeds),
        ("status", commands.status),
        ("settings", commands.settings),
    ]
    for names, callback in command_handlers:
        app.add_handler(CommandHandler(names, callback, filters=updates))
    app.add_handler(CallbackQueryHandler(commands.on_button))
    app.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & filters.FORWARDED & updates, commands.forwarded)
    )
    # A reply to the bot's "send me the query" prompt (/watch add NAME) completes that command.
    app.add_handler(
        MessageHandler(filters.REPLY & filters.TEXT & ~filters.COMMAND & updates, commands.watch_reply)
    )
    app.add_handler(ChatMemberHandler(commands.my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, commands.migrated))
    app.add_error_handler(commands.on_error)

    jobs = app.job_queue
    if jobs is None:
        raise RuntimeError('the JobQueue is missing: install "python-telegram-bot[job-queue]"')
    # Runs even without a poller (run --no-fetch): breaking alerts come from this job.
    jobs.run_repeating(
        _poll_job,
        interval=intervals.poll,
        first=intervals.first_poll,
        name="poll",
        job_kwargs=_JOB_KWARGS,
    )
    jobs.run_repeating(
        _digest_job, interval=intervals.digest, first=intervals.digest, name="digests", job_kwargs=_JOB_KWARGS
    )
    jobs.run_repeating(_prune_job, interval=PRUNE_INTERVAL, first=60.0, name="prune", job_kwargs=_JOB_KWARGS)
    jobs.run_repeating(
        _outbox_job, interval=intervals.outbox, first=intervals.outbox, name="outbox", job_kwargs=_JOB_KWARGS
    )
    return app


async def serve(app: BotApplication, stop: asyncio.Event, *, poll_timeout: int = 10) -> None:
    """Run ``app`` (polling, or webhook per config) until ``stop`` is set, then shut down."""
    runtime = runtime_of(app)
    config = runtime.config
    # Checked before anything starts: webhook mode never listens without a strong secret.
    secret = await webhook_secret(runtime.storage, config) if config.telegram.mode == "webhook" else ""
    async with contextlib.AsyncExitStack() as stack:
        if config.telegram.mode != "webhook":
            # Only one process may long-poll Telegram: a second one stops here with a clear error
            # instead of fighting over getUpdates. Losing the lock (database gone) stops the bot.
            held = await stack.enter_async_context(polling_lock(runtime.storage))
            stack.push_async_callback(_cancel, asyncio.ensure_future(_stop_when(held.lost, stop)))
        await stack.enter_async_context(app)
        await _serve_started(app, stop, config, poll_timeout, secret)


async def _stop_when(event: asyncio.Event, stop: asyncio.Event) -> None:
    await event.wait()
    log.error("lost the single-poller lock; stopping")
    stop.set()


async def _cancel(task: asyncio.Future[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


WEBHOOK_SECRET_SETTING = "telegram.webhook.secret_token"


async def webhook_secret(storage: Storage, config: Config) -> str:
    """The secret Telegram must send with every webhook update.

    The configured one when set (it must be strong: a weak one is refused with a
    ``ConfigError``), else one generated on first start and kept in the database, so every
    bot process sharing the database, and every restart, uses the same one. Without a secret
    anyone who can reach the listener could post updates "from" a bot admin.
    """
    configured = config.telegram.webhook.secret_token
    if configured:
        try:
            return check_webhook_secret(configured)
        except ValueError as exc:
            where = config.path or "config"
            raise ConfigError(f"{where}: telegram.webhook.secret_token: {exc}") from None
    secret = await get_or_create_setting(storage, WEBHOOK_SECRET_SETTING, lambda: secrets.token_urlsafe(32))
    install_log_redaction(secret)
    return secret


async def _serve_started(
    app: BotApplication, stop: asyncio.Event, config: Config, poll_timeout: int, secret: str
) -> None:
    """Start updates (webhook or polling) and the app, wait for ``stop``, then stop both."""
    if app.post_init is not None:
        await app.post_init(app)
    updater = app.updater
    assert updater is not None
    if config.telegram.mode == "webhook":
        webhook = config.telegram.webhook
        await updater.start_webhook(
            listen=webhook.listen,
            port=webhook.port,
            # The path Telegram posts to is the public URL's path (a reverse proxy in front
            # usually keeps it); without one, the bot id.
            url_path=urlsplit(webhook.url).path.strip("/") or config.telegram.token.split(":", 1)[0],
            webhook_url=webhook.url or None,
            secret_token=secret,  # never empty: PTB then answers 403 to a request without it
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        await updater.start_polling(poll_interval=0.0, timeout=poll_timeout, allowed_updates=Update.ALL_TYPES)
    await app.start()
    log.info("bot @%s running (%s)", app.bot.username, config.telegram.mode)
    try:
        await stop.wait()
    finally:
        runtime_of(app).sender.stop()  # a 429 wait must not hold the shutdown (app.stop awaits jobs)
        await updater.stop()
        await app.stop()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


def intervals_from_env() -> Intervals:
    """Job intervals; ``NEWSBOT_POLL_TICK``/``NEWSBOT_DIGEST_TICK``/``NEWSBOT_OUTBOX_TICK`` (seconds)
    override them (used by the end-to-end tests that run the bot as a subprocess)."""
    defaults = Intervals()

    def value(name: str, default: float) -> float:
        raw = os.environ.get(name)
        try:
            return float(raw) if raw else default
        except ValueError:
            return default

    return Intervals(
        poll=value("NEWSBOT_POLL_TICK", defaults.poll),
        digest=value("NEWSBOT_DIGEST_TICK", defaults.digest),
        outbox=value("NEWSBOT_OUTBOX_TICK", defaults.outbox),
        first_poll=min(value("NEWSBOT_POLL_TICK", defaults.first_poll), defaults.first_poll),
    )
