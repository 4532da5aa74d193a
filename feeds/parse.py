"""Parsing fetched feed bytes into normalised items.

Three readers, one normaliser:

* plain, well-formed UTF-8 RSS 2.0 and Atom 1.0 (most feeds) go through the stdlib
  fast path in :mod:`feeds.fastpath`, ~10x faster than feedparser, and refused
  there at the first sign of anything unusual;
* everything else (RSS 0.9x/1.0, Atom 0.3, CDF, other encodings, broken XML, DTDs)
  goes through feedparser, on the bytes we fetched (feedparser never does its own
  HTTP here), with the HTTP Content-Type passed for encoding detection;
* JSON Feed 1.0/1.1 has a small parser of its own.

All three produce feedparser-shaped entry mappings for :func:`normalize_entry`.

Entity expansion: the fast path refuses any document with a DOCTYPE. feedparser
strips the DOCTYPE and only re-declares entities whose value is plain text, and it
disables external entities, so neither billion-laughs nor XXE documents expand. We
additionally drop the internal subset when its entity values are large or nested,
so a "quadratic blowup" (one 100 kB entity used 100,000 times) cannot expand
either. tests/feeds/test_parse.py checks all three.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

import feedparser

from feeds.fastpath import Unsupported, parse_fast
from feeds.normalize import html_to_text, normalize_entry, outlet_name
from stories.model import Item

__all__ = ["Engine", "FeedParseError", "ParsedFeed", "parse_feed", "parse_feed_async"]

Engine = Literal["auto", "feedparser"]
"""``auto``: the stdlib fast path for plain UTF-8 RSS 2.0 / Atom 1.0, else feedparser."""

_ENTITY_DECL = re.compile(rb"<!ENTITY\s+%?\s*[\w.:-]+\s+(?:\"([^\"]*)\"|'([^']*)')", re.S)
_DOCTYPE_SUBSET = re.compile(rb"<!DOCTYPE[^\[>]*\[.*?\]\s*>", re.S)
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_MAX_ENTITY_VALUE = 64
_HTML = re.compile(rb"<!doctype\s+html|<html[\s>]", re.IGNORECASE)
_CHAR_REF = re.compile(rb"&#(?:[0-9]+|x[0-9a-fA-F]+);")


class FeedParseError(ValueError):
    """The body is not a usable feed; ``str()`` says why."""


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed, normalised feed: its title and link, items, and parser warnings.

    ``warnings`` carries non-fatal problems (feedparser's bozo message, entries
    skipped for having no content) for the feed's status line.
    """

    title: str | None
    link: str | None
    items: list[Item] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    version: str = ""
    language: str | None = None


def _defuse(body: bytes) -> bytes:
    """Drop a DOCTYPE internal subset that declares big or nested entities."""
    head_end = _FIRST_ELEMENT.search(body)
    head = body[: head_end.start()] if head_end else body
    if b"<!ENTITY" not in head:
        return body
    risky = False
    for m in _ENTITY_DECL.finditer(head):
        value = m.group(1) if m.group(1) is not None else m.group(2)
        nested = b"&" in value and not _CHAR_REF.fullmatch(value)
        if len(value) > _MAX_ENTITY_VALUE or nested or b"%" in value:
            risky = True
            break
    if not risky and b"SYSTEM" not in head and b"PUBLIC" not in head:
        return body
    return _DOCTYPE_SUBSET.sub(b"", head, count=1) + body[len(head) :]


def _content_type(headers: Mapping[str, str] | None) -> str:
    if not headers:
        return ""
    for key, value in headers.items():
        if key.lower() == "content-type":
            return value
    return ""


def _looks_like_json(body: bytes, content_type: str) -> bool:
    if "json" in content_type.lower():
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def parse_feed(
    body: bytes,
    *,
    url: str,
    fetched_at: datetime,
    headers: Mapping[str, str] | None = None,
    engine: Engine = "auto",
) -> ParsedFeed:
    """Parse and normalise a feed body.

    ``headers`` are the HTTP response headers (at least Content-Type, for the
    charset). A feed that parses with a warning but has entries is returned with
    the warning in ``warnings``. Raises :class:`FeedParseError` if the body is not a
    feed at all (HTML page, empty, broken beyond recovery). ``engine="feedparser"``
    skips the fast path (used to check that both paths agree).
    """
    if fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware")
    fetched_at = fetched_at.astimezone(UTC)
    if not body.strip():
        raise FeedParseError("empty document")
    content_type = _content_type(headers)
    if _looks_like_json(body, content_type):
        return _parse_json_feed(body, url=url, fetched_at=fetched_at)
    return _parse_xml_feed(body, url=url, fetched_at=fetched_at, content_type=content_type, engine=engine)


