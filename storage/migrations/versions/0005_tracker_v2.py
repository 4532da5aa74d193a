"""tracker v2: syndication fields, a per-item vector cache, a development's lead item

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        # Where the feed says the item comes from (RSS/Atom <source>, dc:source, a
        # canonical link elsewhere): the tracker folds such an item into its original.
        batch_op.add_column(sa.Column("source_name", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("source_url", sa.String(length=2048), nullable=True))
        # The sentence encoder's vector for the item, float16, computed once.
        batch_op.add_column(sa.Column("vector", sa.LargeBinary(), nullable=True))
        # The tracker's own decision counter: it never goes back (item ids can, after
        # a prune on SQLite), so a restart replays exactly what the saved state lacks.
        batch_op.add_column(sa.Column("track_seq", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_items_track_seq", ["track_seq"], unique=False)
    with op.batch_alter_table("developments", schema=None) as batch_op:
        # The development's earliest original report (never a copy).
        batch_op.add_column(sa.Column("lead_item_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("developments", schema=None) as batch_op:
        batch_op.drop_column("lead_item_id")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_track_seq")
        batch_op.drop_column("track_seq")
        batch_op.drop_column("vector")
        batch_op.drop_column("source_url")
        batch_op.drop_column("source_name")
