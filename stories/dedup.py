"""Near-duplicate detection: recognise copies of a recent item, exact or near.

An item copies an earlier one when it has the same canonical URL, the same text once
normalised (case, accents, punctuation and spacing folded), or nearly the same text:
a syndicated reprint, a light rewrite, a changed title, an "Originally published by"
line added. A copy is folded into the first report as an extra source.

Near copies are found with MinHash over word bigrams ("shingles") and locality-
sensitive hashing, so a check costs about the same however many items are indexed:

- *One-permutation MinHash* (Li, Owen & Zhang 2012): each shingle is hashed once
  (CRC-32, stable across processes, mixed by a multiplicative constant); the top bits
  pick one of ``bins`` bins, the rest is the value, and each bin keeps its minimum.
  Empty bins borrow from the next filled bin, offset by the distance ("rotation"
  densification, Shrivastava & Li 2014), so short texts get full signatures too.
  The share of equal bins estimates the Jaccard similarity of the shingle sets.
- *LSH*: the first ``bands * rows`` bins, cut in bands of ``rows``, are the index
  keys. Two texts with Jaccard 0.5 share a band with probability 1 - (1 - 0.5^2)^8,
  about 0.9 (0.97 at 0.6); unrelated texts almost never do. Candidates are then
  checked on the whole signature.
- A near copy must not bring numbers the original lacked ("up 3%" versus "up 5%"
  is news, not a copy).

State is bounded: items older than ``window_hours`` (by the newest publish time
seen) or beyond ``max_items`` leave the index, oldest first. Everything is
deterministic and round-trips through :meth:`DuplicateIndex.to_dict`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from array import array
from collections import deque
from dataclasses import asdict, dataclass
from itertools import pairwise
from operator import eq
from typing import Any

from stories.model import Item

__all__ = ["DedupConfig", "Duplicate", "DuplicateIndex", "Sketch", "sketch"]

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MASK32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B1  # Knuth's multiplicative hash constant: spreads CRC bits to the top.


@dataclass(frozen=True, slots=True)
class DedupConfig:
    """How alike two items must be to count as copies, and how much is remembered."""

    threshold: float = 0.5
    """Estimated Jaccard similarity of word-bigram sets at which an item is a copy."""
    bins: int = 32
    """MinHash signature length (a power of two, at most 256)."""
    bands: int = 8
    rows: int = 2
    min_shingles: int = 8
    """Texts with fewer word bigrams (a bare short title) are only matched exactly: one
    changed word in six is a different headline as often as a copy."""
    max_band_candidates: int = 32
    """Most recent items checked per LSH band (bounds the cost of a crowded band)."""
    window_hours: float = 72.0
    """Items older than this (against the newest publish time seen) are forgotten."""
    max_items: int = 300_000
    """Hard cap on remembered items, so memory stays bounded under any feed rate."""

    def __post_init__(self) -> None:
        if self.bins & (self.bins - 1) or not 1 <= self.bins <= 256:
            raise ValueError("DedupConfig.bins must be a power of two up to 256")
        if self.bands * self.rows > self.bins:
            raise ValueError("DedupConfig.bands * rows must not exceed bins")


@dataclass(frozen=True, slots=True)
class Sketch:
    """What the index needs of an item: computed once, used to look up and to add."""

    url: str | None
    text_hash: int
    signature: tuple[int, ...]
    numbers: frozenset[str]
    published: float
    shingles: int


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The earlier item a new one copies: its key, its payload, and how it matched."""

    key: int
    tag: int
    reason: str  # "url", "text" or "near"
    similarity: float


def _fold(text: str) -> str:
    text = text.lower()
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _canonical_url(url: str | None) -> str | None:
    if not url:
        return None
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    # Scheme and host are case-insensitive; http and https serve the same article.
    scheme = scheme.lower()
    if scheme in ("http", "https"):
        scheme = "http"
    host = host.lower().removeprefix("www.")
    return f"{scheme}://{host}{slash}{path}".rstrip("/")


