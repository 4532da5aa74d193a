"""A strict checker for Telegram's HTML parse mode.

Telegram's own parser (tdlib, ``parse_html``) is lenient in places: it lets a raw ``&`` through
when it does not start a known entity, accepts unquoted attributes and ignores unknown ones.
This checker is deliberately *stricter* than Telegram, so that anything it accepts Telegram
accepts too:

- only the tags of https://core.telegram.org/bots/api#html-style, lower case:
  ``b strong i em u ins s strike del span(class="tg-spoiler") tg-spoiler a(href) code
  pre blockquote(expandable) tg-emoji(emoji-id)``, and ``code class="language-x"`` only as
  the direct child of ``pre``;
- every tag closed, in order; no tags inside ``code``/``pre`` except ``pre > code``; no ``a``
  inside ``a``; no ``blockquote`` inside ``blockquote``;
- attribute values in double quotes; unknown attributes rejected;
- only the entities ``&lt; &gt; &amp; &quot;`` and numeric ones (``&#NN;``, ``&#xHH;``) that
  name a valid, non-surrogate code point other than NUL;
- no raw ``<``, ``>`` or ``&`` outside tags and entities;
- ``a href`` only with an ``http``, ``https`` or ``tg`` scheme (and a host for http/https).

``check_html(text)`` returns the visible text (what the user sees: tags removed, entities
decoded) or raises ``TelegramHTMLError`` whose message reads like Telegram's "can't parse
entities" reason, with UTF-8 byte offsets as Telegram reports them.

``visible_length(text)`` counts UTF-16 code units, which is how Telegram measures its
4,096-character message limit (an emoji outside the BMP counts 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "MESSAGE_LIMIT",
    "TelegramHTMLError",
    "check_html",
    "is_valid_html",
    "visible_length",
]

MESSAGE_LIMIT = 4096

_SIMPLE_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "tg-spoiler", "code", "pre"}
)
_ALL_TAGS = _SIMPLE_TAGS | {"span", "a", "blockquote", "tg-emoji"}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ATTR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_LANGUAGE_CLASS = re.compile(r"language-[A-Za-z0-9_+#.-]+")


class TelegramHTMLError(ValueError):
    """The text is not valid Telegram HTML; ``str()`` is the reason."""


@dataclass
class _Open:
    name: str
    offset: int  # UTF-8 byte offset of the '<'


def visible_length(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (Telegram's unit for message limits)."""
    return len(text.encode("utf-16-le")) // 2


def is_valid_html(text: str) -> bool:
    """True when ``check_html`` accepts ``text``."""
    try:
        check_html(text)
    except TelegramHTMLError:
        return False
    return True


