"""Fit the tracker's link model on one story of the development corpus.

The link model (``stories.tracker.link_features`` / ``RecallConfig.link_weights``) says
whether an item reports a given development. This script collects its features with
the labels as teacher: every report of the fit story is compared with every labelled
development of recent reports (window as in the tracker), positive where the
development is the report's own. Noise reports are their own developments. A logistic
regression (Newton's method, a little L2) gives the weights; then the whole corpus is
replayed in process (the same poll batches as ``newsbot eval developments``, no HTTP)
with them, and the scores per story are printed as JSON, the fit story marked.

    python bench/fit_tracker.py --fit wagner
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stories.devcorpus import Corpus, Outcome, load_corpus, report_items, score, simulate_items  # noqa: E402
from stories.encoder import UniversalSentenceEncoder, encoder_text, pack, unpack  # noqa: E402
from stories.tracker import LINK_FEATURES, Tracker, TrackerConfig  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "developments"


def vectors_for(corpus: Corpus) -> dict[int, np.ndarray]:
    items = report_items(corpus)
    vecs = UniversalSentenceEncoder().encode([encoder_text(items[n]) for n in range(len(items))])
    # What the tracker reads: the stored float16 values.
    return {n: unpack(pack(v)) for n, v in enumerate(vecs)}


def replay(corpus: Corpus, vectors: dict[int, np.ndarray] | None, config: TrackerConfig) -> dict:
    names = dict(enumerate(sorted(corpus.stories)))
    tracker = Tracker(config, {i: corpus.stories[s].query for i, s in names.items()})
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


def collect(corpus: Corpus, vectors: dict[int, np.ndarray], story: str, config: TrackerConfig):
    """(features, label) of every candidate the link model weighed for the fit story's reports.

    The tracker runs with ``config`` and records its candidates; a candidate is positive
    when most of the development's reports (at the end of the run) belong to the report's
    own labelled development.
    """
    reports = list(corpus.reports.values())
    by_url = {r.url: n for n, r in enumerate(reports)}
    tracker = Tracker(config)
    tracker.trace = []
    decisions = {}
    for batch in simulate_items(corpus):
        for d in tracker.observe_many(batch, {k: vectors[k] for k, _ in batch}):
            decisions[d.key] = d
    members: dict[int, list[str]] = {}
    for k, d in decisions.items():
        members.setdefault(tracker.resolve(d.development_id), []).append(reports[k].development or reports[k].id)
    majority = {dev: max(set(m), key=m.count) for dev, m in members.items()}
    X, y = [], []
    for guid, dev, features in tracker.trace:
        r = reports[by_url[guid]]
        if r.story != story:
            continue
        X.append(features)
        y.append(1.0 if majority.get(tracker.resolve(dev)) == r.development else 0.0)
    return np.array(X), np.array(y)


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 0.1) -> tuple[float, np.ndarray]:
    A = np.hstack([np.ones((len(X), 1)), X])
    w = np.zeros(A.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-A @ w))
        grad = A.T @ (p - y) + l2 * np.r_[0, w[1:]]
        H = (A * (p * (1 - p))[:, None]).T @ A + l2 * np.diag(np.r_[0, np.ones(len(w) - 1)])
        step = np.linalg.solve(H, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(w[0]), w[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fit", default="wagner")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    corpus = load_corpus(args.corpus)
    vectors = vectors_for(corpus)
    base = TrackerConfig()
    # DAgger: fit on the candidates the tracker meets with the current weights, run again
    # with the new weights, pool, refit; keep the round that scores best on the fit story.
    config, Xs, ys, rounds = base, [], [], []
    for _ in range(args.rounds):
        X, y = collect(corpus, vectors, args.fit, config)
        Xs.append(X)
        ys.append(y)
        bias, weights = fit_logistic(np.vstack(Xs), np.concatenate(ys))
        config = replace(
            base,
            recall=replace(
                base.recall, link_bias=round(bias, 3), link_weights=tuple(round(float(w), 3) for w in weights)
            ),
        )
        fit = replay(corpus, vectors, config)["stories"][args.fit]
        objective = fit["bcubed_f1"] + fit["rereports_folded"] + fit["first_reports_new"] + fit["updates_marked_update"]
        rounds.append((objective, config))
    fitted = max(rounds, key=lambda r: r[0])[1]
    y = np.concatenate(ys)
    keys = (
        "bcubed_f1",
        "rereports_folded",
        "cross_language_folded",
        "first_reports_new",
        "updates_marked_update",
        "story_precision",
        "story_recall",
    )
    result = {
        "fit_story": args.fit,
        "pairs": int(len(y)),
        "positives": int(y.sum()),
        "link_bias": fitted.recall.link_bias,
        "link_weights": dict(zip(LINK_FEATURES, fitted.recall.link_weights, strict=True)),
        "shipped": {n: {k: s[k] for k in keys} for n, s in replay(corpus, vectors, base)["stories"].items()},
        "fitted": {n: {k: s[k] for k in keys} for n, s in replay(corpus, vectors, fitted)["stories"].items()},
        "rounds": [round(o, 3) for o, _ in rounds],
        "lexical": {n: {k: s[k] for k in keys} for n, s in replay(corpus, None, base)["stories"].items()},
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
