"""What digests and /story read from storage (``storage.digest_reads``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import digest_reads
from storage.repository import Storage
from stories.model import Decision, Item

T0 = datetime(2024, 8, 2, 18, 0, tzinfo=UTC)


def _item(guid: str, minutes: int) -> Item:
    return Item(
        guid=guid,
        url=f"https://{guid}.example/a",
        title=f"report {guid}",
        summary="",
        published=T0 + timedelta(minutes=minutes),
        outlet=guid,
    )


async def test_a_developments_items_come_in_publish_order_not_in_fetch_order(storage: Storage) -> None:
    """Two feeds answer in either order within one poll cycle; what a development shows must
    not depend on which answered first (the lead, then its updates as they were published)."""
    fast = await storage.add_feed("https://fast.example/rss")
    slow = await storage.add_feed("https://slow.example/rss")
    assert fast.id is not None and slow.id is not None
    # The later report's feed answered first, so it is stored (and first seen) first.
    later = (
        await storage.store_items(fast.id, [_item("later", 210)], fetched_at=T0 + timedelta(hours=5))
    ).new
    lead = (
        await storage.store_items(slow.id, [_item("lead", 0)], fetched_at=T0 + timedelta(hours=5, seconds=2))
    ).new
    middle = (
        await storage.store_items(slow.id, [_item("middle", 30)], fetched_at=T0 + timedelta(hours=6))
    ).new
    # The tracker decided them in canonical order (publish time), whatever the storage order.
    await storage.record_decisions(
        [
            Decision(lead[0][0], "new", 7, stories=frozenset({1})),
            Decision(later[0][0], "update", 7, stories=frozenset({1})),
            Decision(middle[0][0], "update", 7, stories=frozenset({1})),
        ]
    )
    items = await digest_reads.development_items(storage, [7])
    assert [i.item_id for i in items] == [lead[0][0], middle[0][0], later[0][0]]
