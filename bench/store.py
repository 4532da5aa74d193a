"""The store stage alone: Storage.store_batch on poll-cycle-shaped batches, no HTTP, no parsing.

    python bench/store.py [--feeds 1000] [--repeats 3] [--database URL] [--baseline-tree DIR]

N feeds of 50 items are stored once (``initial``: all new), then a rolling window of
5 new items and 45 known ones per feed (``changed``), in batches of the poller's size
(``bot.poller.Poller.STORE_BATCH``), with the search index written in the same
transaction (``index=True``, as the poller does). Each run is a fresh process and a
fresh database (SQLite file, or a new PostgreSQL database next to ``--database``).
Without other work competing for the GIL, this is what storing costs; the poll
benchmark's ``store`` stage adds the waits behind the parsing threads.
Prints JSON: seconds per cycle (median, min, max) and the stored item count, which
must be ``feeds * 55`` (exit status 1 otherwise). ``--baseline-tree`` is another checkout
(e.g. ``git worktree add /tmp/before HEAD~1``): its code runs the same child, interleaved
with this one run for run, and the report gives both and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ITEMS = 50
NEW = 5


def make_items(feed: int, gen: int) -> list[Any]:
    from stories.model import Item

    first = gen * NEW
    base = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        Item(
            guid=f"outlet{feed}-{k}",
            url=f"https://outlet{feed}.example/news/report-{k}",
            title=f"Outlet {feed} report {k}: talks resume as ceasefire holds in the north",
            summary=(
                "Negotiators met for a third day on Tuesday, officials said, as a fragile ceasefire "
                "held across most of the northern provinces. Aid convoys reached two towns for the "
                f"first time in weeks. Report {k}."
            ),
            published=base + timedelta(minutes=k),
            outlet=f"Bench Outlet {feed}",
            author=f"Reporter {k % 7}",
            language="en",
        )
        for k in range(first + ITEMS - 1, first - 1, -1)
    ]


def child(feeds: int, database: str | None) -> dict[str, Any]:
    from bot.poller import Poller
    from storage.db import upgrade
    from storage.repository import FeedItems, Storage

    cleanup = None
    if database:
        import psycopg

        name = f"newsbot_bench_{uuid.uuid4().hex[:10]}"
        admin = database.replace("postgresql://", "postgresql://", 1)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = database.rsplit("/", 1)[0] + "/" + name

        def cleanup() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='newsbot-store-')}/bench.db"
    upgrade(url)

    async def main() -> dict[str, Any]:
        storage = Storage.connect(url)
        ids = [(await storage.add_feed(f"https://outlet{n}.example/feed")).id for n in range(feeds)]
        batches = {gen: [make_items(n, gen) for n in range(feeds)] for gen in (0, 1)}
        out: dict[str, Any] = {}
        now = datetime.now(UTC)
        for gen, name in ((0, "initial"), (1, "changed")):
            t0 = time.perf_counter()
            index_seconds = 0.0
            new = 0
            for start in range(0, feeds, Poller.STORE_BATCH):
                done = await storage.store_batch(
                    [
                        FeedItems(feed_id, batches[gen][n], now)  # type: ignore[arg-type]
                        for n, feed_id in enumerate(ids[start : start + Poller.STORE_BATCH], start=start)
                    ],
                    index=True,
                )
                index_seconds += done.index_seconds
                new += sum(len(r.new) for r in done.results)
            out[name] = {
                "seconds": round(time.perf_counter() - t0, 3),
                "index_seconds": round(index_seconds, 3),
                "new_items": new,
            }
        out["stored_items"] = await storage.item_count()
        await storage.close()
        return out

    try:
        return asyncio.run(main())
    finally:
        if cleanup:
            cleanup()


def run_one(tree: Path, feeds: int, database: str | None) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--feeds", str(feeds)]
    if database:
        cmd += ["--database", database]
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=tree)
    if out.returncode:
        print(out.stderr[-3000:], file=sys.stderr)
        sys.exit(1)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cycle in ("initial", "changed"):
        for key in ("seconds", "index_seconds"):
            values = [r[cycle][key] for r in runs]
            out[f"{cycle}_{key}"] = {
                "median": round(statistics.median(values), 3),
                "min": min(values),
                "max": max(values),
            }
    out["stored_items"] = [r["stored_items"] for r in runs]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--database", help="postgresql://... (a fresh database is made beside it)")
    ap.add_argument("--baseline-tree", type=Path, help="another checkout to compare with")
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.feeds, args.database)))
        return
    trees = {"current": Path(__file__).resolve().parent.parent}
    if args.baseline_tree:
        trees["baseline"] = args.baseline_tree.resolve()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for round_ in range(args.repeats):
        names = list(trees)
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            runs[name].append(run_one(trees[name], args.feeds, args.database))
    expected = args.feeds * (ITEMS + NEW)
    report: dict[str, Any] = {
        "backend": "postgresql" if args.database else "sqlite",
        "feeds": args.feeds,
        "repeats": args.repeats,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "expected_items": expected,
    }
    for name, tree_runs in runs.items():
        report[name] = summary(tree_runs)
    if "baseline" in runs:
        report["speedup_of_medians"] = {
            cycle: round(
                report["baseline"][f"{cycle}_seconds"]["median"]
                / report["current"][f"{cycle}_seconds"]["median"],
                2,
            )
            for cycle in ("initial", "changed")
        }
    print(json.dumps(report, indent=2))
    if any(r["stored_items"] != expected for tree_runs in runs.values() for r in tree_runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
