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
from html.parser import HTMLParser
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
_SPACE = re.compile(r"\s+")
# Remove C0/C1 control characters other than whitespace; they break Telegram and terminals.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff]")


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
    url = _CONTROL.sub("", url).strip()
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


class _TextExtractor(HTMLParser):
    """Collects text, skipping script/style/template content; blocks become spaces."""

    _SKIP = frozenset({"script", "style", "template", "noscript", "head", "title", "svg"})
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
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


_ABSOLUTE_HTTP = re.compile(r"https?://", re.IGNORECASE)
_TAGLIKE = re.compile(r"<(?=[A-Za-z/!?])")


def _strip_once(text: str) -> str:
    parser = _TextExtractor()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError):  # malformed markup in old HTMLParser versions
        return unescape(re.sub(r"<[^>]*>", " ", text))
    return "".join(parser.parts)


def _fold(text: str) -> str:
    return _SPACE.sub(" ", _CONTROL.sub("", text)).strip()


def html_to_text(html: str | None, max_len: int | None = None) -> str:
    """Plain text from an HTML fragment: tags and script/style content removed,
    entities decoded, whitespace folded, optionally truncated to ``max_len``.

    Feeds often escape HTML twice (``&lt;p&gt;``), so stripping repeats until the
    text stops changing; a leftover ``<`` that would start a tag is followed by a
    space, so the result never contains markup and is a fixed point of this function.
    """
    if not html:
        return ""
    text = _fold(html)
    for _ in range(4):
        if "<" not in text and "&" not in text:
            break
        stripped = _fold(_strip_once(text))
        if stripped == text:
            break
        text = stripped
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


def stable_guid(entry: Mapping[str, Any], link: str | None) -> str:
    """The entry's id within its feed: guid, else link, else a hash of title and date."""
    raw = entry.get("id") or entry.get("guid")
    guid = str(raw).strip() if raw is not None else ""
    if not guid:
        guid = link or ""
    if not guid:
        title = str(entry.get("title") or "")
        date = str(_raw_get(entry, "published") or _raw_get(entry, "updated") or "")
        summary = "" if title else str(entry.get("summary") or "")
        digest = hashlib.sha256(f"{title}\x00{date}\x00{summary}".encode()).hexdigest()
        return f"sha256:{digest[:32]}"
    if len(guid) > GUID_MAX:
        return "sha256:" + hashlib.sha256(guid.encode("utf-8", "replace")).hexdigest()[:32]
    return guid


def _published(entry: Mapping[str, Any], fetched_at: datetime) -> datetime:
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
        when = when.astimezone(UTC)
        if when > fetched_at + FUTURE_TOLERANCE:
            return fetched_at
        return when
    return fetched_at


def _language(value: object) -> str | None:
    if not isinstance(value, str):
        return None
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
    text = html_to_text(author, max_len=200)
    return text or None


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
    if link_raw and entry.get("guidislink") and not _ABSOLUTE_HTTP.match(link_raw.strip()):
        # feedparser copies an RSS guid into the link when the guid is a "permalink"
        # by default; "c1" or "urn:..." is no URL, so it must not become one.
        link_raw = None
    url = canonical_url(link_raw, base=feed_url) if link_raw else None
    title = html_to_text(str(entry.get("title") or ""), max_len=TITLE_MAX)
    summary = html_to_text(_entry_summary(entry), max_len=SUMMARY_MAX)
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
    return Item(
        guid=stable_guid(entry, url or (link_raw.strip() if link_raw else None)),
        url=url,
        title=title,
        summary=summary,
        published=_published(entry, fetched_at),
        outlet=outlet,
        author=_author(entry),
        language=language,
    )
