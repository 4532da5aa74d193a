"""full-text search index over items

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:00:00

Both databases index *pre-folded* words computed in Python by
``stories.text.tokens`` (case, accents, compatibility forms), the very words the
watchlist matcher uses, so search and watchlists agree on what a word is. SQL
cannot fold like Python does, so triggers only *queue* changed items in
``search_queue``; ``storage.search.index_pending`` (called by the search itself
and after storing items) folds and indexes them. Deleting an item removes its
index entries right away (trigger on SQLite, foreign key on PostgreSQL).

SQLite: ``item_fts``, an FTS5 table over the folded title and summary words
(space-separated, so the ``ascii`` tokenizer, which treats every non-ASCII
character as part of a word, splits exactly where Python did), rowid = item id;
``item_search`` keeps each item's publication time for recency ranking and
``search_days`` the first item id of each publication day.

PostgreSQL: ``item_search`` holds a ``tsvector`` (title words weighted A,
summary words B) with a GIN index, and the publication time.

These objects are raw SQL, outside the SQLAlchemy models on purpose: Alembic's
comparison of models and database skips them (see tests/storage/test_migrations.py).

Note for later migrations: on SQLite a batch ``ALTER`` of ``items`` recreates the
table and drops its triggers; recreate the three ``items_search_*`` triggers there.
"""

from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


SQLITE_UP = (
    # prefix='2 3': prefix queries of 2 and 3 characters ("ma*", "sud*") read one
    # prefix doclist instead of merging those of every word with that prefix.
    "CREATE VIRTUAL TABLE item_fts USING fts5(title, body, tokenize='ascii', prefix='2 3')",
    "CREATE TABLE item_search (item_id INTEGER PRIMARY KEY, published_epoch REAL NOT NULL)",
    # Per publication day (days since 1970, UTC), the smallest item id published
    # that day: "every item before id X was published before day D" in a few row
    # reads, which lets a search rank the newest items first. Never lowered by
    # deletions, so it can only err towards ranking a few more items.
    "CREATE TABLE search_days (day INTEGER PRIMARY KEY, min_id INTEGER NOT NULL)",
    "CREATE TABLE search_queue (item_id INTEGER PRIMARY KEY)",
    """CREATE TRIGGER items_search_insert AFTER INSERT ON items BEGIN
        INSERT OR IGNORE INTO search_queue (item_id) VALUES (new.id);
    END""",
    """CREATE TRIGGER items_search_update AFTER UPDATE OF title, summary, published ON items BEGIN
        INSERT OR IGNORE INTO search_queue (item_id) VALUES (new.id);
    END""",
    """CREATE TRIGGER items_search_delete AFTER DELETE ON items BEGIN
        DELETE FROM item_fts WHERE rowid = old.id;
        DELETE FROM item_search WHERE item_id = old.id;
        DELETE FROM search_queue WHERE item_id = old.id;
    END""",
    # Items that exist already (an upgrade of a live database) get indexed too.
    "INSERT INTO search_queue (item_id) SELECT id FROM items",
)

SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS items_search_delete",
    "DROP TRIGGER IF EXISTS items_search_update",
    "DROP TRIGGER IF EXISTS items_search_insert",
    "DROP TABLE IF EXISTS search_queue",
    "DROP TABLE IF EXISTS search_days",
    "DROP TABLE IF EXISTS item_search",
    "DROP TABLE IF EXISTS item_fts",
)

POSTGRESQL_UP = (
    "CREATE TABLE search_queue (item_id integer PRIMARY KEY)",
    """CREATE TABLE item_search (
        item_id integer PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
        published_epoch double precision NOT NULL,
        document tsvector NOT NULL
    )""",
    "CREATE INDEX ix_item_search_document ON item_search USING gin (document)",
    "CREATE INDEX ix_item_search_published_epoch ON item_search (published_epoch)",
    # SET search_path FROM CURRENT: the trigger finds search_queue in this schema
    # whatever search_path the writing session has.
    """CREATE FUNCTION newsbot_search_enqueue() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
        INSERT INTO search_queue (item_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER items_search_enqueue
        AFTER INSERT OR UPDATE OF title, summary, published ON items
        FOR EACH ROW EXECUTE FUNCTION newsbot_search_enqueue()""",
    "INSERT INTO search_queue (item_id) SELECT id FROM items",
)

POSTGRESQL_DOWN = (
    "DROP TRIGGER IF EXISTS items_search_enqueue ON items",
    "DROP FUNCTION IF EXISTS newsbot_search_enqueue()",
    "DROP TABLE IF EXISTS item_search",
    "DROP TABLE IF EXISTS search_queue",
)


def upgrade() -> None:
    statements = SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRESQL_UP
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    statements = SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRESQL_DOWN
    for statement in statements:
        op.execute(statement)
