"""Scale-out throughput: feeds fetched per second by 1, 2 and 4 ``newsbot worker`` processes.

All runs use the same feed farm (one local HTTP server, ``tests/scale/farm.py``) and the
real PostgreSQL server, each in a fresh schema with N feeds due. For each worker count
the workers are started as real processes; the clock runs from the first request the
farm sees to the moment every feed has been fetched and saved. Peak memory per worker
is its ``VmHWM`` (peak resident set) read from /proc before it is stopped with SIGTERM.

The baseline, in the same run, is the single-process path with no leasing at all:
``Poller.poll_once()`` over the same N feeds (what ``newsbot fetch --once`` does). Ratios
are feeds/s against the 1-worker run and against the baseline. A second baseline runs the
same single process on a SQLite file (``sqlite_baseline``); the 1-worker run's
``ratio_vs_sqlite_process`` is its feeds/s against that one's.

Run: ``NEWSBOT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
/work/venv/bin/python bench/scale.py [--feeds 2000] [--items 2] [--workers 1,2,4]``.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Config, DatabaseConfig, FetchConfig, WorkerConfig  # noqa: E402
from bot.poller import Poller  # noqa: E402
from bot.worker import connect_storage  # noqa: E402
from storage.db import upgrade  # noqa: E402
from storage.models import FeedRow, ItemRow, utcnow  # noqa: E402
from tests.scale.farm import FeedFarm  # noqa: E402

PG_ENV = "NEWSBOT_TEST_DATABASE_URL"
ENTRY = (
    "import sys; from bot.cli import setup_logging; from bot.config import load_config; "
    "from bot.app import run_worker; setup_logging(False); sys.exit(run_worker(load_config(sys.argv[1])))"
)


@contextmanager
def fresh_schema(base: str) -> Iterator[str]:
    """A migrated, empty schema; dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def add_feeds(url: str, farm: FeedFarm, count: int) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        farm.add_feeds(conn, count, due_at=utcnow() - timedelta(seconds=1))
    engine.dispose()


def fetched(url: str, since: object) -> tuple[int, int]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            feeds = conn.scalar(select(func.count(FeedRow.id)).where(FeedRow.last_fetched_at >= since))
            items = conn.scalar(select(func.count(ItemRow.id)))
            return int(feeds or 0), int(items or 0)
    finally:
        engine.dispose()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a live process has used (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return round((int(fields[11]) + int(fields[12])) / ticks, 2)


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


BATCH = 50

CONFIG = """
[database]
url = "{url}"

[fetch]
interval = 3600
jitter = 0
concurrency = 20
per_host_concurrency = 1000
allow_private_networks = true

[worker]
batch_size = {batch}
lease_seconds = 60
idle_seconds = 0.2
track = false
"""


def run_workers(base: str, workers: int, feeds: int, items: int, tmp: Path) -> dict[str, object]:
    with FeedFarm(items=items) as farm, fresh_schema(base) as url:
        add_feeds(url, farm, feeds)
        config = tmp / f"workers{workers}.toml"
        config.write_text(CONFIG.format(url=url, batch=BATCH), encoding="utf-8")
        since = utcnow() - timedelta(seconds=5)
        launched = time.monotonic()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", ENTRY, str(config)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        peaks: list[float | None] = []
        cpus: list[float | None] = []
        try:
            while True:
                done, stored = fetched(url, since)
                if done >= feeds:
                    break
                if time.monotonic() - launched > 900:
                    raise SystemExit(f"{workers} workers: timed out with {done}/{feeds} fetched")
                time.sleep(0.05)
            finished = time.monotonic()
            peaks = [peak_rss_mb(p.pid) for p in procs]
            cpus = [cpu_seconds(p.pid) for p in procs]
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(60) for proc in procs]
        log = farm.requests()
        first = min(at for at, _ in farm._log) if log else launched
        seconds = finished - first
        return {
            "workers": workers,
            "load_average_1m": round(os.getloadavg()[0], 2),
            "feeds": feeds,
            "requests": len(log),
            "duplicate_fetches": len(log) - len(set(log)),
            "items_stored": stored,
            "seconds": round(seconds, 3),
            "seconds_with_startup": round(finished - launched, 3),
            "feeds_per_s": round(feeds / seconds, 1),
            "peak_rss_mb_per_worker": peaks,
            # CPU is what a shared machine cannot hide: feeds per worker CPU second.
            "cpu_seconds_per_worker": cpus,
            "feeds_per_worker_cpu_s": round(feeds / sum(c or 0 for c in cpus), 1) if any(cpus) else None,
            "exit_codes": codes,
        }


