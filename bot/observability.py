"""Observability without dependencies: one-line structured logs, metrics, /healthz and /metrics.

* ``log_event(log, "fetch", url=..., kind=...)`` writes one ``logfmt`` line
  (``event=fetch url=https://... kind=ok``) per fetch or delivery. Keys that name
  secrets (token, secret, password, ...) are redacted, and so is a Bot API token
  inside a URL, so a log line never carries one.
* ``Metrics`` holds counters, gauges and histograms and renders them in the
  Prometheus text exposition format (version 0.0.4).
* ``MetricsServer`` is a tiny asyncio HTTP server: ``GET /healthz`` (200 ``ok`` or
  503 with the reason) and ``GET /metrics``. It refreshes database gauges through a
  ``collect`` callback at scrape time.

Processes share the names in ``METRIC_HELP`` so that dashboards work for every role
(worker, bot, sender). The bot's sender records ``TELEGRAM_SEND_SECONDS`` and
``TELEGRAM_429`` on the same registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.repository import Storage

# Metric names, shared by every process role.
FEEDS_DUE = "newsbot_feeds_due"
FEEDS_LEASED = "newsbot_feeds_leased"
FEEDS_FETCHED = "newsbot_feeds_fetched_total"
FEEDS_FAILED = "newsbot_feeds_failed_total"
ITEMS_NEW = "newsbot_items_new_total"
ITEMS_UPDATED = "newsbot_items_updated_total"
ITEMS_STORED = "newsbot_items_stored"
DEVELOPMENTS = "newsbot_developments_total"
OUTBOX_DEPTH = "newsbot_outbox_depth"
TELEGRAM_SEND_SECONDS = "newsbot_telegram_send_seconds"
TELEGRAM_429 = "newsbot_telegram_429_total"
POLL_BATCH_SECONDS = "newsbot_poll_batch_seconds"
TRACK_RUNS = "newsbot_tracker_runs_total"

METRIC_HELP: dict[str, tuple[str, str]] = {
    FEEDS_DUE: ("gauge", "Feeds due now and not leased by any worker."),
    FEEDS_LEASED: ("gauge", "Feeds leased by some worker (being fetched)."),
    FEEDS_FETCHED: ("counter", "Feeds fetched by this process, by outcome."),
    FEEDS_FAILED: ("counter", "Feed fetches by this process that failed."),
    ITEMS_NEW: ("counter", "New items stored by this process."),
    ITEMS_UPDATED: ("counter", "Items whose title or summary changed, stored by this process."),
    ITEMS_STORED: ("gauge", "Items in the database."),
    DEVELOPMENTS: ("counter", "Tracker decisions made by this process, by kind."),
    OUTBOX_DEPTH: ("gauge", "Outbox messages waiting to be sent."),
    TELEGRAM_SEND_SECONDS: ("histogram", "Seconds from the start of a send to Telegram's answer."),
    TELEGRAM_429: ("counter", "Telegram answers 429 Too Many Requests."),
    POLL_BATCH_SECONDS: ("histogram", "Seconds one leased batch of feeds took."),
    TRACK_RUNS: ("counter", "Tracker turns, by outcome (ran, skipped: another process held the lock)."),
}

DEFAULT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# --------------------------------------------------------------------------- logs

_SECRET_KEY = re.compile(r"token|secret|password|passwd|authorization|api_key|apikey|cookie", re.I)
# https://api.telegram.org/bot123456:ABC-DEF/sendMessage -> .../bot[redacted]/sendMessage
_BOT_TOKEN = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")
# A bare Bot API token ("123456789:AAH..."), as PTB quotes it in InvalidToken messages.
_BARE_BOT_TOKEN = re.compile(r"(?<![\w:/-])\d{5,}:[A-Za-z0-9_-]{30,}(?![\w-])")
# postgresql://user:password@host -> postgresql://user:[redacted]@host. The password runs to
# the first "@", as SQLAlchemy's URL parser reads it (so a "/" in it is hidden too).
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*):[^@\s]+@")
_BARE = re.compile(r"^[A-Za-z0-9_.:/@+\-=,?&%]+$")
REDACTED = "[redacted]"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with Bot API tokens, passwords in URLs and each of ``secrets`` replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _BOT_TOKEN.sub(f"/bot{REDACTED}", text)
    text = _BARE_BOT_TOKEN.sub(REDACTED, text)
    return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)


def mask_url(url: str) -> str:
    """A URL fit to show: its password (if any) replaced by ``[redacted]``."""
    return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", url)


class RedactingFilter(logging.Filter):
    """Redacts every record it sees: message, arguments, traceback and stack.

    The message is formatted here and the record's arguments dropped, and the traceback is
    rendered once and redacted into ``exc_text`` (which formatters print instead of formatting
    the exception again), so a token inside an exception message is hidden too.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = {s for s in secrets if s}

    def redact(self, text: str) -> str:
        """``text`` with this filter's secrets and the generic patterns hidden."""
        # Longest first: a secret that contains another is hidden whole.
        return redact(text, sorted(self.secrets, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; never drops it."""
        if getattr(record, "_newsbot_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: show it unformatted rather than crash logging
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record._newsbot_redacted = True
        return True


_TRACEBACKS = logging.Formatter()
_REDACTION = RedactingFilter()


def install_log_redaction(*secrets: str) -> RedactingFilter:
    """Redact ``secrets`` (and any Bot API token or URL password) from every log record.

    Every record is redacted as it is made (a record factory), so it holds for every
    handler and level, including handlers added later; the root logger's handlers get the
    filter too. Idempotent: a second call only adds secrets.
    """
    _REDACTION.secrets.update(s for s in secrets if s)
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "_newsbot_redacting", False):

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = factory(*args, **kwargs)
            _REDACTION.filter(record)
            return record

        redacting_factory._newsbot_redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(redacting_factory)
    root = logging.getLogger()
    for handler in root.handlers:
        if _REDACTION not in handler.filters:
            handler.addFilter(_REDACTION)
    return _REDACTION


def _value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)
    text = redact(str(value))
    if text and _BARE.match(text):
        return text
    # JSON string quoting: escapes quotes, backslashes and newlines, so one event is one line.
    return json.dumps(text, ensure_ascii=False)


def format_event(event: str, fields: Mapping[str, object]) -> str:
    """One logfmt line: ``event=NAME key=value ...``; secrets redacted, values quoted when needed."""
    parts = [f"event={_value(event)}"]
    for key, value in fields.items():
        shown = REDACTED if _SECRET_KEY.search(key) and value not in (None, "") else _value(value)
        parts.append(f"{key}={shown}")
    return " ".join(parts)


def log_event(logger: logging.Logger, event: str, /, *, level: int = logging.INFO, **fields: object) -> None:
    """Log one structured line for ``event`` (a fetch, a delivery, a lease...)."""
    if logger.isEnabledFor(level):
        logger.log(level, "%s", format_event(event, fields))


# ------------------------------------------------------------------------ metrics

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Mapping[str, object]) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _render_labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    pairs = [*labels, extra] if extra else list(labels)
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


@dataclass
class _Histogram:
    buckets: tuple[float, ...]
    counts: list[int]
    total: float = 0.0
    count: int = 0


class Metrics:
    """Counters, gauges and histograms, rendered in Prometheus text format.

    Thread-safe (a lock around every change), so the Telegram library's threads and
    the event loop can both record.
    """

    def __init__(self, help_texts: Mapping[str, tuple[str, str]] = METRIC_HELP) -> None:
        self._help = dict(help_texts)
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = {}
        self._gauges: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, _Histogram]] = {}

    def describe(self, name: str, kind: str, help_text: str) -> None:
        """Register a metric's type (counter, gauge, histogram) and help text."""
        if kind not in ("counter", "gauge", "histogram"):
            raise ValueError(f"unknown metric type {kind!r}")
        self._help[name] = (kind, help_text)

    def inc(self, name: str, value: float = 1.0, **labels: object) -> None:
        """Add ``value`` (>= 0) to a counter."""
        if value < 0:
            raise ValueError(f"{name}: a counter only goes up")
        key = _labels(labels)
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: object) -> None:
        """Set a gauge."""
        with self._lock:
            self._gauges.setdefault(name, {})[_labels(labels)] = float(value)

    def observe(
        self, name: str, value: float, *, buckets: Iterable[float] = DEFAULT_BUCKETS, **labels: object
    ) -> None:
        """Record one observation (e.g. seconds) in a histogram."""
        key = _labels(labels)
        with self._lock:
            series = self._histograms.setdefault(name, {})
            hist = series.get(key)
            if hist is None:
                bounds = tuple(sorted(buckets))
                hist = series[key] = _Histogram(bounds, [0] * len(bounds))
            for index, bound in enumerate(hist.buckets):
                if value <= bound:
                    hist.counts[index] += 1
            hist.total += value
            hist.count += 1

    def value(self, name: str, **labels: object) -> float:
        """A counter's or gauge's current value (0 when never set); a histogram's count."""
        key = _labels(labels)
        with self._lock:
            if name in self._counters:
                return self._counters[name].get(key, 0.0)
            if name in self._gauges:
                return self._gauges[name].get(key, 0.0)
            if name in self._histograms and key in self._histograms[name]:
                return float(self._histograms[name][key].count)
        return 0.0

    def render(self) -> str:
        """The Prometheus text exposition of every metric recorded so far."""
        lines: list[str] = []
        with self._lock:
            names = sorted({*self._counters, *self._gauges, *self._histograms})
            for name in names:
                kind = (
                    "counter" if name in self._counters else "gauge" if name in self._gauges else "histogram"
                )
                help_text = self._help.get(name, (kind, name.replace("_", " ")))[1]
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                if kind == "histogram":
                    for labels, hist in sorted(self._histograms[name].items()):
                        for bound, count in zip(hist.buckets, hist.counts, strict=True):
                            lines.append(
                                f"{name}_bucket{_render_labels(labels, ('le', _number(bound)))} {count}"
                            )
                        lines.append(f"{name}_bucket{_render_labels(labels, ('le', '+Inf'))} {hist.count}")
                        lines.append(f"{name}_sum{_render_labels(labels)} {_number(hist.total)}")
                        lines.append(f"{name}_count{_render_labels(labels)} {hist.count}")
                else:
                    series = self._counters[name] if kind == "counter" else self._gauges[name]
                    for labels, value in sorted(series.items()):
                        lines.append(f"{name}{_render_labels(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


# One registry per process; creating it does no I/O.
REGISTRY = Metrics()


# --------------------------------------------------------------- database gauges


def database_gauges(storage: Storage, metrics: Metrics = REGISTRY) -> Callable[[], Awaitable[None]]:
    """A ``collect`` callback for :class:`MetricsServer`: feeds due/leased, items, outbox depth.

    Every process role (bot, worker) can serve the same gauges; they are read from the
    database at scrape time, so any one process shows the whole deployment's backlog.
    """

    async def collect() -> None:
        from storage.leasing import count_due, count_leased
        from storage.outbox import outbox_depth

        metrics.set(FEEDS_DUE, await count_due(storage))
        metrics.set(FEEDS_LEASED, await count_leased(storage))
        metrics.set(OUTBOX_DEPTH, await outbox_depth(storage))
        metrics.set(ITEMS_STORED, await storage.item_count())

    return collect


# ------------------------------------------------------------------------- server

Collect = Callable[[], Awaitable[None]]
Health = Callable[[], Awaitable[tuple[bool, str]]]
_MAX_REQUEST = 8192
_READ_TIMEOUT = 5.0

log = logging.getLogger("newsbot.observability")


class MetricsServer:
    """``GET /healthz`` and ``GET /metrics`` on ``host:port`` (port 0 picks a free one).

    ``collect`` refreshes gauges (database counts) before each scrape and gets
    ``collect_timeout`` seconds; a failure is logged and the last values are served.
    ``health`` answers /healthz: (True, "ok") is 200, (False, reason) is 503.
    """

    def __init__(
        self,
        metrics: Metrics = REGISTRY,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        collect: Collect | None = None,
        health: Health | None = None,
        collect_timeout: float = 5.0,
    ) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._collect = collect
        self._health = health
        self._collect_timeout = collect_timeout
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Start listening; returns the bound port."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sockets = self._server.sockets
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.port
        return self.port

    async def close(self) -> None:
        """Stop listening and wait for open requests."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            status, ctype, body = await self._respond(head)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            status, ctype, body = 400, "text/plain; charset=utf-8", b"bad request\n"
        try:
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}.get(
                status, "Service Unavailable"
            )
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("ascii")
                + body
            )
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(self, head: bytes) -> tuple[int, str, bytes]:
        text_plain = "text/plain; charset=utf-8"
        if len(head) > _MAX_REQUEST:
            return 400, text_plain, b"request too large\n"
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3:
            return 400, text_plain, b"bad request\n"
        method, target, _version = parts
        path = target.split("?", 1)[0]
        if path not in ("/healthz", "/metrics"):
            return 404, text_plain, b"not found: try /healthz or /metrics\n"
        if method not in ("GET", "HEAD"):
            return 405, text_plain, b"only GET\n"
        if path == "/healthz":
            ok, detail = (True, "ok") if self._health is None else await self._health()
            return (200 if ok else 503), text_plain, (detail + "\n").encode()
        if self._collect is not None:
            try:
                async with asyncio.timeout(self._collect_timeout):
                    await self._collect()
            except Exception as exc:  # serve the last values rather than nothing
                log.warning("metrics collection failed: %s", redact(str(exc)))
        return 200, "text/plain; version=0.0.4; charset=utf-8", self.metrics.render().encode()
