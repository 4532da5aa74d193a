"""Render a sample digest the way a Telegram channel shows it, for the README (docs/digest.png).

The messages come from the real renderer (``bot.render.render_digest``) and are dropped, as is,
into a page styled like a channel post in Telegram's light theme: Telegram's HTML parse mode
is a subset of HTML (b, i, a ...), so the browser shows the same text, bold, italics and links.
Headless Chromium takes the screenshot.

    python scripts/render_digest_png.py                 # writes docs/digest.png
    python scripts/render_digest_png.py --html out.html # also keep the page

    # From a real run over the development corpus (what the README shows):
    newsbot eval developments --keep-db /tmp/eval.db
    python scripts/render_digest_png.py --database sqlite:////tmp/eval.db --developments 2

Needs Debian's ``chromium`` (``apt-get install -y chromium fonts-noto-color-emoji``).
Without ``--database`` the stories, headlines and outlets are the sample data below; with
it, each story's latest developments as ``/story`` assembles them from that database (lead
report, copies folded into "+N more sources", updates with what they add).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from html import escape as html_escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.render import render_digest  # noqa: E402
from stories.digest import Digest, DigestDevelopment, DigestItem, DigestSection  # noqa: E402

TZ = ZoneInfo("Europe/Madrid")
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # 09:00 in Madrid
WIDTH = 620  # CSS pixels of the window; the screenshot is taken at 2x


def _at(hours_ago: float) -> datetime:
    return NOW - timedelta(hours=hours_ago)


def _dev(
    dev_id: int, title: str, items: tuple[DigestItem, ...], outlets: int, *, update: bool = False
) -> DigestDevelopment:
    times = [i.published for i in items]
    return DigestDevelopment(dev_id, title, items, outlets, min(times), max(times), update)


def sample_digest() -> Digest:
    """A morning digest of three tracked stories (sample data)."""
    venezuela = DigestSection(
        "Venezuela",
        (
            _dev(
                101,
                "Government and opposition agree to resume talks in Barbados",
                (
                    DigestItem(
                        "Government and opposition agree to resume talks in Barbados",
                        "https://example.com/venezuela/talks-barbados",
                        "Reuters",
                        _at(3.2),
                        "new",
                        4,
                        ("AP", "El País", "BBC Mundo", "Efecto Cocuyo"),
                    ),
                    DigestItem(
                        "Norway confirms it will mediate; first session set for Friday",
                        "https://example.com/venezuela/norway-mediator",
                        "AFP",
                        _at(1.5),
                        "update",
                        1,
                        ("France 24",),
                    ),
                ),
                7,
            ),
            _dev(
                102,
                "Electoral council publishes timetable for regional elections",
                (
                    DigestItem(
                        "CNE sets 14 March for the first round & opens registration",
                        "https://example.com/venezuela/cne-timetable",
                        "Efecto Cocuyo",
                        _at(9.5),
                        "update",
                    ),
                ),
                3,
                update=True,
            ),
        ),
    )
    wagner = DigestSection(
        "Wagner / Africa Corps",
        (
            _dev(
                201,
                "Mali: Africa Corps takes over bases vacated by Wagner in the north",
                (
                    DigestItem(
                        "Mali: Africa Corps takes over bases vacated by Wagner in the north",
                        "https://example.com/sahel/africa-corps-bases",
                        "RFI",
                        _at(5.0),
                        "new",
                        2,
                        ("Jeune Afrique", "Le Monde"),
                    ),
                ),
                3,
            ),
        ),
    )
    sudan = DigestSection(
        "Sudan",
        (
            _dev(
                301,
                "RSF shelling cuts water to El Fasher; UN warns of famine",
                (
                    DigestItem(
                        "RSF shelling cuts water to El Fasher; UN warns of famine",
                        "https://example.com/sudan/el-fasher-water",
                        "Al Jazeera",
                        _at(2.4),
                        "new",
                        5,
                        ("Reuters", "Sudan Tribune", "Radio Dabanga", "BBC", "AP"),
                    ),
                    DigestItem(
                        "WFP: convoy of 40 trucks held at Tine crossing",
                        "https://example.com/sudan/wfp-convoy",
                        "Radio Dabanga",
                        _at(0.8),
                        "update",
                    ),
                ),
                6,
            ),
            _dev(
                302,
                "Jeddah ceasefire talks postponed again",
                (
                    DigestItem(
                        "Jeddah ceasefire talks postponed again, mediators say",
                        "https://example.com/sudan/jeddah-postponed",
                        "Sudan Tribune",
                        _at(20.0),
                        "new",
                    ),
                ),
                1,
            ),
        ),
    )
    return Digest((venezuela, wagner, sudan), NOW)


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><style>
  html, body {{ margin: 0; padding: 0; }}
  body {{
    width: {width}px;
    background: #99ba92 linear-gradient(160deg, #b3cfa0 0%, #88b48f 55%, #6fa08f 100%);
    font-family: "DejaVu Sans", "Noto Color Emoji", sans-serif;
    -webkit-font-smoothing: antialiased;
  }}
  .chat {{ padding: 22px 22px 24px 22px; display: flex; flex-direction: column; gap: 10px; }}
  .bubble {{
    background: #ffffff; border-radius: 14px 14px 14px 4px; padding: 9px 13px 7px 13px;
    box-shadow: 0 1px 1.5px rgba(0, 0, 0, .22); max-width: {bubble}px; position: relative;
  }}
  .channel {{ color: #3a8fd6; font-weight: bold; font-size: 14.5px; margin-bottom: 4px; }}
  .text {{ white-space: pre-wrap; font-size: 14.5px; line-height: 1.42; color: #000; }}
  .text a {{ color: #2a7fc9; text-decoration: none; }}
  .text i {{ color: #333; }}
  .meta {{ text-align: right; color: #8f9ea8; font-size: 12px; margin-top: 2px; }}
  .emoji {{ font-family: "Noto Color Emoji"; }}
  .keyboard {{ display: flex; flex-direction: column; gap: 4px; max-width: {bubble}px; margin-top: -6px; }}
  .keyboard .row {{ display: flex; gap: 4px; }}
  .keyboard .button {{
    flex: 1 1 0; min-width: 0; text-align: center; font-size: 13.5px; font-weight: 600; color: #fff;
    background: rgba(70, 110, 90, .55); border-radius: 8px; padding: 8px 6px; white-space: nowrap;
    overflow: hidden; text-overflow: ellipsis;
  }}
</style></head>
<body><div class="chat">
{bubbles}
</div>
<script>document.body.setAttribute("data-height",
  String(Math.ceil(document.documentElement.getBoundingClientRect().height)));</script>
</body></html>
"""

