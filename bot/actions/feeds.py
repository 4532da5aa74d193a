"""Feeds: which URLs can be feeds, adding one (fetched at once, and its items tracked, so its
news shows in stories right away), and a feed's health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from storage.repository import Storage
from stories.errors import EXIT_USAGE, N_, Message, NewsbotError
from stories.model import FeedState

from ..poller import FeedReport, Poller
from ..tracking import TrackingService

__all__ = ["BadFeedUrl", "FeedAdded", "Health", "add_feed", "check_feed_url", "health"]

MAX_URL = 2048

Health = Literal["ok", "failing", "disabled"]

# Why a URL is refused (``BadFeedUrl.reason_message``); the bot translates them.
_INVALID = N_("that is not a valid URL")
_TOO_LONG_OR_SPACES = N_("the URL is too long or contains spaces")
_NOT_HTTP = N_("a feed URL starts with http:// or https:// and names a host")


class BadFeedUrl(NewsbotError):
    """A URL that cannot be a feed; ``reason`` says why (``reason_message``: the same as a
    template, to translate; None for a reason given as plain text)."""

    exit_code = EXIT_USAGE

    def __init__(self, url: str, reason: str | Message) -> None:
        super().__init__(f"not a feed URL: {url!r} ({reason})")
        self.url = url
        self.reason = str(reason)
        self.reason_message = reason if isinstance(reason, Message) else None


def check_feed_url(url: str, *, allow_files: bool = False) -> str:
    """A feed URL someone typed, stripped: http(s) with a host (``file:`` when ``allow_files``);
    else a ``BadFeedUrl`` saying why."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise BadFeedUrl(url, Message(_INVALID)) from None
    if len(url) > MAX_URL or any(ch.isspace() for ch in url):
        raise BadFeedUrl(url, Message(_TOO_LONG_OR_SPACES))
    if parts.scheme == "file" and allow_files:
        return url
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadFeedUrl(url, Message(_NOT_HTTP))
    return url


def health(state: FeedState) -> Health:
    """A feed's health: disabled, failing (errors since its last good fetch), or ok."""
    if state.disabled:
        return "disabled"
    return "failing" if state.consecutive_errors else "ok"


@dataclass(frozen=True, slots=True)
class FeedAdded:
    """What adding a feed did: the feed as stored after its first fetch (``title`` from it),
    and that fetch's report (None when there was no poller to fetch it)."""

    state: FeedState
    report: FeedReport | None

    @property
    def title(self) -> str | None:
        """The feed's title, once its first fetch read one."""
        return self.state.title


async def add_feed(
    storage: Storage,
    url: str,
    *,
    poller: Poller | None,
    tracking: TrackingService | None,
    title: str | None = None,
    added_by: int | None = None,
) -> FeedAdded:
    """Add the feed ``url`` (``AlreadyExists`` when known), fetch it once with ``poller`` and track
    what it brought with ``tracking``. Without a poller it is fetched on the next poll."""
    state = await storage.add_feed(url, title=title, added_by=added_by)
    if poller is None:
        return FeedAdded(state, None)
    summary = await poller.poll_once(feeds=[state])
    report = summary.reports[0] if summary.reports else None
    if tracking is not None:
        await tracking.track_pending()
    fresh = await storage.get_feed(state.id or url)
    return FeedAdded(fresh or state, report)
