"""Benchmark one full poll cycle (fetch -> parse -> normalise -> store) against lemon24/reader.

    python bench/poll.py [--sizes 100 1000] [--repeats 3] [--skip-reader]
                         [--executor thread|process|both] [--baseline-tree DIR]

A local HTTP server (its own process, so it does not compete for our GIL) serves N
RSS feeds of 50 items (~25 kB each, realistic HTML descriptions and tracking links),
spread over 25 ports on 127.0.0.1 so per-host limits behave as with 25 publishers.
Each measured run is a fresh process (clean peak RSS) on a fresh SQLite file and does
three cycles over all N feeds:

* ``initial``: every feed new, 50 new items each;
* ``changed``: every feed changed (a rolling window: 5 new items, 45 known ones);
* ``unchanged``: every feed answers 304 Not Modified to the conditional GET.

newsbot runs bot.poller.Poller (what ``newsbot fetch --all`` runs); ``feeds_layer_only``
is feeds.poll.poll_feeds without a database; reader runs ``update_feeds(workers=20)`` on
the same feeds. The machine is shared, so the tools run interleaved (newsbot, reader,
newsbot, ...; the order rotates each round) ``--repeats`` times each, and every figure is
a median with its min and max. newsbot's cycles carry a per-stage breakdown (see
``bot.poller.PollSummary.stages``; tracking is not part of ``fetch`` and not timed here).
``--baseline-tree`` runs another checkout's newsbot (and feeds layer) through this same
harness, interleaved with the rest, and reports the same-run ratios.
Every run's stored item count is checked against what the feeds served (55 per feed);
a shortfall is reported under ``lost_items`` and the exit status is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ITEMS = 50
NEW_PER_CHANGE = 5
PORTS = 25
CONCURRENCY = 20
CYCLES = ("initial", "changed", "unchanged")

# --------------------------------------------------------------------------- server


def feed_body(n: int, gen: int) -> bytes:
    """Feed ``n`` at generation ``gen``: items gen*5 .. gen*5+49 (a rolling window)."""
    first = gen * NEW_PER_CHANGE
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>',
        f"<title>Bench Outlet {n}</title><link>https://outlet{n}.example/</link>",
        "<description>Benchmark feed</description><language>en</language>",
    ]
    for k in range(first + ITEMS - 1, first - 1, -1):
        day = 1 + k % 28
        out.append(
            f"<item><title>Outlet {n} report {k}: talks resume as ceasefire holds in the north"
            f"</title><link>https://outlet{n}.example/news/2026/11/{day:02d}/report-{k}"
            f"?utm_source=rss&amp;utm_medium=feed</link>"
            f'<guid isPermaLink="false">outlet{n}-{k}</guid>'
            f"<pubDate>Mon, {day:02d} Nov 2026 {k % 24:02d}:{k % 60:02d}:00 GMT</pubDate>"
            f"<dc:creator>Reporter {k % 7}</dc:creator><category>World</category>"
            "<description><![CDATA[<p>Negotiators met for a <b>third day</b> on Tuesday, "
            "officials said, as a fragile ceasefire held across most of the northern "
            "provinces. <a href='https://example.org/x'>Aid convoys</a> reached two towns "
            "for the first time in weeks.</p><p>Diplomats cautioned that the most difficult "
            "questions, including the withdrawal of armed groups and the return of displaced "
            "families, had not yet been discussed.</p><img src='https://img.example/p.jpg'/>]]>"
            "</description></item>"
        )
    out.append("</channel></rss>")
    return "\n".join(out).encode()


def run_server(ports: list[int], ready: Any) -> None:
    """A minimal HTTP/1.1 keep-alive server (asyncio streams): GET /feed/N, /_gen/G."""
    cache: dict[tuple[int, int], tuple[bytes, str]] = {}
    state = {"gen": 0}

    def body_for(n: int) -> tuple[bytes, str]:
        key = (n, state["gen"])
        if key not in cache:
            cache[key] = (feed_body(n, state["gen"]), f'"{n}-{state["gen"]}"')
        return cache[key]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                if path.startswith("/_gen/"):
                    # Build every body before the timed cycle, so the server's own
                    # work is not what gets measured.
                    _, _, gen, count = path.split("/")
                    state["gen"] = int(gen)
                    cache.clear()
                    for n in range(int(count)):
                        body_for(n)
                    body, status, extra = b"ok", "200 OK", ""
                else:
                    n = int(path.rsplit("/", 1)[1])
                    etag = f'"{n}-{state["gen"]}"'
                    if headers.get("if-none-match") == etag:
                        body, status, extra = b"", "304 Not Modified", f"ETag: {etag}\r\n"
                    else:
                        body, _ = body_for(n)
                        status = "200 OK"
                        extra = f"ETag: {etag}\r\nContent-Type: application/rss+xml\r\n"
                writer.write(
                    f"HTTP/1.1 {status}\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError, ValueError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        servers = [await asyncio.start_server(handle, "127.0.0.1", p, backlog=2048) for p in ports]
        ready.set()
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


def free_ports(count: int) -> list[int]:
    import socket

    socks = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def feed_urls(ports: list[int], n: int) -> list[str]:
    return [f"http://127.0.0.1:{ports[i % len(ports)]}/feed/{i}" for i in range(n)]


def set_generation(ports: list[int], gen: int, count: int) -> None:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/_gen/{gen}/{count}") as r:
        r.read()


# --------------------------------------------------------------------------- workers


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def newsbot_worker(urls: list[str], ports: list[int], executor_kind: str) -> dict[str, Any]:
    """The three cycles through bot.poller.Poller, exactly what ``newsbot fetch --all``
    runs: fetch, parse, normalise and schedule concurrently, one consumer storing items,
    feed states saved in batches, new items indexed for search."""
    from datetime import timedelta

    from bot.poller import Poller
    from feeds.fetch import Fetcher, FetchPolicy
    from feeds.schedule import SchedulePolicy
    from storage.db import upgrade
    from storage.repository import Storage

    tmp = tempfile.mkdtemp(prefix="newsbot-bench-")
    db_url = f"sqlite:///{tmp}/bench.db"
    upgrade(db_url)
    policy = FetchPolicy(
        allow_private_networks=True, concurrency=CONCURRENCY, per_host_concurrency=2, timeout=60
    )
    workers = (os.cpu_count() or 2) if executor_kind == "process" else 0

    async def main() -> dict[str, Any]:
        storage = Storage.connect(db_url)
        for url in urls:
            await storage.add_feed(url)
        cycles: dict[str, Any] = {}
        poller = Poller(
            storage, Fetcher(policy), SchedulePolicy(interval=timedelta(minutes=15)), parse_workers=workers
        )
        async with poller:
            for gen, name in ((0, "initial"), (1, "changed"), (1, "unchanged")):
                set_generation(ports, gen, len(urls))
                t0 = time.perf_counter()
                c0 = time.process_time()
                summary = await poller.poll_once(include_all=True)
                seconds = time.perf_counter() - t0
                cycles[name] = {
                    "seconds": round(seconds, 3),
                    "cpu_seconds": round(time.process_time() - c0, 3),
                    "feeds_per_s": round(len(urls) / seconds, 1),
                    "items_per_s": round(ITEMS * summary.fetched / seconds, 1),
                    "fetched": summary.fetched,
                    "not_modified": summary.not_modified,
                    "new_items": summary.new_items,
                    "updated_items": summary.updated_items,
                    "errors": summary.errors,
                    "peak_rss_mb": round(peak_rss_mb(), 1),
                    "stages": {k: round(v, 3) for k, v in summary.stages.items()},
                }
        cycles["stored_items"] = await storage.item_count()
        await storage.close()
        return cycles

    return asyncio.run(main())


def feeds_only_worker(urls: list[str], ports: list[int]) -> dict[str, Any]:
    """The same cycles through feeds.poll alone (fetch, parse, normalise, schedule; no
    database): what the feeds layer costs, apart from storage."""
    from feeds.fetch import Fetcher, FetchPolicy
    from feeds.poll import poll_feeds
    from stories.model import FeedState

    policy = FetchPolicy(
        allow_private_networks=True, concurrency=CONCURRENCY, per_host_concurrency=2, timeout=60
    )

    async def main() -> dict[str, Any]:
        states = [FeedState(url=u, id=i) for i, u in enumerate(urls)]
        cycles: dict[str, Any] = {}
        async with Fetcher(policy) as fetcher:
            for gen, name in ((0, "initial"), (1, "changed"), (1, "unchanged")):
                set_generation(ports, gen, len(urls))
                t0 = time.perf_counter()
                c0 = time.process_time()
                results = [r async for r in poll_feeds(fetcher, states)]
                seconds = time.perf_counter() - t0
                states = [r.state for r in results]
                fetched = sum(r.outcome.kind == "ok" for r in results)
                cycles[name] = {
                    "seconds": round(seconds, 3),
                    "cpu_seconds": round(time.process_time() - c0, 3),
                    "feeds_per_s": round(len(urls) / seconds, 1),
                    "items_per_s": round(sum(len(r.items) for r in results) / seconds, 1),
                    "fetched": fetched,
                    "not_modified": sum(r.outcome.kind == "not_modified" for r in results),
                    "errors": sum(r.outcome.is_failure for r in results),
                    "peak_rss_mb": round(peak_rss_mb(), 1),
                }
        return cycles

    return asyncio.run(main())


def reader_worker(urls: list[str], ports: list[int]) -> dict[str, Any]:
    """The same three cycles through lemon24/reader."""
    from reader import make_reader

    tmp = tempfile.mkdtemp(prefix="reader-bench-")
    reader = make_reader(f"{tmp}/reader.sqlite")
    for url in urls:
        reader.add_feed(url)
    cycles: dict[str, Any] = {}
    for gen, name in ((0, "initial"), (1, "changed"), (1, "unchanged")):
        set_generation(ports, gen, len(urls))
        t0 = time.perf_counter()
        c0 = time.process_time()
        results = list(reader.update_feeds_iter(workers=CONCURRENCY, scheduled=False))
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
        updated = [r for r in results if r.updated_feed is not None]
        errors = [r for r in results if r.error is not None]
        new = sum(r.updated_feed.new for r in updated)  # type: ignore[union-attr]
        fetched = sum(
            1
            for r in updated
            if (r.updated_feed.new or r.updated_feed.modified)  # type: ignore[union-attr]
        )
        cycles[name] = {
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "feeds_per_s": round(len(urls) / seconds, 1),
            "items_per_s": round(ITEMS * fetched / seconds, 1),
            "fetched": fetched,
            "new_items": new,
            "errors": len(errors),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
    cycles["stored_items"] = reader.get_entry_counts().total
    reader.close()
    return cycles


# --------------------------------------------------------------------------- driver


def run_child(tool: str, n: int, ports: list[int], executor: str, tree: Path | None = None) -> dict[str, Any]:
    """One measured run in a fresh process; ``tree``: another checkout whose code it runs
    (this script's harness, that tree's newsbot)."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        tool,
        "--n",
        str(n),
        "--ports",
        ",".join(map(str, ports)),
        "--executor",
        executor,
    ]
    root = tree or Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=root)
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def expected_items(n: int) -> int:
    """What the three cycles serve: 50 items per feed, then 5 more."""
    return n * (ITEMS + NEW_PER_CHANGE)


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median, min and max over the runs of one tool, per cycle and per stage."""
    good = [r for r in runs if "error" not in r]
    out: dict[str, Any] = {"runs": len(runs), "failed_runs": [r["error"] for r in runs if "error" in r]}
    if not good:
        return out
    for cycle in CYCLES:
        entry: dict[str, Any] = {
            "seconds": spread([r[cycle]["seconds"] for r in good]),
            "cpu_seconds": spread([r[cycle]["cpu_seconds"] for r in good]),
            "each_run_seconds": [r[cycle]["seconds"] for r in good],
        }
        for key in ("fetched", "not_modified", "new_items", "updated_items", "errors"):
            if key in good[0][cycle]:
                entry[key] = [r[cycle][key] for r in good]
        if "stages" in good[0][cycle]:
            entry["stages_median"] = {
                stage: round(statistics.median(r[cycle]["stages"][stage] for r in good), 3)
                for stage in good[0][cycle]["stages"]
            }
        out[cycle] = entry
    out["peak_rss_mb"] = spread([r["unchanged"]["peak_rss_mb"] for r in good])
    # The process's peak so far at the end of each cycle (so the first cycle's own peak).
    out["peak_rss_mb_after"] = {
        cycle: statistics.median(r[cycle]["peak_rss_mb"] for r in good) for cycle in CYCLES
    }
    if "stored_items" in good[0]:
        out["stored_items"] = [r["stored_items"] for r in good]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="poll-cycle benchmark: newsbot vs reader")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--repeats", type=int, default=3, help="runs of each tool, interleaved")
    ap.add_argument("--skip-reader", action="store_true")
    ap.add_argument("--skip-feeds-layer", action="store_true")
    ap.add_argument("--executor", choices=["thread", "process", "both"], default="thread")
    ap.add_argument(
        "--baseline-tree",
        type=Path,
        help="another checkout (e.g. git archive of an older commit): its newsbot runs as "
        "newsbot_baseline, interleaved with the others",
    )
    ap.add_argument("--child", choices=["newsbot", "feeds", "reader"])
    ap.add_argument("--n", type=int)
    ap.add_argument("--ports")
    args = ap.parse_args()

    if args.child:
        ports = [int(p) for p in args.ports.split(",")]
        urls = feed_urls(ports, args.n)
        if args.child == "newsbot":
            result = newsbot_worker(urls, ports, args.executor)
        elif args.child == "feeds":
            result = feeds_only_worker(urls, ports)
        else:
            result = reader_worker(urls, ports)
        print(json.dumps(result))
        return

    ports = free_ports(PORTS)
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=run_server, args=(ports, ready), daemon=True)
    server.start()
    ready.wait(10)
    executors = ["thread", "process"] if args.executor == "both" else [args.executor]
    tools: list[tuple[str, str, str, Path | None]] = [
        (f"newsbot_{kind}", "newsbot", kind, None) for kind in executors
    ]
    baseline = args.baseline_tree.resolve() if args.baseline_tree else None
    if baseline:
        tools.append(("newsbot_baseline", "newsbot", executors[0], baseline))
    if not args.skip_reader:
        tools.append(("reader", "reader", "thread", None))
    if not args.skip_feeds_layer:
        tools.append(("feeds_layer_only", "feeds", "thread", None))
        if baseline:
            tools.append(("feeds_layer_only_baseline", "feeds", "thread", baseline))
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "workload": {
            "items_per_feed": ITEMS,
            "new_items_per_change": NEW_PER_CHANGE,
            "hosts": PORTS,
            "concurrency": CONCURRENCY,
            "feed_bytes": len(feed_body(0, 0)),
            "repeats": args.repeats,
            "baseline_tree": str(baseline) if baseline else None,
        },
        "results": {},
        "lost_items": [],
    }
    try:
        for n in args.sizes:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in tools}
            for round_ in range(args.repeats):
                # Interleaved, and the order rotates, so a busy minute hits every tool.
                shift = round_ % len(tools)
                for name, child, executor, tree in tools[shift:] + tools[:shift]:
                    result = run_child(child, n, ports, executor, tree)
                    runs[name].append(result)
                    stored = result.get("stored_items")
                    if stored is not None and stored != expected_items(n):
                        report["lost_items"].append(
                            {
                                "tool": name,
                                "n": n,
                                "round": round_,
                                "stored": stored,
                                "expected": expected_items(n),
                            }
                        )
            entry: dict[str, Any] = {name: summarise(rs) for name, rs in runs.items()}
            entry["expected_items"] = expected_items(n)
            if "reader" in entry:
                ratios = {}
                for kind in executors:
                    ours, theirs = entry[f"newsbot_{kind}"], entry["reader"]
                    if "initial" not in ours or "initial" not in theirs:
                        continue
                    ratios[f"newsbot_{kind}"] = {
                        cycle: round(theirs[cycle]["seconds"]["median"] / ours[cycle]["seconds"]["median"], 2)
                        for cycle in CYCLES
                    }
                entry["speedup_vs_reader_of_medians"] = ratios
            for ours, theirs in (
                (f"newsbot_{executors[0]}", "newsbot_baseline"),
                ("feeds_layer_only", "feeds_layer_only_baseline"),
            ):
                mine, old = entry.get(ours, {}), entry.get(theirs, {})
                if "initial" in mine and "initial" in old:
                    entry[f"speedup_{ours}_vs_baseline_of_medians"] = {
                        cycle: round(old[cycle]["seconds"]["median"] / mine[cycle]["seconds"]["median"], 2)
                        for cycle in CYCLES
                    }
            report["results"][str(n)] = entry
    finally:
        server.terminate()
        server.join(5)
    print(json.dumps(report, indent=2))
    if report["lost_items"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
