"""A fast path for the common case: well-formed UTF-8 RSS 2.0 and Atom 1.0.

feedparser is thorough and slow (about 11 ms for a 50-item feed on the bench
machine, most of a poll's CPU). Most real feeds are plain, well-formed UTF-8 RSS
2.0 or Atom 1.0, which the standard library's expat-based ElementTree reads in a
fraction of a millisecond. This module reads exactly those and produces the same
feedparser-shaped entry mappings the normaliser already understands.

Anything outside that comfort zone raises :class:`Unsupported` and the caller
uses feedparser instead: a DOCTYPE (so no entity can ever be declared, let alone
expanded, on this path), a non-UTF-8 encoding or a charset disagreement, malformed
XML, xml:base, XHTML content, other formats. scripts/feedparser_corpus.py and
tests/feeds/test_fastpath.py check that both paths give the same items.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from feedparser.datetimes import _parse_date as _feedparser_date

__all__ = ["FastFeed", "Unsupported", "parse_fast"]

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"

_HEAD = re.compile(rb"^\s*(<\?xml[^>]*\?>)?", re.S)
_DECL_ENCODING = re.compile(rb"encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._-]+)", re.I)
# C1 controls, or Latin-1 pairs that look like UTF-8 decoded twice ("Ã©"): feedparser
# repairs both, so such text goes to it.
_C1 = re.compile(r"[\x80-\x9f]|[\xc2-\xf4][\x80-\xbf]")
_TEXT_TYPES = frozenset({"text", "html", "text/plain", "text/html"})
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.I)
_UTF8 = frozenset({"utf-8", "utf8"})


MEDIA = "{http://search.yahoo.com/mrss/}"
# Item children this path understands or may safely ignore. Any other element
# (itunes:summary, dc:description, media:description ...) may carry something
# feedparser would have used, so such documents go to feedparser.
_RSS_ITEM_TAGS = frozenset(
    {
        "title",
        "link",
        "guid",
        "description",
        "pubDate",
        "author",
        "category",
        "comments",
        "enclosure",
        "source",
        DC + "creator",
        DC + "date",
        DC + "subject",
        DC + "rights",
        DC + "source",
        CONTENT + "encoded",
        MEDIA + "content",
        MEDIA + "thumbnail",
        MEDIA + "credit",
        "{http://wellformedweb.org/CommentAPI/}commentRss",
        "{http://wellformedweb.org/CommentAPI/}comment",
        "{http://purl.org/rss/1.0/modules/slash/}comments",
        ATOM + "link",
    }
)
_ATOM_ENTRY_TAGS = frozenset(
    ATOM + t
    for t in (
        "id",
        "title",
        "link",
        "summary",
        "content",
        "published",
        "updated",
        "author",
        "contributor",
        "category",
        "rights",
    )
) | {MEDIA + "content", MEDIA + "thumbnail"}


class Unsupported(Exception):
    """The document is not for the fast path; use feedparser."""


class FastFeed:
    """What the fast path read: feed-level fields and feedparser-shaped entries.

    With ``known`` (see :func:`parse_fast`), ``prints`` holds each entry's fingerprint and
    ``skipped`` the entries recognised by theirs and not read: (index in ``entries`` they
    came before, the guid ``known`` gave).
    """

    __slots__ = ("entries", "feed", "prints", "skipped", "version")

    def __init__(
        self,
        feed: dict[str, Any],
        entries: list[dict[str, Any]],
        version: str,
        prints: list[int] | None = None,
        skipped: list[tuple[int, str]] | None = None,
    ) -> None:
        self.feed = feed
        self.entries = entries
        self.version = version
        self.prints = prints if prints is not None else []
        self.skipped = skipped if skipped is not None else []


def _check_encoding(body: bytes, content_type: str) -> None:
    m = _CHARSET.search(content_type)
    if m and m.group(1).lower() not in _UTF8:
        raise Unsupported("HTTP charset is not UTF-8")
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]  # a UTF-8 BOM; the declaration after it must agree
    head = _HEAD.match(body)
    decl = head.group(1) if head else None
    if decl:
        enc = _DECL_ENCODING.search(decl)
        if enc and enc.group(1).decode("ascii").lower() not in _UTF8:
            raise Unsupported("declared encoding is not UTF-8")
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Unsupported("UTF-16")
    # DOCTYPEs declare entities; keep this path entity-free by construction.
    if _DTD.search(body):
        raise Unsupported("DOCTYPE or ENTITY declaration")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unsupported("not valid UTF-8") from exc


def _text(el: ET.Element | None) -> str | None:
    if el is None:
        return None
    if len(el):  # child elements: HTML that was not escaped, or XHTML
        raise Unsupported("markup inside a text element")
    text = el.text or ""
    if not text.isascii() and _C1.search(text):
        raise Unsupported("C1 controls or double-encoded UTF-8")
    return text


# The RFC 822 form nearly every RSS feed uses ("Mon, 02 Nov 2026 10:00:00 GMT"), read
# without email.utils (a third of the entry's time there); anything else goes that way.
_RFC822 = re.compile(
    r"(?:[A-Za-z]{3}, )?(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (GMT|UT|UTC|Z|[+-]\d{4})"
)
_MONTHS = {
    m: n
    for n, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}


def _rfc822(value: str) -> datetime | None:
    m = _RFC822.fullmatch(value)
    if m is None:
        return None
    day, month, year, hour, minute, second, zone = m.groups()
    number = _MONTHS.get(month)
    if number is None or int(year) < 1900:
        return None
    try:
        when = datetime(int(year), number, int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except ValueError:
        return None
    if zone[0] in "+-":
        minutes = int(zone[1:3]) * 60 + int(zone[3:])
        when -= timedelta(minutes=-minutes if zone[0] == "-" else minutes)
    return when


# Dates are UTC datetimes to the second, not struct_time: normalize reads either the same
# way (a struct_time's fields made back into that datetime), and this skips both steps.
def _date(value: str | None) -> datetime | time.struct_time | None:
    if not value:
        return None
    value = value.strip()
    fast = _rfc822(value)
    if fast is not None:
        return fast
    try:
        if value[:4].isdigit() and "-" in value[:8]:
            when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        else:
            when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        parsed: time.struct_time | None = _feedparser_date(value)
        return parsed
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(microsecond=0)


def _lang(el: ET.Element, inherited: str | None) -> str | None:
    return el.get(XML_LANG) or inherited


def _known_children(el: ET.Element, known: frozenset[str]) -> None:
    for child in el:
        if child.tag not in known:
            raise Unsupported(f"element {child.tag!r}")
        if len(child) and child.tag != ATOM + "author":
            raise Unsupported(f"nested elements in {child.tag!r}")


def _rss_children(item: ET.Element) -> dict[str, ET.Element]:
    """The item's first child of each tag, in one pass (what ``find`` would return),
    refusing unknown or nested elements as :func:`_known_children` does."""
    first: dict[str, ET.Element] = {}
    for child in item:
        tag = child.tag
        if tag not in _RSS_ITEM_TAGS:
            raise Unsupported(f"element {tag!r}")
        if len(child):
            raise Unsupported(f"nested elements in {tag!r}")
        if tag not in first:
            first[tag] = child
    return first


_PRINT_MASK = (1 << 64) - 1  # fingerprints are 64-bit numbers, not negative


def _fingerprint(seed: int, el: ET.Element) -> int:
    """A number that is the same for two entries only if everything this path and the
    normaliser read of them is: the element's attributes, and each child's tag, text and
    attributes, in order (a child with children of its own as its serialisation). ``seed``
    stands for the feed-level context (see :func:`parse_fast`). Python's own hash, as a
    64-bit number: values of one process, compared only within it."""
    parts: list[object] = [seed, tuple(el.attrib.items()) if el.attrib else None]
    append = parts.append
    for child in el:
        append(child.tag)
        append(child.text)
        if child.attrib:
            append(tuple(child.attrib.items()))
        if len(child):
            append(ET.tostring(child))
    return hash(tuple(parts)) & _PRINT_MASK


def _rss_entry(item: ET.Element, lang: str | None) -> dict[str, Any]:
    first = _rss_children(item)
    get = first.get
    entry: dict[str, Any] = {}
    guid_el = get("guid")
    link = _text(get("link"))
    if guid_el is not None:
        guid = (_text(guid_el) or "").strip()
        if guid:
            entry["id"] = guid
            if not link and guid_el.get("isPermaLink", "true").lower() != "false":
                link = guid
                entry["guidislink"] = True
    if link:
        entry["link"] = link.strip()
    title = _text(get("title"))
    if title is not None:
        entry["title"] = title
    description = _text(get("description"))
    encoded = _text(get(CONTENT + "encoded"))
    if description:
        entry["summary"] = description
    if encoded:
        entry["content"] = [{"value": encoded}]
        entry.setdefault("summary", encoded)
    pub = _text(get("pubDate")) or _text(get(DC + "date"))
    published = _date(pub)
    if pub and published is None:
        raise Unsupported("date format")
    if published is not None:
        entry["published_parsed"] = published
        entry["published"] = pub
    author = _text(get(DC + "creator")) or _text(get("author"))
    if author:
        entry["author"] = author
    if "source" in first or DC + "source" in first or ATOM + "link" in first:
        _syndication(item, entry)
    if lang:
        entry["language"] = lang
    return entry


def _syndication(item: ET.Element, entry: dict[str, Any]) -> None:
    """Where an RSS item says it comes from, as feedparser names it: ``source``
    (``<source url>``), ``dc_source`` and ``links`` (``atom:link rel=...``)."""
    source = item.find("source")
    if source is not None:
        entry["source"] = {"href": (source.get("url") or "").strip(), "title": (_text(source) or "").strip()}
    dc_source = _text(item.find(DC + "source"))
    if dc_source and dc_source.strip():
        entry["dc_source"] = dc_source.strip()
    links = [
        {"rel": el.get("rel", "alternate"), "href": el.get("href", "").strip()}
        for el in item.findall(ATOM + "link")
        if el.get("href")
    ]
    if links:
        entry["links"] = links


def _atom_text(el: ET.Element | None) -> str | None:
    if el is None:
        return None
    if el.get("type", "text").lower() not in _TEXT_TYPES:
        raise Unsupported("XHTML, base64 or other non-text content")
    if el.get(XML_LANG) is not None:
        raise Unsupported("xml:lang on a text construct")
    return _text(el)


def _atom_entry(entry_el: ET.Element, lang: str | None) -> dict[str, Any]:
    _known_children(entry_el, _ATOM_ENTRY_TAGS)
    entry: dict[str, Any] = {}
    if entry_el.get(XML_BASE) is not None:
        raise Unsupported("xml:base")
    ident = _text(entry_el.find(ATOM + "id"))
    if ident and ident.strip():
        entry["id"] = ident.strip()
    links: list[dict[str, str]] = []
    for link in entry_el.findall(ATOM + "link"):
        href = link.get("href")
        if not href:
            raise Unsupported("link without href")
        rel = link.get("rel", "alternate")
        links.append({"rel": rel, "href": href.strip()})
        if rel == "alternate" and "link" not in entry:
            entry["link"] = href.strip()
    if links:
        entry["links"] = links
    if "link" not in entry and entry.get("id", "").lower().startswith(("http://", "https://")):
        entry["link"] = entry["id"]  # as feedparser does: an http id is the entry's link
        entry["guidislink"] = True
    title = _atom_text(entry_el.find(ATOM + "title"))
    if title is not None:
        entry["title"] = title
    summary = _atom_text(entry_el.find(ATOM + "summary"))
    content_el = entry_el.find(ATOM + "content")
    content = None if content_el is not None and content_el.get("src") else _atom_text(content_el)
    if summary:
        entry["summary"] = summary
    if content:
        entry["content"] = [{"value": content}]
        entry.setdefault("summary", content)
    for key, tag in (("published", "published"), ("updated", "updated")):
        raw = _text(entry_el.find(ATOM + tag))
        parsed = _date(raw)
        if raw and parsed is None:
            raise Unsupported("date format")
        if parsed is not None:
            entry[key] = raw
            entry[f"{key}_parsed"] = parsed
    author = entry_el.find(ATOM + "author")
    if author is not None:
        name = _text(author.find(ATOM + "name"))
        if name:
            entry["author"] = name
    entry_lang = _lang(entry_el, lang)
    if entry_lang:
        entry["language"] = entry_lang
    return entry


# An entry's start and end tags as bytes, and namespace declarations (see _fingerprints).
_TAGS = {
    "item": (re.compile(rb"<item(?=[\s>/])"), re.compile(rb"</item\s*>")),
    "entry": (re.compile(rb"<entry(?=[\s>/])"), re.compile(rb"</entry\s*>")),
}
_XMLNS = re.compile(rb"xmlns(?::[\w.-]+)?\s*=\s*(?:\"[^\"]*\"|'[^']*')")


def _fingerprints(body: bytes, elements: list[ET.Element], name: str | None, seed: int) -> list[int]:
    """A fingerprint of each element: a hash of its bytes, when they can be told apart.

    They can when ``body`` holds exactly as many start tags ``<name`` and end tags
    ``</name>`` as there are elements (all children of one parent, the caller checks),
    each end before the next start: a tag can only be faked inside a comment, CDATA or
    processing instruction, and one fake would make one too many. The same bytes then
    read the same, given the same feed-level context (``seed``) and namespace
    declarations (those before the first element, on its ancestors or not, go into the
    seed). Otherwise (or without ``name``) each element's own :func:`_fingerprint`, slower.
    """
    if name is None:
        return [_fingerprint(seed, el) for el in elements]
    opening, closing = _TAGS[name]
    count = len(elements)
    starts = [m.start() for m in opening.finditer(body)]
    ends = [m.end() for m in closing.finditer(body)] if len(starts) == count else []
    if count and len(ends) == count and all(
        starts[i] < ends[i] <= (starts[i + 1] if i + 1 < count else len(body)) for i in range(count)
    ):
        seed = hash((seed, *_XMLNS.findall(body, 0, starts[0])))
        return [hash((seed, body[start:end])) & _PRINT_MASK for start, end in zip(starts, ends, strict=True)]
    return [_fingerprint(seed, el) for el in elements]


def _read_entries(
    body: bytes,
    elements: list[ET.Element],
    name: str | None,
    read: Any,
    lang: str | None,
    seed: int,
    known: Mapping[int, str] | None,
) -> tuple[list[dict[str, Any]], list[int], list[tuple[int, str]]]:
    """``read(element, lang)`` of each element, except those whose fingerprint ``known``
    names: (entries, their fingerprints, skipped). Without ``known``, no fingerprints."""
    if known is None:
        return [read(el, lang) for el in elements], [], []
    entries: list[dict[str, Any]] = []
    prints: list[int] = []
    skipped: list[tuple[int, str]] = []
    for el, fingerprint in zip(elements, _fingerprints(body, elements, name, seed), strict=True):
        guid = known.get(fingerprint)
        if guid is not None:
            skipped.append((len(entries), guid))
        else:
            entries.append(read(el, lang))
            prints.append(fingerprint)
    return entries, prints, skipped


def parse_fast(
    body: bytes, content_type: str = "", *, url: str = "", known: Mapping[int, str] | None = None
) -> FastFeed:
    """Read a well-formed UTF-8 RSS 2.0 or Atom 1.0 document, or raise :class:`Unsupported`.

    With ``known`` (fingerprint -> guid, from the ``prints`` of an earlier read of the
    feed at ``url``, in this process), each entry's fingerprint is taken and an entry
    ``known`` names is not read at all: a changed feed repeats most of its entries, and
    reading them again was most of its cost. An entry's fingerprint covers everything this
    path reads of it, and the feed-level fields its items depend on (``url``, title, link,
    language, format), so an entry with a known fingerprint would read as it did then;
    the checks that refuse a document still run on every entry that is read, and a known
    one passed them when it was read.
    """
    _check_encoding(body, content_type)
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise Unsupported(f"not well-formed: {exc}") from exc
    if root.tag == "rss" and root.get("version", "2.0").startswith("2."):
        channel = root.find("channel")
        if channel is None:
            raise Unsupported("rss without channel")
        if channel.find("title") is None:
            raise Unsupported("channel without title")
        if b"xml:lang" in body:
            raise Unsupported("xml:lang in RSS")
        lang = _text(channel.find("language"))
        feed: dict[str, Any] = {
            "title": _text(channel.find("title")),
            "link": _text(channel.find("link")),
            "language": lang.strip() if lang else None,
        }
        seed = hash((url, "rss20", feed["title"], feed["link"], feed["language"]))
        items = list(channel.iter("item"))
        # Items elsewhere than in the channel itself: fingerprints of their elements.
        name = "item" if len(items) == len(channel.findall("item")) else None
        entries, prints, skipped = _read_entries(body, items, name, _rss_entry, feed["language"], seed, known)
        return FastFeed(feed, entries, "rss20", prints, skipped)
    if root.tag == ATOM + "feed":
        if any(el.get(XML_BASE) is not None for el in (root, *root)):
            raise Unsupported("xml:base")
        if root.find(ATOM + "title") is None:
            raise Unsupported("feed without title")
        if any(not child.tag.startswith("{") for child in root):
            raise Unsupported("elements outside any namespace in an Atom feed")
        lang = root.get(XML_LANG)
        link = None
        for link_el in root.findall(ATOM + "link"):
            if link_el.get("rel", "alternate") == "alternate":
                link = link_el.get("href")
                break
        feed = {"title": _atom_text(root.find(ATOM + "title")), "link": link, "language": lang}
        seed = hash((url, "atom10", feed["title"], link, lang))
        entries, prints, skipped = _read_entries(
            body, root.findall(ATOM + "entry"), "entry", _atom_entry, lang, seed, known
        )
        return FastFeed(feed, entries, "atom10", prints, skipped)
    raise Unsupported(f"root element {root.tag!r}")
