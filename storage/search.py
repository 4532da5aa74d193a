"""Full-text search over stored items, on SQLite (FTS5) and PostgreSQL (tsvector + GIN).

One function, :func:`search_items`, takes the watchlist query language
(:mod:`stories.query`) and returns ranked :class:`SearchHit` values with
highlighted snippets; the backend follows the engine's database.

**Words.** Both databases index the words :func:`stories.text.tokens` finds in
an item's title and summary, already folded (case, accents, compatibility
forms) in Python, and queries are folded by the same code (on SQLite an ASCII
text goes to FTS5 as it is, whose ``ascii`` tokenizer finds the same words). So "Guaido" finds
"Guaidó", "ЧВК" finds "чвк", ``Sudan`` does not find "Sudanese" while
``Sudan*`` does, exactly as watchlists match. (One difference: a phrase does not
run from the end of a title into its summary.) Triggers queue new and changed
items in ``search_queue``; :func:`index_pending` folds and indexes them. The
search drains the queue itself before it reads, so results are never stale; the
repository may call :func:`index_pending` after storing items to keep that
cheap. :func:`rebuild_index` re-indexes everything.

**Ranking.** ``score = relevance / (1 + age_days / RECENCY_DAYS)``, where
``age_days`` is the time since publication (0 for dates in the future) and
``relevance`` is BM25 on SQLite (``-bm25()`` with the title weighted
:data:`TITLE_WEIGHT` times the summary) and ``ts_rank`` on PostgreSQL (title
words weight A = 1.0, summary words weight B = 1 / TITLE_WEIGHT; ranked by the
query's positive part, since an excluded word only filters; capped at 1, which
only a prefix word matching several words of a document can reach). A week-old
item needs twice the relevance of a fresh one; a month-old one about five
times. So a recent item with the words in its title beats an old one that
mentions them in passing, while a strong old match still beats a weak new one.
Scores are comparable within one search, not across backends.

**Speed.** Ranking every match of a common word at a million items takes
hundreds of milliseconds, so the search first counts each word's matches
(SQLite): fewer than :data:`_RANK_ALL_BELOW` in all are ranked at once;
otherwise it ranks the items of the last 7 days first and widens the window
(30, 120 days, everything) only while an older item could still win. On SQLite
BM25 of a match is below ``(k1 + 1) * sum(idf)`` over the query's words; on
PostgreSQL the capped ``ts_rank`` is at most 1. Once the k-th best score so far
is at least that bound times the decay at the window's edge, nothing older can
enter the top k, so the answer is exactly the one ranking everything would give;
PostgreSQL goes straight from the first full window to the edge that k-th score
allows. SQLite windows are rowid ranges (FTS5 reads only that part of each
doclist), found through ``search_days``, the first item id of each publication
day; PostgreSQL windows filter on the publication time, and a story or feed
filter reads its members from that first id on (``search_days`` there too).

**Snippets.** Plain text cut from the summary around its first match (its
beginning when only the title matched; the title itself when there is no
summary), with matched words between :data:`HIGHLIGHT_START` and
:data:`HIGHLIGHT_END`. Nothing is escaped: the renderer escapes, then turns the
markers into bold. Markers already in the stored text are removed first, so feed
text cannot forge a highlight.

Over 600 lines because both backends' compiling, indexing, windowed ranking and snippets
answer one contract (the same hits on SQLite and PostgreSQL) and are kept side by side.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from stories.digest import HIGHLIGHT_END, HIGHLIGHT_START
from stories.query import And, Leaf, Not, Or, Phrase, Query, QueryError, Term, parse, terms
from stories.text import fold, token_spans, tokens

from .models import DevelopmentRow, ItemRow, utcnow

__all__ = [
    "HIGHLIGHT_END",
    "HIGHLIGHT_START",
    "MAX_LIMIT",
    "MAX_WORD_LENGTH",
    "RECENCY_DAYS",
    "TITLE_WEIGHT",
    "Database",
    "IndexRow",
    "SearchHit",
    "count_matches",
    "index_items",
    "index_pending",
    "make_snippet",
    "optimize_index",
    "prune_items",
    "rebuild_index",
    "search_items",
    "to_fts5",
    "to_tsquery",
]

Database = AsyncEngine | AsyncSession
"""Where to search: an engine (a transaction is opened and committed) or a session
(used as is; the caller commits)."""

RECENCY_DAYS = 7.0
"""Age, in days, at which an item's score is halved (hyperbolic decay, see the module doc)."""
TITLE_WEIGHT = 4.0
"""How much more a word in the title counts than one in the summary."""
MAX_LIMIT = 100
"""Most hits one call returns."""
MAX_OFFSET = 10_000
"""Deepest page start accepted."""
MAX_WORD_LENGTH = 100
"""Longer words are not indexed (PostgreSQL caps lexemes at 2 KB) and not searchable."""
SNIPPET_WORDS = 30
"""Words in a snippet."""