def sketch(item: Item, config: DedupConfig | None = None) -> Sketch:
    """The item's URL, text hash, MinHash signature and numbers."""
    bins = (config or DedupConfig()).bins
    words = _WORD.findall(_fold(item.text))
    text = " ".join(words)
    text_hash = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    shift = 32 - (bins.bit_length() - 1)
    value_mask = (1 << shift) - 1
    mins = [-1] * bins
    # Word bigrams; a one-word text is its own shingle.
    shingles = [f"{a} {b}" for a, b in pairwise(words)] or words
    for s in shingles:
        h = (zlib.crc32(s.encode()) * _GOLDEN) & _MASK32
        b = h >> shift
        v = h & value_mask
        m = mins[b]
        if m < 0 or v < m:
            mins[b] = v
    signature = _densify(mins, value_mask + 1)
    numbers = frozenset(_NUMBER.findall(item.text))
    return Sketch(
        _canonical_url(item.url),
        text_hash,
        signature,
        numbers,
        item.published.timestamp(),
        len(set(shingles)),
    )


def _densify(mins: list[int], span: int) -> tuple[int, ...]:
    """Fill empty bins from the next filled bin to the right, offset by the distance."""
    n = len(mins)
    if all(m >= 0 for m in mins):
        return tuple(mins)
    if all(m < 0 for m in mins):
        return tuple([0] * n)
    out = list(mins)
    for i in range(n):
        if out[i] >= 0 and mins[i] >= 0:
            continue
        j, d = (i + 1) % n, 1
        while mins[j] < 0:
            j, d = (j + 1) % n, d + 1
        out[i] = (mins[j] + d * span) & _MASK32
    return tuple(out)


@dataclass(slots=True)
class _Entry:
    key: int
    tag: int
    root: int
    url: str | None
    text_hash: int
    signature: bytes
    numbers: tuple[str, ...]
    published: float
    shingles: int


