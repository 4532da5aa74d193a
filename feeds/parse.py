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

Before any of them, a body that does not decode in the encoding it declares is
re-encoded as UTF-8 from its detected real encoding (charset-normalizer), so a
windows-1251 feed served as ``charset=utf-8`` is not stored as mojibake. A document
that is not well-formed is read twice by feedparser, as is and repaired (bare ``&``
escaped, open elements closed, a cut-off last item dropped); the reading with more
items wins, and one with none is a parse error, not "ok, 0 items".

Entity expansion: the fast path refuses any document with a DOCTYPE. feedparser
strips the DOCTYPE and only re-declares entities whose value is plain text, and it
disables external entities, so neither billion-laughs nor XXE documents expand. We
additionally drop the internal subset when its entity values are large or nested,
so a "quadratic blowup" (one 100 kB entity used 100,000 times) cannot expand
either. tests/feeds/test_parse.py checks all three.
"""

from __future__ import annotations

import asyncio
import codecs
import io
import json
import re
import time
import xml.sax
from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

import charset_normalizer
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
    # With parse_feed(known=...): each item's fingerprint (Python hashes, this process's
    # only), and the entries recognised by theirs and not normalised, as (index in
    # ``items`` they came before, their guid). Not part of the value.
    fingerprints: list[int] = field(default_factory=list, compare=False, repr=False)
    known_entries: list[tuple[int, str]] = field(default_factory=list, compare=False, repr=False)
    # CPU seconds (this thread) spent decoding, parsing and normalising: the poll
    # benchmark's per-stage breakdown. Not part of the value.
    timings: dict[str, float] = field(default_factory=dict, compare=False, repr=False)


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


_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)
_XML_DECL = re.compile(rb"^(\s*<\?xml[^>]*?encoding\s*=\s*)([\"'])([A-Za-z0-9._:-]+)\2", re.S)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _declared_encoding(body: bytes, content_type: str) -> str:
    """What the response says its encoding is: BOM, then HTTP charset, then the XML
    declaration, else UTF-8 (the XML and JSON default)."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    match = _CHARSET.search(content_type)
    if match:
        return match.group(1)
    decl = _XML_DECL.match(body[:512])
    if decl:
        return decl.group(3).decode("ascii")
    return "utf-8"


def _known(encoding: str) -> bool:
    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return False
    return True


def _transcode(body: bytes, content_type: str) -> tuple[bytes, str, str | None]:
    """``body`` in UTF-8 when its declared encoding is wrong: (body, content type, warning).

    A feed whose bytes do not decode in the encoding it declares (windows-1251 served as
    ``charset=utf-8``) would otherwise be read as windows-1252 by feedparser's fallback and
    stored as mojibake ("Ìàäóðî"); its real encoding is detected instead (charset-normalizer),
    the text re-encoded as UTF-8, and the XML declaration and charset made to say so.
    A body that decodes as declared is returned untouched.
    """
    declared = _declared_encoding(body, content_type)
    if _decodes(body, declared):
        return body, content_type, None
    if _known(declared) and codecs.lookup(declared).name == "utf-8":
        # A UTF-8 feed with a few stray bytes is still UTF-8: replace those, keep the rest.
        text = body.decode("utf-8", errors="replace")
        bad = text.count("\ufffd")
        if bad * 20 <= sum(byte >= 0x80 for byte in body):
            return text.encode("utf-8"), content_type, f"{bad} bytes invalid in UTF-8 replaced"
    matches = charset_normalizer.from_bytes(body)
    best = matches.best()
    if best is None or not best.encoding:
        return body, content_type, None  # nothing better known: feedparser does what it can
    # Short Western text fits several code pages equally well; windows-1252 is the Web's
    # (and feedparser's) fallback, so it wins a tie.
    for match in matches:
        if match.encoding == "cp1252" and (match.chaos, match.coherence) == (best.chaos, best.coherence):
            best = match
            break
    recoded = _declare_utf8(str(best).encode("utf-8"))
    media = content_type.split(";", 1)[0].strip() or "application/xml"
    warning = f"declared encoding {declared} is wrong; read as {best.encoding}"
    return recoded, f"{media}; charset=utf-8", warning


def _declare_utf8(body: bytes) -> bytes:
    """``body`` (UTF-8 bytes) with its XML declaration, if any, saying so."""
    return _XML_DECL.sub(lambda m: m.group(1) + m.group(2) + b"utf-8" + m.group(2), body, count=1)


