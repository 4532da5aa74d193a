"""SQLAlchemy 2.x typed models. ORM objects never leave ``storage/``.

The same models and migrations run on SQLite and PostgreSQL. Datetimes are stored
as UTC and always come back timezone-aware (SQLite has no time zones of its own).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names so migrations are identical on both databases.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class FeedRow(Base):
    """A subscribed feed and its fetch state."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    title: Mapped[str | None] = mapped_column(String(512))
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    next_fetch_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Leasing for several fetch workers sharing one PostgreSQL database.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DevelopmentRow(Base):
    """A development (event): items about the same thing happening."""

    __tablename__ = "developments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    outlet_count: Mapped[int] = mapped_column(Integer, default=0)
    # The development's earliest original report (never a copy); NULL on older rows.
    lead_item_id: Mapped[int | None] = mapped_column(Integer)


class ItemRow(Base):
    """One distinct item. The same canonical URL from two feeds is one row with two sources."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str | None] = mapped_column(String(2048), unique=True)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    outlet: Mapped[str] = mapped_column(String(512))
    author: Mapped[str | None] = mapped_column(String(512))
    language: Mapped[str | None] = mapped_column(String(32))
    published: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the tracker decided; NULL until it has seen the item.
    development_id: Mapped[int | None] = mapped_column(
        ForeignKey("developments.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str | None] = mapped_column(String(16))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"), index=True)
    new_facts: Mapped[str | None] = mapped_column(Text)
    tracked: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # Where the feed says the item comes from (<source>, dc:source, canonical link).
    source_name: Mapped[str | None] = mapped_column(String(512))
    source_url: Mapped[str | None] = mapped_column(String(2048))
    # The sentence encoder's vector (float16 bytes), computed once per item.
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The tracker's decision counter (never goes back, unlike ids after a prune).
    track_seq: Mapped[int | None] = mapped_column(BigInteger, index=True)


class ItemSourceRow(Base):
    """Where an item was seen: a feed and that feed's id for the entry."""

    __tablename__ = "item_sources"
    __table_args__ = (
        UniqueConstraint("feed_id", "guid", name="uq_item_sources_feed_guid"),
        # A feed's items in id order (newest last): a search filtered on a feed reads
        # the ids of its recent items from this index alone.
        Index("ix_item_sources_feed_item", "feed_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    guid: Mapped[str] = mapped_column(String(2048))
    outlet: Mapped[str] = mapped_column(String(512))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatRow(Base):
    """A Telegram chat the bot knows: private, group, supergroup or channel."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(String(512))
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    migrated_to: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    language: Mapped[str | None] = mapped_column(String(8))
    added_by: Mapped[int | None] = mapped_column(BigInteger, index=True)
    silent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    link_previews: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class StoryRow(Base):
    """A tracked story. ``scope`` is 0 for global stories, else the owning chat's id."""

    __tablename__ = "stories"
    __table_args__ = (UniqueConstraint("scope", "name_key", name="uq_stories_scope_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64))
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    title: Mapped[str | None] = mapped_column(String(128))


class StoryAuditRow(Base):
    """Who changed a watchlist, when, and how."""

    __tablename__ = "story_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"), index=True)
    scope: Mapped[int] = mapped_column(BigInteger, default=0)
    story_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    old_query: Mapped[str | None] = mapped_column(Text)
    new_query: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    user_name: Mapped[str | None] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class StoryItemRow(Base):
    """Membership: an item matches a story's query."""

    __tablename__ = "story_items"

    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class SubscriptionRow(Base):
    """A chat receives digests for a story on a schedule."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("chat_id", "story_id", name="uq_subscriptions_chat_story"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    schedule: Mapped[str] = mapped_column(String(64))
    next_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    thread_id: Mapped[int | None] = mapped_column(BigInteger)  # forum topic
    # Breaking alerts beside the digest (migration 0008): N outlets within T minutes (None:
    # the configured ones), or ``alert_multiple`` times the story's usual volume.
    alerts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    alert_outlets: Mapped[int | None] = mapped_column(Integer)
    alert_minutes: Mapped[int | None] = mapped_column(Integer)
    alert_multiple: Mapped[float | None] = mapped_column(Float)
    muted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # muted from a digest button


class SentItemRow(Base):
    """An item a chat has been shown, so no item is sent twice."""

    __tablename__ = "sent_items"

    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    development_id: Mapped[int | None] = mapped_column(Integer, index=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# OutboxRow.status: waiting to be sent, sent, given up on.
PENDING = "pending"
SENT = "sent"
FAILED = "failed"


class OutboxRow(Base):
    """A message written before it is sent; marked sent with Telegram's message id."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_not_before", "status", "not_before"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    parse_mode: Mapped[str | None] = mapped_column(String(16), default="HTML")
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    thread_id: Mapped[int | None] = mapped_column(BigInteger)  # forum topic
    reply_markup: Mapped[str | None] = mapped_column(Text)  # inline keyboard, Bot API JSON


class SearchTokenRow(Base):
    """The query behind a /search paging button (callback data holds only 64 bytes)."""

    __tablename__ = "search_tokens"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrackerStateRow(Base):
    """The story tracker's saved state, so a restart decides as if it never stopped."""

    __tablename__ = "tracker_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    last_item_id: Mapped[int] = mapped_column(Integer, default=0)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
