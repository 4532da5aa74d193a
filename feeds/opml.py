"""OPML import and export of feed subscriptions.

Parsing is defensive: OPML files come from users and other readers, so any
document with a DOCTYPE (the only way to declare entities) is refused before the
XML parser sees it. Without a DTD there is nothing to expand and nothing external
to load.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import quoteattr

__all__ = ["OPMLError", "parse_opml", "to_opml"]

_DTD = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
_MAX_BYTES = 20_000_000


class OPMLError(ValueError):
    """The file is not usable OPML; ``str()`` says why."""


def parse_opml(data: bytes) -> list[tuple[str, str | None]]:
    """Feed (url, title) pairs from an OPML document, in document order, de-duplicated.

    Outlines are read at any depth (folders are flattened); an outline counts as a
    feed when it has an ``xmlUrl``. Raises :class:`OPMLError` on malformed XML, a
    DOCTYPE, or a root element that is not ``<opml>``.
    """
    if len(data) > _MAX_BYTES:
        raise OPMLError(f"OPML file larger than {_MAX_BYTES} bytes")
    if _DTD.search(data):
        raise OPMLError("OPML with a DOCTYPE or entity declarations is refused (unsafe XML)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise OPMLError(f"not well-formed XML: {exc}") from exc
    if root.tag.rsplit("}", 1)[-1].lower() != "opml":
        raise OPMLError(f"root element is <{root.tag}>, expected <opml>")
    feeds: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for outline in root.iter():
        if outline.tag.rsplit("}", 1)[-1] != "outline":
            continue
        attrs = {k.lower(): v for k, v in outline.attrib.items()}
        url = (attrs.get("xmlurl") or "").strip()
        if not url or url in seen:
            continue
        seen.add(url)
        title = (attrs.get("title") or attrs.get("text") or "").strip() or None
        feeds.append((url, title))
    return feeds


def to_opml(
    feeds: Iterable[tuple[str, str | None]],
    *,
    title: str = "newsbot feeds",
    now: datetime | None = None,
) -> str:
    """An OPML 2.0 document listing ``feeds`` as (url, title) pairs."""
    when = format_datetime(now or datetime.now(UTC), usegmt=True)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_text(title)}</title>",
        f"    <dateCreated>{when}</dateCreated>",
        "  </head>",
        "  <body>",
    ]
    for url, feed_title in feeds:
        label = feed_title or url
        lines.append(
            f'    <outline type="rss" text={quoteattr(label)} title={quoteattr(label)}'
            f" xmlUrl={quoteattr(url)}/>"
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