# Markup tokens for the repair of a broken document: CDATA, comments, processing
# instructions and declarations (each possibly cut off at the end), tags, text, a stray "<".
_TOKEN = re.compile(
    r"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)|<\?.*?(?:\?>|\Z)|<![^>]*(?:>|\Z)"
    r"|</?[A-Za-z_][^<>]*(?:>|(?=<)|\Z)|[^<]+|<",
    re.S,
)
_TAG_NAME = re.compile(r"</?([A-Za-z_][\w.:-]*)")
_BARE_AMP = re.compile(r"&(?!(?:#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z_][\w.-]*);)")


def _repair_xml(text: str) -> str:
    """A well-formed rendering of a broken document, as a lenient reader would see it.

    Bare ``&`` and ``<`` are escaped, a cut-off tag at the end is dropped, an end tag
    closes whatever was left open inside its element (one with no open element is
    dropped), and every element still open at the end is closed. A truncated feed
    (``<item><title>Maduro & <b>broken</item></chan``) so keeps the items it has.
    """
    out: list[str] = []
    stack: list[tuple[str, int]] = []  # open elements: name, where in ``out`` each began
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token.startswith("<![CDATA["):
            out.append(token if token.endswith("]]>") else token + "]]>")
        elif token.startswith(("<!--", "<?", "<!")):
            if token.endswith(">"):
                out.append(token)
        elif token == "<":
            out.append("&lt;")
        elif token.startswith("<"):
            if not token.endswith(">"):
                continue  # cut off (end of document, or a stray "<" inside it)
            name_match = _TAG_NAME.match(token)
            assert name_match is not None
            name = name_match.group(1)
            if token.startswith("</"):
                if any(open_name == name for open_name, _ in stack):
                    while stack:
                        top, _ = stack.pop()
                        out.append(f"</{top}>")
                        if top == name:
                            break
            elif token.endswith("/>"):
                out.append(_BARE_AMP.sub("&amp;", token))
            else:
                stack.append((name, len(out)))
                out.append(_BARE_AMP.sub("&amp;", token))
        else:
            out.append(_BARE_AMP.sub("&amp;", token))
    # An item or entry the document ends inside is a stub (its end never came): dropped.
    for depth, (name, start) in enumerate(stack):
        if name.rsplit(":", 1)[-1] in ("item", "entry"):
            del out[start:]
            del stack[depth:]
            break
    out.extend(f"</{name}>" for name, _ in reversed(stack))
    return "".join(out)


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
    known: Mapping[int, str] | None = None,
) -> ParsedFeed:
    """Parse and normalise a feed body.

    ``headers`` are the HTTP response headers (at least Content-Type, for the
    charset). A feed that parses with a warning but has entries is returned with
    the warning in ``warnings``. Raises :class:`FeedParseError` if the body is not a
    feed at all (HTML page, empty, broken beyond recovery). ``engine="feedparser"``
    skips the fast path (used to check that both paths agree).

    ``known`` maps fingerprints of entries read before from this feed (the
    ``fingerprints`` of an earlier result, in this process) to their items' guids. On the
    fast path, entries it names are not read or normalised again: they come back as
    ``known_entries``, and the items as ``fingerprints`` for the next time. Other paths
    ignore it and give no fingerprints.
    """
    if fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware")
    fetched_at = fetched_at.astimezone(UTC)
    if not body.strip():
        raise FeedParseError("empty document")
    started = time.thread_time()
    content_type = _content_type(headers)
    body, content_type, encoding_warning = _transcode(body, content_type)
    decoded = time.thread_time()
    if _looks_like_json(body, content_type):
        parsed = _parse_json_feed(body, url=url, fetched_at=fetched_at)
    else:
        parsed = _parse_xml_feed(
            body, url=url, fetched_at=fetched_at, content_type=content_type, engine=engine, known=known
        )
    if encoding_warning:
        parsed.warnings.insert(0, encoding_warning)
    normalised = parsed.timings.get("normalise", 0.0)
    parsed.timings["decode"] = decoded - started
    parsed.timings["parse"] = max(0.0, time.thread_time() - decoded - normalised)
    return parsed


