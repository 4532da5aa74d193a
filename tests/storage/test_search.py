"""Full-text search on both databases: the query language, folding, filters, ranking,
snippets, bad input, the index kept in step, and retention."""

from __future__ import annotations

import contextlib
import html
import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text, update

from storage import search as search_module
from storage.models import DevelopmentRow, ItemRow
from storage.repository import Storage
from storage.search import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    SearchHit,
    count_matches,
    index_items,
    index_pending,
    make_snippet,
    prune_items,
    rebuild_index,
    search_items,
    to_fts5,
    to_tsquery,
)
from stories.model import Decision, Item
from stories.query import QueryError, evaluate, parse
from stories.text import tokens

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def item(title: str, summary: str = "", *, days_ago: float = 1.0, guid: str | None = None,
         outlet: str = "Wire") -> Item:
    published = NOW - timedelta(days=days_ago)
    key = guid or f"{title}|{summary}|{days_ago}"
    return Item(guid=key, url=f"https://news.example/{abs(hash(key))}", title=title,
                summary=summary, published=published, outlet=outlet)


@pytest.fixture
async def store(storage: Storage) -> AsyncIterator[Storage]:
    yield storage


async def add(store: Storage, items: Sequence[Item], *, feed: str = "https://feed.example/a",
              fetched_days_ago: float | None = None) -> list[int]:
    existing = await store.get_feed(feed)
    state = existing or await store.add_feed(feed)
    assert state.id is not None
    fetched = NOW - timedelta(days=fetched_days_ago if fetched_days_ago is not None else 0)
    result = await store.store_items(state.id, items, fetched_at=fetched)
    return [item_id for item_id, _ in result.new]


async def titles(store: Storage, query: str, **kwargs: object) -> list[str]:
    hits = await search_items(store.engine, query, now=NOW, **kwargs)  # type: ignore[arg-type]
    return [hit.title for hit in hits]


# --------------------------------------------------------------------------- language


async def test_phrase_versus_words(store: Storage) -> None:
    await add(store, [
        item("Wagner Group fighters leave Mali"),
        item("Group of opera lovers celebrates Wagner anniversary"),
    ])
    assert sorted(await titles(store, "Wagner Group")) == [
        "Group of opera lovers celebrates Wagner anniversary",
        "Wagner Group fighters leave Mali",
    ]
    assert await titles(store, '"Wagner Group"') == ["Wagner Group fighters leave Mali"]
    assert await titles(store, "«wagner group»") == ["Wagner Group fighters leave Mali"]


async def test_exclusion(store: Storage) -> None:
    await add(store, [
        item("Wagner mercenaries seen in Libya"),
        item("Wagner opera premieres in Bayreuth", "A new staging of the opera."),
    ])
    assert await titles(store, "Wagner -opera") == ["Wagner mercenaries seen in Libya"]
    assert await titles(store, "Wagner NOT (opera OR Bayreuth)") == ["Wagner mercenaries seen in Libya"]
    # An exclusion inside an OR: Wagner AND (Libya OR NOT opera).
    assert sorted(await titles(store, "Wagner (Libya OR -opera)")) == ["Wagner mercenaries seen in Libya"]


async def test_prefix_and_whole_words(store: Storage) -> None:
    await add(store, [
        item("Sudanese army retakes Omdurman bridge"),
        item("Sudan talks resume in Jeddah"),
    ])
    assert await titles(store, "Sudan") == ["Sudan talks resume in Jeddah"]
    assert sorted(await titles(store, "Sudan*")) == [
        "Sudan talks resume in Jeddah",
        "Sudanese army retakes Omdurman bridge",
    ]
    assert await titles(store, "Omdur*") == ["Sudanese army retakes Omdurman bridge"]
    assert await titles(store, "su*") != []


