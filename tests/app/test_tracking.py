"""The tracking service decides the same after a restart, whether or not it saved its state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

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


async def test_items_stored_after_a_prune_that_emptied_the_table_are_tracked(storage: Storage) -> None:
    """SQLite reuses the highest ids once those rows are gone: the tracker must not skip them."""
    from storage.search import prune_items

    await storage.add_story("all", "Sudan* OR Khartoum OR Wagner OR Venezuela OR Maduro")
    feed = await storage.add_feed("https://a.example/rss")
    assert feed.id is not None
    tracking = TrackingService(storage)
    await tracking.start()
    stored = await storage.store_items(feed.id, items(0), fetched_at=T0)
    first_ids = sorted(key for key, _ in stored.new)
    assert len(await tracking.track_pending()) == len(HEADLINES)
    await tracking.save()
    # An outage longer than keep_days: the daily prune empties the table.
    async with storage.session() as session, session.begin():
        assert await prune_items(session, keep_days=1, now=T0 + timedelta(days=40)) == len(HEADLINES)
    assert await storage.item_count() == 0
    later = T0 + timedelta(days=41)
    fresh = [replace(i, guid=f"new-{i.guid}", url=f"{i.url}-again", published=later) for i in items(0)]
    again = await storage.store_items(feed.id, fresh, fetched_at=later)
    if storage.url.startswith("sqlite"):
        assert sorted(key for key, _ in again.new)[0] <= first_ids[-1]  # SQLite gave the ids again
    # A restart from the saved state, then the poll's tracking run: every new item is decided.
    restarted = TrackingService(storage)
    await restarted.start()
    await restarted.track_pending()
    decided = await _decide(storage)
    assert set(decided) == {key for key, _ in again.new}
    assert all(kind in ("new", "update", "rereport") for kind, _ in decided.values())


async def test_a_retitled_lead_retitles_its_development_and_a_same_outlet_copy_is_no_source(
    storage: Storage,
) -> None:
    """Issue 13 item 7: the development shows the lead's current title; a feed that changes
    an entry's GUID and link each poll does not make "+N more sources" of itself."""
    from bot.actions.stories import story_developments

    story = await storage.add_story("sudan", "Khartoum")
    feed = await storage.add_feed("https://a.example/rss")
    assert feed.id is not None and story.id is not None
    tracking = TrackingService(storage)
    await tracking.start()
    first = Item("g1", "https://a.example/1", "Fighting near Khartoum airport", "Army and RSF clash.", T0, "Wire")
    await storage.store_items(feed.id, [first], fetched_at=T0)
    await tracking.track_pending()
    # Next poll: the same entry retitled, and the same report again under a new GUID and link.
    retitled = replace(first, title="RSF says it holds Khartoum airport")
    churned = replace(first, guid="g1-v2", url="https://a.example/1?v=2x", title=retitled.title)
    await storage.store_items(feed.id, [retitled, churned], fetched_at=T0 + timedelta(minutes=15))
    await tracking.track_pending()
    [dev] = await story_developments(storage, story.id)
    assert dev.title == "RSF says it holds Khartoum airport"
    assert len(dev.items) == 1 and dev.items[0].extra_sources == 0


class _HashEncoder:
    """A deterministic stand-in encoder (texts -> unit vectors from their words)."""

    name = "hash"
    dim = 16

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in zip(out, texts, strict=True):
            for word in text.lower().split():
                row[sum(map(ord, word)) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


async def test_with_vectors_numpy_runs_one_blas_thread_and_decides_every_item(storage: Storage) -> None:
    """The tracker's small products gain nothing from BLAS threads that spin on other cores."""
    from threadpoolctl import threadpool_info

    await storage.add_story("all", "Sudan* OR Khartoum OR Wagner OR Venezuela OR Maduro")
    feed = await storage.add_feed("https://a.example/rss")
    assert feed.id is not None
    service = TrackingService(storage, _HashEncoder())
    await service.start()
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas and set(blas) == {1}
    await storage.store_items(feed.id, items(0), fetched_at=T0)
    decided = {d.key for d in await service.track_pending()}
    assert len(decided) == len(HEADLINES)


class _CountingEncoder(_HashEncoder):
    """The stand-in encoder, counting the texts it is asked to encode."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return super().encode(texts)


async def test_a_verbatim_reprint_in_the_same_batch_is_encoded_once(storage: Storage) -> None:
    await storage.add_story("all", "Sudan* OR Khartoum OR Wagner OR Venezuela OR Maduro")
    feed = await storage.add_feed("https://a.example/rss")
    assert feed.id is not None
    encoder = _CountingEncoder()
    service = TrackingService(storage, encoder)
    await service.start()
    encoder.texts.clear()  # the warm-up text
    batch = items(0)
    reprint = replace(batch[0], guid="reprint", url="https://other.example/1", outlet="Other")
    await storage.store_items(feed.id, [*batch, reprint], fetched_at=T0)
    decided = {d.key for d in await service.track_pending()}
    assert len(decided) == len(HEADLINES) + 1
    assert sorted(encoder.texts) == sorted({item.title for item in batch})
    # Both copies have their vector stored: a restart encodes nothing again.
    again = _CountingEncoder()
    restarted = TrackingService(storage, again)
    await restarted.start()
    again.texts.clear()
    await restarted.track_pending()
    assert again.texts == []
