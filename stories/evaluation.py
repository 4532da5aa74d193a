"""Measure story clustering on labelled news streams.

Pure and deterministic apart from the clock used for ``items_per_s``: corpus readers,
clustering metrics (NMI, ARI, pair counting, B-cubed, first-story detection), the naive
baseline the issue compares against, and :func:`run_eval`, the loop behind
``newsbot eval clustering``. Corpora are read in place from the shared data folder;
nothing here copies them. (A little over 600 lines: the readers, the metrics and the
loop are each short; together they are the one protocol the README's table reports.)
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import re
import resource
import sys
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from threadpoolctl import threadpool_limits

from stories.encoder import Encoder, Vectors, encoder_text, make_encoder, pack, unpack
from stories.errors import EXIT_USAGE, NewsbotError
from stories.model import Decision, Item, ItemKind

Order = Literal["file", "shuffle", "time"]
ORDERS: tuple[Order, ...] = ("file", "shuffle", "time")
METHODS: tuple[str, ...] = ("tracker", "baseline")
DATASETS: tuple[str, ...] = ("googlenews-t", "googlenews-ts", "googlenews-s", "uci")

# Where the shared corpora live, relative to the repository (``../shared/data``).
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
DATA_DIR_ENV = "NEWSBOT_DATA_DIR"


def default_data_dir() -> Path:
    """Where the corpora are: ``$NEWSBOT_DATA_DIR``, else ``../shared/data`` beside the repository."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else DEFAULT_DATA_DIR

# The GoogleNews snapshot carries no times: it was taken on one day (2013-11-27), so a
# stream of it gets one second per item in arrival order from that date.
_GOOGLENEWS_EPOCH = datetime(2013, 11, 27, tzinfo=UTC)