async def test_or_and_parentheses(store: Storage) -> None:
    await add(store, [
        item("Prigozhin speaks in Rostov"),
        item("Utkin seen in Rostov"),
        item("Shoigu visits Rostov"),
    ])
    assert sorted(await titles(store, "Rostov (Prigozhin OR Utkin)")) == [
        "Prigozhin speaks in Rostov",
        "Utkin seen in Rostov",
    ]
    assert sorted(await titles(store, "Prigozhin | Shoigu")) == [
        "Prigozhin speaks in Rostov",
        "Shoigu visits Rostov",
    ]


async def test_accents_and_case_fold_both_ways(store: Storage) -> None:
    await add(store, [
        item("Guaidó calls for protests in Caracas"),
        item("GUAIDO interview", "Opposition leader Juan Guaido speaks"),
        item("Straße closed in Zürich"),
    ])
    assert sorted(await titles(store, "Guaido")) == [
        "GUAIDO interview",
        "Guaidó calls for protests in Caracas",
    ]
    assert sorted(await titles(store, "guaidó")) == sorted(await titles(store, "Guaido"))
    assert await titles(store, "zurich strasse") == ["Straße closed in Zürich"]


async def test_cyrillic(store: Storage) -> None:
    await add(store, [
        item("ЧВК «Вагнер» покидает Бахмут", "Евгений Пригожин заявил об отходе"),
        item("Ёлка на Красной площади"),
        item("Сейчас в Москве"),
    ])
    assert await titles(store, "вагнер") == ["ЧВК «Вагнер» покидает Бахмут"]
    assert await titles(store, '"ЧВК Вагнер"') == ["ЧВК «Вагнер» покидает Бахмут"]
    assert await titles(store, "ПРИГОЖИН") == ["ЧВК «Вагнер» покидает Бахмут"]
    assert await titles(store, "пригож*") == ["ЧВК «Вагнер» покидает Бахмут"]
    # ё is folded to е (people type either); й stays a letter of its own.
    assert await titles(store, "елка") == ["Ёлка на Красной площади"]
    assert await titles(store, "сеичас") == []
    assert await titles(store, "сейчас") == ["Сейчас в Москве"]


# --------------------------------------------------------------------------- filters


async def test_time_filter(store: Storage) -> None:
    await add(store, [
        item("Ceasefire holds in Khartoum", days_ago=2),
        item("Ceasefire collapses in Khartoum", days_ago=20),
    ])
    assert await titles(store, "ceasefire", since=NOW - timedelta(days=7)) == [
        "Ceasefire holds in Khartoum"
    ]
    assert len(await titles(store, "ceasefire", since=NOW - timedelta(days=30))) == 2


async def test_story_and_feed_filters(store: Storage) -> None:
    ids = await add(store, [item("Maduro speaks on oil"), item("Oil prices rise")], feed="https://a.example/rss")
    [other] = await add(store, [item("Oil spill in the Gulf")], feed="https://b.example/rss")
    story = await store.add_story("Venezuela", "Maduro OR Caracas")
    assert story.id is not None
    await store.record_decisions([
        Decision(key=ids[0], kind="new", development_id=1, stories=frozenset({story.id})),
        Decision(key=ids[1], kind="new", development_id=2),
        Decision(key=other, kind="new", development_id=3),
    ])
    assert await titles(store, "oil", story_id=story.id) == ["Maduro speaks on oil"]
    assert await count_matches(store.engine, "oil", story_id=story.id) == 1
    assert await count_matches(store.engine, "oil") == 3
    assert await count_matches(store.engine, "oil", cap=2) == 2
    feed_b = await store.get_feed("https://b.example/rss")
    assert feed_b is not None and feed_b.id is not None
    assert await titles(store, "oil", feed_id=feed_b.id) == ["Oil spill in the Gulf"]
    assert len(await titles(store, "oil")) == 3


# --------------------------------------------------------------------------- ranking


