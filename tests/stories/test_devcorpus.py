"""The development corpus: its size and labels, its feeds, and the scorer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import feedparser
import pytest

from stories.devcorpus import Outcome, load_corpus, score, simulate_items

CORPUS = Path(__file__).resolve().parent.parent / "data" / "developments"


@pytest.fixture(scope="module")
def corpus():  # type: ignore[no-untyped-def]
    return load_corpus(CORPUS)


def test_the_corpus_is_as_large_and_varied_as_the_issue_asks(corpus) -> None:  # type: ignore[no-untyped-def]
    reports = list(corpus.reports.values())
    assert len(corpus.outlets) >= 8 and len(corpus.polls) >= 6
    assert len(reports) >= 300
    assert len({r.development for r in reports if r.development}) >= 60
    assert {r.lang for r in reports} >= {"en", "es", "ru"}
    assert {o.format for o in corpus.outlets.values()} == {"rss", "atom"}
    forms = Counter(r.form for r in reports)
    for form in ("wire-copy", "reprint", "reprint-notice", "translation", "rewrite", "explainer", "analysis"):
        assert forms[form] >= 3, form
    kinds = Counter(r.kind for r in reports)
    assert kinds["update"] >= 30 and kinds["noise"] >= 30
    # Stories from other periods than January-February 2019.
    assert {p.year for p in corpus.polls} == {2023, 2024}


def test_every_label_is_consistent(corpus) -> None:  # type: ignore[no-untyped-def]
    reports = corpus.reports
    by_dev = Counter(r.development for r in reports.values() if r.kind == "new")
    developments = {r.development for r in reports.values() if r.development}
    assert all(by_dev[d] == 1 for d in developments)  # one first report each
    for r in reports.values():
        if r.kind == "noise":
            assert r.story is None and r.development is None
        if r.kind == "rereport":
            original = reports[r.copies]
            assert original.development == r.development and original.kind != "noise"
        assert r.lang == corpus.outlets[r.outlet].lang


def test_feeds_move_as_real_feeds_do_and_every_report_is_seen(corpus) -> None:  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    overlaps = 0
    for outlet in corpus.outlets:
        previous: set[str] = set()
        for poll in range(len(corpus.polls)):
            parsed = feedparser.parse(corpus.snapshot(outlet, poll))
            assert not parsed.bozo, (outlet, poll, parsed.get("bozo_exception"))
            links = {e.link for e in parsed.entries}
            assert len(links) == len(parsed.entries) <= corpus.outlets[outlet].window
            overlaps += bool(links & previous)
            previous = links
            seen |= links
    assert seen == {r.url for r in corpus.reports.values()}
    assert overlaps >= len(corpus.outlets) * 6  # consecutive snapshots share entries
    # Each report is new in exactly one poll.
    batches = [k for batch in simulate_items(corpus) for k, _ in batch]
    assert sorted(batches) == list(range(len(corpus.reports)))


def test_syndication_elements_reach_the_feeds(corpus) -> None:  # type: ignore[no-untyped-def]
    found = Counter()
    for outlet in corpus.outlets:
        for poll in range(len(corpus.polls)):
            for e in feedparser.parse(corpus.snapshot(outlet, poll)).entries:
                found["source"] += "source" in e
                found["dc_source"] += "dc_source" in e
                found["canonical"] += any(link.get("rel") == "canonical" for link in e.get("links", []))
    assert found["source"] and found["dc_source"] and found["canonical"]


def test_the_scorer_gives_one_for_the_labels_and_less_for_a_lump(corpus) -> None:  # type: ignore[no-untyped-def]
    dev_ids = {d: n for n, d in enumerate(sorted({r.development or r.id for r in corpus.reports.values()}))}
    perfect = {
        r.id: Outcome(
            r.id,
            True,
            "rereport" if r.kind == "noise" else r.kind,
            dev_ids[r.development or r.id],
            r.copies,
            frozenset({r.story}) if r.story else frozenset(),
        )
        for r in corpus.reports.values()
    }
    result = score(corpus, perfect)
    for s in result["stories"].values():
        assert s["bcubed_f1"] == 1.0 and s["rereports_folded"] == 1.0
        assert s["first_reports_new"] == 1.0 and s["updates_marked_update"] == 1.0
        assert s["story_precision"] == 1.0 and s["story_recall"] == 1.0
    lump = {rid: Outcome(rid, True, "rereport", 1, None, frozenset(corpus.stories)) for rid in corpus.reports}
    worse = score(corpus, lump)
    for s in worse["stories"].values():
        assert s["bcubed_f1"] < 0.5 and s["first_reports_new"] == 0.0 and s["story_precision"] < 0.5
