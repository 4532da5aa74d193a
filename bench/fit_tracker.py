"""Fit the tracker's semantic combination on one story of the development corpus.

Simulates the polls in process (the same reports, items and poll batches as
``newsbot eval developments``, without HTTP or a database) for a grid of
(bias, lexical weight, semantic weight) and prints JSON: each setting's scores on the
fit story and, for the best one, on the held-out stories. The shipped defaults in
``stories.developments.DevelopmentConfig`` come from this script run on ``--fit wagner``;
the README reports Sudan and Venezuela as held out.

    python bench/fit_tracker.py --fit wagner
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stories.devcorpus import Outcome, load_corpus, report_items, score, simulate_items  # noqa: E402
from stories.encoder import UniversalSentenceEncoder, encoder_text, pack, unpack  # noqa: E402
from stories.tracker import Tracker, TrackerConfig  # noqa: E402

GRID_BIAS = (-5.0, -6.0, -7.0, -8.0, -9.0, -10.0, -12.0)
GRID_LEX = (1.0, 2.0, 3.0, 4.0, 6.0)
GRID_SEM = (6.0, 8.0, 10.0, 12.0, 14.0, 16.0)
CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "developments"


def run(corpus, vectors, config: TrackerConfig, stories) -> dict:
    tracker = Tracker(config, {i: corpus.stories[s].query for i, s in enumerate(sorted(corpus.stories))})
    names = dict(enumerate(sorted(corpus.stories)))
    decisions = {}
    for batch in simulate_items(corpus):
        for d in tracker.observe_many(batch, {k: vectors[k] for k, _ in batch} if vectors else None):
            decisions[d.key] = d
    ids = list(corpus.reports)
    outcomes = {}
    for n, rid in enumerate(ids):
        d = decisions.get(n)
        if d is None:
            outcomes[rid] = Outcome(rid, False, None, None, None, frozenset())
            continue
        outcomes[rid] = Outcome(
            rid,
            True,
            d.kind,
            tracker.resolve(d.development_id),
            ids[d.duplicate_of] if d.duplicate_of is not None else None,
            frozenset(names[s] for s in d.stories),
        )
    return score(corpus, outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fit", default="wagner")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    corpus = load_corpus(args.corpus)
    enc = UniversalSentenceEncoder()
    ids = list(corpus.reports)
    items = report_items(corpus)
    texts = [encoder_text(items[n]) for n in range(len(ids))]
    cache = Path("/tmp/newsbot-fit-vectors.npy")
    vecs = np.load(cache) if cache.exists() and len(np.load(cache)) == len(texts) else enc.encode(texts)
    np.save(cache, vecs)
    vectors = {n: unpack(pack(v)) for n, v in enumerate(vecs)}
    base = TrackerConfig()
    rows = []
    for bias, wl, ws in itertools.product(GRID_BIAS, GRID_LEX, GRID_SEM):
        cfg = replace(
            base,
            developments=replace(
                base.developments, semantic_bias=bias, semantic_lexical_weight=wl, semantic_weight=ws
            ),
        )
        s = run(corpus, vectors, cfg, None)["stories"][args.fit]
        objective = (
            s["bcubed_f1"] + s["rereports_folded"] + s["first_reports_new"] + s["updates_marked_update"]
        )
        rows.append((objective, bias, wl, ws, s))
    rows.sort(key=lambda r: -r[0])
    best = rows[0]
    cfg = replace(
        base,
        developments=replace(
            base.developments, semantic_bias=best[1], semantic_lexical_weight=best[2], semantic_weight=best[3]
        ),
    )
    held = run(corpus, vectors, cfg, None)["stories"]
    keys = (
        "bcubed_f1",
        "rereports_folded",
        "cross_language_folded",
        "first_reports_new",
        "updates_marked_update",
    )
    print(
        json.dumps(
            {
                "fit_story": args.fit,
                "top": [
                    {"bias": b, "lexical": wl, "semantic": ws, **{k: s[k] for k in keys}}
                    for _, b, wl, ws, s in rows[:8]
                ],
                "best": {"bias": best[1], "lexical": best[2], "semantic": best[3]},
                "all_stories_with_best": {n: {k: s[k] for k in keys} for n, s in held.items()},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
