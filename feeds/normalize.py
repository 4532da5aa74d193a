"""Normalising feed entries into the core's :class:`~stories.model.Item`.

Pure functions: plain text from HTML, canonical URLs, stable ids, sane dates.
They take whatever a feed throws at them and never raise on bad input.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from stories.model import Item

__all__ = [
    "SUMMARY_MAX",
    "TITLE_MAX",
    "canonical_url",
    "html_to_text",
    "normalize_entry",
    "outlet_name",
    "stable_guid",
    "truncate",
]

TITLE_MAX = 300
SUMMARY_MAX = 2000
GUID_MAX = 512
_RAW_MAX = 200_000
FUTURE_TOLERANCE = timedelta(minutes=5)

# Tracking parameters: they identify the click, not the article.
_TRACKING_EXACT = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "__hssc",
        "__hstc",
        "__hsfp",
        "hsctatracking",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "vero_conv",
        "wickedid",
        "rb_clickid",
        "s_cid",
        "ncid",
        "cmpid",
        "ocid",
        "sr_share",
        "at_medium",
        "at_campaign",
        "spm",
        "ref_src",
        "ref_url",
        "__twitter_impression",
        "ito",
        "cmp",
        "smid",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "itm_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters kept as-is in a path: RFC 3986 pchar plus '/', and '%' so existing
# escapes survive (re-quoting must not double-encode, or canonical_url is not idempotent).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_PCT = re.compile(r"%([0-9a-fA-F]{2})")
_HOST_OK = re.compile(r"^[a-z0-9.\-_~]+$")
# Remove C0/C1 control characters other than whitespace; they break Telegram and terminals.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff]")
# The characters _CONTROL removes that ASCII has, for bytes.translate (4x faster on ASCII text).
_ASCII_CONTROL = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def _is_tracking(key: str) -> bool:
    k = key.lower()
    return k in _TRACKING_EXACT or k.startswith(_TRACKING_PREFIXES)


def _canonical_host(host: str) -> str | None:
    host = host.lower().rstrip(".")
    if not host:
        return None
    if ":" in host:  # IPv6 literal (urlsplit already stripped the brackets)
        return f"[{host}]" if re.fullmatch(r"[0-9a-f:.]+", host) else None
    if _HOST_OK.match(host):
        return host
    try:
        encoded = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return encoded if _HOST_OK.match(encoded) else None


# An absolute http(s) URL whose canonical form is cheap to see: lower-case scheme and
# host (no port, user info, IDN or trailing dot), a path of characters quote() keeps,
# a query without '+' or escapes, no fragment. urljoin and urlsplit leave such a URL as
# it is, so canonical_url() only sorts its query and drops tracking parameters;
# tests/feeds/test_normalize.py checks that both ways agree.
_SIMPLE_URL = re.compile(
    r"(https?)://([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(/[A-Za-z0-9/._~!$&'()*,=:@-]*)?(?:\?([A-Za-z0-9._~=&-]*))?"
)


def _canonical_simple(scheme: str, host: str, path: str | None, query: str | None) -> str:
    if not query:
        return f"{scheme}://{host}{path or '/'}"
    rest = _QUERIES.get(query)
    if rest is None:
        rest = _canonical_query(query)
        if len(_QUERIES) < 4096:
            _QUERIES[query] = rest
    return f"{scheme}://{host}{path or '/'}" + (f"?{rest}" if rest else "")


# A feed's links often share one query ("utm_source=rss&utm_medium=feed"): each is read once.
_QUERIES: dict[str, str] = {}


def _canonical_query(query: str) -> str:
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not _is_tracking(k)]
    pairs.sort()
    return urlencode(pairs, quote_via=quote, safe="")


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """The canonical form of an http(s) URL, or None if it is not one.

    Lower-case scheme and host (IDN hosts as punycode), no user info, no default
    port, no fragment, tracking parameters (``utm_*``, ``fbclid``, ``gclid``,
    ``mc_cid`` ...) removed, remaining query parameters sorted. Relative URLs are
    resolved against ``base``. Idempotent: ``canonical_url(canonical_url(u)) ==
    canonical_url(u)``.
    """
    if not url:
        return None
    if url.isascii():
        url = url.encode("ascii").translate(None, _ASCII_CONTROL).decode("ascii").strip()
    else:
        url = _CONTROL.sub("", url).strip()
    simple = _SIMPLE_URL.fullmatch(url)
    if simple is not None:
        return _canonical_simple(*simple.groups())
    return _canonical_general(url, base)


def _canonical_general(url: str, base: str | None) -> str | None:
    """:func:`canonical_url` of a control-free, stripped URL, the long way."""
    try:
        if base:
            url = urljoin(base, url)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            return None
        host = _canonical_host(parts.hostname or "")
        port = parts.port
    except ValueError:
        return None
    if host is None:
        return None
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = quote(parts.path, safe=_PATH_SAFE) or "/"
    path = _PCT.sub(lambda m: "%" + m.group(1).upper(), path)
    # Collapse the spaces/controls quote() leaves nothing of; also fold "//" runs? No:
    # some sites route on them, and merging would change the resource.
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    pairs.sort()
    query = urlencode(pairs, quote_via=quote, safe="")
    return urlunsplit((scheme, netloc, path, query, ""))


_SKIP = "script|style|template|noscript|head|title|svg|iframe|object"
_BLOCK = frozenset(
    {
        "p",
        "br",
        "div",
        "li",
        "ul",
        "ol",
        "tr",
        "td",
        "th",
        "table",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "hr",
        "section",
        "article",
        "header",
        "footer",
        "figure",
        "figcaption",
        "dd",
        "dt",
        "dl",
        "img",
        "aside",
        "nav",
        "main",
        "caption",
    }
)
# Elements whose content is not text, closed or (malformed) left open to the end.
_SKIPPED = re.compile(rf"<({_SKIP})\b[^>]*>.*?</\1\s*>|<(?:{_SKIP})\b[^>]*>.*\Z", re.I | re.S)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)|<!\[CDATA\[.*?(?:\]\]>|\Z)", re.S)
# A start/end tag with quoted attribute values (which may contain '>'), or a
# declaration / processing instruction.
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:_-]*)(?:[^<>\"']|\"[^\"]*\"|'[^']*')*>|<![^<>]*>|<\?[^<>]*>")


def _tag_space(m: re.Match[str]) -> str:
    name = m.group(2)
    return " " if name is not None and name.lower() in _BLOCK else ""


_ABSOLUTE_HTTP = re.compile(r"https?://", re.IGNORECASE)
_TAGLIKE = re.compile(r"<(?=[A-Za-z/!?])")


def _strip_once(text: str) -> str:
    """One pass of tag removal and entity decoding.

    Regular expressions rather than ``html.parser``: five times faster on feed
    summaries, which matters at thousands of items a poll. Markup they do not
    recognise is left as text and neutralised by the caller (``<`` + space).
    """
    if "<" in text:
        text = _SKIPPED.sub(" ", _COMMENT.sub("", text))
        text = _TAG.sub(_tag_space, text)
    return unescape(text) if "&" in text else text


_C1 = re.compile(r"[\x80-\x9f]")


def _c1_to_cp1252(m: re.Match[str]) -> str:
    try:
        return bytes([ord(m.group())]).decode("cp1252")
    except UnicodeDecodeError:
        return ""


def _fold(text: str) -> str:
    # str.split() folds every run of Unicode whitespace, 8x faster than re.sub(r"\s+").
    if text.isascii():
        # The same on bytes, 2x faster: once the controls are gone, the whitespace
        # left (space, tab, CR, LF) is the same to bytes.split() and str.split().
        return b" ".join(text.encode("ascii").translate(None, _ASCII_CONTROL).split()).decode("ascii")
    return " ".join(_CONTROL.sub("", text).split())


def html_to_text(html: str | None, max_len: int | None = None) -> str:
    """Plain text from an HTML fragment: tags and script/style content removed,
    entities decoded, whitespace folded, optionally truncated to ``max_len``.

    Feeds often escape HTML twice (``&lt;p&gt;``), so stripping repeats until the
    text stops changing; a leftover ``<`` that would start a tag is followed by a
    space, so the result never contains markup and is a fixed point of this function.
    """
    if not html:
        return ""
    # Only the start of a huge body can survive the length cap; cutting the raw
    # HTML first keeps every later step bounded.
    limit = _RAW_MAX if max_len is None else min(_RAW_MAX, max(20 * max_len, 4000))
    if len(html) > limit:
        html = html[:limit]
    # C1 controls in text are nearly always Windows-1252 punctuation decoded as
    # Latin-1 ("don\x92t"); map them back to what the author typed.
    text = _fold(_C1.sub(_c1_to_cp1252, html) if not html.isascii() and _C1.search(html) else html)
    for _ in range(8):  # each pass shrinks the text, or it is done
        if "<" not in text and "&" not in text:
            break
        stripped = _fold(_strip_once(text))
        if stripped == text:
            break
        text = stripped
    if "<" in text:
        text = _fold(_TAGLIKE.sub("< ", text))
    if max_len is not None:
        text = truncate(text, max_len)
    return text


def truncate(text: str, max_len: int) -> str:
    """Cut ``text`` to at most ``max_len`` characters at a word boundary, with an ellipsis."""
    if len(text) <= max_len:
        return text
    if max_len <= 1:
        return text[:max_len]
    cut = text[: max_len - 1]
    space = cut.rfind(" ")
    if space > max_len // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _raw_get(entry: Mapping[str, Any], key: str) -> Any:
    """``entry[key]`` without feedparser's deprecated published<-updated aliasing."""
    return dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)


