"""telegram: forum topics, chat language and who added the bot, story titles, search tokens

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        # The bot's language in this chat (en, es, ru); NULL: the user's own language.
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))
        # Who added the bot (my_chat_member), so /subscribe in private can offer the chat.
        batch_op.add_column(sa.Column("added_by", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_chats_added_by", ["added_by"], unique=False)
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        # The forum topic its digests are posted in (NULL: the chat itself / General).
        batch_op.add_column(sa.Column("thread_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thread_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("stories", schema=None) as batch_op:
        # A display title ("Wagner / Africa Corps") apart from the short name.
        batch_op.add_column(sa.Column("title", sa.String(length=128), nullable=True))
    # /search paging: the query behind a button's token, shared by every bot process and
    # kept over restarts (callback data holds 64 bytes, a query can be much longer).
    op.create_table(
        "search_tokens",
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_search_tokens")),
    )


def downgrade() -> None:
    op.drop_table("search_tokens")
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.drop_column("title")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("thread_id")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("thread_id")
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.drop_index("ix_chats_added_by")
        batch_op.drop_column("added_by")
        batch_op.drop_column("language")
