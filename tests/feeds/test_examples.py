"""The offline demo: examples/offline.toml's file: feeds fetch, parse and match the stories."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path

from feeds.fetch import Fetcher, FetchPolicy, resolve_file_url
from feeds.poll import poll_feeds
from stories.examples import EXAMPLE_STORIES
from stories.matching import Matcher
from stories.model import FeedState

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_resolve_file_url() -> None:
    base = Path("/srv/newsbot/conf")
    assert resolve_file_url("file:feeds/a.xml", base) == "file:///srv/newsbot/conf/feeds/a.xml"
    assert resolve_file_url("file:../x.json", base) == "file:///srv/newsbot/x.json"
    assert resolve_file_url("file:///abs/a.xml", base) == "file:///abs/a.xml"
    assert resolve_file_url("https://ex.com/rss", base) == "https://ex.com/rss"


async def test_offline_demo_feeds_give_items_for_every_story() -> None:
    config = tomllib.loads((EXAMPLES / "offline.toml").read_text("utf-8"))
    assert config["fetch"]["allow_local_files"] is True
    assert {s["name"]: s["query"] for s in config["stories"]} == EXAMPLE_STORIES
    states = [FeedState(url=resolve_file_url(f["url"], EXAMPLES)) for f in config["feeds"]]
    policy = FetchPolicy(allow_local_files=True)  # the SSRF guard stays on
    async with Fetcher(policy) as fetcher:
        results = [r async for r in poll_feeds(fetcher, states)]

    assert {r.outcome.kind for r in results} == {"ok"}
    titles = {r.state.title for r in results}
    assert titles == {f["title"] for f in config["feeds"]}
    items = [i for r in results for i in r.items]
    assert len(items) == 23

    # One wire report reaches two feeds through the same article (tracking tags removed).
    urls = Counter(i.url for i in items)
    assert urls["https://andeswire.example/2026/11/25/venezuela-talks-barbados"] == 2

    names = sorted(EXAMPLE_STORIES)
    matcher = Matcher.compile(dict(enumerate(EXAMPLE_STORIES[n] for n in names)))
    hits: dict[str, list[str]] = {n: [] for n in names}
    for item in items:
        for story in matcher.match(item.text):
            hits[names[story]].append(item.title)
    assert all(len(v) >= 3 for v in hits.values()), hits
    everything = " ".join(t for v in hits.values() for t in v)
    for negative in ("Ring cycle", "Miss Venezuela", "South Sudan", "Bayreuth", "Chile copper"):
        assert negative not in everything
