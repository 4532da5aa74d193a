"""Fit the tracker's two models on some stories of the development corpus.

- The link model (``stories.linking.link_features`` / ``RecallConfig.link_weights``) says
  whether an item reports a given development. Its features are collected with the
  labels as teacher: every report of a fit story is compared with every labelled
  development of recent reports (window as in the tracker), positive where the
  development is the report's own. (Rows collected from the tracker's own replays
  instead, labelled by their development's majority, fitted worse on the fit stories:
  5.49 against 5.59 of the objective below, December 2026.)
- The kind model (``kind_features`` / ``RecallConfig.kind_weights``) says whether the
  new facts of an item that joins a development make it an update or a re-report,
  fitted teacher-forced on the fit stories' updates and re-reports.

Each is a logistic regression (Newton's method, a little L2); where to cut (a shift of
each bias) is chosen by replaying the fit stories. ``--choice`` fits the link model
instead as a conditional logit (each item's choice among its candidate developments and
"a new one", the decision the tracker makes); measured worse, see the README.
Then the whole corpus is replayed in process (the same poll batches as ``newsbot eval
developments``, no HTTP) and the scores per story are printed as JSON, the stories not
fitted on marked held out.

    python bench/fit_tracker.py --fit wagner sudan
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stories.devcorpus import Corpus, Outcome, load_corpus, report_items, score, simulate_items
from stories.encoder import UniversalSentenceEncoder, encoder_text, pack, unpack
from stories.facts import extract_facts, is_number, new_facts, stems_of
from stories.linking import KIND_FEATURES, LINK_FEATURES, kind_features, link_features
from stories.matching import Matcher
from stories.recall import Centre, StoryCentres
from stories.syndication import declared_commentary, outlet_key, read_signals
from stories.tracker import Tracker, TrackerConfig

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "developments"


def vectors_for(corpus: Corpus) -> dict[int, np.ndarray]:
    items = report_items(corpus)
    vecs = UniversalSentenceEncoder().encode([encoder_text(items[n]) for n in range(len(items))])
    # What the tracker reads: the stored float16 values.
    return {n: unpack(pack(v)) for n, v in enumerate(vecs)}


def replay(
    corpus: Corpus, vectors: dict[int, np.ndarray] | None, config: TrackerConfig, phase: int = 0
) -> dict:
    """The corpus through a fresh tracker, scored. ``phase``: items the tracker counts as
    seen since its last merge check before the first one (as if ``phase`` items of other
    stories had come first): where the checks fall moves the figures (see ``--phases``)."""
    names = dict(enumerate(sorted(corpus.stories)))
    tracker = Tracker(config, {i: corpus.stories[s].query for i, s in names.items()})
    tracker._since_merge = phase  # no public knob: only this measurement needs one
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


def tracker_order(corpus: Corpus) -> list[int]:
    """The reports' keys in the order the tracker decides them (poll by poll, canonical)."""
    return [
        k
        for batch in simulate_items(corpus)
        for k, _ in sorted(batch, key=lambda ki: (ki[1].published, ki[1].url or "", ki[0]))
    ]


def story_matcher(corpus: Corpus) -> Matcher:
    """The corpus's watchlist, story ids numbered as :func:`replay` numbers them."""
    return Matcher.compile({i: corpus.stories[s].query for i, s in enumerate(sorted(corpus.stories))})


def centred(
    centre: Centre | None,
    language: str | None,
    vector: np.ndarray,
    rows: np.ndarray,
    row_languages: list[str | None],
    raw: list[float],
) -> list[float]:
    """Centred cosines as the tracker computes them (``Tracker._centred``)."""
    if centre is None:
        return list(raw)
    return centre.centred(language or "", vector, rows, [x or "" for x in row_languages], raw)


