"""The whole poll cycle: a real local HTTP server, a real database, the real tracker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from bot.config import parse_config
from bot.poller import Poller
from bot.tracking import TrackingService
from storage.repository import Storage
from tests.app.test_config import newsbot
from tests.fakes.feed_server import FeedServer, Reply

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{outlet}</title><link>https://{host}/</link>
{items}
</channel></rss>"""
ITEM = """<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>
<pubDate>Tue, 24 Nov 2026 {hour:02d}:00:00 GMT</pubDate><description>{summary}</description></item>"""


def feed(outlet: str, host: str, entries: list[tuple[str, str, str, str]]) -> bytes:
    items = "\n".join(
        ITEM.format(guid=g, title=t, link=link, summary=s, hour=8 + n)
        for n, (g, t, link, s) in enumerate(entries)
    )
    return RSS.format(outlet=outlet, host=host, items=items).encode()


KHARTOUM = (
    "RSF fighters seize Khartoum airport after three days of fighting",
    "The Rapid Support Forces said on Tuesday they had taken Khartoum international airport; "
    "the Sudanese army denied it and said fighting continued near the runway.",
)


def config_for(database_url: str, tmp_path: Path) -> str:
    return f"""
[database]
url = "{database_url}"
[fetch]
allow_private_networks = true
timeout = 5
connect_timeout = 2
max_consecutive_errors = 3
[[stories]]
name = "sudan"
query = 'Sudan* OR Khartoum OR "Rapid Support Forces" -"South Sudan"'
[[stories]]
name = "wagner"
query = '"Wagner Group" OR Prigozhin'
"""


async def test_poll_store_track_then_not_modified(
    database_url: str, tmp_path: Path, server: FeedServer
) -> None:
    server.script(
        "/reuters.xml",
        Reply(
            body=feed(
                "Reuters",
                "reuters.example",
                [
                    (
                        "r1",
                        KHARTOUM[0],
                        "https://reuters.example/world/khartoum-airport?utm_source=rss",
                        KHARTOUM[1],
                    ),
                    (
                        "r2",
                        "Opera review: a new Ring cycle in Bayreuth",
                        "https://reuters.example/arts/ring",
                        "Wagner's Ring returns.",
                    ),
                ],
            ),
            etag='"r-v1"',
        ),
    )
    server.script(
        "/syndicated.xml",
        Reply(
            body=feed(
                "Daily Courier",
                "courier.example",
                [
                    # A syndicated reprint of Reuters' report, under another URL, with a credit line added.
                    ("c1", KHARTOUM[0], "https://courier.example/news/123", KHARTOUM[1] + " (Reuters)"),
                    # The same article as Reuters' through its canonical URL: one item, two sources.
                    ("c2", KHARTOUM[0], "https://reuters.example/world/khartoum-airport", KHARTOUM[1]),
                ],
            ),
            last_modified="Tue, 24 Nov 2026 10:00:00 GMT",
        ),
    )
    server.script("/broken.xml", Reply(status=500, body=b"oops"))
    config = parse_config(config_for(database_url, tmp_path), env={})
    storage = Storage.connect(database_url)
    try:
        await storage.seed([], [(s.name, s.query) for s in config.stories])
        for path in ("/reuters.xml", "/syndicated.xml", "/broken.xml"):
            await storage.add_feed(server.url(path))
        tracking = TrackingService(storage)
        await tracking.start()
        async with Poller.from_config(storage, config) as poller:
            # Reuters' report arrives first, then the reprints and the broken feed.
            feeds = {f.url: f for f in await storage.due_feeds(datetime.now(UTC))}
            early = await poller.poll_once(feeds=[feeds[server.url("/reuters.xml")]])
            rest = await poller.poll_once()
            assert (early.feeds + rest.feeds, early.fetched + rest.fetched, rest.errors) == (3, 2, 1)
            # c2 has Reuters' canonical URL: stored once, as a second source.
            assert early.new_items + rest.new_items == 3
            decisions = {d.key: d for d in await tracking.track_pending()}
            assert len(decisions) == 3
            sudan = await storage.get_story("sudan")
            assert sudan is not None and sudan.id is not None
            items = await storage.story_items(sudan.id)
            assert len(items) == 2  # the report and its reprint; the opera review is not Sudan news
            kinds = sorted(s.kind or "" for s in items)
            assert kinds == ["new", "rereport"]
            assert len({s.development_id for s in items}) == 1
            original = next(s for s in items if s.kind == "new")
            assert sorted(original.sources) == ["Daily Courier", "Reuters"]
            assert original.item.url == "https://reuters.example/world/khartoum-airport"

            # Second cycle, forced: validators are sent, 304s cost nothing, the failing feed backs off.
            second = await poller.poll_once(include_all=True)
            assert second.not_modified == 2 and second.new_items == 0
            assert server.requests_for("/reuters.xml")[-1].headers.get("if-none-match") == '"r-v1"'
            assert (
                server.requests_for("/syndicated.xml")[-1].headers.get("if-modified-since")
                == "Tue, 24 Nov 2026 10:00:00 GMT"
            )
            broken = await storage.get_feed(server.url("/broken.xml"))
            assert (
                broken is not None and broken.consecutive_errors == 2 and "500" in (broken.last_error or "")
            )
            assert await tracking.track_pending() == []
    finally:
        await storage.close()


