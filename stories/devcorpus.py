"""The development corpus: labelled polls of real-shaped outlets, and how the tracker scores on it.

The corpus (``tests/data/developments``) is written by us: per story, a JSON file of
reports, each labelled with its story, development (event), kind (``new`` / ``update``
/ ``rereport`` / ``noise``) and, for a re-report, the report it copies. Outlets are
fixed in ``outlets.json`` (language, RSS 2.0 or Atom, how many entries their feed
keeps). This module is pure:

- :func:`load_corpus` reads and checks it (a broken label names the file and item);
- :meth:`Corpus.snapshot` renders an outlet's feed as it stood at one poll: the newest
  ``window`` reports published (and visible) by then, as RSS 2.0 or Atom with the
  syndication elements the labels ask for (``<source>``, ``dc:source``, a canonical
  link, a byline), so consecutive polls overlap as real feeds do;
- :func:`score` compares what the tracker decided with the labels, per story.

``newsbot eval developments`` (``bot/eval_developments.py``) serves the snapshots over HTTP
and polls them through the real fetch path; see there.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from stories.errors import EXIT_USAGE, NewsbotError
from stories.model import Item

__all__ = [
    "Corpus",
    "CorpusError",
    "Outcome",
    "Report",
    "load_corpus",
    "report_items",
    "score",
    "simulate_items",
]

KINDS = ("new", "update", "rereport", "noise")


class CorpusError(NewsbotError, ValueError):
    """The corpus could not be read; the message names the file and the problem."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True, slots=True)
class Outlet:
    slug: str
    title: str
    host: str
    lang: str
    format: str
    window: int


@dataclass(frozen=True, slots=True)
class Report:
    """One labelled report as an outlet published it."""

    id: str
    outlet: str
    lang: str
    published: datetime
    visible: datetime
    """When it enters its outlet's feed (a late original: after its copies)."""
    title: str
    summary: str
    story: str | None
    development: str | None
    kind: str
    copies: str | None
    form: str
    adds: tuple[str, ...]
    author: str | None
    source_of: str | None
    dc_source_of: str | None
    canonical_of: str | None
    url: str


@dataclass(frozen=True, slots=True)
class StorySpec:
    name: str
    title: str
    query: str