async def test_recent_title_match_beats_old_passing_mention(store: Storage) -> None:
    await add(store, [
        item("Markets wrap", "Stocks rose; elsewhere, Prigozhin was mentioned once among many "
             "other things in a long round-up of the week", days_ago=40),
        item("Prigozhin plane crash confirmed", "Officials confirm the crash.", days_ago=1),
        item("Weather", "Rain expected", days_ago=0.5),
    ])
    hits = await search_items(store.engine, "Prigozhin", now=NOW)
    assert [hit.title for hit in hits] == ["Prigozhin plane crash confirmed", "Markets wrap"]
    assert hits[0].score > hits[1].score > 0


async def test_title_outweighs_summary_at_equal_age(store: Storage) -> None:
    await add(store, [
        item("Daily briefing", "Among other news, Hemedti met envoys.", days_ago=3),
        item("Hemedti meets envoys", "Talks in Jeddah.", days_ago=3),
    ])
    assert await titles(store, "Hemedti") == ["Hemedti meets envoys", "Daily briefing"]


async def exhaustive_search(
    monkeypatch: pytest.MonkeyPatch, store: Storage, query: str, *, limit: int
) -> list[SearchHit]:
    """Rank every match in one go (no windows): the reference for the windowed search."""
    with monkeypatch.context() as patch:
        patch.setattr(search_module, "_WINDOW_DAYS", ())
        return await search_items(store.engine, query, now=NOW, limit=limit)


