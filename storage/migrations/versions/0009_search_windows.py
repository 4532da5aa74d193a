"""search windows by item id on PostgreSQL too: search_days, and a feed's items by id

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 14:00:00

PostgreSQL gets ``search_days`` (SQLite has had it since 0002): per publication day (days
since 1970, UTC) the smallest item id published that day, so "every item published since
day D has an id of at least X" is a few row reads. A search filtered on a story or feed
then reads only the members with such ids (from ``story_items``' primary key, or the new
index below) instead of testing every recent item for membership. Filled from
``item_search`` here; ``storage.search`` keeps it up to date. Raw SQL outside the models,
like the rest of the PostgreSQL index.

Both databases: ``item_sources (feed_id, item_id)`` replaces the index on ``feed_id``
alone (it serves the same lookups).
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_item_sources_feed_item", "item_sources", ["feed_id", "item_id"])
    op.drop_index("ix_item_sources_feed_id", table_name="item_sources")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TABLE search_days (day integer PRIMARY KEY, min_id integer NOT NULL)")
        op.execute(
            "INSERT INTO search_days (day, min_id) "
            "SELECT floor(published_epoch / 86400)::integer, min(item_id) FROM item_search GROUP BY 1"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE IF EXISTS search_days")
    op.create_index("ix_item_sources_feed_id", "item_sources", ["feed_id"])
    op.drop_index("ix_item_sources_feed_item", table_name="item_sources")