@dataclass
class Corpus:
    """The whole corpus: outlets, stories, reports and the merged poll times."""

    outlets: dict[str, Outlet]
    stories: dict[str, StorySpec]
    reports: dict[str, Report]
    polls: list[datetime]

    def feed_path(self, outlet: str) -> str:
        return f"/{outlet}.{'atom' if self.outlets[outlet].format == 'atom' else 'xml'}"

    def snapshot(self, outlet: str, poll: int) -> bytes:
        """The outlet's feed document at poll number ``poll`` (0-based)."""
        at = self.polls[poll]
        out = self.outlets[outlet]
        shown = self.shown(outlet, poll)
        if out.format == "atom":
            return self._atom(out, shown, at)
        return self._rss(out, shown, at)

    def _origin(self, ref: str | None) -> Report | None:
        return self.reports.get(ref) if ref else None

    def _rss(self, out: Outlet, shown: list[Report], at: datetime) -> bytes:
        parts = [
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">'
            f"<channel><title>{escape(out.title)}</title><link>https://{out.host}/</link>"
            f"<language>{out.lang}</language><lastBuildDate>{format_datetime(at)}</lastBuildDate>"
        ]
        for r in shown:
            parts.append(
                f"<item><title>{escape(r.title)}</title><link>{escape(r.url)}</link>"
                f'<guid isPermaLink="true">{escape(r.url)}</guid>'
                f"<pubDate>{format_datetime(r.published)}</pubDate>"
                f"<description>{escape(r.summary)}</description>"
            )
            if r.author:
                parts.append(f"<dc:creator>{escape(r.author)}</dc:creator>")
            source = self._origin(r.source_of)
            if source is not None:
                name = escape(self.outlets[source.outlet].title)
                parts.append(f"<source url={quoteattr(source.url)}>{name}</source>")
            elif r.source_of:
                wire = r.source_of
                parts.append(
                    f"<source url={quoteattr(f'https://{wire.lower()}.example/')}>{escape(wire)}</source>"
                )
            dc = self._origin(r.dc_source_of)
            if dc is not None:
                parts.append(f"<dc:source>{escape(dc.url)}</dc:source>")
            canonical = self._origin(r.canonical_of)
            if canonical is not None:
                parts.append(f'<atom:link rel="canonical" href={quoteattr(canonical.url)}/>')
            parts.append("</item>")
        parts.append("</channel></rss>\n")
        return "".join(parts).encode()

    def _atom(self, out: Outlet, shown: list[Report], at: datetime) -> bytes:
        parts = [
            '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
            f'xml:lang="{out.lang}"><title>{escape(out.title)}</title><id>https://{out.host}/</id>'
            f'<link href="https://{out.host}/"/><updated>{at.isoformat()}</updated>'
        ]
        for r in shown:
            parts.append(
                f"<entry><title>{escape(r.title)}</title><id>{escape(r.url)}</id>"
                f"<link href={quoteattr(r.url)}/><published>{r.published.isoformat()}</published>"
                f"<updated>{r.published.isoformat()}</updated><summary>{escape(r.summary)}</summary>"
            )
            if r.author:
                parts.append(f"<author><name>{escape(r.author)}</name></author>")
            canonical = self._origin(r.canonical_of) or self._origin(r.dc_source_of)
            if canonical is not None:
                parts.append(f'<link rel="canonical" href={quoteattr(canonical.url)}/>')
            source = self._origin(r.source_of)
            if source is not None:
                src = self.outlets[source.outlet]
                parts.append(
                    f"<source><id>https://{src.host}/</id><title>{escape(src.title)}</title>"
                    f"<link href={quoteattr(source.url)}/></source>"
                )
            elif r.source_of:
                parts.append(f"<source><title>{escape(r.source_of)}</title></source>")
            parts.append("</entry>")
        parts.append("</feed>\n")
        return "".join(parts).encode()

    def shown(self, outlet: str, poll: int) -> list[Report]:
        """The reports an outlet's feed carries at poll ``poll``, newest first."""
        at = self.polls[poll]
        return sorted(
            (r for r in self.reports.values() if r.outlet == outlet and r.visible <= at),
            key=lambda r: (r.published, r.id),
            reverse=True,
        )[: self.outlets[outlet].window]


def report_items(corpus: Corpus) -> dict[int, Item]:
    """Each report as the feed layer would make it (key: its position in the corpus)."""
    out: dict[int, Item] = {}
    for n, r in enumerate(corpus.reports.values()):
        origin = corpus.reports.get(r.canonical_of or r.dc_source_of or r.source_of or "")
        source_name = None
        if r.source_of:
            source_name = corpus.outlets[origin.outlet].title if origin is not None else r.source_of
        out[n] = Item(
            guid=r.url,
            url=r.url,
            title=r.title,
            summary=r.summary,
            published=r.published,
            outlet=corpus.outlets[r.outlet].title,
            author=r.author,
            language=r.lang,
            source_name=source_name,
            source_url=origin.url if origin is not None else None,
        )
    return out


def simulate_items(corpus: Corpus) -> Iterator[list[tuple[int, Item]]]:
    """The new items of each poll, as the real poll path would store them (no HTTP)."""
    items = report_items(corpus)
    index = {rid: n for n, rid in enumerate(corpus.reports)}
    seen: set[int] = set()
    for poll in range(len(corpus.polls)):
        batch = []
        for outlet in sorted(corpus.outlets):
            for r in corpus.shown(outlet, poll):
                n = index[r.id]
                if n not in seen:
                    seen.add(n)
                    batch.append((n, items[n]))
        yield batch


