"""One read model for "a development as people see it": ``newsbot story NAME --json`` and
``/story NAME`` list the same developments, in the same order, with the same lead reports and
the same reports under them, on one database (issue 11)."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.services import Services
from storage.repository import Storage
from stories.model import Decision, Item
from tests.bot.conftest import GROUP, Chatter, make_config, running
from tests.fakes.telegram_api import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime.now(UTC) - timedelta(hours=3)


def _item(guid: str, title: str, outlet: str, minutes: int) -> Item:
    return Item(
        guid=guid,
        url=f"https://{outlet.lower()}.example/{guid}",
        title=title,
        summary="",
        published=T0 + timedelta(minutes=minutes),
        outlet=outlet,
    )


async def _seed(storage: Storage) -> None:
    """Three developments of "sudan": one with a copy, a re-report and an update (so folding
    matters), one carried once, and one whose re-report came before its original report."""
    story = await storage.add_story("sudan", "Sudan OR Khartoum", user_name="test")
    feed = await storage.add_feed("http://127.0.0.1:9/seed.xml")
    assert story.id is not None and feed.id is not None
    batches = [
        # (item, kind, development, copy of, minutes after T0 it was fetched)
        (_item("a1", "Khartoum airport reopens", "Reuters", 0), "new", 9001, None, 0),
        (_item("a2", "Khartoum airport reopens to flights", "AP", 2), "rereport", 9001, "a1", 5),
        (_item("b1", "RSF shells El Fasher, Sudan", "DW", 20), "new", 9002, None, 20),
        (_item("c1", "Sudan talks in Jeddah (reprint)", "Wire", 40), "rereport", 9003, None, 40),
        (_item("c2", "Sudan talks resume in Jeddah", "BBC", 41), "new", 9003, None, 45),
        (_item("a3", "Khartoum airport: 12 flights land, UN says", "BBC", 60), "update", 9001, None, 60),
        (_item("a4", "Khartoum airport reopens", "Reuters", 61), "rereport", 9001, "a1", 62),
    ]
    keys: dict[str, int] = {}
    for item, kind, dev, copy_of, fetched in batches:
        stored = await storage.store_items(feed.id, [item], fetched_at=T0 + timedelta(minutes=fetched))
        [(key, _)] = stored.new
        keys[item.guid] = key
        decision = Decision(
            key,
            kind,  # type: ignore[arg-type]
            dev,
            duplicate_of=keys[copy_of] if copy_of else None,
            stories=frozenset({story.id}),
            new_facts=("12 flights",) if kind == "update" else (),
        )
        await storage.record_decisions([decision])


def _cli_story(database_url: str, tmp_path: Path) -> dict[str, object]:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n')
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "story", "sudan", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    shown: dict[str, object] = json.loads(done.stdout)
    return shown


_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>')


def _telegram_story(text: str) -> list[list[tuple[str, str]]]:
    """The developments of a /story message: per development its (url, title) links, the
    first being the heading that links the lead report."""
    developments: list[list[tuple[str, str]]] = []
    for line in text.split("\n"):
        links = [(html.unescape(url), html.unescape(title)) for url, title in _LINK.findall(line)]
        if not links:
            continue
        if line.startswith("↳"):
            developments[-1].extend(links)
        else:
            developments.append(links)
    return developments


async def test_newsbot_story_and_slash_story_show_the_same_developments(
    tg: FakeTelegram, sqlite_url: str, store: Storage, tmp_path: Path
) -> None:
    await _seed(store)
    cli = _cli_story(sqlite_url, tmp_path)
    developments = cli["developments"]
    assert isinstance(developments, list)
    # The shape scripts read: kinds, and the lead (the first original report) first.
    for dev in developments:
        assert set(dev) >= {"id", "title", "first_seen", "last_seen", "outlets", "items"}
        assert dev["items"][0]["kind"] == "new"
        assert {i["kind"] for i in dev["items"]} <= {"new", "update", "rereport"}
    listed = [[(i["url"], i["title"]) for i in dev["items"]] for dev in developments]
    # Copies and re-reports fold into their report; the update follows the lead.
    assert [dev["id"] for dev in developments] == [9001, 9003, 9002]
    assert listed[0] == [
        ("https://reuters.example/a1", "Khartoum airport reopens"),
        ("https://bbc.example/a3", "Khartoum airport: 12 flights land, UN says"),
    ]
    assert developments[0]["items"][0]["sources"] == ["Reuters", "AP"]
    assert listed[1] == [("https://bbc.example/c2", "Sudan talks resume in Jeddah")]

    async with running(Services(make_config(tg, sqlite_url), store)):
        [reply] = await Chatter(tg).ask(GROUP, "/story sudan")
    shown = _telegram_story(reply.text)
    assert [links[0][0] for links in shown] == [items[0][0] for items in listed]  # same leads, same order
    assert shown == [[(items[0][0], dev["title"]), *items[1:]] for items, dev in zip(listed, developments, strict=True)]
    assert "+1 more source (AP)" in reply.visible_text
