"""Runs the story tracker over stored items and writes its decisions back.

The tracker itself (``stories.tracker``) is pure; this service feeds it the items
``storage`` has not decided on yet, one poll cycle's batch at a time, and keeps its
state saved so that a restart decides exactly as if the process had never stopped::

    batch    = items not yet tracked (storage)
    vectors  = cached vectors, else encode the missing ones in a worker thread, cache them
    verdicts = tracker.observe_many(batch, vectors)   # canonical order; in a worker thread
    store verdicts, numbered by the tracker's own counter (items.track_seq)
    every SAVE_INTERVAL and on shutdown: save the compact state with that counter

After a crash, the items decided since the last save are replayed onto the saved state
in counter order; the tracker is deterministic, so they get the same decisions. The
counter never goes back, unlike item ids (SQLite reuses the highest ids after a prune).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Sequence

from storage.repository import Storage, TrackerInput
from stories.encoder import Encoder, encoder_text, make_encoder, pack, unpack
from stories.model import Decision
from stories.tracker import Tracker, Vector

from .config import Config
from .observability import log_event

log = logging.getLogger("newsbot.track")


def single_blas_thread() -> None:
    """Keep numpy's BLAS to one thread in this process (the encoder limits its own)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


STATE_NAME = "main"
BATCH = 1000
# Saving costs a few hundred ms at 100,000 items, so it happens at most this often and
# on shutdown; after a crash the items since the last save are replayed.
SAVE_INTERVAL = 300.0
_STATE_PREFIX = "z2:"  # zlib-compressed JSON, base64 (the column is text)


class TrackingService:
    """Owns one Tracker; one ``track_pending`` runs at a time."""

    def __init__(self, storage: Storage, encoder: Encoder | None = None) -> None:
        self.storage = storage
        self.encoder = encoder
        self.tracker = Tracker()
        self.seq = 0
        """The tracker's decision counter: decisions made so far."""
        self._lock = asyncio.Lock()
        self._saved_seq = 0
        self._saved_at = time.monotonic()
        self._stories_version: tuple[tuple[int, str], ...] = ()

    @classmethod
    def from_config(cls, storage: Storage, config: Config) -> TrackingService:
        """The service with the configured encoder (``[tracker] encoder``)."""
        return cls(storage, make_encoder(config.tracker.encoder))

    @property
    def last_item_id(self) -> int:
        """Deprecated name of :attr:`seq` (kept for scripts reading status)."""
        return self.seq

    async def start(self) -> None:
        """Load the encoder and the saved state (or start empty) and catch up with stored items."""
        if self.encoder is not None:
            # The tracker's products (an item against the 4,096 recent vectors) are too
            # small for BLAS threads, which spin on the other cores: CPU time per item was
            # 1.6x that of one thread for the same work (googlenews-ts). One per process.
            single_blas_thread()
            # The model loads now, off the event loop, rather than inside the first poll's
            # tracking; a model that cannot load fails at start, with its reason.
            await asyncio.to_thread(self.encoder.encode, ["newsbot"])
        saved = await self.storage.load_tracker_state(STATE_NAME)
        replay_from = 0
        if saved is not None:
            data, seq = saved
            try:
                if not data.startswith(_STATE_PREFIX):
                    raise ValueError("state from an older version")
                raw = base64.b64decode(data[len(_STATE_PREFIX) :])
                self.tracker = await asyncio.to_thread(Tracker.loads, raw)
                self.seq = self._saved_seq = replay_from = seq
            except (ValueError, KeyError, TypeError) as exc:
                # An unreadable state (e.g. from an older version) is rebuilt by replay.
                log.warning("tracker state unreadable (%s); rebuilding from stored items", exc)
                self.tracker, self.seq = Tracker(), 0
        await self.refresh_stories()
        async with self._lock:
            await self._replay(replay_from)
        await self.track_pending()

    async def _replay(self, after_seq: int) -> None:
        """Decide again, onto the loaded state, what was decided after it was saved."""
        replayed = 0
        while batch := await self.storage.tracker_inputs(after_seq=after_seq, limit=BATCH):
            vectors = await self._vectors(batch)
            pairs = [(t.key, t.item) for t in batch]
            await asyncio.to_thread(self.tracker.replay, pairs, vectors)
            after_seq = self.seq = after_seq + len(batch)
            replayed += len(batch)
        if replayed:
            log.info("tracker replayed %d decisions made after the last save", replayed)

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
            while batch := await self.storage.tracker_inputs(limit=BATCH):
                vectors = await self._vectors(batch)
                pairs = [(t.key, t.item) for t in batch]
                made = await asyncio.to_thread(self.tracker.observe_many, pairs, vectors)
                await self.storage.record_decisions(made, first_seq=self.seq + 1, numbered=len(batch))
                self.seq += len(batch)
                decisions.extend(made)
            if time.monotonic() - self._saved_at >= SAVE_INTERVAL:
                await self._save()
            if decisions:
                latest = {d.key: d for d in decisions}  # a revision supersedes its item's decision
                kinds = {k: sum(d.kind == k for d in latest.values()) for k in ("new", "update", "rereport")}
                log_event(log, "tracked", items=len(latest), **kinds)
            return decisions

    async def _vectors(self, batch: Sequence[TrackerInput]) -> dict[int, Vector]:
        """The batch's vectors: cached ones, and the missing ones encoded off the event loop."""
        if self.encoder is None:
            return {}
        vectors = {t.key: unpack(t.vector) for t in batch if t.vector is not None}
        missing = [t for t in batch if t.vector is None]
        if missing:
            encoder = self.encoder
            texts = [encoder_text(t.item) for t in missing]
            # A verbatim reprint (the same title and lead) is encoded once: the encoder
            # gives one text one vector.
            unique = list(dict.fromkeys(texts))
            encoded = await asyncio.to_thread(encoder.encode, unique)
            row = {text: n for n, text in enumerate(unique)}
            packed = [(t.key, pack(encoded[row[text]])) for t, text in zip(missing, texts, strict=True)]
            await self.storage.save_vectors(packed)
            # The tracker reads what a restart would read: the stored float16 values.
            vectors.update({key: unpack(data) for key, data in packed})
        return vectors

    async def save(self) -> None:
        """Save the tracker's state now (on shutdown; otherwise every SAVE_INTERVAL)."""
        async with self._lock:
            await self._save()

    async def _save(self) -> None:
        if self.seq != self._saved_seq:
            raw = await asyncio.to_thread(self.tracker.dumps)
            data = _STATE_PREFIX + base64.b64encode(raw).decode()
            await self.storage.save_tracker_state(STATE_NAME, data, self.seq)
            self._saved_seq = self.seq
        self._saved_at = time.monotonic()