def _parse_xml_feed(
    body: bytes,
    *,
    url: str,
    fetched_at: datetime,
    content_type: str,
    engine: Engine = "auto",
    known: Mapping[int, str] | None = None,
) -> ParsedFeed:
    if engine == "auto":
        try:
            fast = parse_fast(body, content_type, url=url, known=known)
        except Unsupported:
            pass
        else:
            return _build(
                fast.feed,
                fast.entries,
                url=url,
                fetched_at=fetched_at,
                version=fast.version,
                warnings=[],
                prints=fast.prints,
                skipped=fast.skipped,
            )
    # No Content-Location: feedparser would resolve RSS guids against it as if they
    # were links, changing ids; links are resolved in normalize instead.
    response_headers: dict[str, str] = {}
    if content_type:
        response_headers["content-type"] = content_type
    result = _feedparser(body, response_headers)
    warnings: list[str] = []
    exc = result.get("bozo_exception")
    if result.get("bozo"):
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
    parsed = _build(feed, entries, url=url, fetched_at=fetched_at, version=version, warnings=warnings)
    if not isinstance(exc, xml.sax.SAXException):
        return parsed
    # Not well-formed: feedparser's loose reader drops what it cannot place (an item whose
    # title is cut off comes back empty). Read a repaired rendering too and keep the better.
    encoding = str(result.get("encoding") or "utf-8")
    try:
        text = body.decode(encoding, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    text = _declare_utf8(text.encode("utf-8")).decode("utf-8")
    repaired = _feedparser(
        _repair_xml(text).encode("utf-8"), {"content-type": "application/xml; charset=utf-8"}
    )
    if len(repaired.get("entries") or []) >= len(entries):
        candidate = _build(
            repaired.get("feed") or {},
            repaired.get("entries") or [],
            url=url,
            fetched_at=fetched_at,
            version=str(repaired.get("version") or version),
            warnings=list(warnings),
        )
        if len(candidate.items) > len(parsed.items):
            parsed = candidate
    if not parsed.items:
        # Nothing recoverable: an error the feed's status shows (and counts), not "ok, 0 items".
        raise FeedParseError(f"malformed feed, no item could be recovered: {warnings[0]}")
    parsed.warnings.append(f"malformed feed: {len(parsed.items)} items recovered")
    return parsed


def _feedparser(body: bytes, response_headers: dict[str, str]) -> Any:
    # BytesIO, not bytes: feedparser treats some strings as URLs or file names.
    # HTML sanitising and relative-URI rewriting are skipped: we reduce HTML to
    # text anyway, and they are most of feedparser's time on big feeds.
    return feedparser.parse(
        io.BytesIO(_defuse(body)),
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def _build(
    feed: Mapping[str, Any],
    entries: list[Any],
    *,
    url: str,
    fetched_at: datetime,
    version: str,
    warnings: list[str],
    prints: list[int] | None = None,
    skipped: list[tuple[int, str]] | None = None,
) -> ParsedFeed:
    """The feed's items, normalised. ``prints`` (one per entry) are kept for the items
    made; ``skipped`` entries (index in ``entries`` they came before, guid) are re-indexed
    by the items they come before."""
    raw_title = feed.get("title")
    title = html_to_text(raw_title, max_len=200) if isinstance(raw_title, str) else ""
    link = feed.get("link") if isinstance(feed.get("link"), str) else None
    language = feed.get("language") if isinstance(feed.get("language"), str) else None
    started = time.thread_time()
    outlet = outlet_name(title, link, url)
    items: list[Item] = []
    fingerprints: list[int] = []
    known_entries: list[tuple[int, str]] = []
    pending = iter(skipped or ())
    upcoming = next(pending, None)
    empty = 0
    for index, entry in enumerate(entries):
        while upcoming is not None and upcoming[0] <= index:
            known_entries.append((len(items), upcoming[1]))
            upcoming = next(pending, None)
        if not isinstance(entry, Mapping):
            empty += 1
            continue
        item = normalize_entry(
            entry, feed_url=url, outlet=outlet, fetched_at=fetched_at, feed_language=language
        )
        if item is None:
            empty += 1
        else:
            items.append(item)
            if prints:
                fingerprints.append(prints[index])
    while upcoming is not None:
        known_entries.append((len(items), upcoming[1]))
        upcoming = next(pending, None)
    if empty:
        warnings.append(f"{empty} entries without title, summary or link skipped")
    return ParsedFeed(
        title=title or None,
        link=link,
        items=items,
        warnings=warnings,
        version=version,
        language=language,
        fingerprints=fingerprints,
        known_entries=known_entries,
        timings={"normalise": time.thread_time() - started},
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
    known: Mapping[int, str] | None = None,
) -> ParsedFeed:
    """:func:`parse_feed` off the event loop (default: the loop's thread pool).

    Pass a ``ProcessPoolExecutor`` to parse on other cores; bench/poll.py measures
    both (see README). ``known`` is dropped there: fingerprints are this process's.
    """
    loop = asyncio.get_running_loop()
    if executor is not None and not isinstance(executor, ThreadPoolExecutor):
        known = None
    call = partial(parse_feed, body, url=url, fetched_at=fetched_at, headers=headers, known=known)
    return await loop.run_in_executor(executor, call)
