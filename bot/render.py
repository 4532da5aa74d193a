"""Telegram HTML rendering of digests, stories and search results.

Everything that reaches Telegram as HTML is built here, from small tokens (plain text, opening
tag, closing tag) rather than by string concatenation, so that:

- every piece of untrusted text (titles, outlets, story names, queries, snippets) is escaped;
  control characters, lone surrogates and bidi override/isolate controls (which would flip the
  rest of a line) are removed first;
- only ``http``/``https`` links become ``<a href>``; anything else (``javascript:``, ``data:``,
  relative or malformed URLs) is shown as plain text without a link;
- messages are split at ``limit`` characters of *visible* text (tags count zero, an entity one),
  only between a story heading, a development or a report line, never inside a tag or entity;
  a single report too long for one message is cut with "…" and its open tags are closed.

Lengths are counted in UTF-16 code units, Telegram's unit (an emoji outside the BMP counts 2),
which is never less than the number of code points: a message that fits here fits there.

Fixed texts ("Digest", "(continued)", "+3 more sources", …) and dates come from the ``Translator``
passed in (``bot.i18n``, English by default): rendering stays a pure function of its arguments.

Send every message with ``parse_mode=PARSE_MODE`` and link previews off
(``link_preview_options=LinkPreviewOptions(is_disabled=True)``). When Telegram still answers
400 "can't parse entities", resend ``render_plain(html)`` without a parse mode.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from stories.digest import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    Digest,
    DigestDevelopment,
    DigestItem,
    SearchHit,
)

from .i18n import ENGLISH, Translator

__all__ = [
    "MESSAGE_LIMIT",
    "PARSE_MODE",
    "DigestEntry",
    "DigestPart",
    "escape",
    "render_digest",
    "render_digest_parts",
    "render_plain",
    "render_search_results",
    "render_story",
    "safe_url",
    "visible_length",
]

PARSE_MODE = "HTML"
MESSAGE_LIMIT = 4096
MIN_LIMIT = 200

# Caps on single untrusted fields, so one hostile entry cannot crowd out a whole message.
TITLE_CAP = 300
OUTLET_CAP = 60
STORY_CAP = 100
QUERY_CAP = 200
SNIPPET_CAP = 400
EXTRA_OUTLETS_SHOWN = 3
URL_CAP = 2048

ELLIPSIS = "…"
# Explicit bidi embeddings/overrides/isolates: they would reorder the rest of the line
# (outlet, time) around an untrusted title. Plain marks (U+200E/U+200F) are harmless and kept.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WHITESPACE_RUN = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]*>")


# -- text hygiene -------------------------------------------------------------------------


def visible_length(text: str) -> int:
    """Length of plain ``text`` in UTF-16 code units (Telegram's unit for the 4,096 limit)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _clean(text: str) -> str:
    """Drop what Telegram rejects or what would garble the layout; keep newlines and tabs."""
    out: list[str] = []
    for ch in text:
        if ch in "\n\t":
            out.append(ch)
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs") or ch in _BIDI_CONTROLS or ch in (HIGHLIGHT_START, HIGHLIGHT_END):
            continue
        out.append(ch)
    return "".join(out)


def _one_line(text: str) -> str:
    """Untrusted single-line field: cleaned, whitespace (including newlines) folded."""
    return _WHITESPACE_RUN.sub(" ", _clean(text)).strip()


def _prefix(text: str, units: int) -> str:
    """The longest prefix of ``text`` (whole code points) of at most ``units`` UTF-16 units."""
    used = 0
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > units:
            return text[:index]
    return text


def _cap(text: str, units: int) -> str:
    """Cut plain ``text`` to at most ``units`` UTF-16 units, ending with "…" when cut."""
    if visible_length(text) <= units:
        return text
    return _prefix(text, max(units - 1, 0)).rstrip() + ELLIPSIS


def escape(text: str) -> str:
    """Escape untrusted ``text`` for Telegram HTML (``& < > " '``), after dropping control
    characters, lone surrogates and bidi overrides."""
    return html.escape(_clean(text), quote=True)


def safe_url(url: str | None) -> str | None:
    """``url`` stripped if it is an absolute http(s) URL with a host, no user info and no
    whitespace or control characters (at most 2,048 characters); otherwise None (show the
    text unlinked)."""
    if not url:
        return None
    url = url.strip()
    if not url or len(url) > URL_CAP:
        return None
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs", "Cf") for ch in url):
        return None
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None  # "https://bank.example@evil.example/" misleads the reader
    return url


def render_plain(html_text: str) -> str:
    """The visible text of our HTML: tags removed, entities decoded (for the plain resend)."""
    return html.unescape(_TAG.sub("", html_text))


# -- tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Text:
    text: str  # plain (unescaped), already cleaned


@dataclass(frozen=True, slots=True)
class _Open:
    name: str
    html: str


@dataclass(frozen=True, slots=True)
class _Close:
    name: str


_Token = _Text | _Open | _Close
_Tokens = list[_Token]


def _t(text: str) -> _Tokens:
    """Trusted-or-cleaned plain text as tokens (still escaped on output)."""
    cleaned = _clean(text)
    return [_Text(cleaned)] if cleaned else []


def _tag(name: str, inner: _Tokens, attrs: str = "") -> _Tokens:
    return [_Open(name, f"<{name}{attrs}>"), *inner, _Close(name)]


def _link(text: str, url: str | None) -> _Tokens:
    target = safe_url(url)
    if target is None:
        return _t(text)
    return _tag("a", _t(text), f' href="{html.escape(target, quote=True)}"')


def _to_html(tokens: Iterable[_Token]) -> str:
    parts: list[str] = []
    for tok in tokens:
        if isinstance(tok, _Text):
            parts.append(html.escape(tok.text, quote=True))
        elif isinstance(tok, _Open):
            parts.append(tok.html)
        else:
            parts.append(f"</{tok.name}>")
    return "".join(parts)


def _vlen(tokens: Iterable[_Token]) -> int:
    return sum(visible_length(tok.text) for tok in tokens if isinstance(tok, _Text))


def _truncate(tokens: _Tokens, units: int) -> _Tokens:
    """Cut ``tokens`` to at most ``units`` visible units, ending with "…" and closing every
    tag still open; the cut falls inside plain text, so never inside a tag or an entity."""
    if _vlen(tokens) <= units:
        return tokens
    out: _Tokens = []
    stack: list[str] = []
    used = 0
    budget = max(units - 1, 0)  # the ellipsis takes one unit
    for tok in tokens:
        if isinstance(tok, _Open):
            out.append(tok)
            stack.append(tok.name)
        elif isinstance(tok, _Close):
            out.append(tok)
            stack.pop()
        else:
            room = budget - used
            width = visible_length(tok.text)
            if width <= room:
                out.append(tok)
                used += width
                continue
            out.append(_Text(_prefix(tok.text, room) + ELLIPSIS))
            break
    out.extend(_Close(name) for name in reversed(stack))
    return out


# -- formatting pieces -----------------------------------------------------------------------


def _when(moment: datetime, tz: ZoneInfo, reference: datetime, tr: Translator) -> str:
    """Local time in ``tz``: "14:05" on the reference's local day, else "25 Nov 14:05"
    (with the year when it differs), the day as ``tr``'s language writes it."""
    local = moment.astimezone(tz)
    ref = reference.astimezone(tz)
    if local.date() == ref.date():
        return tr.clock(local)
    return tr.moment(local, year=local.year != ref.year)


def _title(text: str, tr: Translator) -> str:
    return _cap(_one_line(text), TITLE_CAP) or tr.t("(untitled)")


def _outlet(text: str, tr: Translator) -> str:
    return _cap(_one_line(text), OUTLET_CAP) or tr.t("unknown outlet")


ADDS_SHOWN = 4  # facts an update line names
ADDS_CAP = 40  # characters per fact


def _more_sources(item: DigestItem, tr: Translator) -> str:
    """Folded copies as "+3 more sources (AP, BBC, DW)"; "" when there are none."""
    if item.extra_sources <= 0:
        return ""
    text = tr.tn("+{n} more source", "+{n} more sources", item.extra_sources)
    names = [n for n in (_outlet(o, tr) for o in item.extra_outlets) if n]
    if names:
        shown = ", ".join(names[:EXTRA_OUTLETS_SHOWN])
        if len(names) > EXTRA_OUTLETS_SHOWN:
            shown += ", …"
        text += f" ({shown})"
    return text


def _meta(item: DigestItem, tz: ZoneInfo, reference: datetime, tr: Translator) -> _Tokens:
    """The line "Reuters · 14:05 · +3 more sources (AP, BBC, DW)", outlet in italics."""
    tokens = _tag("i", _t(_outlet(item.outlet, tr)))
    tokens += _t(f" · {_when(item.published, tz, reference, tr)}")
    more = _more_sources(item, tr)
    if more:
        tokens += _t(f" · {more}")
    if item.adds:
        # What an update brings: "+ 400 contractors, Il-96 RA-96019".
        tokens += _t(" · + " + ", ".join(_cap(_one_line(a), ADDS_CAP) for a in item.adds[:ADDS_SHOWN]))
    return tokens


def _item_line(
    item: DigestItem, tz: ZoneInfo, reference: datetime, tr: Translator, *, mark_updates: bool = True
) -> _Tokens:
    """A report line: arrow, 🔄 on reports that update (unless the whole development is
    already marked as an update), headline link, " — ", outlet, time, "+N more sources"."""
    tokens = _t("↳ 🔄 " if mark_updates and item.kind == "update" else "↳ ")
    tokens += _link(_title(item.title, tr), item.url)
    tokens += _t(" — ")
    tokens += _meta(item, tz, reference, tr)
    return tokens


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """A development shown in a digest message, under the story it is shown for."""

    story: str
    story_id: int | None
    development: DigestDevelopment


@dataclass(frozen=True, slots=True)
class DigestPart:
    """One digest message and the developments it shows, in order (for its buttons)."""

    text: str
    entries: tuple[DigestEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class _Unit:
    """A piece that never gets split: a heading, a development's head, or one report line."""

    tokens: _Tokens
    sep: str  # what goes before it when it follows something in the same message
    entry: DigestEntry | None = None  # the development whose head this is


def _development_units(
    dev: DigestDevelopment, tz: ZoneInfo, reference: datetime, tr: Translator, *, plain_marker: str
) -> list[_Unit]:
    """A development as units: its head (marker, headline link, lead meta) then report lines.

    New developments: "🆕 <b><a href=lead>title</a></b>" + the lead's outlet/time line, then
    the other reports. Updates: "🔄 update · <b>title</b>" then every report (what is new),
    each as a linked line. ``plain_marker`` replaces 🆕 (the /story listing uses "•").
    """
    lead = dev.lead
    units: list[_Unit] = []
    title = _title(dev.title if dev.title.strip() else (lead.title if lead else ""), tr)
    outlets = _t(" · " + tr.tn("{n} outlet", "{n} outlets", dev.outlets)) if dev.outlets > 1 else []
    if dev.is_update or lead is None:
        head = _t("🔄 " + tr.t("update") + " · ") + _tag("b", _t(title)) + outlets
        rest: Sequence[DigestItem] = dev.items
    else:
        head = _t(f"{plain_marker} ") + _tag("b", _link(title, lead.url))
        head += _t("\n") + _meta(lead, tz, reference, tr) + outlets
        rest = dev.items[1:]
    units.append(_Unit(head, "\n\n"))
    mark = not (dev.is_update or lead is None)
    units.extend(_Unit(_item_line(item, tz, reference, tr, mark_updates=mark), "\n") for item in rest)
    return units


def _heading(text: str, continued: bool, tr: Translator) -> _Tokens:
    name = _cap(_one_line(text), STORY_CAP) or tr.t("(unnamed story)")
    tokens = _t("📰 ") + _tag("b", _t(name))
    if continued:
        tokens += _t(" " + tr.t("(continued)"))
    return tokens


@dataclass
class _Packer:
    """Packs units into messages of at most ``limit`` visible units."""

    limit: int
    messages: list[str]
    current: _Tokens
    tr: Translator = ENGLISH
    used: int = 0
    section: int | None = None  # index of the story the current message is inside
    entries: list[tuple[DigestEntry, ...]] = field(default_factory=list)  # per message
    current_entries: list[DigestEntry] = field(default_factory=list)

    def flush(self) -> None:
        if self.current:
            self.messages.append(_to_html(self.current))
            self.entries.append(tuple(self.current_entries))
        self.current = []
        self.current_entries = []
        self.used = 0
        self.section = None

    def add(self, unit: _Unit) -> None:
        """Add ``unit`` to the current message, or start a new one when it does not fit."""
        sep = unit.sep if self.current else ""
        need = visible_length(sep) + _vlen(unit.tokens)
        if self.current and self.used + need > self.limit:
            self.flush()
            sep = ""
            need = _vlen(unit.tokens)
        tokens = unit.tokens
        if need > self.limit - self.used:
            tokens = _truncate(tokens, self.limit - self.used - visible_length(sep))
        self.current += _t(sep) + tokens
        self.used += visible_length(sep) + _vlen(tokens)
        if unit.entry is not None:
            self.current_entries.append(unit.entry)

    def add_in_section(self, index: int, story: str, unit: _Unit, started: bool) -> None:
        """Add a unit of section ``index``; a message that starts mid-story repeats the
        story heading with "(continued)"; a heading is never left alone at a message end."""
        if self.section == index:
            heading_need = 0
        else:
            heading_need = _vlen(_heading(story, started, self.tr)) + (2 if self.current else 0)
        sep = visible_length(unit.sep)
        fits = self.used + heading_need + sep + _vlen(unit.tokens) <= self.limit
        if not fits and self.current:
            self.flush()
        if self.section != index:
            self.add(_Unit(_heading(story, started, self.tr), "\n\n"))
            self.section = index
        self.add(unit)


def _check_limit(limit: int) -> None:
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT}, got {limit}")


def _pack_sections(
    sections: Sequence[tuple[str, Sequence[_Unit]]],
    limit: int,
    tr: Translator,
    intro: _Tokens | None = None,
) -> list[str]:
    return _packed(sections, limit, tr, intro).messages


def _packed(
    sections: Sequence[tuple[str, Sequence[_Unit]]],
    limit: int,
    tr: Translator,
    intro: _Tokens | None = None,
) -> _Packer:
    packer = _Packer(limit=limit, messages=[], current=[], tr=tr)
    if intro:
        packer.add(_Unit(intro, ""))
    for index, (story, units) in enumerate(sections):
        started = False
        for unit in units:
            packer.add_in_section(index, story, unit, started)
            started = True
    packer.flush()
    return packer


# -- public renderers ------------------------------------------------------------------------


def render_digest(
    digest: Digest, tz: ZoneInfo, *, tr: Translator = ENGLISH, limit: int = MESSAGE_LIMIT
) -> list[str]:
    """The digest as Telegram HTML messages, in ``tr``'s language, in order; [] when the digest
    is empty.

    First message starts with "🗞 Digest · 26 Nov 09:00" (a breaking alert, from
    ``render_digest_parts(breaking=True)``: "🚨 Breaking · …"); each story has a heading
    ("📰 Venezuela", repeated as "(continued)" when a story spans two messages); each
    development shows a marker (🆕 new, 🔄 update), its headline linked to the lead report,
    outlet, local time in ``tz`` and "+N more sources" for folded copies. Every message has at
    most ``limit`` visible characters (UTF-16 units) and is split only between units.
    """
    return [part.text for part in render_digest_parts(digest, tz, tr=tr, limit=limit)]


def render_digest_parts(
    digest: Digest,
    tz: ZoneInfo,
    *,
    tr: Translator = ENGLISH,
    breaking: bool = False,
    limit: int = MESSAGE_LIMIT,
) -> list[DigestPart]:
    """``render_digest``'s messages, each with the developments whose head it shows."""
    _check_limit(limit)
    if digest.is_empty:
        return []
    ref = digest.generated_at
    mark, name = ("🚨 ", tr.t("Breaking")) if breaking else ("🗞 ", tr.t("Digest"))
    intro = _t(mark) + _tag("b", _t(name)) + _t(" · " + tr.moment(ref.astimezone(tz)))
    sections: list[tuple[str, list[_Unit]]] = []
    for section in digest.sections:
        units: list[_Unit] = []
        for dev in section.developments:
            dev_units = _development_units(dev, tz, ref, tr, plain_marker="🆕")
            head = dev_units[0]
            entry = DigestEntry(section.story, section.story_id, dev)
            units += [_Unit(head.tokens, head.sep, entry), *dev_units[1:]]
        if units:
            sections.append((section.story, units))
    packer = _packed(sections, limit, tr, intro)
    return [DigestPart(text, entries) for text, entries in zip(packer.messages, packer.entries, strict=True)]


def render_story(
    name: str,
    developments: Iterable[DigestDevelopment],
    tz: ZoneInfo,
    *,
    now: datetime,
    tr: Translator = ENGLISH,
    limit: int = MESSAGE_LIMIT,
) -> list[str]:
    """``/story NAME``: the story's developments newest first (by ``last_seen``), each with its
    headline link, outlet, time and "+N more sources"; reports that updated a development are
    marked 🔄. A story with no developments yields one message saying so."""
    _check_limit(limit)
    devs = sorted(developments, key=lambda d: (d.last_seen, d.id), reverse=True)
    if not devs:
        body = _heading(name, False, tr) + _t("\n" + tr.t("No developments yet."))
        return [_to_html(_truncate(body, limit))]
    units: list[_Unit] = []
    for dev in devs:
        units += _development_units(dev, tz, now, tr, plain_marker="•")
    return _pack_sections([(name, units)], limit, tr)


def _snippet(snippet: str) -> _Tokens:
    """The snippet with U+E000…U+E001 highlights turned into <b>…</b>; stray markers dropped,
    an unclosed highlight closed at the end."""
    text = _WHITESPACE_RUN.sub(" ", snippet).strip()
    tokens: _Tokens = []
    bold = False
    for piece in re.split(f"([{HIGHLIGHT_START}{HIGHLIGHT_END}])", text):
        if piece == HIGHLIGHT_START:
            if not bold:
                tokens.append(_Open("b", "<b>"))
                bold = True
        elif piece == HIGHLIGHT_END:
            if bold:
                tokens.append(_Close("b"))
                bold = False
        else:
            tokens += _t(piece)
    if bold:
        tokens.append(_Close("b"))
    # drop empty <b></b> pairs left by adjacent markers
    cleaned: _Tokens = []
    for tok in tokens:
        if isinstance(tok, _Close) and cleaned and isinstance(cleaned[-1], _Open):
            cleaned.pop()
            continue
        cleaned.append(tok)
    return _truncate(cleaned, SNIPPET_CAP)


def render_search_results(
    query: str,
    hits: Sequence[SearchHit],
    tz: ZoneInfo,
    *,
    now: datetime,
    offset: int = 0,
    total: int | None = None,
    tr: Translator = ENGLISH,
    limit: int = MESSAGE_LIMIT,
) -> str:
    """One ``/search`` page as a single message: a header with the query and the range shown
    ("1–10 of 57"), then each hit: number, headline link, outlet and time, and the snippet
    with matched terms in bold. Each hit gets an equal share of ``limit`` and is cut to it, so
    the page always fits one message and keeps every hit (paging stays right)."""
    _check_limit(limit)
    q = _cap(_one_line(query), QUERY_CAP)
    if not hits:
        # The translated sentence around the query, which is shown as code.
        sentence = tr.t("No results for {query}. Try fewer or different keywords.")
        before, _, after = sentence.partition("{query}")
        body = _t("🔎 " + before) + _tag("code", _t(q)) + _t(after)
        return _to_html(_truncate(body, limit))
    header = _t("🔎 ") + _tag("code", _t(q))
    first, last = tr.number(offset + 1), tr.number(offset + len(hits))
    if total is not None:
        span = tr.t("{first}–{last} of {total}", first=first, last=last, total=tr.number(total))
    else:
        span = f"{first}–{last}"
    header += _t(" · " + span)
    header = _truncate(header, limit // 4)
    tokens = list(header)
    room = limit - _vlen(header)
    share = room // len(hits)
    for number, hit in enumerate(hits, start=offset + 1):
        block = _t(f"{number}. ") + _link(_title(hit.title, tr), hit.url)
        block += _t("\n") + _tag("i", _t(_outlet(hit.outlet, tr)))
        block += _t(f" · {_when(hit.published, tz, now, tr)}")
        snippet = _snippet(hit.snippet)
        if snippet:
            block += _t("\n") + snippet
        tokens += _truncate(_t("\n\n") + block, share)
    return _to_html(tokens)
