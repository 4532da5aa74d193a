"""Same-thread decisions on labelled pairs of real articles (``newsbot eval pairs``).

The Telegram Data Clustering contest (2020) had crowd workers label pairs of English
news articles as one thread (the same event) or not; 35 of those pairs, with their
titles and full texts, are in ``../shared/data/tgcontest-en-pairs`` (see its
PROVENANCE.md). They were picked by a model's similarity score, so the "not one
thread" pairs are hard ones: same topic, same people, another event.

The protocol: each article becomes an item (its title; its text, cut where the feed
layer cuts a summary; its outlet from its URL's host), all first articles in file order
and then all second ones stream through one fresh tracker (an article in several pairs
once, as the storage keeps one item per URL), and a pair counts as "one
thread" when its two items end in the same development. The other pairs' articles are
the background (document frequencies, competing developments). The file has no times, so
the items are one second apart. Two ways an item can be decided are scored:

- ``topic``: as an item of no watched story (the topic grouping of ``newsbot eval
  clustering``);
- ``story``: as items of one watched story (a watchlist that matches any Latin-script
  text), so the link model decides, as for a story's developments.

With the encoder, the cosine of each pair's two vectors is scored too (ROC AUC, one
thread against not).
"""

from __future__ import annotations

import csv
import string
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stories.encoder import encoder_text, make_encoder, pack, unpack
from stories.evaluation import DatasetError, default_data_dir
from stories.model import Item
from stories.tracker import Tracker

__all__ = ["PAIR_DATASETS", "SUMMARY_CHARS", "WATCH_ALL", "Pair", "read_pairs", "run_pair_eval"]

PAIR_DATASETS = {"tgcontest-en": Path("tgcontest-en-pairs") / "en_train_pool.tsv"}

SUMMARY_CHARS = 2000
"""An article's text is cut here, as the feed layer cuts a summary (``feeds.normalize.SUMMARY_MAX``)."""

WATCH_ALL = " OR ".join(f"{c}*" for c in string.ascii_lowercase + string.digits)
"""The ``story`` way's watchlist: every word's first letter or digit, so any Latin-script text."""

_COLUMNS = (
    "INPUT:first_url",
    "INPUT:first_title",
    "INPUT:first_text",
    "INPUT:second_url",
    "INPUT:second_title",
    "INPUT:second_text",
    "GOLDEN:quality",
)
_LABELS = {"OK": True, "BAD": False}
# The contest's articles are from early November 2019 (by their URLs).
_EPOCH = datetime(2019, 11, 4, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Pair:
    """Two articles and whether they report one thread."""

    first: Item
    second: Item
    same: bool


def _item(n: int, url: str, title: str, text: str) -> Item:
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return Item(
        guid=f"pair:{n}",
        url=url or None,
        title=title.strip(),
        summary=" ".join(text.split())[:SUMMARY_CHARS],
        published=_EPOCH,
        outlet=host,
        language="en",  # the pool's articles are English (en_train_pool)
    )


def read_pairs(name_or_path: str, data_dir: Path | None = None) -> list[Pair]:
    """The labelled pairs of a Toloka pool (a dataset name or a TSV path).

    Raises :class:`DatasetError` if the file is missing, lacks a column, or holds a label
    other than OK / BAD.
    """
    known = PAIR_DATASETS.get(name_or_path)
    path = (data_dir or default_data_dir()) / known if known else Path(name_or_path)
    if not path.is_file():
        names = ", ".join(sorted(PAIR_DATASETS))
        raise DatasetError(f"no pairs file at {path} (datasets: {names}, or a path to a Toloka TSV)")
    csv.field_size_limit(10_000_000)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
        pairs: list[Pair] = []
        for line, row in enumerate(reader, start=2):
            label = (row["GOLDEN:quality"] or "").strip()
            if label not in _LABELS:
                raise DatasetError(f"{path}, line {line}: label {label!r} is neither OK nor BAD")
            n = 2 * len(pairs)
            pairs.append(
                Pair(
                    _item(n, row["INPUT:first_url"], row["INPUT:first_title"], row["INPUT:first_text"]),
                    _item(
                        n + 1, row["INPUT:second_url"], row["INPUT:second_title"], row["INPUT:second_text"]
                    ),
                    _LABELS[label],
                )
            )
    if not pairs:
        raise DatasetError(f"{path}: no pairs")
    return pairs


def _stream(pairs: Sequence[Pair]) -> tuple[list[Item], list[tuple[int, int]]]:
    """The items in stream order, and each pair's two positions in it.

    An article in several pairs (the pool has some) is one item, as the storage keeps one
    item per URL: it is streamed where it first appears.
    """
    items: list[Item] = []
    where: dict[str, int] = {}

    def place(it: Item) -> int:
        key = it.url or it.guid
        if key not in where:
            where[key] = len(items)
            items.append(replace(it, published=_EPOCH + timedelta(seconds=len(items))))
        return where[key]

    firsts = [place(p.first) for p in pairs]
    seconds = [place(p.second) for p in pairs]
    return items, list(zip(firsts, seconds, strict=True))


def _scores(same: Sequence[bool], gold: Sequence[bool]) -> dict[str, Any]:
    tp = sum(1 for s, g in zip(same, gold, strict=True) if s and g)
    fp = sum(1 for s, g in zip(same, gold, strict=True) if s and not g)
    fn = sum(1 for s, g in zip(same, gold, strict=True) if g and not s)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    correct = sum(1 for s, g in zip(same, gold, strict=True) if s == g)
    return {
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": correct / len(gold),
    }


def _auc(scores: Sequence[float], gold: Sequence[bool]) -> float | None:
    """ROC AUC of ``scores`` for the positives of ``gold`` (ties count half)."""
    pos = [s for s, g in zip(scores, gold, strict=True) if g]
    neg = [s for s, g in zip(scores, gold, strict=True) if not g]
    if not pos or not neg:
        return None
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def run_pair_eval(
    dataset: str = "tgcontest-en", *, data_dir: Path | None = None, encoder: str = "use"
) -> dict[str, Any]:
    """Score the tracker's same-thread decisions on a labelled pair pool (see the module
    docstring); one JSON-able dict, the ``--json`` output of ``newsbot eval pairs``."""
    pairs = read_pairs(dataset, data_dir)
    items, positions = _stream(pairs)
    gold = [p.same for p in pairs]
    model = make_encoder(encoder)
    vectors = None
    if model is not None:
        # Stored as float16 and read back, as in the application.
        vectors = {k: unpack(pack(v)) for k, v in enumerate(model.encode([encoder_text(it) for it in items]))}
    n = len(pairs)
    result: dict[str, Any] = {
        "dataset": dataset,
        "encoder": encoder,
        "pairs": n,
        "one_thread": sum(gold),
        "articles": len(items),
    }
    mistakes: dict[str, list[dict[str, Any]]] = {}
    for way, stories in (("topic", None), ("story", {0: WATCH_ALL})):
        tracker = Tracker(stories=stories)
        decided = {d.key: d for d in tracker.observe_many(list(enumerate(items)), vectors, canonical=False)}
        dev = {k: tracker.resolve(d.development_id) for k, d in decided.items()}
        same = [dev[a] == dev[b] for a, b in positions]
        result[way] = _scores(same, gold)
        mistakes[way] = [
            {"first": p.first.title, "second": p.second.title, "labelled_one_thread": p.same}
            for p, s in zip(pairs, same, strict=True)
            if s != p.same
        ]
    result["cosine_auc"] = (
        _auc([float(vectors[a] @ vectors[b]) for a, b in positions], gold) if vectors is not None else None
    )
    result["mistakes"] = mistakes
    return result
