"""Developments: online event clustering of raw feed items, kinds, facts, decay, persistence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from stories.developments import DevelopmentConfig, Developments, extract_facts, terms
from stories.model import Item

T0 = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


def item(title: str, summary: str = "", *, outlet: str = "Wire", hours: float = 0) -> Item:
    return Item(
        guid=title,
        url=None,
        title=title,
        summary=summary,
        published=T0 + timedelta(hours=hours),
        outlet=outlet,
    )


FED = [
    item(
        "Fed official says weak data caused by weather, should not slow taper",
        "Philadelphia Fed President Charles Plosser said weak economic data reflected the harsh "
        "winter weather and should not slow the pace of tapering.",
        outlet="Los Angeles Times",
    ),
    item(
        "Fed's Charles Plosser sees high bar for change in pace of tapering",
        "Plosser said the bar for changing the pace of tapering is high; the Fed cuts "
        "purchases by $10 billion a month.",
        outlet="Livemint",
        hours=0.2,
    ),
    item(
        "Fed risks falling 'behind the curve', Charles Plosser says",
        "Philadelphia Fed President Charles Plosser warned the Fed risks falling behind the curve "
        "on tapering.",
        outlet="IFA Magazine",
        hours=0.4,
    ),
]
FLASH = [
    item(
        "The CW releases first full-body costume photo of 'The Flash'",
        "The CW has released the first full-body photo of Grant Gustin in costume as The Flash.",
        outlet="TVbytheNumbers",
        hours=0.1,
    ),
    item(
        "The Flash: full costume revealed in new image",
        "Grant Gustin appears in the full Flash costume in a new image released by The CW.",
        outlet="IGN",
        hours=0.3,
    ),
]


def test_items_of_one_event_share_a_development_and_events_stay_apart() -> None:
    devs = Developments()
    stream = [FED[0], FLASH[0], FED[1], FLASH[1], FED[2]]
    got = [devs.assign(i) for i in stream]
    fed = {got[0].development_id, got[2].development_id, got[4].development_id}
    flash = {got[1].development_id, got[3].development_id}
    assert len(fed) == 1 and len(flash) == 1 and fed != flash
    assert [a.kind for a in got[:2]] == ["new", "new"]


def test_update_carries_new_facts_and_a_repeat_is_a_rereport() -> None:
    devs = Developments()
    assert devs.assign(FED[0]).kind == "new"
    update = devs.assign(FED[1])
    assert update.kind == "update"
    assert "$10000000000" in update.new_facts  # "$10 billion": a number the first report did not have
    repeat = devs.assign(
        item(
            "Fed's Plosser: weak data caused by weather, taper should not slow",
            "Philadelphia Fed President Charles Plosser said weak data reflected the weather.",
            outlet="Reuters",
            hours=0.5,
        )
    )
    assert repeat.development_id == update.development_id
    assert repeat.kind == "rereport" and repeat.new_facts == ()


def test_old_developments_stop_attracting_items_and_leave_the_active_set() -> None:
    devs = Developments(DevelopmentConfig(quiet_hours=48))
    first = devs.assign(FED[0])
    # Many unrelated items a week later push the clock on and trigger sweeps.
    for n in range(300):
        devs.assign(item(f"unrelated topic {n} zebra{n} quokka{n}", hours=24 * 7 + n / 100))
    assert devs.info(first.development_id) is None
    again = devs.assign(item(FED[0].title, FED[0].summary, hours=24 * 8))
    assert again.kind == "new" and again.development_id != first.development_id


def test_active_set_is_bounded_by_quiet_time() -> None:
    devs = Developments(DevelopmentConfig(quiet_hours=1))
    for n in range(2000):
        devs.assign(item(f"event {n} alpha{n} beta{n}", hours=n / 10))
    # 1 hour of quiet at 10 items per hour, plus up to one sweep interval of 256 items.
    assert len(devs) <= 10 + 256 + 1


def test_lowercased_corpus_text_clusters_too() -> None:
    devs = Developments()
    a = devs.assign(item("aarushi hemraj murder verdict talwars guilty"))
    b = devs.assign(item("mourinho seek killer instinct basel"))
    c = devs.assign(item("talwars guilty aarushi murder court"))
    assert c.development_id == a.development_id != b.development_id
    assert c.kind in ("update", "rereport")


def test_same_items_same_decisions_and_state_round_trips_through_json() -> None:
    stream = [FED[0], FLASH[0], FED[1], FLASH[1], FED[2]]
    whole = Developments()
    expected = [whole.assign(i) for i in stream]
    first = Developments()
    head = [first.assign(i) for i in stream[:3]]
    restored = Developments.from_dict(json.loads(json.dumps(first.to_dict())))
    tail = [restored.assign(i) for i in stream[3:]]
    assert head + tail == expected
    assert restored.to_dict() == whole.to_dict()


def test_facts_from_raw_text() -> None:
    facts = extract_facts(FED[0])
    assert {"charles", "plosser", "philadelphia"} <= facts
    assert any("charles plosser" in f for f in facts)
    # Title Case titles do not make every word a name.
    tc = extract_facts(item("Fed Official Says Weak Data Caused By Weather", "Nothing else."))
    assert "weak" not in tc and "weather" not in tc
    assert "nsa" in extract_facts(item("NSA spied on porn habits", ""))
    assert extract_facts(item("aarushi verdict", "")) == frozenset()


def test_terms_fold_accents_drop_stop_words_and_plurals() -> None:
    assert terms("Guaidó says the Patriots won") == ["guaido", "patriot", "won"]
    assert terms("Cities and buses") == ["city", "buse"]


def test_neighbour_window_and_active_set_stay_bounded_in_the_saved_state() -> None:
    devs = Developments(DevelopmentConfig(neighbour_window=100, quiet_hours=2))
    for n in range(1500):
        devs.assign(item(f"story {n % 40} about topic{n % 40} and more{n}", hours=n / 100))
    state = devs.to_dict()
    assert len(state["item_window"]) == 100
    assert max(len(p) for p in state["item_postings"].values()) <= 32
    # Only the last ~2 hours (200 items) and one sweep interval can still be active.
    assert len(state["prototypes"]) <= 40 + 256


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=80), st.text(max_size=200)), min_size=1, max_size=12))
def test_any_text_gets_a_decision_and_replays_identically(texts: list[tuple[str, str]]) -> None:
    items = [item(t, s, hours=i) for i, (t, s) in enumerate(texts)]
    first, second = Developments(), Developments()
    a = [first.assign(i) for i in items]
    b = [second.assign(i) for i in items]
    assert a == b
    assert a[0].kind == "new"
    assert all(x.kind in ("new", "update", "rereport") for x in a)


def test_sentence_vector_evidence_joins_a_rewording_that_shares_no_word() -> None:
    """``similar``: close sentence vectors join an item to a development it shares no
    word with (HP reported as Hewlett-Packard); cosines at or below the floor do not,
    and without the evidence the item starts a development of its own."""
    first = item("Hewlett-Packard beats earnings estimates on enterprise sales")
    reword = item("HP quarterly profit tops Wall Street forecasts", hours=0.1)
    cases: list[tuple[list[float] | None, bool]] = [(None, False), ([0.45, 0.4], False), ([0.9, 0.85], True)]
    for cosines, joins in cases:
        devs = Developments()
        a = devs.assign(first)
        b = devs.assign(reword, similar=None if cosines is None else {a.development_id: cosines})
        assert (b.development_id == a.development_id) is joins
        assert (b.kind != "new") is joins
        assert len(devs) == (1 if joins else 2)


def test_sentence_vector_evidence_is_deterministic_and_ignores_departed_developments() -> None:
    """The same items and evidence give the same decisions; evidence naming a
    development that has left the active set (or never was) starts a new one."""

    def run() -> list[tuple[int, str]]:
        devs = Developments()
        out = [devs.assign(it) for it in FED + FLASH]
        later = item("Markets shrug as central bank holds course", hours=0.5)
        out.append(devs.assign(later, similar={out[0].development_id: [0.8, 0.7, 0.7], 999: [0.99]}))
        gone = item("Quiet week ends", hours=500)
        out.append(devs.assign(gone, similar={out[0].development_id: [0.95]}))
        return [(a.development_id, a.kind) for a in out]

    first, second = run(), run()
    assert first == second
    assert first[-2][0] == first[0][0]  # joined the Fed development on the evidence
    assert first[-1][1] == "new"  # the Fed development had gone quiet
