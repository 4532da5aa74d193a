"""Clustering metrics on hand-computed examples; corpus readers and the eval loop on the real corpora."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from stories.evaluation import (
    DatasetError,
    clustering_scores,
    corpus_available,
    first_story_scores,
    format_result,
    ordered,
    read_corpus,
    run_eval,
)

# Gold: {a,a,a,b,b}; predicted: {x,x,y,y,y}. Contingency a:(x2,y1) b:(y2).
GOLD = ["a", "a", "a", "b", "b"]
PRED = ["x", "x", "y", "y", "y"]


def test_pair_counting_by_hand() -> None:
    s = clustering_scores(GOLD, PRED)
    # Predicted pairs: C(2,2)+C(3,2) = 4; gold pairs: C(3,2)+C(2,2) = 4; shared: x(aa)+y(bb) = 2.
    assert s.pair_precision == pytest.approx(2 / 4)
    assert s.pair_recall == pytest.approx(2 / 4)
    assert s.pair_f1 == pytest.approx(0.5)


def test_bcubed_by_hand() -> None:
    s = clustering_scores(GOLD, PRED)
    # Precision per item: a in x: 2/2 (x2); a in y: 1/3; b in y: 2/3 (x2).
    p = (1 + 1 + 1 / 3 + 2 / 3 + 2 / 3) / 5
    # Recall per item: a in x: 2/3 (x2); a in y: 1/3; b in y: 2/2 (x2).
    r = (2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5
    assert s.bcubed_precision == pytest.approx(p)
    assert s.bcubed_recall == pytest.approx(r)
    assert s.bcubed_f1 == pytest.approx(2 * p * r / (p + r))


def test_ari_and_nmi_by_hand() -> None:
    s = clustering_scores(GOLD, PRED)
    # ARI = (index - expected) / (max - expected): index 2, expected 4*4/10, max 4.
    assert s.ari == pytest.approx((2 - 1.6) / (4 - 1.6))
    h = lambda ps: -sum(p * math.log(p) for p in ps)  # noqa: E731
    hg, hp = h([3 / 5, 2 / 5]), h([2 / 5, 3 / 5])
    mi = (
        (2 / 5) * math.log((2 / 5) / (3 / 5 * 2 / 5))
        + (1 / 5) * math.log((1 / 5) / (3 / 5 * 3 / 5))
        + (2 / 5) * math.log((2 / 5) / (2 / 5 * 3 / 5))
    )
    assert s.nmi == pytest.approx(mi / ((hg + hp) / 2))
    assert (s.gold_clusters, s.pred_clusters) == (2, 2)


def test_perfect_and_degenerate_partitions() -> None:
    perfect = clustering_scores(GOLD, [g.upper() for g in GOLD])
    assert perfect.nmi == pytest.approx(1) and perfect.ari == pytest.approx(1)
    assert perfect.bcubed_f1 == pytest.approx(1) and perfect.pair_f1 == pytest.approx(1)
    singletons = clustering_scores(GOLD, list(range(5)))
    assert singletons.bcubed_precision == 1 and singletons.pair_recall == 0
    assert singletons.bcubed_recall == pytest.approx((1 / 3 * 3 + 1 / 2 * 2) / 5)
    with pytest.raises(ValueError):
        clustering_scores(GOLD, PRED[:3])


def test_first_story_detection() -> None:
    # Gold new items: 0 (a) and 3 (b). Predicted new: 0, 2.
    p, r = first_story_scores(GOLD, ["new", "update", "new", "rereport", "update"])
    assert (p, r) == (0.5, 0.5)


def test_jsonl_path_is_read_and_scored(tmp_path: Path) -> None:
    path = tmp_path / "tiny.jsonl"
    rows = [
        {"text": "fed plosser taper weather", "cluster": 1},
        {"text": "flash costume gustin photo", "cluster": 2},
        {"text": "plosser fed taper pace", "cluster": 1},
        {"text": "gustin flash costume image", "cluster": 2},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    for method in ("tracker", "baseline"):
        result = run_eval(str(path), method=method, measure_memory=True)
        assert result["docs"] == 4 and result["gold_clusters"] == 2
        assert result["bcubed_f1"] == pytest.approx(1.0)
        assert result["fsd_precision"] == 1.0 and result["fsd_recall"] == 1.0
        assert result["peak_mem_mb"] is not None and result["items_per_s"] > 0
        assert "bcubed_f1" in format_result(result)


def test_bad_inputs_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset"):
        read_corpus("no-such-corpus")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x"}\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl:1"):
        read_corpus(str(bad))


needs_t = pytest.mark.skipif(not corpus_available("googlenews-t"), reason="googlenews-t absent")
needs_ts = pytest.mark.skipif(not corpus_available("googlenews-ts"), reason="googlenews-ts absent")
needs_uci = pytest.mark.skipif(not corpus_available("uci"), reason="UCI prefix absent")


@needs_t
def test_googlenews_t_reads_as_documented() -> None:
    corpus = read_corpus("googlenews-t")
    assert len(corpus.items) == 11_109
    assert len({li.cluster for li in corpus.items}) == 152
    stream = ordered(corpus, "shuffle", seed=0)
    assert stream != ordered(corpus, "file") and len(stream) == 11_109
    times = [li.item.published for li in stream]
    assert times == sorted(times)  # one second per item in arrival order


@needs_ts
def test_googlenews_ts_is_title_plus_summary() -> None:
    corpus = read_corpus("googlenews-ts")
    split = [li for li in corpus.items if li.item.summary]
    assert len(split) >= 11_107 and len(corpus.items) == 11_109


@needs_uci
def test_uci_drops_the_cut_line_and_the_last_story() -> None:
    corpus = read_corpus("uci")
    assert len(corpus.items) == 6_366 - 68
    assert len({li.cluster for li in corpus.items}) == 86
    assert all(li.cluster != "dhEMwa0MwoR1WhMbGqJ5FLoTnr5nM" for li in corpus.items)
    first = corpus.items[0].item
    assert first.outlet == "Los Angeles Times" and first.url and first.published.year == 2014


@needs_t
def test_tracker_beats_the_baseline_on_googlenews_t() -> None:
    base = run_eval("googlenews-t", method="baseline", measure_memory=False)
    ours = run_eval("googlenews-t", method="tracker", measure_memory=False)
    assert base["bcubed_f1"] == pytest.approx(0.66, abs=0.02)  # the lead's measurement
    assert ours["bcubed_f1"] >= base["bcubed_f1"] + 0.05


def test_markdown_table_names_the_tracker_mode_of_each_row() -> None:
    """The README table tells the lexical tracker's rows from the encoder's."""
    from stories.evaluation import markdown_table

    base = {"dataset": "d", "order": "file", "seed": None, "clock": "item"}
    table = markdown_table(
        [
            base | {"method": "baseline", "encoder": None},
            base | {"method": "tracker", "encoder": "none"},
            base | {"method": "tracker", "encoder": "use"},
        ]
    )
    rows = [line.split(" | ")[2] for line in table.splitlines()[2:]]
    assert rows == ["baseline", "tracker (lexical)", "tracker (encoder use)"]
