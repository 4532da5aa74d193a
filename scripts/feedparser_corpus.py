"""Run feedparser's own test corpus through newsbot's parse + normalise.

Usage: python scripts/feedparser_corpus.py PATH/TO/feedparser/tests [--show N]

The corpus is not part of this repository (it is feedparser's); fetch it from the
feedparser repository and point this script at its ``tests/`` folder. Every file
that is not Python is treated as a feed; ``Header: Name: value`` lines in its
leading comment become HTTP response headers (that is how the corpus encodes the
Content-Type its encoding tests rely on).

Prints one JSON object: how many documents were tried, how many parsed, how many
had entries, items produced, and every document that raised anything other than
:class:`FeedParseError` or lost entries (both must be zero). Exit status 1 if any.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

import feedparser

from feeds.fastpath import Unsupported, parse_fast
from feeds.parse import FeedParseError, parse_feed

HEADER = re.compile(rb"^Header:\s+([^:]+):(.*)$", re.MULTILINE)
FETCHED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def headers_of(body: bytes) -> dict[str, str]:
    """HTTP headers declared in the corpus file's leading comment."""
    return {k.decode("latin-1").strip().lower(): v.decode("latin-1").strip() for k, v in HEADER.findall(body)}


def _has_content(entry: object) -> bool:
    """Whether feedparser's entry has any of the fields an item is made from."""
    if not isinstance(entry, dict):
        return False
    return any(entry.get(key) for key in ("title", "summary", "description", "link", "content"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--show", type=int, default=10, help="problems to list in detail")
    args = ap.parse_args(argv)
    files = sorted(p for p in args.corpus.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc"))
    counts = {
        "documents": 0,
        "parsed": 0,
        "parse_errors": 0,
        "feedparser_with_entries": 0,
        "with_entries": 0,
        "entries_feedparser": 0,
        "items": 0,
        "exceptions": 0,
        "lost_entries": 0,
        "entries_dropped_empty": 0,
        "fast_path_documents": 0,
        "fast_path_differences": 0,
    }
    problems: list[dict[str, str]] = []
    reasons: dict[str, int] = {}
    for path in files:
        body = path.read_bytes()
        headers = headers_of(body)
        counts["documents"] += 1
        reference = feedparser.parse(io.BytesIO(body), response_headers=headers)
        ref_entries = len(reference.entries)
        if ref_entries:
            counts["feedparser_with_entries"] += 1
            counts["entries_feedparser"] += ref_entries
        url = "http://corpus.example/" + str(path.relative_to(args.corpus))
        try:
            feed = parse_feed(body, url=url, fetched_at=FETCHED, headers=headers)
        except FeedParseError as exc:
            counts["parse_errors"] += 1
            reason = str(exc).split(":", 1)[0]
            reasons[reason] = reasons.get(reason, 0) + 1
            # Entries with no title, summary or link cannot become items: as below, they
            # count as dropped empty, not lost (an incomplete CDATA title leaves feedparser
            # an entry of no field at all).
            readable = sum(1 for entry in reference.entries if _has_content(entry))
            counts["entries_dropped_empty"] += ref_entries - readable
            if readable:
                counts["lost_entries"] += 1
                problems.append({"file": str(path), "problem": f"FeedParseError: {exc}"})
            continue
        except Exception as exc:
            counts["exceptions"] += 1
            problems.append(
                {
                    "file": str(path),
                    "problem": f"{type(exc).__name__}: {exc}",
                    "trace": traceback.format_exc(limit=3),
                }
            )
            continue
        counts["parsed"] += 1
        # Where the stdlib fast path takes the document, it must agree with feedparser.
        try:
            parse_fast(body, headers.get("content-type", ""))
        except Unsupported:
            pass
        else:
            counts["fast_path_documents"] += 1
            slow = parse_feed(body, url=url, fetched_at=FETCHED, headers=headers, engine="feedparser")
            if slow.items != feed.items or slow.title != feed.title:
                counts["fast_path_differences"] += 1
                problems.append(
                    {
                        "file": str(path),
                        "problem": "fast path differs from feedparser",
                        "fast": repr((feed.title, feed.items))[:600],
                        "feedparser": repr((slow.title, slow.items))[:600],
                    }
                )
        counts["items"] += len(feed.items)
        if feed.items:
            counts["with_entries"] += 1
        # An entry may be dropped only if it has no title, summary or link at all.
        dropped = ref_entries - len(feed.items)
        if dropped > 0 and any(w.startswith(f"{dropped} entries without") for w in feed.warnings):
            counts["entries_dropped_empty"] += dropped
        elif dropped > 0:
            counts["lost_entries"] += 1
            problems.append({"file": str(path), "problem": f"{dropped} entries lost"})
    report = {"counts": counts, "parse_error_reasons": reasons, "problems": problems[: args.show]}
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    print()
    failed = counts["exceptions"] or counts["lost_entries"] or counts["fast_path_differences"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