def check_html(text: str) -> str:
    """Validate ``text`` against Telegram's HTML parse mode; return the visible text.

    Raises ``TelegramHTMLError`` with the reason (and UTF-8 byte offset) on the first problem.
    """
    parser = _Parser(text)
    return parser.run()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.out: list[str] = []
        self.stack: list[_Open] = []
        # UTF-8 byte offset of every character index, computed lazily for error messages only.
        self._offsets: list[int] | None = None

    def byte_offset(self, index: int) -> int:
        if self._offsets is None:
            offsets = [0]
            for ch in self.text:
                offsets.append(offsets[-1] + len(ch.encode("utf-8", "surrogatepass")))
            self._offsets = offsets
        return self._offsets[min(index, len(self._offsets) - 1)]

    def fail(self, reason: str) -> TelegramHTMLError:
        return TelegramHTMLError(reason)

    def run(self) -> str:
        text = self.text
        n = len(text)
        while self.pos < n:
            ch = text[self.pos]
            if ch == "<":
                if self.pos + 1 < n and text[self.pos + 1] == "/":
                    self.end_tag()
                else:
                    self.start_tag()
            elif ch == "&":
                self.out.append(self.entity())
            elif ch == ">":
                raise self.fail(
                    f"Character '>' must be escaped as &gt; at byte offset {self.byte_offset(self.pos)}"
                )
            else:
                if 0xD800 <= ord(ch) <= 0xDFFF:
                    raise self.fail(
                        f"Text contains a lone surrogate at byte offset {self.byte_offset(self.pos)}"
                    )
                self.out.append(ch)
                self.pos += 1
        if self.stack:
            raise self.fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        return "".join(self.out)

    # -- entities -------------------------------------------------------------------------

    def entity(self) -> str:
        """Decode the entity at ``self.pos`` (which is '&') and advance past it."""
        start = self.pos
        end = self.text.find(";", start + 1, start + 12)
        if end == -1:
            raise self.fail(
                f"Character '&' must be escaped as &amp; at byte offset {self.byte_offset(start)}"
            )
        body = self.text[start + 1 : end]
        self.pos = end + 1
        if body in _NAMED_ENTITIES:
            return _NAMED_ENTITIES[body]
        code: int | None = None
        if re.fullmatch(r"#[0-9]{1,7}", body):
            code = int(body[1:])
        elif re.fullmatch(r"#[xX][0-9A-Fa-f]{1,6}", body):
            code = int(body[2:], 16)
        if code is None:
            raise self.fail(f'Unsupported HTML entity "&{body};" at byte offset {self.byte_offset(start)}')
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise self.fail(f"Invalid numeric entity &{body}; at byte offset {self.byte_offset(start)}")
        return chr(code)

    def attribute_value(self, raw: str, at: int) -> str:
        """Decode entities in an attribute value (same strictness as text)."""
        sub = _Parser(raw)
        try:
            while sub.pos < len(raw):
                ch = raw[sub.pos]
                if ch == "&":
                    sub.out.append(sub.entity())
                elif ch in "<>":
                    raise sub.fail(f"Character '{ch}' must be escaped in attribute value")
                else:
                    sub.out.append(ch)
                    sub.pos += 1
        except TelegramHTMLError as exc:
            raise self.fail(f"{exc} (in the tag at byte offset {self.byte_offset(at)})") from None
        return "".join(sub.out)

    # -- tags -----------------------------------------------------------------------------

    def start_tag(self) -> None:
        text = self.text
        start = self.pos
        m = _TAG_NAME.match(text, start + 1)
        if m is None:
            raise self.fail(f"Character '<' must be escaped as &lt; at byte offset {self.byte_offset(start)}")
        name = m.group(0)
        if name not in _ALL_TAGS:
            raise self.fail(f'Unsupported start tag "{name}" at byte offset {self.byte_offset(start)}')
        pos = m.end()
        attrs: dict[str, str | None] = {}
        while True:
            ws = pos
            while pos < len(text) and text[pos] in " \t\n\r":
                pos += 1
            if pos >= len(text):
                raise self.fail(f"Unclosed start tag at byte offset {self.byte_offset(start)}")
            if text[pos] == ">":
                pos += 1
                break
            if pos == ws:
                raise self.fail(
                    f'Expected whitespace or ">" in the tag "{name}" at byte offset {self.byte_offset(start)}'
                )
            am = _ATTR_NAME.match(text, pos)
            if am is None:
                raise self.fail(
                    f'Malformed attribute in the tag "{name}" at byte offset {self.byte_offset(start)}'
                )
            attr = am.group(0)
            pos = am.end()
            if attr in attrs:
                raise self.fail(f'Duplicate attribute "{attr}" in the tag "{name}"')
            if pos < len(text) and text[pos] == "=":
                if pos + 1 >= len(text) or text[pos + 1] != '"':
                    raise self.fail(
                        f'Attribute "{attr}" of the tag "{name}" must be in double quotes '
                        f"(byte offset {self.byte_offset(start)})"
                    )
                close = text.find('"', pos + 2)
                if close == -1:
                    raise self.fail(
                        f"Unclosed attribute value in the tag at byte offset {self.byte_offset(start)}"
                    )
                attrs[attr] = self.attribute_value(text[pos + 2 : close], start)
                pos = close + 1
            else:
                attrs[attr] = None
        self.check_start(name, attrs, start)
        self.stack.append(_Open(name, start))
        self.pos = pos

    def check_start(self, name: str, attrs: dict[str, str | None], start: int) -> None:
        where = f"at byte offset {self.byte_offset(start)}"
        parent = self.stack[-1].name if self.stack else None
        names = [o.name for o in self.stack]
        if parent == "pre" and name != "code":
            raise self.fail(f'Tag "{name}" is not allowed inside "pre" {where}')
        if "code" in names:
            raise self.fail(f'Tag "{name}" is not allowed inside "code" {where}')
        if "pre" in names and name == "code" and parent != "pre":
            raise self.fail(f'Tag "code" is not allowed here {where}')
        if name == "pre" and "pre" in names:
            raise self.fail(f'Tag "pre" can\'t be nested {where}')
        if name == "a" and "a" in names:
            raise self.fail(f'Tag "a" can\'t be nested {where}')
        if name == "blockquote" and "blockquote" in names:
            raise self.fail(f'Tag "blockquote" can\'t be nested {where}')

        allowed: set[str]
        if name == "a":
            allowed = {"href"}
            href = attrs.get("href")
            if href is None:
                raise self.fail(f'Tag "a" must have an href attribute {where}')
            _check_href(href, self, where)
        elif name == "span":
            allowed = {"class"}
            if attrs.get("class") != "tg-spoiler":
                raise self.fail(f'Tag "span" must have class "tg-spoiler" {where}')
        elif name == "code":
            allowed = {"class"}
            cls = attrs.get("class")
            if cls is not None and (parent != "pre" or not _LANGUAGE_CLASS.fullmatch(cls)):
                raise self.fail(f'Attribute class of "code" is only "language-NAME" inside "pre" {where}')
        elif name == "blockquote":
            allowed = {"expandable"}
            if "expandable" in attrs and attrs["expandable"] is not None:
                raise self.fail(f'Attribute "expandable" takes no value {where}')
        elif name == "tg-emoji":
            allowed = {"emoji-id"}
            eid = attrs.get("emoji-id")
            if eid is None or not eid.isdigit():
                raise self.fail(f'Tag "tg-emoji" must have a numeric emoji-id {where}')
        else:
            allowed = set()
        unknown = sorted(set(attrs) - allowed)
        if unknown:
            raise self.fail(f'Unsupported attribute "{unknown[0]}" in the tag "{name}" {where}')

    def end_tag(self) -> None:
        text = self.text
        start = self.pos
        m = _TAG_NAME.match(text, start + 2)
        if m is None or m.end() >= len(text) or text[m.end()] != ">":
            raise self.fail(f"Malformed end tag at byte offset {self.byte_offset(start)}")
        name = m.group(0)
        if not self.stack:
            raise self.fail(f"Unexpected end tag at byte offset {self.byte_offset(start)}")
        expected = self.stack[-1].name
        if name != expected:
            raise self.fail(
                f"Unmatched end tag at byte offset {self.byte_offset(start)}, "
                f'expected "</{expected}>", found "</{name}>"'
            )
        self.stack.pop()
        self.pos = m.end() + 1


def _check_href(href: str, parser: _Parser, where: str) -> None:
    if any(ord(c) < 0x20 or c in " \x7f" for c in href):
        raise parser.fail(f"URL contains whitespace or control characters {where}")
    try:
        parts = urlsplit(href)
    except ValueError as exc:
        raise parser.fail(f"Invalid URL {href!r} ({exc}) {where}") from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise parser.fail(f"URL {href!r} has no host {where}")
    elif scheme != "tg":
        raise parser.fail(f"Unsupported URL scheme {scheme or '(none)'!r} {where}")