def _time(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise CorpusError(f"{where}: expected an ISO time, got {value!r}")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CorpusError(f"{where}: not an ISO time: {value!r}") from None
    if when.tzinfo is None:
        raise CorpusError(f"{where}: time without a zone: {value!r}")
    return when.astimezone(UTC)


def load_corpus(directory: Path, *, stories: Iterable[str] | None = None) -> Corpus:
    """Read ``outlets.json`` and ``src/*.json`` under ``directory`` (optionally some stories only)."""
    try:
        outlets_raw = json.loads((directory / "outlets.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"{directory / 'outlets.json'}: {exc}") from None
    outlets = {
        slug: Outlet(slug, o["title"], o["host"], o["lang"], o["format"], int(o["window"]))
        for slug, o in outlets_raw.items()
    }
    wanted = set(stories) if stories is not None else None
    files = sorted((directory / "src").glob("*.json"))
    if not files:
        raise CorpusError(f"{directory / 'src'}: no story files (*.json)")
    specs: dict[str, StorySpec] = {}
    reports: dict[str, Report] = {}
    polls: set[datetime] = set()
    for path in files:
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CorpusError(f"{path}: {exc}") from None
        name = data["story"]
        if wanted is not None and name not in wanted:
            continue
        specs[name] = StorySpec(name, data.get("title") or name, data["query"])
        story_polls = [_time(p, f"{path.name}: polls") for p in data["polls"]]
        polls.update(story_polls)
        for raw in data["items"]:
            where = f"{path.name}: {raw.get('id')}"
            if raw["outlet"] not in outlets:
                raise CorpusError(f"{where}: unknown outlet {raw['outlet']!r}")
            if raw["kind"] not in KINDS:
                raise CorpusError(f"{where}: kind must be one of {', '.join(KINDS)}")
            published = _time(raw["published"], where)
            visible = published
            late = raw.get("appears_at_poll")
            if late is not None:
                visible = max(published, story_polls[int(late)])
            out = outlets[raw["outlet"]]
            reports[raw["id"]] = Report(
                id=raw["id"],
                outlet=raw["outlet"],
                lang=raw["lang"],
                published=published,
                visible=visible,
                title=raw["title"],
                summary=raw["summary"],
                story=raw.get("story"),
                development=raw.get("development"),
                kind=raw["kind"],
                copies=raw.get("copies"),
                form=raw.get("form", ""),
                adds=tuple(raw.get("adds") or ()),
                author=raw.get("author"),
                source_of=raw.get("source_of"),
                dc_source_of=raw.get("dc_source_of"),
                canonical_of=raw.get("canonical_of"),
                url=f"https://{out.host}/{published:%Y/%m/%d}/{raw['id']}",
            )
    for r in reports.values():
        for ref in (r.copies, r.dc_source_of, r.canonical_of):
            if ref is not None and ref not in reports:
                raise CorpusError(f"{r.id}: refers to unknown report {ref!r}")
        if r.kind == "rereport" and r.copies is None:
            raise CorpusError(f"{r.id}: a rereport must name the report it copies")
    return Corpus(outlets, specs, reports, sorted(polls))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the tracker decided about one labelled report (``None`` fields: never stored)."""

    report: str
    stored: bool
    kind: str | None
    development: int | None
    duplicate_of: str | None
    stories: frozenset[str]


def _bcubed(gold: Mapping[str, str], predicted: Mapping[str, object]) -> tuple[float, float, float]:
    by_gold: dict[str, set[str]] = defaultdict(set)
    by_pred: dict[object, set[str]] = defaultdict(set)
    for key, g in gold.items():
        by_gold[g].add(key)
        by_pred[predicted[key]].add(key)
    if not gold:
        return 0.0, 0.0, 0.0
    p = r = 0.0
    for key in gold:
        same_pred = by_pred[predicted[key]]
        same_gold = by_gold[gold[key]]
        both = len(same_pred & same_gold)
        p += both / len(same_pred)
        r += both / len(same_gold)
    p, r = p / len(gold), r / len(gold)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 3) if total else None


def score(corpus: Corpus, outcomes: Mapping[str, Outcome]) -> dict[str, Any]:
    """Per-story and overall scores of the tracker's decisions against the labels.

    - story membership: precision and recall of the reports the tracker put in a story
      (every report, noise included, can be put in one; a report never stored counts
      as missed);
    - developments: B-cubed F1 of the tracker's developments against the labelled ones,
      over the story's stored reports;
    - kinds: the share of re-reports folded (decided ``rereport`` in the development of
      the report they copy), of first reports decided ``new``, of updates decided
      ``update``, cross-language re-reports folded, and the confusion matrix.
    """
    result: dict[str, Any] = {"stories": {}}
    for name in sorted(corpus.stories):
        gold = [r for r in corpus.reports.values() if r.story == name]
        gold_ids = {r.id for r in gold}
        predicted = {rid for rid, o in outcomes.items() if name in o.stories}
        stored = [r for r in gold if outcomes[r.id].stored]
        tp = len(predicted & gold_ids)
        dev_gold = {r.id: r.development or "" for r in stored}
        dev_pred = {r.id: outcomes[r.id].development for r in stored}
        bp, br, bf = _bcubed(dev_gold, dev_pred)
        confusion: dict[str, Counter[str]] = {k: Counter() for k in ("new", "update", "rereport")}
        folded = rereports = cross = cross_folded = 0
        for r in stored:
            o = outcomes[r.id]
            confusion[r.kind][o.kind or "none"] += 1
            if r.kind == "rereport" and r.copies:
                rereports += 1
                original = outcomes.get(r.copies)
                ok = (
                    o.kind == "rereport"
                    and original is not None
                    and original.stored
                    and original.development == o.development
                )
                folded += ok
                if corpus.reports[r.copies].lang != r.lang:
                    cross += 1
                    cross_folded += ok
        n_new = sum(confusion["new"].values())
        n_update = sum(confusion["update"].values())
        result["stories"][name] = {
            "title": corpus.stories[name].title,
            "reports": len(gold),
            "stored": len(stored),
            "developments": len({r.development for r in gold}),
            "story_precision": _share(tp, len(predicted)),
            "story_recall": _share(tp, len(gold_ids)),
            "bcubed_precision": round(bp, 3),
            "bcubed_recall": round(br, 3),
            "bcubed_f1": round(bf, 3),
            "rereports_folded": _share(folded, rereports),
            "cross_language_folded": _share(cross_folded, cross),
            "first_reports_new": _share(confusion["new"]["new"], n_new),
            "updates_marked_update": _share(confusion["update"]["update"], n_update),
            "confusion": {k: dict(sorted(v.items())) for k, v in confusion.items()},
            "counts": {"rereports": rereports, "cross_language": cross, "new": n_new, "updates": n_update},
        }
    per = result["stories"].values()

    def total(key: str) -> int:
        return sum(s["counts"][key] for s in per)

    def weighted(metric: str, weight: str) -> float | None:
        pairs = [(s[metric], s["counts"][weight]) for s in per if s[metric] is not None]
        n = sum(w for _, w in pairs)
        return round(sum(m * w for m, w in pairs) / n, 3) if n else None

    result["overall"] = {
        "reports": sum(s["reports"] for s in per),
        "developments": sum(s["developments"] for s in per),
        "rereports_folded": weighted("rereports_folded", "rereports"),
        "cross_language_folded": weighted("cross_language_folded", "cross_language"),
        "first_reports_new": weighted("first_reports_new", "new"),
        "updates_marked_update": weighted("updates_marked_update", "updates"),
        "bcubed_f1_mean": round(sum(s["bcubed_f1"] for s in per) / max(1, len(result["stories"])), 3),
        "counts": {k: total(k) for k in ("rereports", "cross_language", "new", "updates")},
    }
    return result