def test_fetch_once_json_and_story_cli(tmp_path: Path, server: FeedServer) -> None:
    server.script(
        "/a.xml",
        Reply(
            body=feed(
                "Reuters", "reuters.example", [("r1", KHARTOUM[0], "https://reuters.example/k", KHARTOUM[1])]
            )
        ),
    )
    db = tmp_path / "fetch.db"
    config = tmp_path / "config.toml"
    config.write_text(
        config_for(f"sqlite:///{db}", tmp_path)
        + f'[[feeds]]\nurl = "{server.url("/a.xml")}"\n[[feeds]]\nurl = "{server.url("/missing.xml")}"\n'
    )
    result = newsbot("fetch", "--once", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # exactly one JSON object on stdout
    for key in ("feeds", "fetched", "not_modified", "new_items", "updated_items", "errors"):
        assert key in summary
    assert (summary["feeds"], summary["fetched"], summary["new_items"], summary["errors"]) == (2, 1, 1, 1)

    story = json.loads(newsbot("story", "sudan", "--json", "--config", str(config)).stdout)
    assert story["story"] == "sudan"
    [dev] = story["developments"]
    assert dev["title"] == KHARTOUM[0] and dev["outlets"] == ["Reuters"]
    assert dev["items"][0]["kind"] == "new" and dev["items"][0]["url"] == "https://reuters.example/k"

    listed = json.loads(newsbot("feeds", "list", "--json", "--config", str(config)).stdout)["feeds"]
    by_url = {f["url"]: f for f in listed}
    assert by_url[server.url("/a.xml")]["items"] == 1 and by_url[server.url("/a.xml")]["status"] == "ok"
    assert by_url[server.url("/missing.xml")]["status"] == "failing"
    assert "404" in by_url[server.url("/missing.xml")]["last_error"]


def test_search_reindex_and_prune_cli(tmp_path: Path, server: FeedServer) -> None:
    server.script(
        "/a.xml",
        Reply(
            body=feed(
                "Reuters",
                "reuters.example",
                [
                    ("r1", KHARTOUM[0], "https://reuters.example/k", KHARTOUM[1]),
                    ("r2", "<b>Guaidó</b> & allies meet in Caracas", "https://reuters.example/v", "Talks."),
                ],
            )
        ),
    )
    config = tmp_path / "config.toml"
    config.write_text(
        config_for(f"sqlite:///{tmp_path / 's.db'}", tmp_path)
        + f'[[feeds]]\nurl = "{server.url("/a.xml")}"\n'
    )
    assert newsbot("fetch", "--once", "--config", str(config)).returncode == 0
    found = json.loads(newsbot("search", "guaido", "--json", "--config", str(config)).stdout)
    assert found["query"] == "guaido"
    [hit] = found["results"]
    assert hit["title"] == "Guaidó & allies meet in Caracas" and hit["outlet"] == "Reuters"
    assert set(hit) >= {"title", "url", "outlet", "published", "snippet", "score"}
    by_story = json.loads(
        newsbot("search", "airport", "--story", "sudan", "--json", "--config", str(config)).stdout
    )
    assert [r["url"] for r in by_story["results"]] == ["https://reuters.example/k"]
    bad = newsbot("search", "(Khartoum", "--config", str(config))
    assert bad.returncode == 2 and "at 0" in bad.stderr
    reindex = newsbot("db", "reindex", "--config", str(config))
    assert reindex.returncode == 0 and "2 items" in reindex.stdout
    prune = newsbot("db", "prune", "--config", str(config))
    assert prune.returncode == 0 and "pruned 0 items" in prune.stdout
