"""``newsbot eval developments``: the tracker on our labelled polls, through the real fetch path.

::

    corpus   = load_corpus(DIR)                   # stories/devcorpus.py
    server   = an HTTP server on 127.0.0.1 serving each outlet's feed as of "the current poll"
    database = a fresh SQLite file, migrated and seeded as `newsbot run` does
    for each poll time, oldest first:
        the server switches to that poll's snapshots
        one poll cycle over every feed (fetch, conditional GET, parse, normalise, store)
        the tracker decides on the new items (vectors encoded and cached as in `run`)
    score the stored decisions against the labels, per story

Nothing is mocked: the feeds go over HTTP, the items through ``bot.poller.Poller`` and
``bot.tracking.TrackingService`` into the database, and the verdicts are read back
from it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import tempfile
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from storage.subscriptions import set_story_title
from stories.devcorpus import Corpus, CorpusError, Outcome, load_corpus, score

from .config import parse_config
from .poller import Poller
from .storage_access import open_storage
from .tracking import TrackingService

__all__ = ["DEFAULT_CORPUS", "run_development_eval"]

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "developments"


class _Feeds:
    """What the local server answers: path -> (body, ETag), swapped atomically per poll."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[bytes, str]] = {}
        self.requests = 0


def _serve(feeds: _Feeds) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            feeds.requests += 1
            doc = feeds.docs.get(self.path)
            if doc is None:
                self.send_error(404)
                return
            body, etag = doc
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            kind = "application/atom+xml" if self.path.endswith(".atom") else "application/rss+xml"
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, name="eval-feeds", daemon=True).start()
    return server


def _config_text(database: Path, corpus: Corpus, base: str, encoder: str) -> str:
    lines = [
        "[database]",
        f"url = {json.dumps('sqlite:///' + str(database))}",
        "[fetch]",
        "allow_private_networks = true",
        "per_host_concurrency = 16",
        "[tracker]",
        f"encoder = {json.dumps(encoder)}",
    ]
    for outlet in sorted(corpus.outlets):
        lines += ["[[feeds]]", f"url = {json.dumps(base + corpus.feed_path(outlet))}"]
    for spec in corpus.stories.values():
        lines += ["[[stories]]", f"name = {json.dumps(spec.name)}", f"query = {json.dumps(spec.query)}"]
    return "\n".join(lines) + "\n"


async def _poll_corpus(
    corpus: Corpus, database: Path, encoder: str
) -> tuple[dict[str, Outcome], dict[str, Any]]:
    feeds = _Feeds()
    server = _serve(feeds)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    config = parse_config(_config_text(database, corpus, base, encoder), source="eval", env={})
    timings = {"fetch_s": 0.0, "track_s": 0.0}
    tracked = 0
    try:
        async with open_storage(config) as storage:
            for story in await storage.list_stories():
                spec = corpus.stories.get(story.name)
                if story.id is not None and spec is not None and spec.title != spec.name:
                    await set_story_title(storage, story.id, spec.title)  # as /watch title would
            tracking = TrackingService.from_config(storage, config)
            await tracking.start()
            async with Poller.from_config(storage, config) as poller:
                for poll in range(len(corpus.polls)):
                    docs = {}
                    for outlet in corpus.outlets:
                        body = corpus.snapshot(outlet, poll)
                        docs[corpus.feed_path(outlet)] = (
                            body,
                            '"' + hashlib.sha1(body).hexdigest()[:16] + '"',
                        )
                    feeds.docs = docs
                    started = time.perf_counter()
                    await poller.poll_once(include_all=True)
                    timings["fetch_s"] += time.perf_counter() - started
                    started = time.perf_counter()
                    tracked += len({d.key for d in await tracking.track_pending()})
                    timings["track_s"] += time.perf_counter() - started
            await tracking.save()
            verdicts = await storage.item_verdicts([r.url for r in corpus.reports.values()])
            story_names = {s.id: s.name for s in await storage.list_stories() if s.id is not None}
    finally:
        server.shutdown()
        server.server_close()
    by_id = {v.item_id: v for v in verdicts.values()}
    url_to_report = {r.url: r.id for r in corpus.reports.values()}
    outcomes: dict[str, Outcome] = {}
    for r in corpus.reports.values():
        v = verdicts.get(r.url)
        if v is None:
            outcomes[r.id] = Outcome(r.id, False, None, None, None, frozenset())
            continue
        dup = by_id.get(v.duplicate_of) if v.duplicate_of is not None else None
        dev = tracking.tracker.resolve(v.development_id) if v.development_id is not None else None
        outcomes[r.id] = Outcome(
            r.id,
            True,
            v.kind,
            dev,
            url_to_report.get(dup.url or "") if dup is not None else None,
            frozenset(story_names[s] for s in v.story_ids if s in story_names),
        )
    timings = {k: round(v, 2) for k, v in timings.items()}
    return outcomes, {"tracked": tracked, "feed_requests": feeds.requests, **timings}


def run_development_eval(
    corpus_dir: Path | None = None,
    *,
    encoder: str = "use",
    stories: Iterable[str] | None = None,
    keep_database: Path | None = None,
) -> dict[str, Any]:
    """Poll the corpus into a fresh database and score the decisions (see the module doc).

    ``keep_database`` keeps that SQLite database at this path (it must not exist yet),
    for reading it afterwards with ``newsbot story`` or ``scripts/render_digest_png.py``.
    """
    directory = corpus_dir or DEFAULT_CORPUS
    corpus = load_corpus(directory, stories=stories)
    if keep_database is not None and keep_database.exists():
        raise CorpusError(f"{keep_database} exists: give a new path to keep the database at")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="newsbot-eval-") as tmp:
        database = keep_database or Path(tmp) / "eval.db"
        outcomes, run = asyncio.run(_poll_corpus(corpus, database, encoder))
    elapsed = time.perf_counter() - started
    result = score(corpus, outcomes)
    result["run"] = {
        "corpus": str(directory),
        "encoder": encoder,
        "polls": len(corpus.polls),
        "outlets": len(corpus.outlets),
        "items_tracked": run["tracked"],
        "seconds": round(elapsed, 2),
        "track_items_per_s": round(run["tracked"] / run["track_s"], 1) if run["track_s"] else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **{k: v for k, v in run.items() if k != "tracked"},
    }
    result["mistakes"] = _mistakes(corpus, outcomes)
    return result


def _mistakes(corpus: Corpus, outcomes: dict[str, Outcome]) -> list[dict[str, Any]]:
    """The reports whose kind was decided wrong, for reading (not scored)."""
    out = []
    for r in corpus.reports.values():
        o = outcomes[r.id]
        if r.kind == "noise" or not o.stored:
            continue
        expected = r.kind
        wrong_dev = False
        if r.kind == "rereport" and r.copies:
            original = outcomes[r.copies]
            wrong_dev = original.development != o.development
        if o.kind != expected or wrong_dev:
            out.append(
                {
                    "id": r.id,
                    "form": r.form,
                    "lang": r.lang,
                    "expected": expected,
                    "got": o.kind,
                    "copies": r.copies,
                    "wrong_development": wrong_dev,
                    "title": r.title[:90],
                }
            )
    return out
