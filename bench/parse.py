"""Parse paths compared: speed on the poll benchmark's feed, agreement with feedparser.

    python bench/parse.py [--corpus PATH/TO/feedparser/tests] [--feeds 200] [--repeats 5]

Candidates, each giving feedparser-shaped entries to the same normaliser
(``feeds.parse._build``), so the items are comparable field by field:

* ``feedparser``: ``parse_feed(engine="feedparser")``, the fallback;
* ``stdlib``: ``parse_feed()`` as shipped (the fast path in :mod:`feeds.fastpath`,
  feedparser where it refuses);
* ``lxml``: the same fast path with lxml.etree in place of xml.etree (comments and
  processing instructions removed, entities never resolved), if lxml is installed;
* ``fastfeedparser``: the compiled parser from PyPI, its entries mapped to feedparser's
  keys (``description`` -> ``summary``, ISO ``published`` -> ``published_parsed``), if
  installed; documents it rejects go to feedparser, as with the fast path.

Speed: CPU milliseconds per document on ``--feeds`` distinct bodies of bench/poll.py's
feed (50 items, 41 kB), parse and normalise, interleaved round by round (``--repeats``),
medians with min and max. Agreement: on tests/data/feeds, examples/feeds and, with
``--corpus``, feedparser's own test corpus (every non-Python file, with its ``Header:``
lines as HTTP headers), each candidate's items against feedparser's: documents where a
candidate's own reader was used, how many of them gave different items or a different
feed title, and entries lost. A candidate can replace the shipped path only with zero
differences and zero losses; speed is only read after that.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.poll import feed_body  # noqa: E402
from feeds import fastpath  # noqa: E402
from feeds.parse import FeedParseError, ParsedFeed, _build, parse_feed  # noqa: E402

FETCHED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
HEADER = re.compile(rb"^Header:\s+([^:]+):(.*)$", re.MULTILINE)

Candidate = Callable[[bytes, str, dict[str, str]], tuple[ParsedFeed, bool]]
"""(body, url, headers) -> (parsed feed, whether the candidate's own reader was used)."""


def via_feedparser(body: bytes, url: str, headers: dict[str, str]) -> tuple[ParsedFeed, bool]:
    return parse_feed(body, url=url, fetched_at=FETCHED, headers=headers, engine="feedparser"), True


def via_stdlib(body: bytes, url: str, headers: dict[str, str]) -> tuple[ParsedFeed, bool]:
    try:
        fastpath.parse_fast(body, headers.get("content-type", ""))
        own = True
    except fastpath.Unsupported:
        own = False
    return parse_feed(body, url=url, fetched_at=FETCHED, headers=headers), own


def lxml_candidate() -> Candidate | None:
    try:
        from lxml import etree
    except ImportError:
        return None
    parser = etree.XMLParser(
        remove_comments=True, remove_pis=True, resolve_entities=False, no_network=True, huge_tree=False
    )

    class LxmlET:
        """The part of xml.etree's API that feeds.fastpath uses, on lxml."""

        ParseError = etree.XMLSyntaxError
        Element = etree._Element

        @staticmethod
        def fromstring(data: bytes) -> Any:
            return etree.fromstring(data, parser)

    def run(body: bytes, url: str, headers: dict[str, str]) -> tuple[ParsedFeed, bool]:
        saved = fastpath.ET
        fastpath.ET = LxmlET  # type: ignore[assignment]
        try:
            return via_stdlib(body, url, headers)
        finally:
            fastpath.ET = saved

    return run


def fastfeedparser_candidate() -> Candidate | None:
    try:
        import fastfeedparser  # type: ignore[import-untyped]
    except ImportError:
        return None

    def entry_of(raw: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        for key in ("id", "link", "title", "author", "links", "content", "language"):
            if raw.get(key):
                entry[key] = raw[key]
        summary = raw.get("summary") or raw.get("description")
        if summary:
            entry["summary"] = summary
        for key in ("published", "updated"):
            value = raw.get(key)
            if isinstance(value, str) and value:
                try:
                    when = datetime.fromisoformat(value)
                except ValueError:
                    continue
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                entry[f"{key}_parsed"] = when.astimezone(UTC).timetuple()
        return entry

    def run(body: bytes, url: str, headers: dict[str, str]) -> tuple[ParsedFeed, bool]:
        try:
            result = fastfeedparser.parse(body)
        except Exception:
            return parse_feed(body, url=url, fetched_at=FETCHED, headers=headers), False
        feed = dict(result.get("feed") or {})
        entries = [entry_of(dict(e)) for e in result.get("entries") or []]
        parsed = _build(feed, entries, url=url, fetched_at=FETCHED, version="fastfeedparser", warnings=[])
        return parsed, True

    return run


def documents(corpus: Path | None) -> list[tuple[str, bytes, dict[str, str]]]:
    out: list[tuple[str, bytes, dict[str, str]]] = []
    for folder in (ROOT / "tests" / "data" / "feeds", ROOT / "examples" / "feeds"):
        for path in sorted(folder.iterdir()):
            if path.suffix in (".xml", ".atom", ".rss"):
                out.append((f"{folder.name}/{path.name}", path.read_bytes(), {}))
    if corpus is not None:
        for path in sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")):
            body = path.read_bytes()
            headers = {
                k.decode("latin-1").strip().lower(): v.decode("latin-1").strip()
                for k, v in HEADER.findall(body)
            }
            out.append((f"corpus/{path.relative_to(corpus)}", body, headers))
    return out


def agreement(name: str, run: Candidate, docs: list[tuple[str, bytes, dict[str, str]]]) -> dict[str, Any]:
    counts = {"documents": len(docs), "own_reader": 0, "differences": 0, "entries_lost": 0, "exceptions": 0}
    examples: list[str] = []
    for label, body, headers in docs:
        url = "http://corpus.example/" + label
        try:
            reference, _ = via_feedparser(body, url, headers)
        except FeedParseError:
            continue
        except Exception:
            continue
        try:
            parsed, own = run(body, url, headers)
        except FeedParseError:
            counts["entries_lost"] += len(reference.items)
            examples.append(f"{label}: parse error")
            continue
        except Exception as exc:
            counts["exceptions"] += 1
            examples.append(f"{label}: {type(exc).__name__}: {exc}"[:200])
            continue
        if not own:
            continue
        counts["own_reader"] += 1
        if len(parsed.items) < len(reference.items):
            counts["entries_lost"] += len(reference.items) - len(parsed.items)
        if parsed.items != reference.items or parsed.title != reference.title:
            counts["differences"] += 1
            if len(examples) < 5:
                fields = sorted(
                    {
                        f
                        for a, b in zip(parsed.items, reference.items, strict=False)
                        for f in a.__dataclass_fields__
                        if getattr(a, f) != getattr(b, f)
                    }
                )
                examples.append(
                    f"{label}: items {len(parsed.items)} vs {len(reference.items)}, fields {fields}"
                )
    return {**counts, "examples": examples}


def speed(candidates: dict[str, Candidate], feeds: int, repeats: int) -> dict[str, Any]:
    bodies = [feed_body(n, 1) for n in range(feeds)]
    headers = {"content-type": "application/rss+xml"}
    times: dict[str, list[float]] = {name: [] for name in candidates}
    items: dict[str, int] = {}
    for round_ in range(repeats):
        names = list(candidates)
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            run = candidates[name]
            count = bodies if name != "feedparser" else bodies[: max(1, feeds // 10)]
            began = time.process_time()
            total = 0
            for n, body in enumerate(count):
                parsed, _ = run(body, f"http://127.0.0.1/feed/{n}", headers)
                total += len(parsed.items)
            times[name].append((time.process_time() - began) / len(count) * 1000)
            items[name] = total // len(count)
    return {
        name: {
            "ms_per_feed": {
                "median": round(statistics.median(v), 3),
                "min": round(min(v), 3),
                "max": round(max(v), 3),
            },
            "items_per_feed": items[name],
        }
        for name, v in times.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, help="feedparser's tests/ folder")
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    candidates: dict[str, Candidate] = {"feedparser": via_feedparser, "stdlib": via_stdlib}
    for name, make in (("lxml", lxml_candidate), ("fastfeedparser", fastfeedparser_candidate)):
        found = make()
        if found is not None:
            candidates[name] = found
    docs = documents(args.corpus)
    report: dict[str, Any] = {
        "speed_bench_feed": speed(candidates, args.feeds, args.repeats),
        "agreement_with_feedparser": {
            name: agreement(name, run, docs) for name, run in candidates.items() if name != "feedparser"
        },
    }
    stdlib = report["speed_bench_feed"]["stdlib"]["ms_per_feed"]["median"]
    report["speedup_vs_stdlib_of_medians"] = {
        name: round(stdlib / entry["ms_per_feed"]["median"], 2)
        for name, entry in report["speed_bench_feed"].items()
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
