"""A real HTTP server on 127.0.0.1 that serves scripted feed responses.

Each path has a script: one :class:`Reply` or a list of them (served in order, the
last one repeating). A reply sets status, headers, body, a delay before answering,
a slow body (``trickle``: bytes per chunk and a pause between chunks), gzip, and
conditional-GET behaviour (``etag`` / ``last_modified``: a matching request gets 304).
Every request is recorded with its headers, so tests can assert what was sent.

Runs in a background thread (``ThreadingHTTPServer``), usable from sync and async
tests alike::

    with FeedServer() as server:
        server.script("/a.xml", Reply(body=b"<rss .../>", etag='"v1"'))
        url = server.url("/a.xml")
"""

from __future__ import annotations

import gzip as gzip_module
import ssl
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Reply:
    """One scripted response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    trickle: tuple[int, float] | None = None  # (bytes per chunk, seconds between chunks)
    gzip: bool = False
    encoding: str | None = None  # "gzip", "deflate", "deflate-raw", "br", or raw header value
    send_length: bool = True


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    client_port: int = 0  # the client's side of the connection: one port, one connection


def _encode(body: bytes, encoding: str) -> tuple[bytes, str]:
    if encoding == "gzip":
        return gzip_module.compress(body), "gzip"
    if encoding == "deflate":
        return zlib.compress(body), "deflate"
    if encoding == "deflate-raw":
        co = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return co.compress(body) + co.flush(), "deflate"
    if encoding == "br":
        import brotli  # type: ignore[import-untyped,unused-ignore]

        return bytes(brotli.compress(body)), "br"
    return body, encoding  # anything else: sent as is, with that header


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        headers = {k.lower(): v for k, v in self.headers.items()}
        owner._record(RecordedRequest("GET", self.path, headers, self.client_address[1]))
        reply = owner._next_reply(self.path.split("?", 1)[0])
        if reply.delay:
            time.sleep(reply.delay)
        matched = (reply.etag is not None and headers.get("if-none-match") == reply.etag) or (
            reply.etag is None
            and reply.last_modified is not None
            and headers.get("if-modified-since") == reply.last_modified
        )
        status = 304 if matched and reply.status == 200 else reply.status
        body = b"" if status == 304 else reply.body
        encoding = "gzip" if reply.gzip else reply.encoding
        header_encoding = encoding
        if encoding and body:
            body, header_encoding = _encode(body, encoding)
        try:
            self.send_response(status)
            if reply.content_type and status != 304:
                self.send_header("Content-Type", reply.content_type)
            if reply.etag:
                self.send_header("ETag", reply.etag)
            if reply.last_modified:
                self.send_header("Last-Modified", reply.last_modified)
            if header_encoding and body:
                self.send_header("Content-Encoding", header_encoding)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            if reply.send_length:
                self.send_header("Content-Length", str(len(body)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if reply.trickle is None:
                self.wfile.write(body)
            else:
                size, pause = reply.trickle
                for start in range(0, len(body), size):
                    if owner._stopping.is_set():
                        break
                    self.wfile.write(body[start : start + size])
                    self.wfile.flush()
                    time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    owner: FeedServer


class FeedServer:
    """Scriptable feed server on 127.0.0.1 (a random free port)."""

    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        self._server = _Server((host, 0), _Handler)
        self._scheme = "http"
        if tls is not None:  # HTTPS: the listening socket wrapped, each handshake on accept
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._server.owner = self
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Reply]] = {}
        self.requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._server.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """Absolute URL of ``path`` on this server (``host`` may be a stub-resolved name)."""
        return f"{self._scheme}://{host}:{self.port}{path}"

    def script(self, path: str, replies: Reply | Iterable[Reply]) -> None:
        """Set what ``path`` answers: one reply, or a sequence whose last one repeats."""
        seq = [replies] if isinstance(replies, Reply) else list(replies)
        if not seq:
            raise ValueError("a script needs at least one reply")
        with self._lock:
            self._scripts[path] = seq

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """Requests received for ``path`` (query string ignored), oldest first."""
        with self._lock:
            return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            seq = self._scripts.get(path)
            if not seq:
                return Reply(status=404, body=b"not found", content_type="text/plain")
            return seq.pop(0) if len(seq) > 1 else seq[0]

    def start(self) -> FeedServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow replies in flight are cut short."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def rss_feed(
    title: str,
    items: Iterable[tuple[str, str]],
    *,
    link: str = "https://news.example.com/",
    encoding: str = "utf-8",
    declared_encoding: str | None = None,
) -> bytes:
    """A small RSS 2.0 document: ``items`` are (guid, title) pairs, encoded as asked.

    ``declared_encoding`` is what the XML declaration claims (default: ``encoding``),
    so tests can build a feed that lies about its encoding.
    """
    from xml.sax.saxutils import escape

    parts = [
        f'<?xml version="1.0" encoding="{declared_encoding or encoding}"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link>",
    ]
    for n, (guid, item_title) in enumerate(items):
        parts.append(
            f"<item><guid>{escape(guid)}</guid><title>{escape(item_title)}</title>"
            f"<link>{escape(link)}{n}</link>"
            f"<pubDate>Mon, 02 Nov 2026 1{n % 10}:00:00 GMT</pubDate>"
            f"<description>Body of {escape(item_title)}</description></item>"
        )
    parts.append("</channel></rss>")
    return "\n".join(parts).encode(encoding)
