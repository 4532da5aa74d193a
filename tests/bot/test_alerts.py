"""Breaking alerts beside digests (issue 12 item 7) on real databases: a subscription's own
threshold (N outlets within T minutes, or a multiple of the story's usual volume), alerts and
a digest schedule at once, muted stories, and existing subscriptions kept as they were
(migration 0008)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bot.actions.digests import breaking_alerts, run_due_digests
from bot.actions.subscriptions import alert_rule, change_alerts
from bot.config import Config, DigestConfig
from storage import chats as chat_store
from storage import digest_reads
from storage import outbox as outbox_store
from storage import subscriptions as subscription_store
from storage.db import make_sync_engine, upgrade
from storage.repository import Storage
from storage.subscriptions import set_muted
from stories.digest import AlertRule, parse_alert_rule
from stories.model import Decision, Item

CHAT = -1003001
CONFIG = Config(digest=DigestConfig(breaking_outlets=4, breaking_window=3600))


def _item(guid: str, title: str, outlet: str) -> Item:
    return Item(
        guid=guid,
        url=f"https://{outlet.lower().replace(' ', '')}.example/{guid}",
        title=title,
        summary="",
        published=datetime.now(UTC),
        outlet=outlet,
    )


async def _development(storage: Storage, story_id: int, dev_id: int, title: str, outlets: list[str]) -> None:
    """One development of ``story_id`` carried by ``outlets`` (the first report the lead)."""
    state = await storage.get_feed(f"https://feed{dev_id}.example/rss") or await storage.add_feed(
        f"https://feed{dev_id}.example/rss"
    )
    assert state.id is not None
    stored = await storage.store_items(
        state.id,
        [_item(f"{dev_id}-{n}", title, o) for n, o in enumerate(outlets)],
        fetched_at=datetime.now(UTC),
    )
    keys = [key for key, _ in stored.new]
    await storage.record_decisions(
        [Decision(keys[0], "new", dev_id, stories=frozenset({story_id}))]
        + [
            Decision(k, "rereport", dev_id, duplicate_of=keys[0], stories=frozenset({story_id}))
            for k in keys[1:]
        ]
    )


async def _world(storage: Storage) -> tuple[int, int]:
    sudan = await storage.add_story("sudan", "Sudan")
    wagner = await storage.add_story("wagner", "Wagner")
    assert sudan.id and wagner.id
    await chat_store.upsert_chat(storage, CHAT, type="channel", title="Desk", username="desk", timezone="UTC")
    for story in (sudan.id, wagner.id):
        await subscription_store.subscribe(
            storage, CHAT, story, schedule="daily 08:00", next_digest_at=datetime.now(UTC), user_id=1
        )
    return sudan.id, wagner.id


async def test_alerts_beside_a_digest_with_the_subscriptions_own_threshold(storage: Storage) -> None:
    sudan, wagner = await _world(storage)
    sub = await change_alerts(storage, CHAT, sudan, on=True, rule=AlertRule(2, timedelta(minutes=30)))
    assert sub is not None and sub.alerts and sub.schedule == "daily 08:00" and sub.next_digest_at
    assert alert_rule(sub, CONFIG) == AlertRule(2, timedelta(minutes=30))

    await _development(storage, sudan, 11, "Khartoum airport shelled", ["BBC", "AP"])
    await _development(storage, wagner, 12, "Wagner convoy in Mali", ["BBC", "AP", "DW", "AFP", "RFI"])
    # Two outlets reach sudan's own threshold (the configured one is 4); wagner has no alerts.
    assert await breaking_alerts(storage, CONFIG) == 1
    [alert] = await outbox_store.chat_messages(storage, CHAT)
    assert alert.kind == "alert" and "Khartoum airport shelled" in alert.text
    assert "Wagner convoy" not in alert.text
    assert await breaking_alerts(storage, CONFIG) == 0  # once

    # The digest still comes on schedule, without what the alert already showed.
    assert await run_due_digests(storage, CONFIG) == 1
    digest = (await outbox_store.chat_messages(storage, CHAT))[-1]
    assert digest.kind == "digest" and "Wagner convoy in Mali" in digest.text
    assert "Khartoum airport shelled" not in digest.text


async def test_a_relative_threshold_follows_the_storys_usual_volume(storage: Storage) -> None:
    busy, quiet = await _world(storage)
    rule = parse_alert_rule("x2/60m", default_window=timedelta(hours=1))
    for story in (busy, quiet):
        assert await change_alerts(storage, CHAT, story, on=True, rule=rule)
    # The busy story had 330 reports this week: about 2 an hour, so twice its hour is 4 outlets.
    state = await storage.add_feed("https://wire.example/rss")
    assert state.id is not None
    stored = await storage.store_items(
        state.id,
        [_item(f"w{n}", f"Sudan wire {n}", "Wire") for n in range(330)],
        fetched_at=datetime.now(UTC),
    )
    await storage.record_decisions(
        [Decision(key, "new", 1000 + n, stories=frozenset({busy})) for n, (key, _) in enumerate(stored.new)]
    )
    # Shown already (old news): none of them is an alert candidate itself.
    await outbox_store.enqueue_digest(
        storage,
        CHAT,
        kind="digest",
        messages=[],
        seen={key: 1000 + n for n, (key, _) in enumerate(stored.new)},
    )

    await _development(storage, busy, 21, "Sudan: routine report", ["BBC", "AP", "DW"])
    await _development(storage, quiet, 22, "Wagner: rare news", ["BBC", "AP"])
    assert await breaking_alerts(storage, CONFIG) == 1
    [alert] = [m for m in await outbox_store.chat_messages(storage, CHAT) if m.kind == "alert"]
    assert "Wagner: rare news" in alert.text and "routine report" not in alert.text

    # A fourth outlet: a surge even for the busy story.
    state2 = await storage.add_feed("https://late.example/rss")
    assert state2.id is not None
    [late] = (
        await storage.store_items(
            state2.id, [_item("late", "Sudan: routine report", "RFI")], fetched_at=datetime.now(UTC)
        )
    ).new
    lead = [i for i in await digest_reads.development_items(storage, [21]) if i.duplicate_of is None][0]
    await storage.record_decisions(
        [Decision(late[0], "rereport", 21, duplicate_of=lead.item_id, stories=frozenset({busy}))]
    )
    assert await breaking_alerts(storage, CONFIG) == 1


async def test_muted_story_gets_no_alert_and_no_digest_section(storage: Storage) -> None:
    sudan, wagner = await _world(storage)
    assert await change_alerts(storage, CHAT, sudan, on=True, rule=AlertRule(1, timedelta(hours=1)))
    assert await set_muted(storage, CHAT, sudan, datetime.now(UTC))
    await _development(storage, sudan, 31, "Khartoum talks", ["BBC"])
    await _development(storage, wagner, 32, "Wagner in Libya", ["AP"])
    assert await breaking_alerts(storage, CONFIG) == 0
    assert await run_due_digests(storage, CONFIG) == 1
    [digest] = await outbox_store.chat_messages(storage, CHAT)
    assert "Wagner in Libya" in digest.text and "Khartoum talks" not in digest.text
    subs = {s.story_id: s for s in await subscription_store.list_subscriptions(storage, CHAT)}
    assert subs[sudan].muted and subs[sudan].last_digest_at is not None  # its schedule moved on
    assert await set_muted(storage, CHAT, sudan, None)
    assert not (await subscription_store.list_subscriptions(storage, CHAT))[0].muted


async def test_instant_keeps_meaning_alerts_only(storage: Storage) -> None:
    sudan, _ = await _world(storage)
    sub, _ = await subscription_store.subscribe(
        storage, CHAT, sudan, schedule="instant", next_digest_at=None, user_id=1
    )
    assert sub.alerts and sub.next_digest_at is None
    assert alert_rule(sub, CONFIG) == AlertRule(4, timedelta(hours=1))  # the configured threshold
    sub, _ = await subscription_store.subscribe(
        storage, CHAT, sudan, schedule="daily 09:00", next_digest_at=None, user_id=1
    )
    assert not sub.alerts  # leaving instant ends its alerts, as before


def test_migration_0008_turns_alerts_on_for_instant_subscriptions_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0007")
    engine = make_sync_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO chats (id, type, timezone, paused, created_at) VALUES (1, 'group', 'UTC', 0, :t)"
                ),
                {"t": datetime.now(UTC)},
            )
            for n, schedule in enumerate(("instant", "daily 08:00")):
                conn.execute(
                    sa.text(
                        "INSERT INTO stories (id, scope, name, name_key, query, created_at, updated_at) "
                        "VALUES (:id, 0, :name, :name, 'x', :t, :t)"
                    ),
                    {"id": n + 1, "name": f"s{n}", "t": datetime.now(UTC)},
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO subscriptions (chat_id, story_id, schedule, created_at) VALUES (1, :s, :sch, :t)"
                    ),
                    {"s": n + 1, "sch": schedule, "t": datetime.now(UTC)},
                )
        upgrade(url)
        with engine.connect() as conn:
            rows = dict(conn.execute(sa.text("SELECT schedule, alerts FROM subscriptions")).all())
            chat = conn.execute(sa.text("SELECT silent, link_previews FROM chats")).one()
    finally:
        engine.dispose()
    assert rows == {"instant": 1, "daily 08:00": 0}
    assert tuple(chat) == (0, 0)