def collect(corpus: Corpus, vectors: dict[int, np.ndarray], stories: set[str], config: TrackerConfig):
    """Teacher-forced (features, label, report) rows for the reports of one story.

    Each report is compared with every labelled development among the recent reports
    before it (the tracker's window and similarity floor), positive for its own.
    Noise reports are developments of their own.
    """
    reports = list(corpus.reports.values())
    items = report_items(corpus)
    order = tracker_order(corpus)
    window = config.recall.window_hours * 3600
    floor = config.recall.min_similarity
    signals = {k: read_signals(items[k]) for k in order}
    facts = {k: extract_facts(items[k], signals[k].credited) for k in order}
    # The story means as the tracker keeps them: by the stories an item's text matches.
    matcher = story_matcher(corpus)
    centres = StoryCentres(config.recall)
    rows = []
    seen: list[int] = []
    for k in order:
        r = reports[k]
        when = items[k].published.timestamp()
        centre = min(matcher.match(items[k].text), default=-1)
        mean = centres.centre(centre)
        centres.add(centre, vectors[k], items[k].language or "")
        if r.story in stories and seen:
            groups: dict[str, list[int]] = {}
            for j in seen:
                near = float(vectors[k] @ vectors[j]) >= floor
                if near and when - items[j].published.timestamp() <= window:
                    groups.setdefault(reports[j].development or reports[j].id, []).append(j)
            tops = sorted(
                ((max(float(vectors[k] @ vectors[j]) for j in m), d) for d, m in groups.items()), reverse=True
            )
            names = stems_of(f for f in facts[k] if not is_number(f))
            numbers = {f for f in facts[k] if is_number(f)}
            own = outlet_key(items[k].outlet)
            for dev, members in groups.items():
                sims = sorted(((float(vectors[k] @ vectors[j]), j) for j in members), reverse=True)
                dev_facts = frozenset().union(*(facts[j] for j in members))
                raw = [x for x, _ in sims]
                rows_ = np.stack([vectors[j] for _, j in sims])
                features = link_features(
                    raw,
                    centred(
                        mean, items[k].language, vectors[k], rows_, [items[j].language for _, j in sims], raw
                    ),
                    names,
                    numbers,
                    stems_of(dev_facts),
                    {f for f in dev_facts if is_number(f)},
                    abs(when - max(items[j].published.timestamp() for j in members)),
                    reports[sims[0][1]].lang == r.lang,
                    next((c for c, d in tops if d != dev), 0.0),
                    signals[k].commentary,
                    bool(own) and any(outlet_key(items[j].outlet) == own for j in members),
                )
                rows.append((features, 1.0 if dev == r.development else 0.0, k))
        seen.append(k)
    return rows


def collect_kinds(corpus: Corpus, vectors: dict[int, np.ndarray], stories: set[str]):
    """Teacher-forced (features, label) rows of the kind model for one story.

    Every update and re-report of the story is compared with its own labelled
    development as the tracker would know it then: the facts of its first report and
    of its updates (those a development remembers), names only where it has a report
    in the item's language. Positive: labelled ``update``.
    """
    reports = list(corpus.reports.values())
    items = report_items(corpus)
    order = tracker_order(corpus)
    signals = {k: read_signals(items[k]) for k in order}
    facts = {k: extract_facts(items[k], signals[k].credited) for k in order}
    matcher = story_matcher(corpus)
    centres = StoryCentres(TrackerConfig().recall)
    members: dict[str, list[int]] = {}
    known: dict[str, set[str]] = {}
    rows = []
    for k in order:
        r = reports[k]
        centre = min(matcher.match(items[k].text), default=-1)
        mean = centres.centre(centre)
        centres.add(centre, vectors[k], items[k].language or "")
        dev = r.development
        if dev is None:
            continue
        if r.story in stories and r.kind in ("update", "rereport") and members.get(dev):
            mem = members[dev]
            near = max(mem, key=lambda j: float(vectors[k] @ vectors[j]))
            comparable = any(reports[j].lang == r.lang for j in mem)
            item_facts = facts[k] if comparable else frozenset(f for f in facts[k] if is_number(f))
            dev_facts = known[dev]
            added = new_facts(item_facts, dev_facts, stems_of(dev_facts), items[k].published)
            declared = signals[k].commentary and declared_commentary(items[k].title)
            if added and not declared:  # the tracker never asks the model about those
                features = kind_features(
                    added,
                    float(vectors[k] @ vectors[near]),
                    reports[near].lang == r.lang,
                    bool(signals[k].notice or signals[k].credited or signals[k].wire),
                    signals[k].commentary,
                    centred(
                        mean,
                        items[k].language,
                        vectors[k],
                        vectors[near][None, :],
                        [items[near].language],
                        [float(vectors[k] @ vectors[near])],
                    )[0],
                )
                rows.append((features, 1.0 if r.kind == "update" else 0.0))
        members.setdefault(dev, []).append(k)
        # The first report seen starts the development (an early reprint too).
        if r.kind in ("new", "update") or len(members[dev]) == 1:
            known.setdefault(dev, set()).update(facts[k])
    return rows


