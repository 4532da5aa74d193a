"""Runs the story tracker over stored items and writes its decisions back.

The tracker itself (``stories.tracker``) is pure; this service feeds it the items
``storage`` has not decided on yet, in arrival order, and keeps its state saved so
that a restart decides exactly as if the process had never stopped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from storage.repository import Storage
from stories.model import Decision
from stories.tracker import Tracker

log = logging.getLogger("newsbot.track")

STATE_NAME = "main"
BATCH = 1000
# The saved state is large (tens of MB at 100,000 items), so it is saved at most this often
# and on shutdown; after a crash the items since the last save are replayed, which gives the
# same decisions (the tracker is deterministic) and re-records them idempotently.
SAVE_INTERVAL = 300.0


class TrackingService:
    """Owns one Tracker; one ``track_pending`` runs at a time."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.tracker = Tracker()
        self.last_item_id = 0
        self._lock = asyncio.Lock()
        self._saved_item_id = 0
        self._saved_at = time.monotonic()
        self._stories_version: tuple[tuple[int, str], ...] = ()

    async def start(self) -> None:
        """Load the saved state (or start empty) and catch up with stored items."""
        saved = await self.storage.load_tracker_state(STATE_NAME)
        if saved is not None:
            data, self.last_item_id = saved
            self._saved_item_id = self.last_item_id
            try:
                self.tracker = Tracker.from_dict(json.loads(data))
            except (ValueError, KeyError, TypeError) as exc:
                # An unreadable state (e.g. from an older version) is rebuilt by replay.
                log.warning("tracker state unreadable (%s); rebuilding from stored items", exc)
                self.tracker, self.last_item_id = Tracker(), 0
        await self.refresh_stories()
        await self.track_pending()

    async def refresh_stories(self) -> None:
        """Give the tracker the current watchlists (after any story change)."""
        stories = await self.storage.list_stories()
        version = tuple(sorted((s.id or 0, s.query) for s in stories))
        if version != self._stories_version:
            self.tracker.set_stories({s.id: s.query for s in stories if s.id is not None})
            self._stories_version = version

    async def track_pending(self) -> list[Decision]:
        """Decide on every item stored since the last run; return the decisions."""
        async with self._lock:
            await self.refresh_stories()
            decisions: list[Decision] = []
            while True:
                batch = await self.storage.items_after(self.last_item_id, limit=BATCH)
                if not batch:
                    break
                made = [self.tracker.observe(key, item) for key, item in batch]
                await self.storage.record_decisions(made)
                self.last_item_id = batch[-1][0]
                decisions.extend(made)
            if time.monotonic() - self._saved_at >= SAVE_INTERVAL:
                await self._save()
            if decisions:
                kinds = {k: sum(d.kind == k for d in decisions) for k in ("new", "update", "rereport")}
                log.info("tracked items=%d new=%d update=%d rereport=%d", len(decisions), *kinds.values())
            return decisions

    async def save(self) -> None:
        """Save the tracker's state now (on shutdown; otherwise every SAVE_INTERVAL)."""
        async with self._lock:
            await self._save()

    async def _save(self) -> None:
        if self.last_item_id != self._saved_item_id:
            data = await asyncio.to_thread(lambda: json.dumps(self.tracker.to_dict()))
            await self.storage.save_tracker_state(STATE_NAME, data, self.last_item_id)
            self._saved_item_id = self.last_item_id
        self._saved_at = time.monotonic()
