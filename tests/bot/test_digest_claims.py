"""Digests are built and sent once with several bot processes on one PostgreSQL database
(issue 13, item 8): two real processes run their digest turn at the same moment over 30 chats
whose digest is due; every chat gets exactly one digest."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import chats as chat_store
from storage import subscriptions as subscription_store
from storage.repository import Storage
from tests.bot.conftest import ALICE, seed_story_items
from tests.conftest import PG_ENV, PG_SKIP, connected

ROOT = Path(__file__).resolve().parents[2]
CHATS = [-5000 - n for n in range(30)]

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not os.environ.get(PG_ENV), reason=PG_SKIP)]


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[Storage]:
    async with connected(pg_url) as storage:
        yield storage


async def test_two_processes_build_each_due_digest_once(pg_url: str, store: Storage) -> None:
    now = datetime.now(UTC)
    story = await store.add_story("sudan", "Sudan", user_name="config")
    assert story.id
    await seed_story_items(
        store, story.id, [(f"Sudan talks resume in Jeddah, round {n}", "BBC") for n in range(5)], dev_base=900
    )
    for chat_id in CHATS:
        await chat_store.upsert_chat(store, chat_id, type="group", title="g", username=None, timezone="UTC")
        await subscription_store.subscribe(
            store,
            chat_id,
            story.id,
            schedule="every 6h",
            next_digest_at=now - timedelta(minutes=1),
            user_id=ALICE.id,
        )

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")} | {"PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.bot.run_digests", pg_url, now.isoformat()],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:  # both connected...
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:  # ...then both start their turn together
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    written = [int(out.strip().rsplit(" ", 1)[-1]) for out, _ in outputs]

    async with store.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT chat_id FROM outbox WHERE kind = 'digest'"))).all()
    per_chat = Counter(chat_id for (chat_id,) in rows)
    assert sorted(per_chat) == sorted(CHATS)  # every due chat got its digest...
    assert set(per_chat.values()) == {1}  # ...exactly once
    assert sum(written) == len(CHATS)  # and the two processes shared the work between them
    for chat_id in CHATS:
        [sub] = await subscription_store.list_subscriptions(store, chat_id)
        assert sub.next_digest_at is not None and sub.next_digest_at > now