def newton(
    gradient_and_hessian: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], dim: int, iterations: int
) -> tuple[float, np.ndarray]:
    """Newton's method from zero weights: ``(bias, weights)``, the bias first of ``dim``."""
    w = np.zeros(dim)
    for _ in range(iterations):
        grad, hess = gradient_and_hessian(w)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(w[0]), w[1:]


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 0.1) -> tuple[float, np.ndarray]:
    A = np.hstack([np.ones((len(X), 1)), X])

    def gradient_and_hessian(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = 1 / (1 + np.exp(-A @ w))
        grad = A.T @ (p - y) + l2 * np.r_[0, w[1:]]
        H = (A * (p * (1 - p))[:, None]).T @ A + l2 * np.diag(np.r_[0, np.ones(len(w) - 1)])
        return grad, H

    return newton(gradient_and_hessian, A.shape[1], 50)


def fit_choice(
    groups: list[tuple[np.ndarray, int]], l2: float = 0.1, iterations: int = 100
) -> tuple[float, np.ndarray]:
    """A conditional logit over each item's candidate developments and "a new one".

    ``groups``: per item, its candidates' feature rows and the index of its own
    development among them (-1: none, it starts one). The tracker joins the candidate
    with the highest ``bias + w . x`` when that is above 0, so the model is the choice
    among ``[0, z_1, ..., z_m]``, fitted by Newton's method (a little L2 off the bias).
    """
    dim = groups[0][0].shape[1] + 1
    reg = l2 * np.diag(np.r_[0.0, np.ones(dim - 1)])
    # Per item: a zero row for "a new one", then its candidates with the bias column.
    choices = [
        (np.vstack([np.zeros(dim), np.hstack([np.ones((len(r), 1)), r])]), own + 1) for r, own in groups
    ]

    def gradient_and_hessian(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grad = reg @ w
        hess = reg.copy()
        for A0, chosen in choices:
            z = A0 @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            mean = p @ A0
            grad += mean - A0[chosen]
            hess += (A0 * p[:, None]).T @ A0 - np.outer(mean, mean)
        return grad, hess

    return newton(gradient_and_hessian, dim, iterations)


def choice_groups(
    rows: list[tuple[tuple[float, ...], float, int]], candidates: int
) -> list[tuple[np.ndarray, int]]:
    """Per item, its ``candidates`` nearest developments (by cos_max, as the tracker takes
    them) and which of them is its own (-1: none)."""
    by_item: dict[int, list[tuple[tuple[float, ...], float]]] = {}
    for features, label, k in rows:
        by_item.setdefault(k, []).append((features, label))
    out = []
    for k in sorted(by_item):
        top = sorted(by_item[k], key=lambda r: -r[0][0])[:candidates]
        own = next((n for n, (_, label) in enumerate(top) if label), -1)
        out.append((np.array([f for f, _ in top]), own))
    return out


def objective(result: dict, stories: list[str]) -> float:
    """What the fit maximises on the fit stories: the four figures the issue sets floors for."""
    return sum(
        result["stories"][name][key]
        for name in stories
        for key in ("bcubed_f1", "rereports_folded", "first_reports_new", "updates_marked_update")
    )


def with_models(
    base: TrackerConfig, link: tuple[float, np.ndarray], kind: tuple[float, np.ndarray]
) -> TrackerConfig:
    return replace(
        base,
        recall=replace(
            base.recall,
            link_bias=round(link[0], 3),
            link_weights=tuple(round(float(w), 3) for w in link[1]),
            kind_bias=round(kind[0], 3),
            kind_weights=tuple(round(float(w), 3) for w in kind[1]),
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fit", nargs="+", default=["wagner", "sudan"])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--shifts", type=float, nargs="*", default=[2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0])
    parser.add_argument("--kind-shifts", type=float, nargs="*", default=[2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0])
    parser.add_argument("--exclude", nargs="*", default=["margin"], help="features held at weight 0")
    parser.add_argument(
        "--choice", action="store_true", help="fit the link model as a choice among candidates"
    )
    parser.add_argument("--l2", type=float, default=0.1, help="L2 of the link model's fit")
    parser.add_argument(
        "--merge-story-hours",
        type=float,
        default=None,
        help="check watched stories' merges every this many hours of item time (RecallConfig)",
    )
    parser.add_argument(
        "--phases",
        type=int,
        default=1,
        help="score every replay at this many merge-check phases and average (1: one, as before)",
    )
    args = parser.parse_args()
    corpus = load_corpus(args.corpus)
    fit_stories = sorted(set(args.fit))
    fit_corpus = load_corpus(args.corpus, stories=fit_stories)
    vectors = vectors_for(corpus)
    fit_vectors = vectors_for(fit_corpus)
    base = TrackerConfig()
    if args.merge_story_hours is not None:
        base = replace(base, recall=replace(base.recall, merge_story_hours=args.merge_story_hours))
    every = base.recall.merge_every
    phases = sorted({round(i * every / args.phases) % every for i in range(max(1, args.phases))})

    def averaged(target: Corpus, vecs: dict[int, np.ndarray] | None, config: TrackerConfig) -> dict:
        """The replay's figures averaged over the merge-check phases (one replay each)."""
        runs = [replay(target, vecs, config, phase)["stories"] for phase in phases]
        return {
            "stories": {
                name: {
                    key: (
                        round(sum(r[name][key] for r in runs) / len(runs), 4)
                        if all(isinstance(r[name][key], (int, float)) for r in runs)
                        else runs[0][name][key]
                    )
                    for key in runs[0][name]
                }
                for name in runs[0]
            }
        }

    kind_rows = collect_kinds(fit_corpus, fit_vectors, set(fit_stories))
    kX = np.array([f for f, _ in kind_rows])
    ky = np.array([label for _, label in kind_rows])
    kind = fit_logistic(kX, ky, l2=1.0)
    # Features left out keep weight 0 (the margin, for one: its teacher-forced weight does
    # not carry over to online decisions, where the other developments are the tracker's own).
    used = [n for n, name in enumerate(LINK_FEATURES) if name not in args.exclude]
    collected = collect(fit_corpus, fit_vectors, set(fit_stories), base)
    rows = [(f, label) for f, label, _ in collected]
    X = np.array([f for f, _ in rows])
    y = np.array([label for _, label in rows])

    if args.choice:
        groups = choice_groups(collected, base.recall.candidates)
        bias, fitted_weights = fit_choice([(g[:, used], own) for g, own in groups], l2=args.l2)
    else:
        bias, fitted_weights = fit_logistic(X[:, used], y, l2=args.l2)
    weights = np.zeros(len(LINK_FEATURES))
    weights[used] = fitted_weights

    def best_cut(link: tuple[float, np.ndarray]) -> tuple[float, TrackerConfig, str]:
        # The logistic fits weigh every row alike; where to cut is chosen on the fit
        # stories' own scores, by replaying them.
        rounds = []
        for shift in args.shifts:
            for kind_shift in args.kind_shifts:
                config = with_models(base, (link[0] + shift, link[1]), (kind[0] + kind_shift, kind[1]))
                fit = averaged(fit_corpus, fit_vectors, config)
                rounds.append((objective(fit, fit_stories), config, f"{shift}/{kind_shift}"))
        return max(rounds, key=lambda r: r[0])

    best = best_cut((bias, weights))
    fitted = best[1]
    keys = (
        "bcubed_f1",
        "rereports_folded",
        "cross_language_folded",
        "first_reports_new",
        "updates_marked_update",
        "story_precision",
        "story_recall",
    )

    def figures(config: TrackerConfig, vecs: dict[int, np.ndarray] | None) -> dict:
        out = averaged(corpus, vecs, config)["stories"]
        return {
            name + ("" if name in fit_stories else " (held out)"): {k: s[k] for k in keys}
            for name, s in out.items()
        }

    result = {
        "fit_stories": fit_stories,
        "kind_rows": len(ky),
        "kind_positives": int(ky.sum()),
        "link_rows": len(rows),
        "phases": phases,
        "objective": round(best[0], 3),
        "objective_shipped": round(objective(averaged(fit_corpus, fit_vectors, base), fit_stories), 3),
        "cut (link shift/kind shift)": best[2],
        "link_bias": fitted.recall.link_bias,
        "link_weights": dict(zip(LINK_FEATURES, fitted.recall.link_weights, strict=True)),
        "kind_bias": fitted.recall.kind_bias,
        "kind_weights": dict(zip(KIND_FEATURES, fitted.recall.kind_weights, strict=True)),
        "shipped": figures(base, vectors),
        "fitted": figures(fitted, vectors),
        "lexical": figures(base, None),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