_DAY = 86_400.0
_BM25_K1 = 1.2  # FTS5's bm25() constants
_INDEX_BATCH = 2_000
# Windows, newest first: items published in the last N days (see the module doc).
_WINDOW_DAYS = (7.0, 30.0, 120.0)
# Fewer matches than this are ranked all at once (cheaper than windows).
_RANK_ALL_BELOW = 3_000
# PostgreSQL: ts_rank weights for {D, C, B, A}; titles are A, summaries B.
_PG_WEIGHTS = "{0.1, 0.2, %s, 1.0}" % (1.0 / TITLE_WEIGHT)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result: the item, a highlighted snippet, and its score (higher is better)."""

    item_id: int
    title: str
    url: str | None
    outlet: str
    published: datetime
    snippet: str
    score: float


# ---------------------------------------------------------------------------
# Query translation


def _check(query: Query, source: str | None) -> None:
    """Reject what the databases cannot run: a query matching everything, giant words."""
    if _polarity(query) is False:
        raise QueryError("a query needs at least one positive term", 0)
    for leaf in terms(query):
        words = leaf.words if isinstance(leaf, Phrase) else (leaf.word,)
        for word in words:
            if len(word) > MAX_WORD_LENGTH:
                position = fold(source).find(word) if source is not None else -1
                raise QueryError(
                    f"word too long (at most {MAX_WORD_LENGTH} characters)", max(position, 0)
                )


def _polarity(query: Query) -> bool:
    """True if ``query`` cannot match an empty text (it needs some word to be present)."""
    if isinstance(query, Term | Phrase):
        return True
    if isinstance(query, Not):
        return not _polarity(query.part)
    if isinstance(query, And):
        return any(_polarity(part) for part in query.parts)
    return all(_polarity(part) for part in query.parts)


def _compile(
    query: Query,
    leaf: Callable[[Leaf], str],
    conj: Callable[[list[str]], str],
    disj: Callable[[list[str]], str],
    but_not: Callable[[str, str], str],
) -> tuple[bool, str]:
    """Compile ``query`` into an expression language with only a *binary* NOT.

    Returns ``(True, e)`` where ``e`` is equivalent to ``query``, or ``(False, e)``
    where ``e`` is equivalent to NOT ``query`` (for parts that match an empty
    text, such as ``-opera``). FTS5 has no unary NOT, and in tsquery a lone
    ``!x`` cannot use the GIN index, so exclusions are always attached to a
    positive part: ``a (b OR -c)`` becomes ``a NOT (c NOT b)``. Every leaf
    appears exactly once, so the output grows linearly with the query.
    """
    if isinstance(query, Term | Phrase):
        return True, leaf(query)
    if isinstance(query, Not):
        positive, expr = _compile(query.part, leaf, conj, disj, but_not)
        return not positive, expr
    compiled = [_compile(part, leaf, conj, disj, but_not) for part in query.parts]
    pos = [expr for positive, expr in compiled if positive]
    neg = [expr for positive, expr in compiled if not positive]
    if isinstance(query, And):
        if not pos:
            # NOT (NOT a AND NOT b) = a OR b
            return False, disj(neg)
        return True, but_not(conj(pos), disj(neg)) if neg else conj(pos)
    if not neg:
        return True, disj(pos)
    # NOT (a OR NOT b) = b AND NOT a
    return False, but_not(conj(neg), disj(pos)) if pos else conj(neg)


def _fts5_leaf(leaf: Leaf) -> str:
    # Words are letters, digits and marks only (stories.text), but quote anyway:
    # a quoted string is always a phrase to FTS5, never an operator or column.
    if isinstance(leaf, Term):
        quoted = '"' + leaf.word.replace('"', '""') + '"'
        return quoted + "*" if leaf.prefix else quoted
    return '"' + " ".join(leaf.words).replace('"', '""') + '"'


def _compile_infix(query: Query, leaf: Callable[[Leaf], str], and_: str, or_: str, but_not: str) -> str:
    """``query`` in an infix syntax: ``and_`` and ``or_`` between parts, ``but_not`` a template
    of ``{keep}`` and ``{drop}``, each group in parentheses. A query must need some word."""

    def joined(op: str) -> Callable[[list[str]], str]:
        return lambda parts: parts[0] if len(parts) == 1 else "(" + f" {op} ".join(parts) + ")"

    def excluded(keep: str, drop: str) -> str:
        return "(" + but_not.format(keep=keep, drop=drop) + ")"

    positive, expr = _compile(query, leaf, joined(and_), joined(or_), excluded)
    if not positive:
        raise QueryError("a query needs at least one positive term", 0)
    return expr


def to_fts5(query: Query) -> str:
    """The FTS5 MATCH expression for ``query`` (which must need some word present)."""
    return _compile_infix(query, _fts5_leaf, "AND", "OR", "{keep} NOT {drop}")


def _lexeme(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def _tsquery_leaf(leaf: Leaf) -> str:
    if isinstance(leaf, Term):
        return _lexeme(leaf.word) + (":*" if leaf.prefix else "")
    if len(leaf.words) == 1:
        return _lexeme(leaf.words[0])
    return "(" + " <-> ".join(_lexeme(word) for word in leaf.words) + ")"


def to_tsquery(query: Query) -> str:
    """The PostgreSQL ``tsquery`` literal for ``query`` (cast it: ``CAST(:q AS tsquery)``)."""
    return _compile_infix(query, _tsquery_leaf, "&", "|", "{keep} & !{drop}")


# ---------------------------------------------------------------------------
# Indexing


def _words(text_: str) -> list[str]:
    return [word for word in tokens(text_) if len(word) <= MAX_WORD_LENGTH]


# A word too long to index, in ASCII text (see _fts_text).
_LONG_ASCII_WORD = re.compile(f"[A-Za-z0-9]{{{MAX_WORD_LENGTH + 1}}}")


def _fts_text(text_: str) -> str:
    """What ``item_fts`` is given of a text: its words, space-separated. An ASCII text
    without over-long words is given as it is: FTS5's ``ascii`` tokenizer cuts it into
    the very words :func:`stories.text.tokens` finds there (runs of ASCII letters and
    digits, lower-cased), at the same positions, in C and without the GIL (folding
    50,000 texts in Python was a second of a first poll's CPU)."""
    if text_.isascii() and _LONG_ASCII_WORD.search(text_) is None:
        return text_
    return " ".join(_words(text_))


def _tsvector(title: str, summary: str) -> str:
    """A ``tsvector`` literal: title words at positions 1.. weight A, summary words after
    a gap (so a phrase never spans the two) weight B. Built here, not by
    ``to_tsvector``, so PostgreSQL's parser cannot cut words differently from Python."""
    positions: dict[str, list[str]] = defaultdict(list)
    title_words = _words(title)
    for index, word in enumerate(title_words, start=1):
        positions[word].append(f"{min(index, 16383)}A")
    start = len(title_words) + 2
    for index, word in enumerate(_words(summary), start=start):
        positions[word].append(f"{min(index, 16383)}B")
    return " ".join(f"{_lexeme(word)}:{','.join(spots[:256])}" for word, spots in positions.items())


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError("naive datetime; use timezone-aware UTC datetimes")
    return moment.timestamp()


@asynccontextmanager
async def _session(db: Database) -> AsyncIterator[AsyncSession]:
    if isinstance(db, AsyncSession):
        yield db
        return
    async with AsyncSession(db, expire_on_commit=False) as session, session.begin():
        yield session


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


IndexRow = tuple[int, str, str | None, datetime]
"""What the index holds of an item: its id, title, summary and publication time."""


async def _index(session: AsyncSession, item_ids: Sequence[int]) -> int:
    """(Re)index these items, read back from ``items``; ids of deleted items are skipped."""
    if not item_ids:
        return 0
    table = ItemRow.__table__.c  # Core columns: no ORM row machinery on this path
    rows = (
        await session.execute(
            select(table.id, table.title, table.summary, table.published).where(table.id.in_(item_ids))
        )
    ).all()
    return await _write_index(session, [tuple(row) for row in rows], new=False)


async def index_items(session: AsyncSession, items: Sequence[IndexRow], *, new: bool = False) -> int:
    """Index items the caller holds in memory, in its transaction; returns how many.

    What :func:`index_pending` would do for them, without reading them back: the
    caller has just written exactly these titles, summaries and times in the same
    transaction. Their queue entries (the triggers' doing) are removed, so they are
    not indexed twice. ``new`` says the ids were inserted in this transaction: no
    index row can exist for them (on SQLite a deleted item's rows go with it, by
    trigger), so none is looked for or deleted. An id given twice is indexed once, as
    its last row says.
    """
    if not items:
        return 0
    # One row per item, the last given (an item edited twice in one batch).
    items = list({row[0]: row for row in items}.values())
    ids = [(item_id,) for item_id, *_ in items]
    connection = await session.connection()
    await connection.exec_driver_sql(
        "DELETE FROM search_queue WHERE item_id = " + ("?" if _dialect(session) == "sqlite" else "%s"), ids
    )
    return await _write_index(session, items, new=new)


async def _write_index(session: AsyncSession, rows: Sequence[IndexRow], *, new: bool) -> int:
    if not rows:
        return 0
    if _dialect(session) == "sqlite":
        # The driver's executemany with tuples: SQLAlchemy's per-row parameter handling
        # of text() cost more than SQLite's own work here.
        connection = await session.connection()
        if not new:
            await connection.exec_driver_sql(
                "DELETE FROM item_fts WHERE rowid = ?", [(item_id,) for item_id, *_ in rows]
            )
        await connection.exec_driver_sql(
            "INSERT INTO item_fts (rowid, title, body) VALUES (?, ?, ?)",
            [(item_id, _fts_text(title), _fts_text(summary or "")) for item_id, title, summary, _ in rows],
        )
        epochs = [(item_id, _epoch(published)) for item_id, _, _, published in rows]
        await connection.exec_driver_sql(
            ("INSERT" if new else "INSERT OR REPLACE")
            + " INTO item_search (item_id, published_epoch) VALUES (?, ?)",
            epochs,
        )
        await connection.exec_driver_sql(
            "INSERT INTO search_days (day, min_id) VALUES (?, ?) "
            "ON CONFLICT (day) DO UPDATE SET min_id = min(min_id, excluded.min_id)",
            list(_first_of_day(epochs).items()),
        )
    else:
        epochs = [(item_id, _epoch(published)) for item_id, _, _, published in rows]
        await session.execute(
            text(
                "INSERT INTO item_search (item_id, published_epoch, document) "
                "VALUES (:id, :p, CAST(:doc AS tsvector)) "
                "ON CONFLICT (item_id) DO UPDATE SET "
                "published_epoch = excluded.published_epoch, document = excluded.document"
            ),
            [
                {"id": item_id, "p": epoch, "doc": _tsvector(title, summary or "")}
                for (item_id, title, summary, _), (_, epoch) in zip(rows, epochs, strict=True)
            ],
        )
        await _lower_days(session, _first_of_day(epochs))
    return len(rows)


def _first_of_day(epochs: Iterable[tuple[int, float]]) -> dict[int, int]:
    """Per publication day (days since 1970, UTC), the smallest of these item ids."""
    first: dict[int, int] = {}
    for item_id, epoch in epochs:
        day = math.floor(epoch / _DAY)
        first[day] = min(first.get(day, item_id), item_id)
    return first


async def _lower_days(session: AsyncSession, first_of_day: dict[int, int]) -> None:
    """PostgreSQL: lower ``search_days`` where these ids are smaller. Only days that need
    it are written: an upsert locks its row until commit, and every worker storing today's
    items would otherwise queue behind the others on today's row."""
    if not first_of_day:
        return
    rows = await session.execute(
        text("SELECT day, min_id FROM search_days WHERE day IN :days").bindparams(
            bindparam("days", expanding=True)
        ),
        {"days": list(first_of_day)},
    )
    known: dict[int, int] = {int(day): int(min_id) for day, min_id in rows}
    lower = [
        {"day": day, "min_id": min_id}
        for day, min_id in first_of_day.items()
        if day not in known or min_id < known[day]
    ]
    if lower:
        await session.execute(
            text(
                "INSERT INTO search_days (day, min_id) VALUES (:day, :min_id) "
                "ON CONFLICT (day) DO UPDATE SET min_id = least(search_days.min_id, excluded.min_id)"
            ),
            lower,
        )


def _claim_sql(sqlite: bool) -> Any:
    # The queue rows are deleted *before* the items are read: an item changed
    # meanwhile is queued again by its trigger and indexed next time. SKIP LOCKED
    # lets several PostgreSQL workers drain the queue side by side.
    return text(
        "DELETE FROM search_queue WHERE item_id IN (SELECT item_id FROM search_queue "
        "ORDER BY item_id LIMIT :n" + ("" if sqlite else " FOR UPDATE SKIP LOCKED") + ") "
        "RETURNING item_id"
    )


async def _drain_once(session: AsyncSession, batch: int) -> int:
    """Index up to ``batch`` queued items; returns how many queue entries were taken."""
    # A read first: on SQLite the DELETE would take the write lock even with
    # nothing to do, and searches should not queue behind the poller for nothing.
    pending = (await session.execute(text("SELECT 1 FROM search_queue LIMIT 1"))).first()
    if pending is None:
        return 0
    claim = _claim_sql(_dialect(session) == "sqlite")
    ids = [row[0] for row in (await session.execute(claim, {"n": batch})).all()]
    await _index(session, ids)
    return len(ids)


async def _drain(session: AsyncSession, batch: int) -> int:
    total = 0
    while done := await _drain_once(session, batch):
        total += done
    return total


async def index_pending(db: Database, *, batch: int = _INDEX_BATCH) -> int:
    """Index items queued by the database triggers (new or changed); returns how many.

    With an engine, each batch is committed on its own, so a long backlog (after
    a bulk load) makes progress even if interrupted. With a session, everything
    happens in the caller's transaction.
    """
    if isinstance(db, AsyncSession):
        return await _drain(db, batch)
    total = 0
    while True:
        async with _session(db) as session:
            done = await _drain_once(session, batch)
        if not done:
            return total
        total += done


async def rebuild_index(engine: AsyncEngine, *, batch: int = 5_000) -> int:
    """Drop the whole search index and build it again from ``items``; returns the item count.

    For ``newsbot db reindex``: after restoring a backup made without the index,
    after a change to word folding, or if the index is suspected wrong.
    """
    async with _session(engine) as session:
        if _dialect(session) == "sqlite":
            # 'delete-all' only exists for external-content tables; a plain
            # DELETE empties a regular FTS5 table.
            await session.execute(text("DELETE FROM item_fts"))
            await session.execute(text("DELETE FROM item_search"))
            await session.execute(text("DELETE FROM search_days"))
            await session.execute(text("DELETE FROM search_queue"))
        else:
            await session.execute(text("TRUNCATE item_search, search_days, search_queue"))
        await session.execute(text("INSERT INTO search_queue (item_id) SELECT id FROM items"))
    total = await index_pending(engine, batch=batch)
    await optimize_index(engine)
    return total


async def optimize_index(engine: AsyncEngine) -> None:
    """Compact the index after bulk changes (a large load, a rebuild, a prune).

    SQLite: merges FTS5's segments into one b-tree, so a query reads one doclist
    per word. PostgreSQL: refreshes the planner's statistics of the index table.
    Safe to run at any time; worth running daily with retention.
    """
    async with _session(engine) as session:
        if _dialect(session) == "sqlite":
            await session.execute(text("INSERT INTO item_fts (item_fts) VALUES ('optimize')"))
            await session.execute(text("ANALYZE item_search"))
        else:
            await session.execute(text("ANALYZE item_search"))


# ---------------------------------------------------------------------------
# Retention


async def prune_items(session: AsyncSession, *, keep_days: int, now: datetime | None = None) -> int:
    """Delete items older than ``keep_days`` with their index entries; returns how many.

    An item is old when both its publication and its first sighting are before
    ``now - keep_days``. Items of a development still shown (one whose
    ``last_seen`` is within ``keep_days``) are kept however old, so a
    long-running development keeps its first reports. Sources, story membership
    and sent-item records go with the item (foreign keys cascade); developments
    themselves are left alone. Runs in the caller's transaction.
    """
    if keep_days < 1:
        raise ValueError(f"keep_days must be at least 1, got {keep_days}")
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    live = select(DevelopmentRow.id).where(DevelopmentRow.last_seen >= cutoff)
    doomed = (
        select(ItemRow.id)
        .where(
            ItemRow.published < cutoff,
            ItemRow.first_seen < cutoff,
            (ItemRow.development_id.is_(None)) | (ItemRow.development_id.not_in(live)),
        )
        .limit(5_000)
    )
    total = 0
    while True:
        ids = list((await session.execute(doomed)).scalars())
        if not ids:
            return total
        # On SQLite a trigger removes the FTS5 row; on PostgreSQL the index row
        # cascades. Queue entries have no foreign key, so they go here.
        await session.execute(delete(ItemRow).where(ItemRow.id.in_(ids)))
        await session.execute(
            text("DELETE FROM search_queue WHERE item_id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        )
        total += len(ids)


# ---------------------------------------------------------------------------
# Searching


@dataclass(frozen=True, slots=True)
class _Ranked:
    item_id: int
    score: float


def _filters(
    since: datetime | None, story_id: int | None, feed_id: int | None, item: str
) -> tuple[list[str], dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    if since is not None:
        where.append("s.published_epoch >= :since")
        params["since"] = _epoch(since)
    if story_id is not None:
        where.append(
            f"EXISTS (SELECT 1 FROM story_items si WHERE si.story_id = :story AND si.item_id = {item})"
        )
        params["story"] = story_id
    if feed_id is not None:
        where.append(
            f"EXISTS (SELECT 1 FROM item_sources src WHERE src.feed_id = :feed AND src.item_id = {item})"
        )
        params["feed"] = feed_id
    return where, params


def _decay(age_seconds: float) -> float:
    return 1.0 / (1.0 + max(age_seconds, 0.0) / (RECENCY_DAYS * _DAY))


async def _rank_sqlite(
    session: AsyncSession,
    query: Query,
    where: list[str],
    params: dict[str, Any],
    since: datetime | None,
    now: datetime,
    wanted: int,
) -> list[_Ranked]:
    match = to_fts5(query)
    now_epoch = _epoch(now)
    # The window: items from the first one published on or after :lower's day,
    # in id order. Every item before it was published earlier, whatever order the
    # feeds delivered them in, so the bound below holds for all of them. The
    # rowid constraint goes into FTS5, which then reads only the window's part
    # of each doclist.
    first_in_window = (
        f"coalesce((SELECT min(min_id) FROM search_days WHERE day >= :lower_day), {2**62})"
    )
    select_ = (
        "SELECT f.rowid AS item_id, "
        f"-bm25(item_fts, {TITLE_WEIGHT}, 1.0) / "
        f"(1.0 + max(0.0, :now - s.published_epoch) / {RECENCY_DAYS * _DAY}) AS score "
        "FROM item_fts AS f JOIN item_search AS s ON s.item_id = f.rowid WHERE "
    )
    order = " ORDER BY score DESC, f.rowid DESC LIMIT :wanted"
    windowed = text(
        select_ + " AND ".join(["item_fts MATCH :match", f"f.rowid >= {first_in_window}", *where])
        + order
    )
    everything = text(select_ + " AND ".join(["item_fts MATCH :match", *where]) + order)
    values = {**params, "match": match, "now": now_epoch, "wanted": wanted}

    async def rank(lower: datetime | None) -> list[_Ranked]:
        if lower is None:
            rows = (await session.execute(everything, values)).all()
        else:
            lower_day = math.floor(_epoch(lower) / _DAY)
            rows = (await session.execute(windowed, {**values, "lower_day": lower_day})).all()
        return [_Ranked(row.item_id, float(row.score)) for row in rows]

    if since is not None and (not _WINDOW_DAYS or since >= now - timedelta(days=_WINDOW_DAYS[0])):
        return await rank(since)
    bound, most = await _bm25_bound(session, query)
    # A story or feed filter caps the matches too (and makes windows come back
    # short, which would only widen them one by one).
    for table, column, key in (("story_items", "story_id", "story"), ("item_sources", "feed_id", "feed")):
        if most > _RANK_ALL_BELOW and key in params:
            members = await session.execute(
                text(f"SELECT count(*) FROM {table} WHERE {column} = :{key}"), {key: params[key]}
            )
            most = min(most, members.scalar() or 0)
    if most <= _RANK_ALL_BELOW:
        return await rank(since)
    for days in _WINDOW_DAYS:
        edge = now - timedelta(days=days)
        if since is not None and edge <= since:
            break
        ranked = await rank(edge)
        # Anything published before the edge scores below bound * decay(edge).
        if len(ranked) == wanted and ranked[-1].score >= bound * _decay(now_epoch - _epoch(edge)):
            return ranked
    return await rank(since)


async def _bm25_bound(session: AsyncSession, query: Query) -> tuple[float, int]:
    """An upper bound of ``-bm25()`` for this query over the whole index, and an upper
    bound of its number of matches (see :func:`_most_matches`).

    FTS5's BM25 sums, over the query's phrases, ``idf * f*(k1+1) / (f + k1*(…))``,
    each term below ``idf * (k1+1)``, with ``idf = ln((N - n + 0.5) / (n + 0.5))``
    (at least 1e-6). ``N`` is taken as the largest item id (at least the row
    count; idf grows with N, so the bound stays an upper bound) and ``n`` is
    counted per positive leaf. Excluded leaves never occur in a match: they add 0.
    """
    top = (await session.execute(text("SELECT max(item_id) FROM item_search"))).scalar() or 0
    counts: dict[Leaf, int] = {}
    total = 0.0
    for leaf in _positive_leaves(query):
        if leaf not in counts:
            counts[leaf] = (
                await session.execute(
                    text("SELECT count(*) FROM item_fts WHERE item_fts MATCH :m"),
                    {"m": _fts5_leaf(leaf)},
                )
            ).scalar() or 0
        hits = counts[leaf]
        idf = math.log((top - hits + 0.5) / (hits + 0.5)) if top > hits else 0.0
        total += max(idf, 1e-6) * (_BM25_K1 + 1.0)
    # A hair of slack for floating-point rounding in SQLite's own arithmetic.
    return total * (1.0 + 1e-9) + 1e-12, _most_matches(query, counts)


def _most_matches(query: Query, counts: dict[Leaf, int]) -> int:
    """At most how many items match ``query`` (a positive one), given its leaves' counts.

    A word or phrase: its count. AND: the smallest of its positive parts. OR of
    positive parts: the sum. Anything else: the sum over its positive leaves,
    since a match contains at least one of them.
    """
    if isinstance(query, Term | Phrase):
        return counts[query]
    if isinstance(query, And):
        return min(_most_matches(part, counts) for part in query.parts if _polarity(part))
    if isinstance(query, Or) and all(_polarity(part) for part in query.parts):
        return sum(_most_matches(part, counts) for part in query.parts)
    return sum(counts[leaf] for leaf in set(_positive_leaves(query)))


def _positive_leaves(query: Query, negated: bool = False) -> Iterable[Leaf]:
    if isinstance(query, Term | Phrase):
        if not negated:
            yield query
    elif isinstance(query, Not):
        yield from _positive_leaves(query.part, not negated)
    else:
        for part in query.parts:
            yield from _positive_leaves(part, negated)


# Relevance on PostgreSQL is ts_rank capped at this, so no match scores above it.
# The cap changes nothing for queries without prefix words: every lexeme of our
# documents has its highest weight at its first position (title words, weight A,
# come before summary words, weight B; see _tsvector), so calc_rank_or (PostgreSQL's
# tsrank.c) adds per query word (w + sum(w_j / j^2) - w) / (pi^2 / 6) < 1 and
# divides by the number of words, and calc_rank_and (top-level AND) stays below 1.
# A prefix word adds that for every lexeme it matches in a document; the cap makes
# a document matching it several times tie at 1, then newest first.
_PG_RANK_CAP = 1.0
# PostgreSQL: a story or feed filter with at most this many members is ranked at once.
_PG_RANK_MEMBERS_BELOW = 10_000
# PostgreSQL: a filter with at most this many members in a window has each one probed.
_PG_PROBE_MEMBERS = 3_000


def _without_exclusions(query: Query) -> Query:
    """``query`` with its excluded parts left out: what PostgreSQL ranks by. An excluded
    word never occurs in a match, and in a ``tsquery`` ranked by ts_rank it would turn
    every match's rank into 1e-20 (calc_rank_and finds no pair of positions with it)."""

    def kept(part: Query) -> Query | None:
        if isinstance(part, Term | Phrase):
            return part
        if isinstance(part, Not):
            return None
        parts = tuple(p for p in (kept(p) for p in part.parts) if p is not None)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else type(part)(parts)

    return kept(query) or query


def _planned_rows(plan: Any) -> float:
    """The row estimate of an ``EXPLAIN (FORMAT JSON)`` result (infinity if unreadable)."""
    try:
        return float(plan[0]["Plan"]["Plan Rows"])
    except (TypeError, LookupError, ValueError):
        return math.inf


_PG_MEMBERS = (("story_items", "story_id", "story"), ("item_sources", "feed_id", "feed"))
"""PostgreSQL: the member tables of a story and a feed filter (table, column, parameter)."""


async def _rank_postgresql(
    session: AsyncSession,
    query: Query,
    where: list[str],
    params: dict[str, Any],
    since: datetime | None,
    now: datetime,
    wanted: int,
) -> list[_Ranked]:
    """Rank on PostgreSQL: the matches of a recent window first, then one window exactly
    as far back as an older item could still enter the top ``wanted``.

    No match scores above ``_PG_RANK_CAP * decay(age)``. Once the first window (the last
    ``_WINDOW_DAYS[0]`` days) holds ``wanted`` matches, the lowest of their scores, s,
    says how far back to look: an item older than the age where ``cap * decay = s``
    cannot beat it. One more window to that edge (if it is older than the first one's)
    gives exactly the answer ranking everything would give. In a window, a story or
    feed filter reads only its members with ids of at least the window's first item
    (``search_days``), from the member table's index.
    """
    # Planned with this search's own values: psycopg prepares a statement run five times
    # on a connection, and PostgreSQL may then settle on a generic plan, one blind to how
    # recent a window is or how common a word (a window's plan then walks the wrong index).
    await session.execute(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"))
    now_epoch = _epoch(now)
    values = {
        **params,
        "tsq": to_tsquery(query),
        "rank_q": to_tsquery(_without_exclusions(query)),
        "now": now_epoch,
        "wanted": wanted,
    }

    def ranking(conditions: list[str], source: str) -> Any:
        return text(
            "SELECT s.item_id AS item_id, "
            f"least(ts_rank('{_PG_WEIGHTS}', s.document, CAST(:rank_q AS tsquery)), {_PG_RANK_CAP}) / "
            f"(1.0 + greatest(0.0, :now - s.published_epoch) / {RECENCY_DAYS * _DAY}) AS score "
            f"FROM {source} WHERE "
            + " AND ".join(["s.document @@ CAST(:tsq AS tsquery)", *conditions])
            + " ORDER BY score DESC, s.item_id DESC LIMIT :wanted"
        )

    async def rank(
        conditions: list[str], extra: dict[str, float] | None = None, source: str = "item_search AS s"
    ) -> list[_Ranked]:
        rows = (await session.execute(ranking(conditions, source), {**values, **(extra or {})})).all()
        return [_Ranked(row.item_id, float(row.score)) for row in rows]

    # The first window is _WINDOW_DAYS[0]; an exact window reaching further back than the
    # last of them ranks everything instead (no windows at all without them).
    if not _WINDOW_DAYS:
        return await rank(where)
    first_edge = now_epoch - _WINDOW_DAYS[0] * _DAY
    longest_edge = now_epoch - _WINDOW_DAYS[-1] * _DAY
    if since is not None and _epoch(since) >= first_edge:
        return await rank(where)
    # Few candidates (a rare word, a small story or feed): rank them all at once rather
    # than filter the recent items for them. Counting stops early for common words.
    counts = [
        text(f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {column} = :{key} LIMIT :cap) AS m")
        for table, column, key in _PG_MEMBERS
        if key in params
    ]
    # The planner's estimate of the matches (from ANALYZE's most common lexemes): a word
    # it puts at ten times the cap is common, and counting its first few thousand matches
    # (a scan until that many are found) would only cost time.
    plan = await session.execute(
        text("EXPLAIN (FORMAT JSON) SELECT 1 FROM item_search AS s "
             "WHERE s.document @@ CAST(:tsq AS tsquery)"),
        values,
    )
    if _planned_rows(plan.scalar()) < 10 * _RANK_ALL_BELOW:
        counts.append(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM item_search AS s "
                "WHERE s.document @@ CAST(:tsq AS tsquery) LIMIT :cap) AS matches"
            )
        )
    filters = sum(key in params for _, _, key in _PG_MEMBERS)
    for index, count in enumerate(counts):
        # A story or feed filter drives the plan from its members (an index probe each,
        # ~10 µs), far cheaper than a window that scans every recent item and tests its
        # document: rank up to _PG_RANK_MEMBERS_BELOW members at once.
        cap = _PG_RANK_MEMBERS_BELOW if index < filters else _RANK_ALL_BELOW
        found = await session.execute(count, {**values, "cap": cap + 1})
        if (found.scalar() or 0) <= cap:
            return await rank(where)
    members = [(table, column, key) for table, column, key in _PG_MEMBERS if key in params]
    # A filter's members with ids of at least the window's first item (search_days).
    in_window = (
        "SELECT m.item_id FROM {table} AS m WHERE m.{column} = :{key} AND m.item_id >= "
        f"(SELECT coalesce(min(d.min_id), {2**31 - 1}) FROM search_days AS d WHERE d.day >= :lower_day)"
    )

    async def window(edge: float, *, wide: bool) -> list[_Ranked]:
        """Rank the matches published since ``edge``. A filter with few members there has
        each of them looked up (the subquery with OFFSET 0 keeps the planner from reading
        all the word's matches instead); otherwise, or for a ``wide`` window without
        filter, a bitmap of the query's matches ANDed with one of the window beats the
        planner's usual choice (walking the time index and testing every document)."""
        extra: dict[str, float] = {"lower": edge, "lower_day": math.floor(edge / _DAY)}
        conditions = ["s.published_epoch >= :lower"]
        if since is not None:
            conditions.append("s.published_epoch >= :since")
        member_sets = [in_window.format(table=t, column=c, key=k) for t, c, k in members]
        if member_sets:
            found = await session.execute(
                text(f"SELECT count(*) FROM ({member_sets[0]} LIMIT :cap) AS w"),
                {**values, **extra, "cap": _PG_PROBE_MEMBERS + 1},
            )
            if (found.scalar() or 0) <= _PG_PROBE_MEMBERS:
                source = (
                    f"({member_sets[0]}) AS w CROSS JOIN LATERAL (SELECT * FROM item_search AS s "
                    "WHERE s.item_id = w.item_id OFFSET 0) AS s"
                )
                others = [f"s.item_id IN ({members_})" for members_ in member_sets[1:]]
                return await rank(conditions + others, extra, source)
        conditions += [f"s.item_id IN ({members_})" for members_ in member_sets]
        if not (wide or members):
            return await rank(conditions, extra)
        await session.execute(text("SELECT set_config('enable_indexscan', 'off', true)"))
        try:
            return await rank(conditions, extra)
        finally:
            await session.execute(text("SELECT set_config('enable_indexscan', 'on', true)"))

    # Windows of _WINDOW_DAYS until one holds `wanted` matches (a sparse filter or word
    # may need a few), then the exact edge their lowest score allows.
    for number, days in enumerate(_WINDOW_DAYS):
        done = now_epoch - days * _DAY
        ranked = await window(done, wide=number > 0)
        if len(ranked) == wanted:
            break
        if since is not None and _epoch(since) >= done:
            return ranked  # the window covered everything the filter allows
    else:
        return await rank(where)
    # cap / (1 + age / RECENCY_DAYS) = s  <=>  age = RECENCY_DAYS * (cap / s - 1);
    # a hair further back for rounding in PostgreSQL's own arithmetic.
    lowest = max(ranked[-1].score, 1e-9)
    edge = now_epoch - RECENCY_DAYS * _DAY * (_PG_RANK_CAP / lowest - 1.0) * (1.0 + 1e-6) - 1.0
    if edge >= done:
        return ranked
    if (since is not None and _epoch(since) >= edge) or edge < longest_edge:
        return await rank(where)
    ranked = await window(edge, wide=True)
    if len(ranked) == wanted:
        return ranked
    return await rank(where)


async def search_items(
    db: Database,
    query: str | Query,
    *,
    since: datetime | None = None,
    story_id: int | None = None,
    feed_id: int | None = None,
    limit: int = 10,
    offset: int = 0,
    now: datetime | None = None,
) -> list[SearchHit]:
    """Items matching ``query``, best first (see the module doc for the ranking).

    ``query`` is a watchlist query string or an already parsed :data:`Query`.
    ``since`` keeps items published at or after it; ``story_id`` items in that
    story; ``feed_id`` items seen in that feed. ``now`` (default: the current
    time) is what recency is measured from. Raises :class:`QueryError` for a
    malformed query (with the position at fault), never a database error for
    anything a user can type; ``ValueError`` for a bad ``limit`` or ``offset``.
    """
    parsed = parse(query) if isinstance(query, str) else query
    _check(parsed, query if isinstance(query, str) else None)
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise ValueError(f"offset must be between 0 and {MAX_OFFSET}, got {offset}")
    moment = now or datetime.now(UTC)
    wanted = offset + limit
    async with _session(db) as session:
        await _drain(session, _INDEX_BATCH)
        if _dialect(session) == "sqlite":
            where, params = _filters(since, story_id, feed_id, "f.rowid")
            ranked = await _rank_sqlite(session, parsed, where, params, since, moment, wanted)
        else:
            where, params = _filters(since, story_id, feed_id, "s.item_id")
            ranked = await _rank_postgresql(
                session, parsed, where, params, since, moment, wanted
            )
        ranked = ranked[offset:]
        if not ranked:
            return []
        rows = {
            row.id: row
            for row in (
                await session.execute(
                    select(
                        ItemRow.id,
                        ItemRow.title,
                        ItemRow.summary,
                        ItemRow.url,
                        ItemRow.outlet,
                        ItemRow.published,
                    ).where(ItemRow.id.in_([hit.item_id for hit in ranked]))
                )
            ).all()
        }
    hits: list[SearchHit] = []
    for hit in ranked:
        row = rows.get(hit.item_id)
        if row is None:  # deleted between the two reads (PostgreSQL, another worker)
            continue
        hits.append(
            SearchHit(
                item_id=row.id,
                title=row.title,
                url=row.url,
                outlet=row.outlet,
                published=row.published,
                snippet=make_snippet(row.title, row.summary or "", parsed),
                score=hit.score,
            )
        )
    return hits


async def count_matches(
    db: Database,
    query: str | Query,
    *,
    since: datetime | None = None,
    story_id: int | None = None,
    feed_id: int | None = None,
    cap: int = 1_000,
) -> int:
    """How many items :func:`search_items` could return for these arguments, counting
    no further than ``cap`` (so a page header can say "1–10 of 1000+" cheaply)."""
    parsed = parse(query) if isinstance(query, str) else query
    _check(parsed, query if isinstance(query, str) else None)
    async with _session(db) as session:
        await _drain(session, _INDEX_BATCH)
        if _dialect(session) == "sqlite":
            where, params = _filters(since, story_id, feed_id, "f.rowid")
            inner = (
                "SELECT 1 FROM item_fts AS f JOIN item_search AS s ON s.item_id = f.rowid WHERE "
                + " AND ".join(["item_fts MATCH :match", *where])
            )
            params["match"] = to_fts5(parsed)
        else:
            where, params = _filters(since, story_id, feed_id, "s.item_id")
            inner = "SELECT 1 FROM item_search AS s WHERE " + " AND ".join(
                ["s.document @@ CAST(:tsq AS tsquery)", *where]
            )
            params["tsq"] = to_tsquery(parsed)
        found = await session.execute(
            text(f"SELECT count(*) FROM ({inner} LIMIT :cap) AS matches"), {**params, "cap": cap}
        )
        return int(found.scalar() or 0)


# ---------------------------------------------------------------------------
# Snippets


def _marked_spans(text_: str, query: Query) -> list[tuple[int, int, int, int]]:
    """``(start, end, first_word, last_word)`` of every place a positive leaf matches."""
    spans = token_spans(text_)
    words = [word for word, _, _ in spans]
    found: list[tuple[int, int, int, int]] = []
    for leaf in _positive_leaves(query):
        if isinstance(leaf, Term):
            for index, word in enumerate(words):
                if word == leaf.word or (leaf.prefix and word.startswith(leaf.word)):
                    found.append((spans[index][1], spans[index][2], index, index))
        else:
            size = len(leaf.words)
            for index in range(len(words) - size + 1):
                if tuple(words[index : index + size]) == leaf.words:
                    last = index + size - 1
                    found.append((spans[index][1], spans[last][2], index, last))
    return sorted(found)


def _highlight(text_: str, marks: list[tuple[int, int, int, int]]) -> str:
    merged: list[list[int]] = []
    for start, end, _, _ in marks:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[str] = []
    cursor = 0
    for start, end in merged:
        out += [text_[cursor:start], HIGHLIGHT_START, text_[start:end], HIGHLIGHT_END]
        cursor = end
    out.append(text_[cursor:])
    return "".join(out)


def make_snippet(title: str, summary: str, query: Query, *, words: int = SNIPPET_WORDS) -> str:
    """A plain-text excerpt with matched words marked (see the module doc); not escaped."""
    clean = {ord(HIGHLIGHT_START): None, ord(HIGHLIGHT_END): None}
    summary = " ".join(summary.translate(clean).split())
    if not summary:
        title = " ".join(title.translate(clean).split())
        return _highlight(title, _marked_spans(title, query))
    marks = _marked_spans(summary, query)
    spans = token_spans(summary)
    if not spans:
        return summary
    first = marks[0][2] if marks else 0
    start_word = max(0, min(first - words // 4, len(spans) - words))
    end_word = min(len(spans), start_word + words) - 1
    start = 0 if start_word == 0 else spans[start_word][1]
    end = len(summary) if end_word == len(spans) - 1 else spans[end_word][2]
    inside = [
        (s - start, e - start, a, b)
        for s, e, a, b in marks
        if a >= start_word and b <= end_word
    ]
    excerpt = _highlight(summary[start:end], inside)
    return ("…" if start > 0 else "") + excerpt + ("…" if end < len(summary) else "")