async def test_windowed_ranking_equals_exhaustive_ranking(
    store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search ranks recent windows first; it must agree with ranking everything."""
    monkeypatch.setattr(search_module, "_RANK_ALL_BELOW", 0)  # windows even on small data
    rng = random.Random(7)
    vocabulary = ["oil", "talks", "army", "rebels", "ceasefire", "port", "drone", "bank", "aid"]
    items = [
        item(" ".join(rng.choices(vocabulary, k=rng.randint(3, 9))) + f" n{index}",
             " ".join(rng.choices(vocabulary, k=rng.randint(5, 30))),
             days_ago=rng.uniform(0, 400), guid=f"g{index}")
        for index in range(400)
    ]
    await add(store, items)
    for query in ("oil", "ceasefire drone", "bank OR aid", '"army rebels"', "port -talks", "dr*"):
        windowed = await search_items(store.engine, query, now=NOW, limit=25)
        exhaustive = await exhaustive_search(monkeypatch, store, query, limit=25)
        assert [h.item_id for h in windowed] == [h.item_id for h in exhaustive], query
        assert len(windowed) == 25
    page2 = await search_items(store.engine, "oil", now=NOW, limit=10, offset=10)
    full = await search_items(store.engine, "oil", now=NOW, limit=20)
    assert [h.item_id for h in page2] == [h.item_id for h in full[10:]]


async def test_windowed_ranking_with_filters_equals_exhaustive_ranking(
    store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows with a story, feed or time filter (PostgreSQL reads a filter's members by
    id range in a window) agree with ranking everything."""
    monkeypatch.setattr(search_module, "_RANK_ALL_BELOW", 0)
    monkeypatch.setattr(search_module, "_PG_RANK_MEMBERS_BELOW", 0)
    rng = random.Random(11)
    vocabulary = ["oil", "talks", "army", "rebels", "ceasefire", "port", "drone", "bank", "aid"]
    ids: list[int] = []
    for feed in ("https://a.example/rss", "https://b.example/rss"):
        ids += await add(store, [
            item(" ".join(rng.choices(vocabulary, k=rng.randint(3, 9))) + f" {feed[8]}{index}",
                 " ".join(rng.choices(vocabulary, k=rng.randint(5, 30))),
                 days_ago=rng.uniform(0, 200), guid=f"{feed}{index}")
            for index in range(250)
        ], feed=feed)
    story = await store.add_story("Ports", "port")
    assert story.id is not None
    await store.record_decisions([
        Decision(key=item_id, kind="new", development_id=n + 1,
                 stories=frozenset({story.id}) if n % 3 else frozenset())
        for n, item_id in enumerate(ids)
    ])
    feed_b = await store.get_feed("https://b.example/rss")
    assert feed_b is not None and feed_b.id is not None
    cases = [
        ("oil", {"story_id": story.id}),
        ("bank OR aid", {"feed_id": feed_b.id}),
        ("drone -talks", {"story_id": story.id, "feed_id": feed_b.id}),
        ("ceasefire", {"since": NOW - timedelta(days=60), "feed_id": feed_b.id}),
    ]
    # PostgreSQL probes a window's members one by one when they are few, else not: both ways.
    for probe, (query, filters) in [(p, case) for p in (0, 3_000) for case in cases]:
        monkeypatch.setattr(search_module, "_PG_PROBE_MEMBERS", probe)
        windowed = await search_items(store.engine, query, now=NOW, limit=10, **filters)  # type: ignore[arg-type]
        with monkeypatch.context() as patch:
            patch.setattr(search_module, "_WINDOW_DAYS", ())
            exhaustive = await search_items(store.engine, query, now=NOW, limit=10, **filters)  # type: ignore[arg-type]
        assert [h.item_id for h in windowed] == [h.item_id for h in exhaustive], (query, filters)
        assert windowed, (query, filters)


async def test_an_exclusion_filters_and_does_not_change_the_ranking(store: Storage) -> None:
    """``oil -talks`` ranks its matches as ``oil`` does; the excluded word only filters (on
    PostgreSQL it used to turn every rank into the same tiny number: newest first)."""
    await add(store, [
        item("Oil", "Oil oil.", days_ago=9),
        item("Oil prices", "A note on oil.", days_ago=2),
        item("Market report", "Oil, briefly.", days_ago=1),
        item("Oil talks resume", "Oil.", days_ago=0.5),
        item("Oil output", "Output of oil rose.", days_ago=5),
    ])
    plain = await search_items(store.engine, "oil", now=NOW)
    excluding = await search_items(store.engine, "oil -talks", now=NOW)
    expected = [hit for hit in plain if "talks" not in hit.title.lower()]
    assert [h.item_id for h in excluding] == [h.item_id for h in expected]
    # Ranked, not merely newest first (a passing mention of yesterday is not the best).
    assert [h.title for h in excluding] != ["Market report", "Oil prices", "Oil output", "Oil"]
    assert len(excluding) == 4


async def test_ranking_stops_early_when_nothing_older_can_win(
    store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_module, "_RANK_ALL_BELOW", 0)
    recent = [item(f"Oil n{i}", "Oil.", days_ago=i / 10, guid=f"r{i}") for i in range(30)]
    old = [item(f"oil oil oil n{i}", "oil oil", days_ago=100 + i, guid=f"o{i}") for i in range(60)]
    await add(store, recent + old)
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "ORDER BY score" in statement:
            statements.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    try:
        windowed = await search_items(store.engine, "oil", now=NOW, limit=10)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", record)
    exhaustive = await exhaustive_search(monkeypatch, store, "oil", limit=10)
    assert [h.item_id for h in windowed] == [h.item_id for h in exhaustive]
    assert all(hit.title.startswith("Oil n") for hit in windowed)
    # Some window short of "everything" was enough.
    assert len(statements) < len(search_module._WINDOW_DAYS) + 1


# --------------------------------------------------------------------------- snippets


async def test_snippet_is_raw_text_with_markers(store: Storage) -> None:
    await add(store, [item("Hostile <b>feed</b>", "<script>alert('x')</script> Wagner & co \ue000fake\ue001 "
                           "moved to Mali")])
    [hit] = await search_items(store.engine, "wagner", now=NOW)
    assert isinstance(hit, SearchHit)
    assert hit.title == "Hostile <b>feed</b>"
    # Raw (the renderer escapes), markers only around the matched word, forged markers gone.
    assert hit.snippet == ("<script>alert('x')</script> " + HIGHLIGHT_START + "Wagner" + HIGHLIGHT_END
                           + " & co fake moved to Mali")
    rendered = html.escape(hit.snippet).replace(HIGHLIGHT_START, "<b>").replace(HIGHLIGHT_END, "</b>")
    assert "<script>" not in rendered and "<b>Wagner</b>" in rendered


def test_snippet_window_phrase_and_prefix() -> None:
    summary = " ".join(f"w{i}" for i in range(100)) + " the Rapid Support Forces said, Sudanese sources"
    snippet = make_snippet("t", summary, parse('"rapid support forces" sudan*'))
    assert snippet.startswith("…")
    assert HIGHLIGHT_START + "Rapid Support Forces" + HIGHLIGHT_END in snippet
    assert HIGHLIGHT_START + "Sudanese" + HIGHLIGHT_END in snippet
    assert make_snippet("Guaidó returns", "", parse("guaido")) == (
        HIGHLIGHT_START + "Guaidó" + HIGHLIGHT_END + " returns"
    )
    # An excluded word is never highlighted.
    assert HIGHLIGHT_START not in make_snippet("x", "opera tonight", parse("wagner -opera"))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", ['"unclosed', "(a OR b", "a OR", "-opera", "", "   ", "()", "a AND", "*"])
async def test_malformed_query_raises_query_error(store: Storage, bad: str) -> None:
    with pytest.raises(QueryError) as caught:
        await search_items(store.engine, bad, now=NOW)
    assert caught.value.position >= 0
    assert " at " in str(caught.value)


async def test_fts_syntax_is_only_ever_text(store: Storage) -> None:
    await add(store, [item("NEAR the title: column AND stuff", "x* ^y")])
    for query in ("NEAR", "title:column", "NEAR(a b)", "^y", '"AND"', "x**", "{title}: stuff"):
        with contextlib.suppress(QueryError):
            await search_items(store.engine, query, now=NOW)
    assert await titles(store, "NEAR title") == ["NEAR the title: column AND stuff"]


def test_translations_quote_every_word() -> None:
    query = parse('wagner* "ЧВК вагнер" -(opera OR bayreuth) (mali OR -libya)')
    assert to_fts5(query) == (
        '(("wagner"* AND "чвк вагнер") NOT (("opera" OR "bayreuth") OR ("libya" NOT "mali")))'
    )
    assert to_tsquery(query) == (
        "(('wagner':* & ('чвк' <-> 'вагнер')) & !(('opera' | 'bayreuth') | ('libya' & !'mali')))"
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from('ab "()-*|:^{}ORNTAD«»\'.,йё\u0301\ue000'), max_size=30)
       | st.text(max_size=40))
