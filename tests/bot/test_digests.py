"""Digest selection on real databases: new developments, updates, folded copies, no repeats,
scheduled runs, breaking alerts, and the terminal digest (the schedule rule itself is
tested in tests/stories/test_schedule.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.actions.digests import (
    breaking_alerts,
    build_digest,
    run_due_digests,
    send_digest_now,
    terminal_digest,
)
from bot.config import Config, DigestConfig
from storage import chats as chat_store
from storage import digest_reads
from storage import outbox as outbox_store
from storage import subscriptions as subscription_store
from storage.repository import Storage
from stories.model import Decision, Item
from tests.fakes.telegram_html import check_html

CHAT = -1003001


def _item(guid: str, title: str, outlet: str, url: str | None = None, at: datetime | None = None) -> Item:
    return Item(
        guid=guid,
        url=url or f"https://{outlet.lower()}.example/{guid}",
        title=title,
        summary="",
        published=at or datetime.now(UTC),
        outlet=outlet,
    )


async def _store(storage: Storage, feed: str, items: list[Item]) -> list[int]:
    state = await storage.get_feed(feed) or await storage.add_feed(feed)
    assert state.id is not None
    result = await storage.store_items(state.id, items, fetched_at=datetime.now(UTC))
    return [key for key, _ in result.new]


async def _world(storage: Storage) -> tuple[int, int]:
    """Two stories, a chat subscribed to both."""
    sudan = await storage.add_story("sudan", "Sudan")
    wagner = await storage.add_story("wagner", "Wagner")
    assert sudan.id and wagner.id
    await chat_store.upsert_chat(storage, CHAT, type="channel", title="Desk", username="desk", timezone="UTC")
    for story in (sudan, wagner):
        assert story.id
        await subscription_store.subscribe(
            storage, CHAT, story.id, schedule="daily 08:00", next_digest_at=datetime.now(UTC), user_id=1
        )
    return sudan.id, wagner.id


async def test_digest_folds_copies_shows_updates_and_never_repeats(storage: Storage) -> None:
    sudan, wagner = await _world(storage)
    a, b, c = await _store(
        storage,
        "https://one.example/rss",
        [
            _item("a", "RSF shells El Fasher", "BBC"),
            _item("b", "RSF shells El Fasher, residents say", "Reuters"),
            _item("c", "Wagner leaves Mali", "AP"),
        ],
    )
    await storage.record_decisions(
        [
            Decision(a, "new", 1, stories=frozenset({sudan})),
            Decision(b, "rereport", 1, duplicate_of=a, stories=frozenset({sudan})),
            Decision(c, "new", 2, stories=frozenset({wagner})),
        ]
    )
    now = datetime.now(UTC)
    stories = [(sudan, "sudan"), (wagner, "wagner")]
    first = await build_digest(
        storage, CHAT, stories, since=now - timedelta(days=1), now=now, max_developments=30
    )
    assert [s.story for s in first.digest.sections] == ["sudan", "wagner"]
    [dev] = first.digest.sections[0].developments
    assert not dev.is_update and [i.title for i in dev.items] == ["RSF shells El Fasher"]
    assert dev.items[0].extra_sources == 1 and dev.items[0].extra_outlets == ("Reuters",)
    assert set(first.seen) == {a, b, c}
    await outbox_store.enqueue_digest(storage, CHAT, kind="digest", messages=["x"], seen=first.seen)

    again = await build_digest(
        storage, CHAT, stories, since=now - timedelta(days=1), now=now, max_developments=30
    )
    assert again.is_empty and again.seen == {}

    # An update to the development the chat saw, and a late copy of the lead report.
    d, e = await _store(
        storage,
        "https://two.example/rss",
        [_item("d", "Death toll in El Fasher rises to 40", "DW"), _item("e", "RSF shells El Fasher", "AFP")],
    )
    await storage.record_decisions(
        [
            Decision(d, "update", 1, stories=frozenset({sudan}), new_facts=("40",)),
            Decision(e, "rereport", 1, duplicate_of=a, stories=frozenset({sudan})),
        ]
    )
    later = await build_digest(
        storage, CHAT, stories, since=now - timedelta(days=1), now=now, max_developments=30
    )
    [section] = later.digest.sections
    [update] = section.developments
    assert update.is_update and [(i.title, i.kind) for i in update.items] == [
        ("Death toll in El Fasher rises to 40", "update")
    ]
    assert set(later.seen) == {d, e}


async def test_only_copies_send_nothing_but_are_remembered(storage: Storage) -> None:
    sudan, _ = await _world(storage)
    [a] = await _store(storage, "https://one.example/rss", [_item("a", "Khartoum airport reopens", "BBC")])
    await storage.record_decisions([Decision(a, "new", 7, stories=frozenset({sudan}))])
    config = Config()
    assert await send_digest_now(storage, config, CHAT) == 1
    [b] = await _store(storage, "https://two.example/rss", [_item("b", "Khartoum airport reopens", "AP")])
    await storage.record_decisions([Decision(b, "rereport", 7, duplicate_of=a, stories=frozenset({sudan}))])
    assert await send_digest_now(storage, config, CHAT) == 0
    seen = await digest_reads.seen_developments(storage, CHAT, [7])
    assert seen == {7}
    assert len(await outbox_store.chat_messages(storage, CHAT)) == 1


async def test_due_digests_move_schedule_and_render_valid_html(storage: Storage) -> None:
    sudan, _ = await _world(storage)
    keys = await _store(
        storage,
        "https://one.example/rss",
        [_item(f"n{n}", f"Sudan <b>report</b> & more #{n}", f"Outlet{n % 5}") for n in range(120)],
    )
    await storage.record_decisions(
        [Decision(k, "new", 100 + n, stories=frozenset({sudan})) for n, k in enumerate(keys)]
    )
    config = Config(digest=DigestConfig(max_developments=200))
    written = await run_due_digests(storage, config)
    assert written >= 2  # 120 developments do not fit one message
    messages = await outbox_store.chat_messages(storage, CHAT)
    assert len(messages) == written
    visible = ""
    for message in messages:
        text = check_html(message.text)
        assert len(text.encode("utf-16-le")) // 2 <= 4096
        visible += text
    assert all(f"#{n}" in visible for n in range(120))
    subs = await subscription_store.list_subscriptions(storage, CHAT)
    assert all(s.next_digest_at and s.next_digest_at > datetime.now(UTC) for s in subs)
    assert all(s.last_digest_at is not None for s in subs)
    # Nothing due any more: nothing written.
    assert await run_due_digests(storage, config) == 0


async def test_breaking_alert_once_when_enough_outlets(storage: Storage) -> None:
    sudan, _ = await _world(storage)
    await subscription_store.subscribe(
        storage, CHAT, sudan, schedule="instant", next_digest_at=None, user_id=1
    )
    config = Config(digest=DigestConfig(breaking_outlets=3, breaking_window=3600))
    keys = await _store(
        storage,
        "https://one.example/rss",
        [_item("a", "Coup attempt in Khartoum", "BBC"), _item("b", "Coup attempt in Khartoum", "AP")],
    )
    await storage.record_decisions(
        [
            Decision(keys[0], "new", 9, stories=frozenset({sudan})),
            Decision(keys[1], "rereport", 9, duplicate_of=keys[0], stories=frozenset({sudan})),
        ]
    )
    assert await breaking_alerts(storage, config) == 0  # two outlets: not yet
    [c] = await _store(storage, "https://two.example/rss", [_item("c", "Coup attempt in Khartoum", "DW")])
    await storage.record_decisions(
        [Decision(c, "rereport", 9, duplicate_of=keys[0], stories=frozenset({sudan}))]
    )
    assert await breaking_alerts(storage, config) == 1
    [alert] = await outbox_store.chat_messages(storage, CHAT)
    assert alert.kind == "alert" and "Breaking" in check_html(alert.text) and "+2 more sources" in alert.text
    assert await breaking_alerts(storage, config) == 0


async def test_terminal_digest_plain_text_then_nothing(storage: Storage) -> None:
    sudan, _ = await _world(storage)
    [a] = await _store(
        storage, "https://one.example/rss", [_item("a", "Talks on Sudan resume in Jeddah", "BBC")]
    )
    await storage.record_decisions([Decision(a, "new", 3, stories=frozenset({sudan}))])
    config = Config()
    since = datetime.now(UTC) - timedelta(days=1)
    [text] = await terminal_digest(storage, config, since=since)
    assert "Talks on Sudan resume in Jeddah" in text and "<b>" not in text
    assert await terminal_digest(storage, config, since=since) == []


async def test_developments_beyond_the_cap_are_counted_not_carried_over(storage: Storage) -> None:
    sudan, _ = await _world(storage)
    keys = await _store(
        storage, "https://one.example/rss", [_item(f"c{n}", f"Sudan item {n}", "BBC") for n in range(8)]
    )
    await storage.record_decisions(
        [Decision(k, "new", 300 + n, stories=frozenset({sudan})) for n, k in enumerate(keys)]
    )
    config = Config(digest=DigestConfig(max_developments=5))
    assert await send_digest_now(storage, config, CHAT) == 1
    [message] = await outbox_store.chat_messages(storage, CHAT)
    text = check_html(message.text)
    assert sum(f"Sudan item {n}" in text for n in range(8)) == 5
    assert "… and 3 more developments" in text
    assert await send_digest_now(storage, config, CHAT) == 0


@st.composite
def _rounds(draw: st.DrawFn) -> list[list[tuple[int, str, int | None]]]:
    """Rounds of arrivals: (development, kind, copy-of-arrival-index or None)."""
    rounds: list[list[tuple[int, str, int | None]]] = []
    started: list[int] = []
    count = 0
    for _ in range(draw(st.integers(1, 4))):
        batch: list[tuple[int, str, int | None]] = []
        for _ in range(draw(st.integers(0, 5))):
            if not started or draw(st.booleans()):
                dev = len(started) + 1
                started.append(dev)
                batch.append((dev, "new", None))
            else:
                dev = draw(st.sampled_from(started))
                kind = draw(st.sampled_from(["update", "rereport", "copy"]))
                batch.append((dev, kind, None))
            count += 1
        rounds.append(batch)
    return rounds


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=_rounds())
def test_no_item_twice_and_every_new_or_update_shown_once(
    rounds: list[list[tuple[int, str, int | None]]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    import asyncio

    from storage.db import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.db'}"
    upgrade(url)

    async def run() -> None:
        storage = Storage.connect(url)
        try:
            sudan, _ = await _world(storage)
            first_of: dict[int, int] = {}
            expected: set[str] = set()
            shown: list[str] = []
            n = 0
            for batch in rounds:
                decisions = []
                for dev, kind, _ in batch:
                    n += 1
                    [key] = await _store(
                        storage, "https://p.example/rss", [_item(f"g{n}", f"Sudan item {n}", "BBC")]
                    )
                    if kind == "new":
                        first_of[dev] = key
                        decisions.append(Decision(key, "new", dev, stories=frozenset({sudan})))
                        expected.add(f"Sudan item {n}")
                    elif kind == "update":
                        decisions.append(Decision(key, "update", dev, stories=frozenset({sudan})))
                        expected.add(f"Sudan item {n}")
                    elif kind == "copy":
                        decisions.append(
                            Decision(
                                key, "rereport", dev, duplicate_of=first_of[dev], stories=frozenset({sudan})
                            )
                        )
                    else:
                        decisions.append(Decision(key, "rereport", dev, stories=frozenset({sudan})))
                await storage.record_decisions(decisions)
                now = datetime.now(UTC)
                prepared = await build_digest(
                    storage,
                    CHAT,
                    [(sudan, "sudan")],
                    since=now - timedelta(days=1),
                    now=now,
                    max_developments=100,
                )
                titles = [i.title for s in prepared.digest.sections for d in s.developments for i in d.items]
                shown.extend(titles)
                await outbox_store.enqueue_digest(
                    storage, CHAT, kind="digest", messages=[], seen=prepared.seen
                )
            assert len(shown) == len(set(shown)), "an item was shown twice"
            assert set(shown) == expected
        finally:
            await storage.close()

    asyncio.run(run())