async def _baseline(url: str, feeds: int, batch: int) -> tuple[float, int]:
    config = Config(
        database=DatabaseConfig(url=url),
        fetch=FetchConfig(
            interval=3600, jitter=0, concurrency=20, per_host_concurrency=1000, allow_private_networks=True
        ),
        worker=WorkerConfig(batch_size=batch),
    )
    storage = connect_storage(config)  # the worker's pool, so only leasing and processes differ
    try:
        async with Poller.from_config(storage, config) as poller:
            started = time.monotonic()
            due = await storage.due_feeds(utcnow())
            fetched = 0
            for start in range(0, len(due), batch):
                summary = await poller.poll_once(feeds=due[start : start + batch])
                fetched += summary.fetched
            return time.monotonic() - started, fetched
    finally:
        await storage.close()


def run_baseline(base: str, feeds: int, items: int) -> dict[str, object]:
    with FeedFarm(items=items) as farm, fresh_schema(base) as url:
        add_feeds(url, farm, feeds)
        what = f"one process, Poller.poll_once() over the due feeds in batches of {BATCH}, no leasing"
        return _baseline_in_child(url, feeds, what)


def run_sqlite_baseline(feeds: int, items: int, tmp: Path) -> dict[str, object]:
    """The same single-process baseline on a SQLite file: what one PostgreSQL worker
    should match (issue 14: per-worker throughput at least one SQLite process's)."""
    with FeedFarm(items=items) as farm:
        url = f"sqlite:///{tmp}/baseline.db"
        upgrade(url)
        add_feeds(url, farm, feeds)
        what = f"one process on SQLite, Poller.poll_once() in batches of {BATCH}, no leasing"
        return _baseline_in_child(url, feeds, what)


def _baseline_in_child(url: str, feeds: int, what: str) -> dict[str, object]:
    # In a process of its own, like the workers: the farm's server threads here would
    # otherwise share this interpreter's GIL with the poller.
    child = subprocess.run(
        [sys.executable, __file__, "--baseline-child", url, str(feeds)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, done, peak, cpu = json.loads(child.stdout)
    return {
        "what": what,
        "feeds": feeds,
        "fetched": done,
        "seconds": round(seconds, 3),
        "feeds_per_s": round(feeds / seconds, 1),
        "peak_rss_mb": peak,
        "cpu_seconds": cpu,
        "feeds_per_cpu_s": round(feeds / cpu, 1) if cpu else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--items", type=int, default=2)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--baseline-child", nargs=2, metavar=("URL", "FEEDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child:
        url, count = args.baseline_child
        seconds, done = asyncio.run(_baseline(url, int(count), BATCH))
        print(json.dumps([seconds, done, peak_rss_mb(os.getpid()), cpu_seconds(os.getpid())]))
        return
    base = os.environ.get(PG_ENV)
    if not base:
        raise SystemExit(f"bench/scale.py needs PostgreSQL: set {PG_ENV}")
    counts = [int(n) for n in args.workers.split(",")]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in counts:
            runs.append(run_workers(base, workers, args.feeds, args.items, Path(tmp)))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
        baseline = run_baseline(base, args.feeds, args.items)
        sqlite = run_sqlite_baseline(args.feeds, args.items, Path(tmp))
    one = next((r for r in runs if r["workers"] == 1), runs[0])
    one["ratio_vs_sqlite_process"] = round(
        float(one["feeds_per_s"]) / float(sqlite["feeds_per_s"]),  # type: ignore[arg-type]
        2,
    )
    for run in runs:
        run["ratio_vs_1_worker"] = round(float(run["feeds_per_s"]) / float(one["feeds_per_s"]), 2)  # type: ignore[arg-type]
        run["ratio_vs_baseline"] = round(
            float(run["feeds_per_s"]) / float(baseline["feeds_per_s"]),  # type: ignore[arg-type]
            2,
        )
    print(
        json.dumps(
            {
                "benchmark": "scale",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                # The machine is shared: a load average above its CPU count means other
                # work competed with these runs, and the figures are lower bounds.
                "load_average_1m_at_end": round(os.getloadavg()[0], 2),
                "feeds": args.feeds,
                "items_per_feed": args.items,
                "baseline": baseline,
                "sqlite_baseline": sqlite,
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
