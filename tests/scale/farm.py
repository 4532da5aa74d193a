"""A feed farm: thousands of generated RSS feeds on one real HTTP server on 127.0.0.1.

``/feed/N.xml`` is feed N. Its entries are ``items`` per *round*, for every round up to
the server's current ``round`` (bump it to give every feed new entries). Every request
path is logged with its arrival time, so tests can count fetches per feed. Optional
``delay`` slows each answer (to keep leases in flight), ``slow`` one path, and paths listed in
``throttle`` answer 429 with ``Retry-After``.

Used by the scale tests and by ``bench/scale.py``.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from sqlalchemy import Connection, insert

from storage.models import FeedRow

_FEED = re.compile(r"^/feed/(\d+)\.xml$")


def feed_body(feed: int, rounds: int, items: int) -> bytes:
    """RSS 2.0 for ``feed`` with ``items`` entries for each round 0..rounds."""
    entries = []
    for r in range(rounds + 1):
        for i in range(items):
            entries.append(
                f"<item><title>Feed {feed} round {r} story {i}</title>"
                f"<link>http://news.example/f{feed}/r{r}/s{i}</link>"
                f"<guid>f{feed}-r{r}-s{i}</guid>"
                f"<description>Report {i} of round {r} from outlet {feed}.</description>"
                f"<pubDate>Thu, 26 Nov 2026 0{r % 10}:{i % 60:02d}:00 GMT</pubDate></item>"
            )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Outlet {feed}</title><link>http://news.example/f{feed}</link>"
        f"<description>Generated feed {feed}</description>{''.join(entries)}</channel></rss>"
    ).encode()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (a cancelled or killed worker) is expected here.
        pass


class FeedFarm:
    """``with FeedFarm(items=3) as farm: farm.url(7)``; ``farm.requests`` logs every path."""

    def __init__(self, *, items: int = 3, delay: float = 0.0) -> None:
        self.items = items
        self.delay = delay
        self.round = 0
        self.throttle: dict[str, int] = {}
        self.slow: dict[str, float] = {}  # path -> extra seconds before answering
        self._log: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        farm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with farm._lock:
                    farm._log.append((time.monotonic(), self.path))
                if farm.delay or self.path in farm.slow:
                    time.sleep(farm.delay + farm.slow.get(self.path, 0.0))
                match = _FEED.match(self.path)
                if self.path in farm.throttle:
                    self.send_response(429)
                    self.send_header("Retry-After", str(farm.throttle[self.path]))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if match is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = feed_body(int(match.group(1)), farm.round, farm.items)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.request_queue_size = 256
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port the farm listens on."""
        return int(self._server.server_address[1])

    def url(self, feed: int) -> str:
        """Feed ``feed``'s URL."""
        return f"http://127.0.0.1:{self.port}/feed/{feed}.xml"

    def add_feeds(self, conn: Connection, count: int, due_at: datetime) -> None:
        """Feeds 0 .. ``count`` - 1 of this farm as rows of the feeds table, due at ``due_at``."""
        conn.execute(
            insert(FeedRow),
            [
                {
                    "url": self.url(n),
                    "next_fetch_at": due_at,
                    "consecutive_errors": 0,
                    "disabled": False,
                    "created_at": due_at,
                }
                for n in range(count)
            ],
        )

    def requests(self, since: float = 0.0) -> list[str]:
        """Paths requested at or after ``since`` (a time.monotonic() value), in arrival order."""
        with self._lock:
            return [path for at, path in self._log if at >= since]

    def counts(self, since: float = 0.0) -> Counter[str]:
        """How many times each path was requested since ``since``."""
        return Counter(self.requests(since))

    def __enter__(self) -> FeedFarm:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