async def test_random_input_gives_results_or_query_error(store: Storage, query: str) -> None:
    try:
        hits = await search_items(store.engine, query, now=NOW)
    except QueryError as error:
        assert 0 <= error.position <= max(len(query), 1000)
    else:
        assert isinstance(hits, list)


# --------------------------------------------------------------------------- index upkeep


async def test_updates_and_deletes_reach_the_index(store: Storage) -> None:
    [item_id] = await add(store, [item("Port Sudan airport reopens", guid="g1")])
    assert await titles(store, "airport") == ["Port Sudan airport reopens"]
    async with store.session() as session, session.begin():
        await session.execute(
            update(ItemRow).where(ItemRow.id == item_id).values(title="Port Sudan harbour reopens")
        )
    assert await titles(store, "airport") == []
    assert await titles(store, "harbour") == ["Port Sudan harbour reopens"]
    async with store.session() as session, session.begin():
        await session.execute(text("DELETE FROM items WHERE id = :id"), {"id": item_id})
    assert await titles(store, "harbour") == []


async def test_index_pending_and_rebuild(store: Storage) -> None:
    await add(store, [item("Drone strike on El Fasher"), item("Aid convoy reaches El Fasher")])
    assert await index_pending(store.engine) == 2
    assert await index_pending(store.engine) == 0
    assert await rebuild_index(store.engine) == 2
    assert sorted(await titles(store, '"el fasher"')) == ["Aid convoy reaches El Fasher",
                                                          "Drone strike on El Fasher"]