def stable_guid(
    entry: Mapping[str, Any],
    link: str | None,
    *,
    title: str | None = None,
    date: datetime | None = None,
) -> str:
    """The entry's id within its feed: guid, else link, else a hash of title and date.

    The hash is over the *normalised* title (and summary when there is no title) and
    the parsed date, so it does not change with the parser or the markup around them.
    """
    raw = entry.get("id") or entry.get("guid")
    guid = str(raw).strip() if raw is not None else ""
    if not guid:
        guid = link or ""
    if not guid:
        if title is None:
            title = html_to_text(str(entry.get("title") or ""), max_len=TITLE_MAX)
        if date is None:
            date = _parsed_date(entry)
        summary = "" if title else html_to_text(_entry_summary(entry), max_len=SUMMARY_MAX)
        stamp = date.isoformat() if date else ""
        digest = hashlib.sha256(f"{title}\x00{stamp}\x00{summary}".encode()).hexdigest()
        return f"sha256:{digest[:32]}"
    if len(guid) > GUID_MAX:
        return "sha256:" + hashlib.sha256(guid.encode("utf-8", "replace")).hexdigest()[:32]
    return guid


def _parsed_date(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = _raw_get(entry, key)
        if isinstance(value, datetime):
            when = value if value.tzinfo else value.replace(tzinfo=UTC)
        elif isinstance(value, time.struct_time) or (isinstance(value, tuple) and len(value) >= 6):
            try:
                y, mo, d, h, mi, sec = (int(v) for v in value[:6])
                when = datetime(y, mo, d, h, mi, min(sec, 59), tzinfo=UTC)
            except (ValueError, TypeError, OverflowError):
                continue
        else:
            continue
        return when.astimezone(UTC)
    return None


def _published(when: datetime | None, fetched_at: datetime) -> datetime:
    """The item's time: its own date, unless missing or in the future."""
    if when is None or when > fetched_at + FUTURE_TOLERANCE:
        return fetched_at
    return when


def _language(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    # A feed gives one language (or a handful) to every entry: each is read once.
    if value in _LANGUAGES:
        return _LANGUAGES[value]
    lang = _read_language(value)
    if len(_LANGUAGES) < 1024:
        _LANGUAGES[value] = lang
    return lang


_LANGUAGES: dict[str, str | None] = {}


def _read_language(value: str) -> str | None:
    lang = value.strip().replace("_", "-").lower()
    if not lang or len(lang) > 35 or not re.fullmatch(r"[a-z]{1,8}(-[a-z0-9]{1,8})*", lang):
        return None
    return lang


def _detail_language(entry: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        detail = entry.get(key)
        if isinstance(detail, Mapping):
            lang = _language(detail.get("language"))
            if lang:
                return lang
    return None


def outlet_name(feed_title: str | None, feed_link: str | None, feed_url: str) -> str:
    """The outlet an item is credited to: the feed's title, else its site's host."""
    title = html_to_text(feed_title, max_len=120)
    if title:
        return title
    for url in (feed_link, feed_url):
        if url:
            try:
                host = urlsplit(url).hostname
            except ValueError:
                host = None
            if host:
                return host.removeprefix("www.")
    return feed_url


def _entry_summary(entry: Mapping[str, Any]) -> str:
    summary = entry.get("summary")
    if isinstance(summary, str) and summary.strip():
        return summary
    content = entry.get("content")
    if isinstance(content, list):
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("value"), str):
                value: str = part["value"]
                if value.strip():
                    return value
    return ""


def _author(entry: Mapping[str, Any]) -> str | None:
    author = entry.get("author")
    if not isinstance(author, str) or not author.strip():
        detail = entry.get("author_detail")
        author = detail.get("name") if isinstance(detail, Mapping) else None
    if not isinstance(author, str):
        return None
    # A feed has a few authors for many entries: each name is read once.
    if author in _AUTHORS:
        return _AUTHORS[author]
    text = html_to_text(author, max_len=200) or None
    if len(author) <= 200 and len(_AUTHORS) < 2048:
        _AUTHORS[author] = text
    return text


_AUTHORS: dict[str, str | None] = {}


def _origin(entry: Mapping[str, Any], url: str | None, feed_url: str) -> tuple[str | None, str | None]:
    """Where the entry says it comes from: ``(outlet name, original URL)``.

    The original's URL is a canonical link to another URL, else ``dc:source``, else
    the ``<source>`` element's URL; the name is the ``<source>`` title.
    """
    name: str | None = None
    found: str | None = None
    candidates: list[object] = []
    links = entry.get("links")
    if isinstance(links, list):
        candidates += [
            link.get("href") for link in links if isinstance(link, Mapping) and link.get("rel") == "canonical"
        ]
    candidates.append(entry.get("dc_source"))
    source = entry.get("source")
    if isinstance(source, Mapping):
        title = source.get("title")
        if isinstance(title, str) and title.strip():
            name = truncate(html_to_text(title), 200) or None
        candidates += [source.get("href"), source.get("link")]
    for raw in candidates:
        if isinstance(raw, str) and raw.strip():
            canonical = canonical_url(raw.strip(), base=feed_url)
            if canonical and canonical != url:
                found = canonical
                break
    return name, found


def normalize_entry(
    entry: Mapping[str, Any],
    *,
    feed_url: str,
    outlet: str,
    fetched_at: datetime,
    feed_language: str | None = None,
) -> Item | None:
    """Turn one feedparser-style entry into an :class:`Item`, or None if it has nothing.

    ``entry`` is a mapping with feedparser's keys (``id``, ``link``, ``title``,
    ``summary``, ``content``, ``published_parsed`` ...); the JSON Feed parser builds
    the same shape. An entry with no title, no summary and no link is skipped.
    """
    link_raw = entry.get("link")
    if not isinstance(link_raw, str) or not link_raw.strip():
        links = entry.get("links")
        link_raw = None
        if isinstance(links, list):
            for candidate in links:
                if isinstance(candidate, Mapping) and candidate.get("rel", "alternate") in (
                    "alternate",
                    None,
                ):
                    href = candidate.get("href")
                    if isinstance(href, str) and href.strip():
                        link_raw = href
                        break
    if (
        link_raw
        and entry.get("guidislink")
        and link_raw == entry.get("id")
        and not _ABSOLUTE_HTTP.match(link_raw.strip())
    ):
        # feedparser copies an RSS guid into the link when the guid is a "permalink"
        # by default; "c1" or "urn:..." is no URL, so it must not become one.
        link_raw = None
    url = canonical_url(link_raw, base=feed_url) if link_raw else None
    title = raw_title = html_to_text(str(entry.get("title") or ""), max_len=TITLE_MAX)
    summary = html_to_text(_entry_summary(entry), max_len=SUMMARY_MAX)
    date = _parsed_date(entry)
    if not title and not summary and not url:
        return None
    if not title:
        title = truncate(summary, 120) if summary else (url or "")
    if summary == title:
        summary = ""
    language = (
        _language(entry.get("language"))
        or _detail_language(entry, "title_detail", "summary_detail")
        or _language(feed_language)
    )
    source_name, source_url = _origin(entry, url, feed_url)
    return Item(
        guid=stable_guid(entry, url or (link_raw.strip() if link_raw else None), title=raw_title, date=date),
        url=url,
        title=title,
        summary=summary,
        published=_published(date, fetched_at),
        outlet=outlet,
        author=_author(entry),
        language=language,
        source_name=source_name,
        source_url=source_url,
    )