BUBBLE = """<div class="bubble"><div class="channel">{sender}</div>\
<div class="text">{text}</div><div class="meta">{meta}{time}</div></div>"""


def keyboard_html(markup: dict[str, Any] | None) -> str:
    """An inline keyboard (Bot API JSON) drawn as Telegram draws it under a message."""
    if not markup or not markup.get("inline_keyboard"):
        return ""
    rows = []
    for row in markup["inline_keyboard"]:
        cells = "".join(f'<div class="button">{html_escape(b["text"])}</div>' for b in row)
        rows.append(f'<div class="row">{cells}</div>')
    return f'<div class="keyboard">{"".join(rows)}</div>'


def page(
    messages: list[str],
    time: str,
    keyboards: list[dict[str, Any] | None] | None = None,
    *,
    sender: str = "World Desk · newsbot",
    meta: str = "👁 2.4K &nbsp;",
) -> str:
    """The HTML page with one channel bubble per Telegram message (and its buttons)."""
    keyboards = keyboards or [None] * len(messages)
    bubbles = "\n".join(
        BUBBLE.format(text=m, time=time, sender=html_escape(sender), meta=meta) + keyboard_html(k)
        for m, k in zip(messages, keyboards, strict=True)
    )
    return PAGE.format(width=WIDTH, bubble=WIDTH - 44, bubbles=bubbles)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("chromium not found: apt-get install -y chromium fonts-noto-color-emoji")


def _run_chromium(args: list[str], profile: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run(
        [chromium(), *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


def screenshot(html_path: Path, out: Path) -> None:
    """Measure the page height, then screenshot exactly that much at 2x."""
    with tempfile.TemporaryDirectory() as profile:
        dom = _run_chromium([f"--window-size={WIDTH},2000", "--dump-dom", html_path.as_uri()], profile)
        found = re.search(r'data-height="(\d+)"', dom.stdout)
        if not found:
            raise SystemExit(f"could not measure the page: {dom.stderr[-2000:]}")
        height = int(found.group(1))
        shot = _run_chromium(
            [
                f"--window-size={WIDTH},{height}",
                "--force-device-scale-factor=2",
                f"--screenshot={out}",
                html_path.as_uri(),
            ],
            profile,
        )
        if shot.returncode != 0 or not out.exists():
            raise SystemExit(f"chromium failed: {shot.stderr[-2000:]}")


def stored_digest(url: str, per_story: int) -> Digest:
    """Each story's ``per_story`` latest developments in ``url``'s database, as /story shows them."""
    import asyncio

    from bot.actions.stories import story_developments
    from storage.repository import Storage

    async def read() -> Digest:
        storage = Storage.connect(url)
        try:
            from storage.subscriptions import story_titles

            sections = []
            stories = await storage.list_stories()
            titles = await story_titles(storage, [s.id for s in stories if s.id is not None])
            for story in stories:
                if story.id is None:
                    continue
                # Of the story's 12 latest developments, those with most to show in a picture
                # (an update, folded copies, yet short enough to read), in their own order.
                latest = await story_developments(storage, story.id, limit=12)

                def interest(d: DigestDevelopment) -> tuple[bool, bool, int]:
                    size = sum(1 + i.extra_sources for i in d.items)
                    return (len(d.items) <= 3, any(i.kind == "update" for i in d.items), size)

                richest = sorted(latest, key=interest, reverse=True)[:per_story]
                devs = [d for d in latest if d in richest]
                if devs:
                    sections.append(
                        DigestSection(titles.get(story.id, story.name), tuple(devs), story_id=story.id)
                    )
            return Digest(tuple(sections), NOW)
        finally:
            await storage.close()

    return asyncio.run(read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "digest.png")
    parser.add_argument("--html", type=Path, help="also write the HTML page here")
    parser.add_argument("--database", help="render each story's latest developments from this database")
    parser.add_argument(
        "--developments", type=int, default=2, help="developments per story (with --database)"
    )
    args = parser.parse_args(argv)

    digest = stored_digest(args.database, args.developments) if args.database else sample_digest()
    messages = render_digest(digest, TZ)
    local = NOW.astimezone(TZ)
    html = page(messages, f"{local.hour:02d}:{local.minute:02d}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.html:
        args.html.write_text(html, encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        html_path = Path(tmp) / "digest.html"
        html_path.write_text(html, encoding="utf-8")
        screenshot(html_path, args.out.resolve())
    print(f"wrote {args.out} ({len(messages)} message(s))")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