async def _index_dump(store: Storage) -> tuple[list[tuple[object, ...]], ...]:
    """Everything the index holds, and what is still queued."""
    async with store.session() as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
        queries = (
            ["SELECT rowid, title, body FROM item_fts ORDER BY rowid",
             "SELECT item_id, published_epoch FROM item_search ORDER BY item_id",
             "SELECT day, min_id FROM search_days ORDER BY day"]
            if sqlite
            else ["SELECT item_id, published_epoch, document::text FROM item_search ORDER BY item_id"]
        )
        queries.append("SELECT item_id FROM search_queue ORDER BY item_id")
        return tuple([[tuple(row) for row in (await session.execute(text(q))).all()] for q in queries])


async def test_index_items_from_memory_equals_reading_them_back(store: Storage) -> None:
    fresh = [
        item("Drone strike on El Fasher", "Witnesses said <the> market was hit", days_ago=0.2),
        item("Aid convoy reaches El Fasher", "", days_ago=3.5),
        item("ЧВК «Вагнер» покидает Ростов", "Guaidó — déjà vu", days_ago=9),
    ]
    ids = await add(store, fresh)
    async with store.session() as session, session.begin():
        written = await index_items(
            session,
            [(i, it.title, it.summary, it.published) for i, it in zip(ids, fresh, strict=True)],
            new=True,
        )
    assert written == 3
    from_memory = await _index_dump(store)
    assert from_memory[-1] == []  # the triggers' queue entries went with it
    assert await index_pending(store.engine) == 0
    await rebuild_index(store.engine)
    assert await _index_dump(store) == from_memory
    assert await titles(store, "fasher") != []

    # An edited item (not new): its old words leave the index.
    async with store.session() as session, session.begin():
        await session.execute(
            update(ItemRow).where(ItemRow.id == ids[0]).values(title="Shelling near Omdurman")
        )
        await index_items(session, [(ids[0], "Shelling near Omdurman", fresh[0].summary,
                                     fresh[0].published)])
    edited = await _index_dump(store)
    assert edited[-1] == []
    await rebuild_index(store.engine)
    assert await _index_dump(store) == edited
    assert await titles(store, "omdurman") == ["Shelling near Omdurman"]
    assert await titles(store, "drone") == []


# --------------------------------------------------------------------------- retention


async def test_prune_keeps_recent_items_and_live_developments(store: Storage) -> None:
    old_live, old_dead, fresh = await add(store, [
        item("Long running siege of El Fasher", days_ago=100, guid="a"),
        item("Forgotten siege story", days_ago=100, guid="b"),
        item("New siege report", days_ago=1, guid="c"),
    ], fetched_days_ago=100)
    # The fresh one was first seen now; the old ones 100 days ago.
    async with store.session() as session, session.begin():
        await session.execute(update(ItemRow).where(ItemRow.id == fresh).values(first_seen=NOW))
    await store.record_decisions([
        Decision(key=old_live, kind="new", development_id=10),
        Decision(key=old_dead, kind="new", development_id=11),
    ])
    # Development 10 is still shown: a newer report joined it.
    async with store.session() as session, session.begin():
        await session.execute(
            update(DevelopmentRow).where(DevelopmentRow.id == 10).values(last_seen=NOW)
        )
    assert len(await titles(store, "siege")) == 3
    async with store.session() as session, session.begin():
        removed = await prune_items(session, keep_days=30, now=NOW)
    assert removed == 1
    assert sorted(await titles(store, "siege")) == ["Long running siege of El Fasher", "New siege report"]
    async with store.session() as session:
        left = (await session.execute(text("SELECT count(*) FROM item_search"))).scalar()
    assert left == 2


