"""Render the README's Telegram pictures from a real run: a digest with its buttons and /settings,
in English and in Spanish (docs/digest.png, docs/digest-es.png, docs/settings.png,
docs/settings-es.png).

- The digest: each story's latest developments in a database written by a real run over the
  development corpus (``newsbot eval developments --keep-db``), assembled as ``/story`` does,
  rendered by the real renderer (``bot.render.render_digest_parts``) in the chat's language,
  with the buttons the bot puts under it (``bot.keyboards.digest_keyboard``).
- /settings: the real bot (python-telegram-bot) answers ``/settings`` in a group, through the
  fake Bot API server of the tests, on a copy of that database; the picture shows the message
  and keyboard exactly as the bot sent them.

    newsbot eval developments --keep-db /tmp/eval.db
    python scripts/render_screens.py --database /tmp/eval.db

Needs Debian's ``chromium`` (see scripts/render_digest_png.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from render_digest_png import NOW, TZ, page, screenshot, stored_digest  # noqa: E402

from bot.i18n import translator  # noqa: E402
from bot.keyboards import CallbackSigner, digest_keyboard  # noqa: E402
from bot.render import render_digest_parts  # noqa: E402

CHAT_ID = -1003001  # the channel of the pictures (its id signs the buttons)


def digest_page(database: str, language: str, per_story: int) -> str:
    tr = translator(language)
    parts = render_digest_parts(stored_digest(f"sqlite:///{database}", per_story), TZ, tr=tr)
    signer = CallbackSigner(b"screenshots")
    keyboards: list[dict[str, Any] | None] = []
    for part in parts:
        keyboard = digest_keyboard(signer, CHAT_ID, part.entries, tr)
        keyboards.append(json.loads(keyboard.to_json()) if keyboard is not None else None)
    local = NOW.astimezone(TZ)
    return page([p.text for p in parts], f"{local.hour:02d}:{local.minute:02d}", keyboards)


async def settings_message(database: str, language: str) -> tuple[str, dict[str, Any] | None]:
    """The bot's answer to /settings in a group whose language is ``language``."""
    from bot.services import Services
    from storage import chats as chat_store
    from storage.repository import Storage
    from tests.bot.conftest import ALICE, GROUP, make_config, running
    from tests.bot.test_native import _ask
    from tests.fakes.telegram_api import FakeTelegram

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "screens.db"
        shutil.copyfile(database, copy)
        url = f"sqlite:///{copy}"
        with FakeTelegram() as tg:
            tg.add_chat(GROUP)
            tg.set_member_status(GROUP.id, ALICE.id, "administrator")
            storage = Storage.connect(url)
            try:
                async with running(Services(make_config(tg, url), storage)):
                    for name in ("wagner", "sudan", "venezuela"):
                        await _ask(tg, GROUP, f"/subscribe {name} daily 08:00")
                    await chat_store.set_chat_language(storage, GROUP.id, language)
                    reply = await _ask(tg, GROUP, "/settings")
                    return reply.text, reply.reply_markup
            finally:
                await storage.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database", required=True, help="an SQLite file from `newsbot eval developments --keep-db`"
    )
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs")
    parser.add_argument("--developments", type=int, default=1, help="developments per story in the digest")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    pictures: list[tuple[str, str]] = []
    for language, suffix in (("en", ""), ("es", "-es")):
        pictures.append((f"digest{suffix}.png", digest_page(args.database, language, args.developments)))
        text, keyboard = asyncio.run(settings_message(args.database, language))
        local = NOW.astimezone(TZ)
        html = page([text], f"{local.hour:02d}:{local.minute:02d}", [keyboard], sender="newsbot", meta="")
        pictures.append((f"settings{suffix}.png", html))
    with tempfile.TemporaryDirectory() as tmp:
        for name, html in pictures:
            html_path = Path(tmp) / (name + ".html")
            html_path.write_text(html, encoding="utf-8")
            screenshot(html_path, (args.out_dir / name).resolve())
            print(f"wrote {args.out_dir / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
