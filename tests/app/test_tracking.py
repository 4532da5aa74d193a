"""The tracking service decides the same after a restart, whether or not it saved its state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.tracking import TrackingService
from storage.repository import Storage
from stories.model import Item

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
HEADLINES = [
    ("Reuters", "RSF seizes Khartoum airport after three days of fighting"),
    ("AP", "RSF seizes Khartoum airport after three days of fighting, army denies"),
    ("BBC", "Wagner Group fighters leave Mali bases for Africa Corps"),
    ("Reuters", "Maduro and opposition agree to resume talks in Barbados"),
    ("AFP", "Venezuela talks in Barbados to resume, Maduro government says"),
    ("Al Jazeera", "Sudan army says 40 killed as RSF shells El Fasher market"),
]


def items(offset: int) -> list[Item]:
    return [
        Item(
            guid=f"g{offset + n}",
            url=f"https://{outlet.lower().replace(' ', '')}.example/{offset + n}",
            title=title,
            summary="",
            published=T0 + timedelta(minutes=10 * n),
            outlet=outlet,
        )
        for n, (outlet, title) in enumerate(HEADLINES)
    ]


async def _decide(storage: Storage) -> dict[int, tuple[str | None, int | None]]:
    decided = {}
    for story in await storage.list_stories():
        assert story.id is not None
        for stored in await storage.story_items(story.id):
            decided[stored.id] = (stored.kind, stored.development_id)
    return decided


async def test_restart_replays_unsaved_items_to_the_same_decisions(storage: Storage) -> None:
    await storage.add_story("all", "Sudan* OR Khartoum OR Wagner OR Venezuela OR Maduro")
    feed = await storage.add_feed("https://a.example/rss")
    assert feed.id is not None

    first = TrackingService(storage)
    await first.start()
    await storage.store_items(feed.id, items(0), fetched_at=T0)
    await first.track_pending()
    await first.save()
    # More items are decided but the process dies before its next save.
    await storage.store_items(feed.id, items(100), fetched_at=T0 + timedelta(hours=1))
    await first.track_pending()
    before_crash = await _decide(storage)
    saved = await storage.load_tracker_state("main")
    assert saved is not None and saved[1] < max(before_crash)

    restarted = TrackingService(storage)
    await restarted.start()  # replays the items after the saved state
    assert restarted.last_item_id == first.last_item_id
    assert await _decide(storage) == before_crash
    # And it goes on deciding exactly as the first one would have.
    await storage.store_items(feed.id, items(200), fetched_at=T0 + timedelta(hours=2))
    after_restart = {d.key: (d.kind, d.development_id) for d in await restarted.track_pending()}
    assert after_restart == {
        d.key: (d.kind, d.development_id)
        for d in (first.tracker.observe(k, i) for k, i in await storage.items_after(max(before_crash)))
    }
    assert {kind for kind, _ in after_restart.values()} <= {"new", "update", "rereport"}