def _parse_xml_feed(
    body: bytes, *, url: str, fetched_at: datetime, content_type: str, engine: Engine = "auto"
) -> ParsedFeed:
    if engine == "auto":
        try:
            fast = parse_fast(body, content_type)
        except Unsupported:
            pass
        else:
            return _build(
                fast.feed, fast.entries, url=url, fetched_at=fetched_at, version=fast.version, warnings=[]
            )
    # No Content-Location: feedparser would resolve RSS guids against it as if they
    # were links, changing ids; links are resolved in normalize instead.
    response_headers: dict[str, str] = {}
    if content_type:
        response_headers["content-type"] = content_type
    # BytesIO, not bytes: feedparser treats some strings as URLs or file names.
    # HTML sanitising and relative-URI rewriting are skipped: we reduce HTML to
    # text anyway, and they are most of feedparser's time on big feeds.
    result = feedparser.parse(
        io.BytesIO(_defuse(body)),
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    warnings: list[str] = []
    if result.get("bozo"):
        exc = result.get("bozo_exception")
        warnings.append(f"{type(exc).__name__}: {exc}" if exc else "malformed feed")
    entries = result.get("entries") or []
    feed = result.get("feed") or {}
    version = str(result.get("version") or "")
    if not entries and not version:
        if _HTML.search(body[:4096]):
            raise FeedParseError("not a feed: this is an HTML page (look for its RSS/Atom link)")
        if result.get("bozo"):
            raise FeedParseError(f"not a feed: {warnings[0]}")
        raise FeedParseError("not a feed: no RSS, Atom or JSON Feed structure found")
    return _build(feed, entries, url=url, fetched_at=fetched_at, version=version, warnings=warnings)


def _build(
    feed: Mapping[str, Any],
    entries: list[Any],
    *,
    url: str,
    fetched_at: datetime,
    version: str,
    warnings: list[str],
) -> ParsedFeed:
    raw_title = feed.get("title")
    title = html_to_text(raw_title, max_len=200) if isinstance(raw_title, str) else ""
    link = feed.get("link") if isinstance(feed.get("link"), str) else None
    language = feed.get("language") if isinstance(feed.get("language"), str) else None
    outlet = outlet_name(title, link, url)
    items: list[Item] = []
    skipped = 0
    for entry in entries:
        if not isinstance(entry, Mapping):
            skipped += 1
            continue
        item = normalize_entry(
            entry, feed_url=url, outlet=outlet, fetched_at=fetched_at, feed_language=language
        )
        if item is None:
            skipped += 1
        else:
            items.append(item)
    if skipped:
        warnings.append(f"{skipped} entries without title, summary or link skipped")
    return ParsedFeed(
        title=title or None,
        link=link,
        items=items,
        warnings=warnings,
        version=version,
        language=language,
    )


def _str(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _url(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _json_date(value: object) -> tuple[int, ...] | None:
    text = _str(value)
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return tuple(when.astimezone(UTC).timetuple())[:6]


def _json_author(item: Mapping[str, Any]) -> str | None:
    authors = item.get("authors")
    if isinstance(authors, list):
        names = [a.get("name") for a in authors if isinstance(a, Mapping)]
        joined = ", ".join(n for n in names if isinstance(n, str) and n.strip())
        if joined:
            return joined
    author = item.get("author")  # JSON Feed 1.0
    if isinstance(author, Mapping) and isinstance(author.get("name"), str):
        name: str = author["name"]
        return name
    return None


def _parse_json_feed(body: bytes, *, url: str, fetched_at: datetime) -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FeedParseError(f"invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise FeedParseError("JSON Feed must be an object")
    version = _str(doc.get("version")) or ""
    items = doc.get("items")
    if "jsonfeed.org/version/" not in version and not isinstance(items, list):
        raise FeedParseError("JSON document is not a JSON Feed (no version, no items)")
    if not isinstance(items, list):
        raise FeedParseError("JSON Feed has no 'items' list")
    warnings: list[str] = []
    if "jsonfeed.org/version/" not in version:
        warnings.append("JSON Feed without a jsonfeed.org version")
    feed_language = _str(doc.get("language"))
    entries: list[dict[str, Any]] = []
    for raw in items:
        if not isinstance(raw, Mapping):
            entries.append({})
            continue
        summary = _str(raw.get("summary"))
        html = _str(raw.get("content_html"))
        text = _str(raw.get("content_text"))
        entries.append(
            {
                "id": _str(raw.get("id")),
                "link": _url(raw.get("url")) or _url(raw.get("external_url")),
                "title": _str(raw.get("title")) or "",
                "summary": summary or html or text or "",
                "published_parsed": _json_date(raw.get("date_published")),
                "updated_parsed": _json_date(raw.get("date_modified")),
                "author": _json_author(raw),
                "language": _str(raw.get("language")),
            }
        )
    feed = {
        "title": _str(doc.get("title")),
        "link": _str(doc.get("home_page_url")),
        "language": feed_language,
    }
    short = "json" + version.rsplit("/", 1)[-1].replace(".", "") if version else "json"
    return _build(feed, entries, url=url, fetched_at=fetched_at, version=short, warnings=warnings)


async def parse_feed_async(
    body: bytes,
    *,
    url: str,
    fetched_at: datetime,
    headers: Mapping[str, str] | None = None,
    executor: Executor | None = None,
) -> ParsedFeed:
    """:func:`parse_feed` off the event loop (default: the loop's thread pool).

    Pass a ``ProcessPoolExecutor`` to parse on other cores; bench/poll.py measures
    both (see README).
    """
    loop = asyncio.get_running_loop()
    call = partial(parse_feed, body, url=url, fetched_at=fetched_at, headers=headers)
    return await loop.run_in_executor(executor, call)