# --------------------------------------------------------------------------- agreement


WORDS = ["oil", "army", "talks", "port", "aid", "guaidó", "вагнер", "drone"]


def _query_text() -> st.SearchStrategy[str]:
    word = st.sampled_from(WORDS) | st.sampled_from(["dr*", "gua*", "ваг*"])
    phrase = st.lists(st.sampled_from(WORDS), min_size=2, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"')
    leaf = word | phrase

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return (
            st.tuples(inner, inner).map(lambda p: f"{p[0]} {p[1]}")
            | st.tuples(inner, inner).map(lambda p: f"({p[0]} OR {p[1]})")
            | inner.map(lambda q: f"-({q})")
        )

    return st.recursive(leaf, extend, max_leaves=5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    docs=st.lists(
        st.tuples(st.lists(st.sampled_from(WORDS), min_size=1, max_size=5),
                  st.lists(st.sampled_from(WORDS), max_size=8)),
        min_size=1, max_size=12,
    ),
    query=_query_text(),
)
async def test_search_finds_exactly_what_the_watchlist_language_matches(
    database_url: str, docs: list[tuple[list[str], list[str]]], query: str
) -> None:
    try:
        parsed = parse(query)
    except QueryError:
        return
    store = Storage.connect(database_url)
    try:
        async with store.session() as session, session.begin():
            await session.execute(text("DELETE FROM items"))
        ids = await add(store, [
            item(" ".join(title), " ".join(summary), guid=f"{index}-{query}")
            for index, (title, summary) in enumerate(docs)
        ], feed=f"https://feed.example/{abs(hash(query))}")
        hits = await search_items(store.engine, parsed, now=NOW, limit=100)
        # The watchlist reference, with a word between title and summary that no
        # query can match (phrases do not cross from a title into its summary).
        expected = {
            item_id
            for item_id, (title, summary) in zip(ids, docs, strict=True)
            if evaluate(parsed, [*tokens(" ".join(title)), "0", *tokens(" ".join(summary))])
        }
        assert {hit.item_id for hit in hits} == expected
    finally:
        await store.close()


ASCII_TEXT = st.text(
    alphabet=st.sampled_from("abcXYZ019 _-'.,&<>\t\n\x01\x7f"), max_size=60
) | st.builds(lambda a, b: a + "z" * b + a, st.text(alphabet="ab ", max_size=5), st.integers(95, 105))


@settings(max_examples=200, deadline=None)
@given(st.lists(ASCII_TEXT, min_size=1, max_size=4))
def test_an_ascii_text_given_whole_is_indexed_as_its_words(texts: list[str]) -> None:
    """FTS5's ascii tokenizer finds in an ASCII text exactly the words (and positions)
    of the space-separated tokens the index used to be given; a text with a word too
    long to index is still given as its words (which leave that word out)."""
    import sqlite3

    from storage.search import MAX_WORD_LENGTH, _fts_text

    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE given USING fts5(body, tokenize='ascii', prefix='2 3')")
    db.execute("CREATE VIRTUAL TABLE words USING fts5(body, tokenize='ascii', prefix='2 3')")
    for table in ("given", "words"):
        db.execute(f"CREATE VIRTUAL TABLE {table}_vocab USING fts5vocab({table}, instance)")
    for rowid, body in enumerate(texts, start=1):
        db.execute("INSERT INTO given (rowid, body) VALUES (?, ?)", (rowid, _fts_text(body)))
        words = [w for w in tokens(body) if len(w) <= MAX_WORD_LENGTH]
        db.execute("INSERT INTO words (rowid, body) VALUES (?, ?)", (rowid, " ".join(words)))
    instances = {
        table: db.execute(f"SELECT term, doc, col, offset FROM {table}_vocab ORDER BY 1, 2, 3, 4").fetchall()
        for table in ("given", "words")
    }
    assert instances["given"] == instances["words"]
