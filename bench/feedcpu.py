"""CPU per feed of parse + normalise, this tree against another checkout, interleaved.

    python bench/feedcpu.py [--baseline-tree DIR] [--feeds 200] [--rounds 5] [--loops 3]

Each round runs one fresh process per tree (order alternating), which parses and
normalises ``--feeds`` distinct bodies of bench/poll.py's feed (50 items, 41 kB) ``--loops``
times on one thread, as a poll's parsing thread does, and reports CPU milliseconds per
feed (the best loop, so one busy moment of a shared machine counts less); the report gives
each tree's median with min and max over the rounds, and their ratio. Every process also
checks that it produced 50 items per feed, and the report gives a digest of all the items'
fields, which must be the same in both trees when only speed changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def child(feeds: int, loops: int) -> dict[str, Any]:
    from datetime import UTC, datetime

    from bench.poll import ITEMS, feed_body
    from feeds.parse import parse_feed

    bodies = [feed_body(n, 1) for n in range(feeds)]
    fetched_at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    headers = {"content-type": "application/rss+xml"}
    best = float("inf")
    digest = hashlib.sha256()
    for loop in range(loops):
        started = time.thread_time()
        parsed = [
            parse_feed(body, url=f"http://127.0.0.1:8000/feed/{n}", fetched_at=fetched_at, headers=headers)
            for n, body in enumerate(bodies)
        ]
        best = min(best, time.thread_time() - started)
        if loop == 0:
            for feed in parsed:
                if len(feed.items) != ITEMS:
                    raise SystemExit(f"{len(feed.items)} items, expected {ITEMS}")
                for item in feed.items:
                    digest.update(repr(item).encode())
    return {"ms_per_feed": round(best / feeds * 1000, 4), "items_digest": digest.hexdigest()[:16]}


def run(tree: Path, feeds: int, loops: int) -> dict[str, Any]:
    script = str(Path(__file__).resolve())
    cmd = [sys.executable, script, "--child", "--feeds", str(feeds), "--loops", str(loops)]
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree, check=False)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-tree", type=Path)
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--loops", type=int, default=3)
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.feeds, args.loops)))
        return
    load = [round(x, 2) for x in os.getloadavg()]
    trees = {"current": ROOT}
    if args.baseline_tree:
        trees["baseline"] = args.baseline_tree.resolve()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    names = list(trees)
    for round_ in range(args.rounds):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            runs[name].append(run(trees[name], args.feeds, args.loops))
    report: dict[str, Any] = {
        "load_average_at_start": load,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "feeds": args.feeds,
        "rounds": args.rounds,
    }
    for name, results in runs.items():
        values = [r["ms_per_feed"] for r in results]
        report[name] = {
            "ms_per_feed": {
                "median": round(statistics.median(values), 4),
                "min": min(values),
                "max": max(values),
            },
            "items_digest": sorted({r["items_digest"] for r in results}),
        }
    if "baseline" in report:
        report["speedup"] = round(
            report["baseline"]["ms_per_feed"]["median"] / report["current"]["ms_per_feed"]["median"], 2
        )
        report["same_items"] = report["baseline"]["items_digest"] == report["current"]["items_digest"]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