class DuplicateIndex:
    """Recent items, indexed to find copies of a new one quickly."""

    def __init__(self, config: DedupConfig | None = None) -> None:
        self.config = config or DedupConfig()
        self._entries: dict[int, _Entry] = {}
        self._order: deque[int] = deque()
        self._by_url: dict[str, int] = {}
        self._by_text: dict[int, int] = {}
        # Band key -> keys of the items in it, oldest first. Tuples, not lists: a band
        # holds one or two keys (140,000 bands at 20,000 items), and a tuple of ints
        # leaves the cyclic garbage collector's care, which walks every list each time.
        self._bands: dict[int, tuple[int, ...]] = {}
        self._now = float("-inf")

    def __len__(self) -> int:
        return len(self._entries)

    def sketch(self, item: Item) -> Sketch:
        """The sketch of an item under this index's configuration."""
        return sketch(item, self.config)

    def find(self, sk: Sketch) -> Duplicate | None:
        """The first report ``sk`` copies, if a remembered item matches it."""
        if sk.url is not None:
            key = self._by_url.get(sk.url)
            if key is not None:
                return self._root(key, "url", 1.0)
        key = self._by_text.get(sk.text_hash)
        if key is not None:
            return self._root(key, "text", 1.0)
        if sk.shingles < self.config.min_shingles:
            return None
        best: tuple[float, int] | None = None
        seen: set[int] = set()
        sig = sk.signature
        limit = self.config.max_band_candidates
        for band in self._band_keys(sig):
            # Newest first, and only so many: copies follow their original closely,
            # and a band crowded by a stock phrase must not make every check slow.
            for key in reversed(self._bands.get(band, ())[-limit:]):
                if key in seen:
                    continue
                seen.add(key)
                entry = self._entries[key]
                if entry.shingles < self.config.min_shingles:
                    continue
                if not sk.numbers <= set(entry.numbers):
                    continue
                other = array("I")
                other.frombytes(entry.signature)
                sim = sum(map(eq, sig, other)) / len(sig)  # equal bins (True counts 1)
                if sim >= self.config.threshold and (best is None or sim > best[0]):
                    best = (sim, key)
        if best is None:
            return None
        return self._root(best[1], "near", best[0])

    def advance(self, published: float) -> None:
        """Move the index's clock to an item's time and forget what is now too old, so a
        report from weeks ago is never anyone's original."""
        if published > self._now:
            self._now = published
            self._evict()

    def find_url(self, url: str | None) -> Duplicate | None:
        """The first report at ``url`` (a copy's canonical link or ``dc:source``), if remembered."""
        canonical = _canonical_url(url)
        key = self._by_url.get(canonical) if canonical else None
        return self._root(key, "url", 1.0) if key is not None else None

    def reroot(self, key: int, root: int, tag: int) -> None:
        """Make a remembered item a copy of ``root`` (its original arrived after it)."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.root = root
            entry.tag = tag

    def add(self, key: int, sk: Sketch, tag: int, duplicate_of: int | None = None) -> None:
        """Remember an item; ``duplicate_of`` is the first report it copies, if any."""
        if key in self._entries:
            self._remove(key)
        if sk.published > self._now:
            self._now = sk.published
        root = duplicate_of if duplicate_of is not None else key
        entry = _Entry(
            key=key,
            tag=tag,
            root=root,
            url=sk.url,
            text_hash=sk.text_hash,
            signature=array("I", sk.signature).tobytes(),
            numbers=tuple(sorted(sk.numbers)),
            published=sk.published,
            shingles=sk.shingles,
        )
        self._insert(entry)
        self._evict()

    # -- persistence ----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The remembered items as JSON-able values, oldest first."""
        return {
            "version": 1,
            "config": asdict(self.config),
            "now": self._now if self._now != float("-inf") else None,
            "entries": [
                [
                    e.key,
                    e.tag,
                    e.root,
                    e.url,
                    e.text_hash,
                    e.signature.hex(),
                    list(e.numbers),
                    e.published,
                    e.shingles,
                ]
                for e in (self._entries[k] for k in self._order)
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DuplicateIndex:
        """Rebuild an index from :meth:`to_dict` output."""
        if data.get("version") != 1:
            raise ValueError(f"unsupported dedup state version {data.get('version')!r}")
        self = cls(DedupConfig(**data["config"]))
        self._now = float("-inf") if data["now"] is None else float(data["now"])
        for key, tag, root, url, text_hash, sig_hex, numbers, published, shingles in data["entries"]:
            self._insert(
                _Entry(
                    int(key),
                    int(tag),
                    int(root),
                    url,
                    int(text_hash),
                    bytes.fromhex(sig_hex),
                    tuple(numbers),
                    float(published),
                    int(shingles),
                )
            )
        return self

    # -- internals ------------------------------------------------------------

    def _root(self, key: int, reason: str, sim: float) -> Duplicate:
        entry = self._entries[key]
        root = self._entries.get(entry.root, entry)
        return Duplicate(entry.root, root.tag if root is not entry else entry.tag, reason, sim)

    def _band_keys(self, sig: tuple[int, ...] | array[int]) -> list[int]:
        rows = self.config.rows
        keys = []
        for b in range(self.config.bands):
            h = b
            for v in sig[b * rows : (b + 1) * rows]:
                h = (h * 1_000_003 ^ v) & 0xFFFFFFFFFFFF
            keys.append(h)
        return keys

    def _insert(self, entry: _Entry) -> None:
        key = entry.key
        self._entries[key] = entry
        self._order.append(key)
        if entry.url is not None:
            self._by_url.setdefault(entry.url, key)
        self._by_text.setdefault(entry.text_hash, key)
        sig = array("I")
        sig.frombytes(entry.signature)
        for band in self._band_keys(sig):
            keys = self._bands.get(band)
            self._bands[band] = (key,) if keys is None else (*keys, key)

    def _remove(self, key: int) -> None:
        entry = self._entries.pop(key)
        self._order.remove(key)
        self._unindex(entry)

    def _unindex(self, entry: _Entry) -> None:
        key = entry.key
        if entry.url is not None and self._by_url.get(entry.url) == key:
            del self._by_url[entry.url]
        if self._by_text.get(entry.text_hash) == key:
            del self._by_text[entry.text_hash]
        sig = array("I")
        sig.frombytes(entry.signature)
        for band in self._band_keys(sig):
            keys = self._bands.get(band)
            if keys is not None:
                # Items leave oldest first, so the key is nearly always in front.
                if keys[0] == key:
                    keys = keys[1:]
                elif key in keys:
                    keys = tuple(k for k in keys if k != key)
                if keys:
                    self._bands[band] = keys
                else:
                    del self._bands[band]

    def _evict(self) -> None:
        horizon = self._now - self.config.window_hours * 3600.0
        order, entries = self._order, self._entries
        while order and (len(order) > self.config.max_items or entries[order[0]].published < horizon):
            entry = entries.pop(order.popleft())
            self._unindex(entry)
