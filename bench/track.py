"""Throughput of the story tracker: match + dedup + develop, after 100,000 items of history.

Synthetic but news-shaped items: events are born over three days and live about
twelve hours; each event has capitalised names, a number and its own topic words;
an item is a title (~10 words) and a summary (~35 words) mixing the event's words
with Zipf-distributed common words; 10% are syndicated copies (a new title, the
same summary, an "Originally published by" line). The watchlist queries name
events' people and places, as real ones do.

For 10, 100 and 1,000 stories, after feeding the history, the next items are timed
(process CPU time) through

- ``tracker``: ``Tracker.observe`` (matching, dedup and developments together), and
- ``baseline``: the naive single-pass TF-IDF centroid clustering of the evaluation
  (no candidate pruning, no eviction) plus matching, the obvious way to do the same
  job; it is fed only the last ``--baseline-history`` items of the history (20,000),
  since it slows down as it accumulates clusters: that flatters it,

and the parts alone (``Matcher.match``, ``DuplicateIndex`` find+add,
``Developments.assign``). Prints one JSON object.

Run: ``/work/venv/bin/python bench/track.py [--history N] [--items N] [--seed S]``.

With ``--encoder``, it measures instead what the sentence encoder costs on real text:
the GoogleNews titles (``googlenews-t``) and titles + snippets (``googlenews-ts``)
streamed through the tracker as ``newsbot eval clustering --encoder use`` does
(encoding included, one core: process CPU time, one BLAS thread), interleaved
``--repeats`` times with the lexical tracker on the same items as the same-run baseline,
and the encoder alone on the same texts. Medians with min-max; the issue's floors are
800 (titles) and 350 (titles + snippets) items/s with the encoder, 2,000 lexical.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import platform
import random
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from stories.dedup import DuplicateIndex
from stories.developments import Developments
from stories.encoder import UniversalSentenceEncoder, encoder_text
from stories.evaluation import CentroidBaseline, read_corpus, run_eval
from stories.matching import Matcher
from stories.model import Item
from stories.tracker import Tracker

STORY_COUNTS = (10, 100, 1000)
T0 = datetime(2024, 3, 1, tzinfo=UTC)
SPAN_HOURS = 72.0


def pseudo_word(rng: random.Random, lo: int = 3, hi: int = 10) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(lo, hi)))


class World:
    """Events and a common vocabulary to draw items from."""

    def __init__(self, rng: random.Random, total_items: int) -> None:
        self.rng = rng
        self.common = [pseudo_word(rng) for _ in range(5000)]
        self.cum_weights = list(itertools.accumulate(1 / (r + 1) for r in range(len(self.common))))
        n_events = max(10, total_items // 30)
        self.events = []
        for _ in range(n_events):
            names = [pseudo_word(rng, 4, 9).capitalize() for _ in range(3)]
            topic = [pseudo_word(rng) for _ in range(10)]
            born = rng.uniform(0, SPAN_HOURS * total_items / 100_000)
            self.events.append((names, topic, str(rng.randint(2, 999)), born))
        self.events.sort(key=lambda e: e[3])
        self.births = [e[3] for e in self.events]
        self.outlets = [pseudo_word(rng, 4, 8).capitalize() + " News" for _ in range(300)]

    def item(self, n: int, hours: float) -> Item:
        rng = self.rng
        # Events born in the last 12 hours are live.
        lo, hi = bisect.bisect_left(self.births, hours - 12), bisect.bisect_right(self.births, hours)
        live = self.events[lo:hi] or self.events[:1]
        names, topic, number, _ = rng.choice(live)

        def words(k: int) -> list[str]:
            out = []
            for _ in range(k):
                r = rng.random()
                if r < 0.15:
                    out.append(rng.choice(names))
                elif r < 0.5:
                    out.append(rng.choice(topic))
                elif r < 0.52:
                    out.append(number)
                else:
                    out.append(rng.choices(self.common, cum_weights=self.cum_weights)[0])
            return out

        title = " ".join(words(rng.randint(7, 12))).capitalize()
        summary = ". ".join(" ".join(words(rng.randint(8, 12))) for _ in range(3)) + "."
        return Item(
            guid=f"g{n}",
            url=f"https://{rng.choice(self.outlets).split()[0].lower()}.example/{n}",
            title=title,
            summary=summary,
            published=T0 + timedelta(hours=hours),
            outlet=rng.choice(self.outlets),
        )

    def stream(self, count: int) -> list[Item]:
        items: list[Item] = []
        for n in range(count):
            hours = SPAN_HOURS * n / 100_000
            if items and self.rng.random() < 0.1:
                src = self.rng.choice(items[-200:])
                items.append(
                    Item(
                        guid=f"g{n}",
                        url=f"https://syndicate.example/{n}",
                        title=" ".join(src.title.split()[:-2]) + " " + pseudo_word(self.rng),
                        summary=src.summary + f" Originally published by {src.outlet}.",
                        published=T0 + timedelta(hours=hours),
                        outlet=self.rng.choice(self.outlets),
                    )
                )
            else:
                items.append(self.item(n, hours))
        return items

    def stories(self, count: int) -> dict[int, str]:
        rng = self.rng
        out: dict[int, str] = {}
        for sid in range(count):
            names, topic, _, _ = rng.choice(self.events)
            query = f"{names[0]} OR {names[1]}"
            if rng.random() < 0.3:
                query += f' OR "{topic[0]} {topic[1]}"'
            if rng.random() < 0.3:
                query += f" -{rng.choice(self.common[:200])}"
            out[sid] = query
        return out


def cpu_rate(run: Callable[[Item], object], items: list[Item]) -> float:
    start = time.process_time()
    for it in items:
        run(it)
    return len(items) / (time.process_time() - start)


ENCODER_FLOORS = {"googlenews-t": 800, "googlenews-ts": 350}


def encoder_throughput(repeats: int) -> dict[str, object]:
    """Items/s of the tracker with and without the encoder on the GoogleNews streams."""
    import statistics

    from threadpoolctl import threadpool_limits

    out: dict[str, object] = {}
    encoder = UniversalSentenceEncoder()
    encoder.encode(["warm up"])  # loading the model is not per-item work
    for dataset, floor in ENCODER_FLOORS.items():
        runs: dict[str, list[float]] = {"use": [], "none": [], "encoder_alone": []}
        texts = [encoder_text(li.item) for li in read_corpus(dataset).items]
        for n in range(repeats):
            # Interleaved, the order rotating, so load from other work falls on every side.
            sides = ["use", "none", "encoder_alone"]
            for side in sides[n % 3 :] + sides[: n % 3]:
                if side == "encoder_alone":
                    with threadpool_limits(1):
                        start = time.process_time()
                        for i in range(0, len(texts), 1000):
                            encoder.encode(texts[i : i + 1000])
                        runs[side].append(len(texts) / (time.process_time() - start))
                else:
                    result = run_eval(dataset, encoder=side, measure_memory=False)
                    runs[side].append(float(result["items_per_s"]))

        def summary(values: list[float]) -> dict[str, float]:
            return {
                "median": round(statistics.median(values)),
                "min": round(min(values)),
                "max": round(max(values)),
            }

        use, lexical = statistics.median(runs["use"]), statistics.median(runs["none"])
        out[dataset] = {
            "items": len(texts),
            "with_encoder_items_per_s": summary(runs["use"]),
            "lexical_items_per_s": summary(runs["none"]),
            "encoder_alone_items_per_s": summary(runs["encoder_alone"]),
            "encoder_vs_lexical": round(use / lexical, 3),
            "floor_with_encoder": floor,
            "floor_reached": use >= floor,
            "lexical_floor_reached": lexical >= 2000,
        }
    return out


def main() -> None:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=3000, help="timed items per story count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--baseline-history", type=int, default=20_000, help="history items fed to the baseline"
    )
    parser.add_argument(
        "--encoder",
        action="store_true",
        help="measure the tracker with the sentence encoder on the GoogleNews streams instead",
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per side (--encoder)")
    args = parser.parse_args()
    if args.encoder:
        report = {
            "benchmark": "track --encoder",
            "clock": "process CPU time, one BLAS thread",
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "repeats": args.repeats,
            "datasets": encoder_throughput(args.repeats),
        }
        print(json.dumps(report, indent=2))
        return

    rng = random.Random(args.seed)
    total = args.history + args.items * len(STORY_COUNTS)
    world = World(rng, total)
    items = world.stream(total)
    history, timed = items[: args.history], items[args.history :]

    tracker = Tracker()
    baseline = CentroidBaseline()
    start = time.process_time()
    for key, it in enumerate(history):
        tracker.observe(key, it)
    history_rate = len(history) / (time.process_time() - start)
    # The naive baseline slows down as its clusters pile up (it never forgets), so
    # it gets only the most recent part of the history: that flatters its speed.
    baseline_history = history[-args.baseline_history :]
    start = time.process_time()
    for key, it in enumerate(baseline_history):
        baseline.observe(key, it)
    baseline_history_rate = len(baseline_history) / (time.process_time() - start)

    results: list[dict[str, object]] = []
    key = len(history)
    for i, count in enumerate(STORY_COUNTS):
        batch = timed[i * args.items : (i + 1) * args.items]
        stories = world.stories(count)
        tracker.set_stories(stories)
        matcher = Matcher.compile(stories)
        matched = sum(1 for it in batch if matcher.match(it.text))

        def observe(it: Item) -> object:
            nonlocal key
            key += 1
            return tracker.observe(key, it)

        def naive(it: Item, matcher: Matcher = matcher) -> object:
            nonlocal key
            key += 1
            matcher.match(it.text)
            return baseline.observe(key, it)

        t_rate = cpu_rate(observe, batch)
        b_rate = cpu_rate(naive, batch)
        results.append(
            {
                "stories": count,
                "tracker_items_per_s": round(t_rate),
                "baseline_items_per_s": round(b_rate),
                "speedup": round(t_rate / b_rate, 2),
                "items_matching_a_story": round(matched / len(batch), 3),
            }
        )

    # The parts alone, on fresh state warmed with the same history.
    parts_batch = timed[: args.items]
    dedup = DuplicateIndex()
    devs = Developments()
    for k, it in enumerate(history):
        dedup.add(k, dedup.sketch(it), 0)
        devs.assign(it)
    matcher = Matcher.compile(world.stories(1000))

    next_key = len(history)

    def dedup_step(it: Item) -> object:
        nonlocal next_key
        next_key += 1
        sk = dedup.sketch(it)
        found = dedup.find(sk)
        dedup.add(next_key, sk, 0)
        return found

    parts = {
        "match_1000_stories_items_per_s": round(cpu_rate(lambda it: matcher.match(it.text), parts_batch)),
        "dedup_items_per_s": round(cpu_rate(dedup_step, parts_batch)),
        "developments_items_per_s": round(cpu_rate(devs.assign, parts_batch)),
    }
    rates = [float(r["tracker_items_per_s"]) for r in results]  # type: ignore[arg-type]
    print(
        json.dumps(
            {
                "benchmark": "track",
                "clock": "process CPU time",
                "python": sys.version.split()[0],
                "machine": platform.machine(),
                "history_items": len(history),
                "timed_items_per_story_count": args.items,
                "history_items_per_s": round(history_rate),
                "baseline_history_items": len(baseline_history),
                "baseline_history_items_per_s": round(baseline_history_rate),
                "baseline": "naive single-pass TF-IDF centroid clustering (no eviction) + Matcher",
                "active_developments": len(tracker.active_developments()),
                "dedup_items_remembered": len(tracker),
                "results": results,
                "tracker_1000_vs_10_stories": round(rates[-1] / rates[0], 3),
                "parts": parts,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
