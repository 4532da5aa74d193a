"""The poll cycle under hostile feeds (issue 13): slow feeds on a host must not get healthy feeds
there disabled (item 1), and the poller keeps the search index in step (item 3).

Real parts: feeds from a real HTTP server on 127.0.0.1, the real Poller, a real SQLite file and
the real PostgreSQL server (``database_url``).
"""

from __future__ import annotations

from sqlalchemy import text

from bot.config import FetchConfig
from bot.poller import Poller, fetch_policy, schedule_policy
from feeds.fetch import Fetcher
from storage.repository import Storage
from tests.fakes.feed_server import FeedServer, Reply, rss_feed


def _poller(store: Storage, **fetch: object) -> Poller:
    config = FetchConfig(allow_private_networks=True, jitter=0, **fetch)  # type: ignore[arg-type]
    return Poller(store, Fetcher(fetch_policy(config)), schedule_policy(config))


async def test_slow_feeds_on_a_host_do_not_get_a_healthy_feed_there_disabled(
    server: FeedServer, store: Storage
) -> None:
    # Four slow-loris feeds (a byte every 50 ms, far beyond the 0.5 s budget) queued ahead of a
    # healthy feed on the same host, two slots per host: the healthy one waits ~1 s for a slot.
    slow = rss_feed("Slow", [(f"s{i}", f"Slow story {i}") for i in range(50)])
    for n in range(4):
        server.script(f"/slow{n}.xml", Reply(body=slow, trickle=(1, 0.05)))
    server.script("/healthy.xml", Reply(body=rss_feed("Healthy", [("h1", "Healthy story")])))
    for n in range(4):
        await store.add_feed(server.url(f"/slow{n}.xml"))
    await store.add_feed(server.url("/healthy.xml"))

    async with _poller(store, timeout=0.5, per_host_concurrency=2, max_consecutive_errors=3) as poller:
        for _cycle in range(3):  # three cycles in a row disabled it before
            summary = await poller.poll_once(include_all=True)
            by_url = {r.url: r for r in summary.reports}
            healthy = by_url[server.url("/healthy.xml")]
            assert healthy.kind in ("ok", "unchanged"), healthy
            assert healthy.error is None
            for n in range(4):  # the slow feeds themselves do time out
                assert "timed out" in (by_url[server.url(f"/slow{n}.xml")].error or "")

    state = await store.get_feed(server.url("/healthy.xml"))
    assert state is not None and not state.disabled and state.consecutive_errors == 0
    assert len(server.requests_for("/healthy.xml")) == 3  # really requested, every cycle
    for n in range(4):
        slow_state = await store.get_feed(server.url(f"/slow{n}.xml"))
        assert slow_state is not None and slow_state.disabled  # 3 real time-outs each


async def test_the_poller_indexes_new_items_for_search(server: FeedServer, store: Storage) -> None:
    server.script(
        "/news.xml", Reply(body=rss_feed("Wire", [(f"w{i}", f"Maduro speech number {i}") for i in range(30)]))
    )
    await store.add_feed(server.url("/news.xml"))
    async with _poller(store) as poller:
        summary = await poller.poll_once(include_all=True)
    assert summary.new_items == 30
    async with store.engine.connect() as conn:
        indexed = await conn.scalar(text("SELECT count(*) FROM item_search"))
        queued = await conn.scalar(text("SELECT count(*) FROM search_queue"))
    assert (indexed, queued) == (30, 0)
