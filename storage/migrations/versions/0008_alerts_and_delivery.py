"""alerts beside digests, muted stories, silent delivery and link previews, digest buttons

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 09:00:00

Existing subscriptions keep behaving as before: an ``instant`` one gets ``alerts`` on with no
threshold of its own (the configured ``digest.breaking_outlets`` within
``digest.breaking_window``); every other one has alerts off. Chats keep silent delivery and
link previews off, as every message went out until now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


# Plain ALTER TABLE ADD/DROP COLUMN, no batch mode: on SQLite a batch would rebuild "chats"
# and "subscriptions", and dropping the old table (foreign keys on) cascades to every
# subscription and sent item that refers to it.


def upgrade() -> None:
    # Breaking alerts for this story, beside (or, schedule "instant", instead of) digests.
    op.add_column(
        "subscriptions", sa.Column("alerts", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    # The alert threshold: N outlets within T minutes (NULL: the configured ones), or, with
    # alert_multiple, that multiple of the story's usual reports per T minutes.
    op.add_column("subscriptions", sa.Column("alert_outlets", sa.Integer(), nullable=True))
    op.add_column("subscriptions", sa.Column("alert_minutes", sa.Integer(), nullable=True))
    op.add_column("subscriptions", sa.Column("alert_multiple", sa.Float(), nullable=True))
    # Muted (from a digest's button): no digest section and no alert until unmuted.
    op.add_column(
        "subscriptions", sa.Column("muted_at", storage.models.UTCDateTime(timezone=True), nullable=True)
    )
    op.execute(
        sa.text("UPDATE subscriptions SET alerts = :on WHERE schedule = 'instant'").bindparams(on=True)
    )
    # Digests and alerts sent without a notification sound (disable_notification), with link previews.
    op.add_column("chats", sa.Column("silent", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column(
        "chats", sa.Column("link_previews", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    # The inline keyboard under the message (JSON, Bot API's InlineKeyboardMarkup).
    op.add_column("outbox", sa.Column("reply_markup", sa.Text(), nullable=True))


def downgrade() -> None:
    for table, column in (
        ("outbox", "reply_markup"),
        ("chats", "link_previews"),
        ("chats", "silent"),
        ("subscriptions", "muted_at"),
        ("subscriptions", "alert_multiple"),
        ("subscriptions", "alert_minutes"),
        ("subscriptions", "alert_outlets"),
        ("subscriptions", "alerts"),
    ):
        op.drop_column(table, column)