class DatasetError(NewsbotError, ValueError):
    """A corpus could not be found or read; the message says which file and why."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True, slots=True)
class LabelledItem:
    """One item of a labelled stream and its gold cluster."""

    item: Item
    cluster: str


@dataclass(frozen=True, slots=True)
class Corpus:
    """A labelled corpus: its name and its items in file order."""

    name: str
    items: tuple[LabelledItem, ...]


# ---------------------------------------------------------------------------
# Readers


def _read_jsonl(path: Path) -> list[tuple[str, str]]:
    """``(text, cluster)`` per line of a ``{"text", "cluster"}`` JSON Lines file."""
    rows: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                rows.append((str(obj["text"]), str(obj["cluster"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise DatasetError(f"{path}:{lineno}: not a {{text, cluster}} object: {exc}") from exc
    return rows


def _synthetic_items(
    name: str, rows: Sequence[tuple[str, str, str]], outlet: str = ""
) -> tuple[LabelledItem, ...]:
    """Items from ``(title, summary, cluster)`` rows; times are set when ordering."""
    return tuple(
        LabelledItem(
            Item(
                guid=f"{name}:{i + 1}",
                url=None,
                title=title,
                summary=summary,
                published=_GOOGLENEWS_EPOCH,
                outlet=outlet,
            ),
            cluster,
        )
        for i, (title, summary, cluster) in enumerate(rows)
    )


def read_googlenews(variant: Literal["t", "ts", "s"], data_dir: Path | None = None) -> Corpus:
    """Read a GoogleNews (Yin & Wang) variant as its PROVENANCE.md describes.

    ``ts`` is rebuilt from the aligned ``T`` and ``S`` files as title plus summary,
    as a feed would carry it; the two lines where ``TS`` is not ``T + " " + S`` keep
    the ``TS`` text as their title.
    """
    data_dir = data_dir or default_data_dir()
    base = data_dir / "googlenews-yin2016"
    name = f"googlenews-{variant}"
    if variant == "t":
        rows = [(text, "", c) for text, c in _read_jsonl(_need(base / "T"))]
    elif variant == "s":
        rows = [(text, "", c) for text, c in _read_jsonl(_need(base / "S"))]
    else:
        ts = _read_jsonl(_need(base / "TS"))
        t = _read_jsonl(_need(base / "T"))
        s = _read_jsonl(_need(base / "S"))
        if not len(ts) == len(t) == len(s):
            raise DatasetError(f"{base}: TS, T and S differ in length")
        rows = []
        for (ts_text, c), (t_text, _), (s_text, _) in zip(ts, t, s, strict=True):
            if ts_text == f"{t_text} {s_text}":
                rows.append((t_text, s_text, c))
            else:
                rows.append((ts_text, "", c))
    return Corpus(name, _synthetic_items(name, rows))


def read_uci(path: Path | None = None, *, drop_last_story: bool = True) -> Corpus:
    """Read the UCI News Aggregator prefix (Kaggle CSV) as its PROVENANCE.md says.

    The file is a byte prefix of the full corpus: its last line is cut, so it is
    dropped, and so is the last story, which may continue past the cut.
    """
    path = path or default_data_dir() / "uci-news-aggregator-prefix" / "uci-news-aggregator.csv"
    raw = _need(path).read_text(encoding="utf-8")
    complete = raw if raw.endswith("\n") else raw[: raw.rfind("\n") + 1]
    reader = csv.DictReader(complete.splitlines())
    need = {"TITLE", "URL", "PUBLISHER", "STORY", "TIMESTAMP"}
    if reader.fieldnames is None or not need <= set(reader.fieldnames):
        raise DatasetError(f"{path}: expected a header with {sorted(need)}")
    rows: list[LabelledItem] = []
    for n, row in enumerate(reader, 2):
        try:
            ms = int(row["TIMESTAMP"])
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"{path}:{n}: bad TIMESTAMP {row['TIMESTAMP']!r}") from exc
        item = Item(
            guid=row.get("ID") or str(n),
            url=row["URL"] or None,
            title=row["TITLE"],
            summary="",
            published=datetime.fromtimestamp(ms / 1000, tz=UTC),
            outlet=row["PUBLISHER"] or "",
        )
        rows.append(LabelledItem(item, row["STORY"]))
    if drop_last_story and rows:
        last = rows[-1].cluster
        while rows and rows[-1].cluster == last:
            rows.pop()
    return Corpus("uci", tuple(rows))


def read_corpus(name_or_path: str, data_dir: Path | None = None) -> Corpus:
    """A corpus by name (``googlenews-t``, ``googlenews-ts``, ``googlenews-s``, ``uci``) or path.

    A path is read as the UCI CSV when it ends in ``.csv`` (all rows kept), otherwise as
    JSON Lines of ``{"text", "cluster"}``.
    """
    data_dir = data_dir or default_data_dir()
    if name_or_path in ("googlenews-t", "googlenews-ts", "googlenews-s"):
        variant = name_or_path.rsplit("-", 1)[1]
        return read_googlenews(variant, data_dir)  # type: ignore[arg-type]
    if name_or_path == "uci":
        return read_uci(data_dir / "uci-news-aggregator-prefix" / "uci-news-aggregator.csv")
    path = Path(name_or_path)
    if not path.exists():
        raise DatasetError(
            f"unknown dataset {name_or_path!r}: use one of {', '.join(DATASETS)} or a file path"
        )
    if path.suffix.lower() == ".csv":
        return replace(read_uci(path, drop_last_story=False), name=str(path))
    rows = [(text, "", c) for text, c in _read_jsonl(path)]
    return Corpus(str(path), _synthetic_items(str(path), rows))


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DatasetError(f"{path}: corpus file not found (the corpora live in ../shared/data/)")
    return path


def corpus_available(name: str, data_dir: Path | None = None) -> bool:
    """Whether a named corpus is present (tests skip when it is not)."""
    data_dir = data_dir or default_data_dir()
    try:
        read_corpus_paths = {
            "googlenews-t": [data_dir / "googlenews-yin2016" / "T"],
            "googlenews-s": [data_dir / "googlenews-yin2016" / "S"],
            "googlenews-ts": [data_dir / "googlenews-yin2016" / f for f in ("TS", "T", "S")],
            "uci": [data_dir / "uci-news-aggregator-prefix" / "uci-news-aggregator.csv"],
        }[name]
    except KeyError:
        return False
    return all(p.is_file() for p in read_corpus_paths)


def ordered(
    corpus: Corpus, order: Order, seed: int = 0, *, arrival_clock: bool = False
) -> list[LabelledItem]:
    """The corpus as a stream in the given order.

    Corpora without times (GoogleNews) get one second per item in arrival order, so
    ``time`` order equals ``file`` order for them. Corpora with times keep their own,
    even when shuffled (items then arrive out of time order, as late feeds do), unless
    ``arrival_clock`` replaces them too: UCI's times are crawl times, a story's items
    within 75 seconds of each other, so this shows how much the scores owe to them.
    """
    items = list(corpus.items)
    if order == "shuffle":
        random.Random(seed).shuffle(items)
    elif order == "time":
        items.sort(key=lambda li: li.item.published)
    elif order != "file":
        raise ValueError(f"unknown order {order!r}: use one of {', '.join(ORDERS)}")
    if arrival_clock or all(li.item.published == _GOOGLENEWS_EPOCH for li in items):
        items = [
            replace(li, item=replace(li.item, published=_GOOGLENEWS_EPOCH + timedelta(seconds=i)))
            for i, li in enumerate(items)
        ]
    return items


# ---------------------------------------------------------------------------
# Metrics


@dataclass(frozen=True, slots=True)
class Scores:
    """Clustering scores of a predicted partition against a gold one."""

    nmi: float
    ari: float
    pair_precision: float
    pair_recall: float
    pair_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    gold_clusters: int
    pred_clusters: int


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _comb2(n: int) -> int:
    return n * (n - 1) // 2


def clustering_scores(gold: Sequence[object], pred: Sequence[object]) -> Scores:
    """NMI (arithmetic-mean normalisation, as scikit-learn), ARI, pair counting, B-cubed.

    Pair counting follows Miranda et al. (2018): precision is the share of predicted
    same-cluster pairs that are gold same-cluster pairs; recall the converse. With no
    predicted (or gold) pairs the corresponding score is 1 by convention.
    """
    if len(gold) != len(pred):
        raise ValueError("gold and predicted labels differ in length")
    n = len(gold)
    if n == 0:
        return Scores(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0, 0)
    cont: Counter[tuple[object, object]] = Counter(zip(gold, pred, strict=True))
    gsize: Counter[object] = Counter(gold)
    psize: Counter[object] = Counter(pred)

    # NMI
    def entropy(sizes: Iterable[int]) -> float:
        return -sum(s / n * math.log(s / n) for s in sizes)

    hg, hp = entropy(gsize.values()), entropy(psize.values())
    mi = sum(c / n * math.log(c * n / (gsize[g] * psize[p])) for (g, p), c in cont.items())
    if hg == 0 and hp == 0:
        nmi = 1.0
    elif hg == 0 or hp == 0:
        nmi = 0.0
    else:
        nmi = mi / ((hg + hp) / 2)

    # Pair counting and ARI
    tp = sum(_comb2(c) for c in cont.values())
    gp = sum(_comb2(s) for s in gsize.values())
    pp = sum(_comb2(s) for s in psize.values())
    pair_p = tp / pp if pp else 1.0
    pair_r = tp / gp if gp else 1.0
    total = _comb2(n)
    expected = gp * pp / total if total else 0.0
    max_index = (gp + pp) / 2
    ari = (tp - expected) / (max_index - expected) if max_index != expected else 1.0

    # B-cubed: each item's precision is |its pred ∩ its gold| / |its pred|
    b3_p = sum(c * c / psize[p] for (_, p), c in cont.items()) / n
    b3_r = sum(c * c / gsize[g] for (g, _), c in cont.items()) / n
    return Scores(
        nmi=nmi,
        ari=ari,
        pair_precision=pair_p,
        pair_recall=pair_r,
        pair_f1=_f1(pair_p, pair_r),
        bcubed_precision=b3_p,
        bcubed_recall=b3_r,
        bcubed_f1=_f1(b3_p, b3_r),
        gold_clusters=len(gsize),
        pred_clusters=len(psize),
    )


def first_story_scores(gold: Sequence[object], kinds: Sequence[ItemKind]) -> tuple[float, float]:
    """First-story detection precision and recall, over a stream in arrival order.

    Gold: the first item of each gold cluster is new. Predicted: items of kind ``new``.
    """
    seen: set[object] = set()
    gold_new: list[bool] = []
    for g in gold:
        gold_new.append(g not in seen)
        seen.add(g)
    pred_new = [k == "new" for k in kinds]
    hits = sum(1 for a, b in zip(gold_new, pred_new, strict=True) if a and b)
    n_pred, n_gold = sum(pred_new), sum(gold_new)
    return (hits / n_pred if n_pred else 1.0, hits / n_gold if n_gold else 1.0)


# ---------------------------------------------------------------------------
# The naive baseline

_BASELINE_WORD = re.compile(r"\w+")


class CentroidBaseline:
    """Single-pass TF-IDF clustering against cluster centroids with one fixed threshold.

    The naive reference the issue compares against: each item's TF-IDF vector (IDF from
    the documents seen so far, including this one) is compared by cosine with every
    cluster centroid (the sum of its members' unit vectors); it joins the best cluster
    when the cosine reaches ``threshold``, else it starts a cluster. No time decay,
    no eviction.
    """

    def __init__(self, threshold: float = 0.15) -> None:
        self.threshold = threshold
        self._df: Counter[str] = Counter()
        self._docs = 0
        self._centroids: list[dict[str, float]] = []
        self._norms: list[float] = []
        self._postings: defaultdict[str, set[int]] = defaultdict(set)

    def observe(self, key: int, item: Item) -> Decision:
        """Assign one item; the development id is the cluster index."""
        tf = Counter(_BASELINE_WORD.findall(item.text.lower()))
        self._docs += 1
        for term in tf:
            self._df[term] += 1
        # Smoothed IDF (+1) so a term seen in every document still counts a little.
        vec = {t: c * (math.log((1 + self._docs) / (1 + self._df[t])) + 1) for t, c in tf.items()}
        norm = math.sqrt(sum(w * w for w in vec.values())) or 1.0
        vec = {t: w / norm for t, w in vec.items()}
        candidates: set[int] = set()
        for t in vec:
            candidates |= self._postings.get(t, set())
        best, best_sim = -1, 0.0
        for c in sorted(candidates):
            cen = self._centroids[c]
            sim = sum(w * cen.get(t, 0.0) for t, w in vec.items()) / self._norms[c]
            if sim > best_sim:
                best, best_sim = c, sim
        if best >= 0 and best_sim >= self.threshold:
            cen = self._centroids[best]
            for t, w in vec.items():
                cen[t] = cen.get(t, 0.0) + w
                self._postings[t].add(best)
            self._norms[best] = math.sqrt(sum(w * w for w in cen.values()))
            return Decision(key=key, kind="update", development_id=best)
        cid = len(self._centroids)
        self._centroids.append(dict(vec))
        self._norms.append(1.0)
        for t in vec:
            self._postings[t].add(cid)
        return Decision(key=key, kind="new", development_id=cid)


# ---------------------------------------------------------------------------
# The run loop


class Clusterer(Protocol):
    """Anything that assigns a stream of items to developments."""

    def observe(self, key: int, item: Item) -> Decision: ...


def make_clusterer(method: str) -> Clusterer:
    """The clusterer behind ``--method``: ``tracker`` (shipped config) or ``baseline``."""
    if method == "baseline":
        return CentroidBaseline()
    if method == "tracker":
        from stories.tracker import Tracker

        return Tracker()
    raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")


# With sentence vectors, items go to the tracker in batches of this many, as a poll
# cycle would bring them (developments found alike are merged after each batch).
VECTOR_BATCH = 50
ENCODE_BATCH = 1000


def _stream(
    clusterer: Clusterer, items: Sequence[LabelledItem], encoder: Encoder | None = None
) -> list[Decision]:
    """Decide every item in order; the development ids are the final ones (after merges)."""
    from stories.tracker import Tracker

    if encoder is None or not isinstance(clusterer, Tracker):
        decisions = [clusterer.observe(i, li.item) for i, li in enumerate(items)]
    else:
        latest: dict[int, Decision] = {}
        found: dict[int, Vectors] = {}
        for start in range(0, len(items), VECTOR_BATCH):
            if start not in found:
                # Encoded as the poller's batches are (up to 1,000 items at once), stored
                # as float16 and read back, as in the application.
                chunk = items[start : start + ENCODE_BATCH]
                encoded = encoder.encode([encoder_text(li.item) for li in chunk])
                found.update({start + n: unpack(pack(v)) for n, v in enumerate(encoded)})
            batch = [(start + n, li.item) for n, li in enumerate(items[start : start + VECTOR_BATCH])]
            for d in clusterer.observe_many(batch, {k: found.pop(k) for k, _ in batch}, canonical=False):
                latest[d.key] = d
        decisions = [latest[i] for i in range(len(items))]
    resolve = getattr(clusterer, "resolve", None)
    if resolve is not None:
        decisions = [replace(d, development_id=resolve(d.development_id)) for d in decisions]
    return decisions


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_eval(
    dataset: str,
    *,
    order: Order = "file",
    method: str = "tracker",
    seed: int = 0,
    data_dir: Path | None = None,
    measure_memory: bool = True,
    factory: Callable[[], Clusterer] | None = None,
    arrival_clock: bool = False,
    encoder: str = "none",
) -> dict[str, Any]:
    """Stream a labelled corpus through a clusterer and score it.

    Returns one JSON-able dict (the ``--json`` output of ``newsbot eval clustering``).
    ``arrival_clock`` ignores the corpus's own times (see :func:`ordered`).
    Throughput is timed (process CPU time) on a plain run; peak memory (``peak_mem_mb``, the clusterer's
    own allocations) on a second, identical run under tracemalloc, which would
    otherwise slow the timed one down.
    """
    data_dir = data_dir or default_data_dir()
    corpus = read_corpus(dataset, data_dir)
    items = ordered(corpus, order, seed, arrival_clock=arrival_clock)
    make = factory or (lambda: make_clusterer(method))
    clusterer = make()
    vectors = make_encoder(encoder) if method == "tracker" else None
    if vectors is not None:
        vectors.encode(["warm up"])  # loading the model is not per-item work
    # CPU time of this process: "items per second on one core", encoding included
    # (numpy kept to one thread, or its BLAS threads would count several cores).
    with threadpool_limits(1):
        start = time.process_time()
        decisions = _stream(clusterer, items, vectors)
        elapsed = time.process_time() - start
    peak_mb: float | None = None
    if measure_memory:
        tracemalloc.start()
        try:
            _stream(make(), items, vectors)
            peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        finally:
            tracemalloc.stop()
    gold = [li.cluster for li in items]
    pred = [d.development_id for d in decisions]
    scores = clustering_scores(gold, pred)
    fsd_p, fsd_r = first_story_scores(gold, [d.kind for d in decisions])
    kinds = Counter(d.kind for d in decisions)
    result: dict[str, Any] = {
        "dataset": corpus.name,
        "order": order,
        "seed": seed if order == "shuffle" else None,
        "clock": "arrival" if arrival_clock else "item",
        "method": method,
        "encoder": encoder if method == "tracker" else None,
        "docs": len(items),
        "gold_clusters": scores.gold_clusters,
        "pred_clusters": scores.pred_clusters,
        "nmi": scores.nmi,
        "ari": scores.ari,
        "pair_precision": scores.pair_precision,
        "pair_recall": scores.pair_recall,
        "pair_f1": scores.pair_f1,
        "bcubed_precision": scores.bcubed_precision,
        "bcubed_recall": scores.bcubed_recall,
        "bcubed_f1": scores.bcubed_f1,
        "fsd_precision": fsd_p,
        "fsd_recall": fsd_r,
        "kinds": {k: kinds.get(k, 0) for k in ("new", "update", "rereport")},
        "duplicates": sum(1 for d in decisions if d.duplicate_of is not None),
        "seconds": elapsed,
        "items_per_s": len(items) / elapsed if elapsed > 0 else float("inf"),
        "peak_mem_mb": peak_mb,
        "peak_rss_mb": _peak_rss_mb(),
    }
    return result


_ROWS: tuple[tuple[str, str], ...] = (
    ("docs", "d"),
    ("gold_clusters", "d"),
    ("pred_clusters", "d"),
    ("nmi", ".4f"),
    ("ari", ".4f"),
    ("pair_precision", ".4f"),
    ("pair_recall", ".4f"),
    ("pair_f1", ".4f"),
    ("bcubed_precision", ".4f"),
    ("bcubed_recall", ".4f"),
    ("bcubed_f1", ".4f"),
    ("fsd_precision", ".4f"),
    ("fsd_recall", ".4f"),
    ("items_per_s", ".0f"),
    ("peak_mem_mb", ".1f"),
)


def format_result(result: dict[str, Any]) -> str:
    """A human-readable block for one :func:`run_eval` result."""
    head = f"{result['dataset']}  order={result['order']}"
    if result.get("seed") is not None:
        head += f" seed={result['seed']}"
    if result.get("clock") == "arrival":
        head += " clock=arrival"
    lines = [f"{head}  method={result['method']}"]
    for key, fmt in _ROWS:
        value = result.get(key)
        text = "n/a" if value is None else format(value, fmt)
        lines.append(f"  {key:<17} {text}")
    return "\n".join(lines)


def iter_results(runs: Iterable[tuple[str, Order, str]], **kwargs: Any) -> Iterator[dict[str, Any]]:
    """:func:`run_eval` over ``(dataset, order, method)`` triples."""
    for dataset, order, method in runs:
        yield run_eval(dataset, order=order, method=method, **kwargs)


_TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("docs", "docs", "d"),
    ("gold", "gold_clusters", "d"),
    ("pred", "pred_clusters", "d"),
    ("NMI", "nmi", ".3f"),
    ("ARI", "ari", ".3f"),
    ("pair F1", "pair_f1", ".3f"),
    ("B3 P", "bcubed_precision", ".3f"),
    ("B3 R", "bcubed_recall", ".3f"),
    ("B3 F1", "bcubed_f1", ".3f"),
    ("FSD P", "fsd_precision", ".3f"),
    ("FSD R", "fsd_recall", ".3f"),
    ("items/s", "items_per_s", ".0f"),
    ("peak MB", "peak_mem_mb", ".1f"),
)


def markdown_table(results: Iterable[dict[str, Any]]) -> str:
    """Results as a Markdown table (one row per run), for the README."""
    head = ["dataset", "order", "method"] + [c[0] for c in _TABLE_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        order = r["order"] + (f" (seed {r['seed']})" if r.get("seed") is not None else "")
        if r.get("clock") == "arrival":
            order += ", arrival clock"
        method = str(r["method"])
        if r.get("encoder") is not None:
            method += " (lexical)" if r["encoder"] == "none" else f" (encoder {r['encoder']})"
        cells = [str(r["dataset"]), order, method]
        for _, key, fmt in _TABLE_COLUMNS:
            value = r.get(key)
            cells.append("n/a" if value is None else format(value, fmt))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
