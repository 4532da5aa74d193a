"""Digests and breaking alerts: what each chat is sent, and when.

A chat's digest holds the developments of its subscribed stories that it has not been shown:
grouped by story, ordered by distinct outlets and recency (``stories.digest``). A development
the chat already saw comes back only as an *update*, with the reports that added facts; copies
(the same article from another feed, near copies, re-reports) are folded into the report they
copy as "+N more sources". Every item considered is recorded as seen, so no item is sent
twice, and nothing is sent when nothing is new.

Schedules (per subscription, in the chat's time zone) are ``stories.schedule``'s rule; the
names are re-exported here for the modules that imported them from this one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage import delivery
from storage.delivery import CandidateItem, DevelopmentInfo, ScheduleUpdate, SubscriptionInfo
from storage.leasing import claim_chat_digest
from storage.repository import Storage
from stories.digest import (
    Digest,
    DigestDevelopment,
    DigestItem,
    DigestSection,
    is_breaking,
    order_developments,
)
from stories.model import ItemKind
from stories.schedule import (
    SCHEDULE_HELP,
    Schedule,
    ScheduleError,
    next_run,
    parse_schedule,
    resolve_timezone,
)

from .config import Config
from .render import MESSAGE_LIMIT, render_digest, render_plain, visible_length

__all__ = [
    "LOOKBACK",
    "SCHEDULE_HELP",
    "TERMINAL_CHAT",
    "PreparedDigest",
    "Schedule",
    "ScheduleError",
    "breaking_alerts",
    "build_digest",
    "next_run",
    "parse_schedule",
    "render_prepared",
    "resolve_timezone",
    "run_due_digests",
    "send_digest_now",
    "story_developments",
    "terminal_digest",
]

# How far before a chat's last digest (or its subscription) items are still considered: the
# tracker may decide on an item a while after it was fetched.
LOOKBACK = timedelta(hours=24)
# The pseudo-chat under which the terminal digest remembers what it printed.
TERMINAL_CHAT = 0


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# ------------------------------------------------------------------------------- building


@dataclass(frozen=True, slots=True)
class PreparedDigest:
    """A digest for one chat and the items it accounts for (shown or folded silently)."""

    digest: Digest
    seen: dict[int, int | None] = field(default_factory=dict)
    omitted: int = 0  # developments beyond max_developments: counted in a closing line

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to send."""
        return self.digest.is_empty


def _kind(value: str | None) -> ItemKind:
    return value if value in ("new", "update", "rereport") else "new"  # type: ignore[return-value]


@dataclass
class _Report:
    """A report being assembled: the item and the copies folded into it."""

    item: CandidateItem
    copies: list[CandidateItem] = field(default_factory=list)

    def to_digest_item(self, kind: ItemKind) -> DigestItem:
        # Other sources are other outlets: a copy from the report's own outlet (a feed
        # that changes an entry's GUID and link each poll) is no second source.
        outlets: list[str] = []
        for name in (*self.item.outlets, *(o for c in self.copies for o in (c.outlets or (c.outlet,)))):
            if name != self.item.outlet and name not in outlets:
                outlets.append(name)
        sources = len(outlets)
        return DigestItem(
            title=self.item.title,
            url=self.item.url,
            outlet=self.item.outlet,
            published=self.item.published,
            kind=kind,
            extra_sources=max(sources, 0),
            extra_outlets=tuple(outlets),
            adds=self.item.new_facts if kind == "update" else (),
        )


def _assemble(
    dev: DevelopmentInfo, items: Sequence[CandidateItem], already_seen: bool
) -> DigestDevelopment | None:
    """One development from its unseen items; None when nothing in them is new to the chat."""
    reports: dict[int, _Report] = {}
    loose: list[CandidateItem] = []
    for item in items:
        if item.duplicate_of is not None:
            loose.append(item)
        else:
            reports[item.item_id] = _Report(item)
    lead: _Report | None = None
    if not already_seen:
        firsts = [r for r in reports.values() if r.item.kind in (None, "new")] or list(reports.values())
        lead = firsts[0] if firsts else None
    for item in loose:
        target = reports.get(item.duplicate_of or -1)
        if target is not None:
            target.copies.append(item)
        elif lead is not None:
            lead.copies.append(item)
    shown: list[DigestItem] = []
    for report in reports.values():
        kind = _kind(report.item.kind)
        if report is lead:
            shown.insert(0, report.to_digest_item("new"))
        elif kind == "update":
            shown.append(report.to_digest_item("update"))
        elif lead is not None and kind == "rereport":
            lead.copies.append(report.item)
        elif lead is not None:
            shown.append(report.to_digest_item(kind))
    if lead is not None and shown:
        shown[0] = lead.to_digest_item("new")  # copies folded after it was first built
    if not shown:
        return None
    return DigestDevelopment(
        id=dev.id,
        title=dev.title,
        items=tuple(shown),
        outlets=dev.outlets,
        first_seen=dev.first_seen,
        last_seen=dev.last_seen,
        is_update=already_seen,
    )


async def build_digest(
    storage: Storage,
    chat_id: int,
    stories: Sequence[tuple[int, str]],
    *,
    since: datetime,
    now: datetime,
    max_developments: int,
    only_developments: Iterable[int] | None = None,
) -> PreparedDigest:
    """The digest of ``stories`` (id, name) for a chat: its unseen items since ``since``.

    A development in two subscribed stories appears once, under the first. With
    ``only_developments`` the digest is limited to those (breaking alerts). At most
    ``max_developments`` are shown, best first; the items of the others stay unseen.
    """
    story_ids = [sid for sid, _ in stories]
    candidates = await delivery.unseen_items(storage, chat_id, story_ids, since=since)
    wanted = set(only_developments) if only_developments is not None else None
    by_dev: dict[int, list[CandidateItem]] = {}
    dev_story: dict[int, int] = {}
    order = {sid: n for n, sid in enumerate(story_ids)}
    unassigned: dict[int, int | None] = {}
    for item in candidates:
        if item.development_id is None:
            unassigned[item.item_id] = None
            continue
        if wanted is not None and item.development_id not in wanted:
            continue
        dev_story.setdefault(item.development_id, item.story_id)
        if order[item.story_id] < order[dev_story[item.development_id]]:
            dev_story[item.development_id] = item.story_id
        bucket = by_dev.setdefault(item.development_id, [])
        if all(other.item_id != item.item_id for other in bucket):
            bucket.append(item)
    infos = await delivery.developments(storage, by_dev)
    seen_devs = await delivery.seen_developments(storage, chat_id, by_dev)
    built: list[tuple[int, DigestDevelopment]] = []
    seen: dict[int, int | None] = {}
    for dev_id, items in by_dev.items():
        info = infos.get(dev_id)
        if info is None:
            continue
        dev = _assemble(info, items, dev_id in seen_devs)
        if dev is None:
            # Only copies of what the chat saw: nothing new, but never offer them again.
            seen.update({item.item_id: dev_id for item in items})
            continue
        built.append((dev_id, dev))
    ordered = order_developments((dev for _, dev in built), now)
    ranked = ordered[:max_developments]
    # The developments beyond the cap are counted, not carried over: a busy story must not
    # snowball into ever longer digests. /story still lists them.
    for dev_id, items in by_dev.items():
        seen.update({item.item_id: dev_id for item in items})
    sections: list[DigestSection] = []
    for sid, name in stories:
        devs = tuple(dev for dev in ranked if dev_story.get(dev.id) == sid)
        if devs:
            sections.append(DigestSection(name, devs))
    return PreparedDigest(Digest(tuple(sections), now), seen, len(ordered) - len(ranked))


def render_prepared(prepared: PreparedDigest, tz: ZoneInfo, *, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The digest's messages, with a closing line counting the developments left out."""
    messages = render_digest(prepared.digest, tz, limit=limit)
    if messages and prepared.omitted:
        noun = "development" if prepared.omitted == 1 else "developments"
        closing = f"… and {prepared.omitted} more {noun}: /story NAME lists them all."
        if visible_length(render_plain(messages[-1])) + 2 + len(closing) <= limit:
            messages[-1] += "\n\n" + closing
        else:
            messages.append(closing)
    return messages


def _since(sub: SubscriptionInfo) -> datetime:
    return (sub.last_digest_at or sub.created_at) - LOOKBACK


async def run_due_digests(storage: Storage, config: Config, *, now: datetime | None = None) -> int:
    """Write the digests of every chat with a subscription due now into the outbox.

    Each chat gets one digest for all its due subscriptions; their next times move on even
    when nothing was new. Returns how many outbox messages were written.
    """
    now = now or datetime.now(UTC)
    due = await delivery.due_subscriptions(storage, now)
    written = 0
    for chat_id in dict.fromkeys(sub.chat_id for sub in due):
        # Several bot processes may run this at once: each chat's run is claimed in the
        # database and its due subscriptions re-read under the claim, so one builds it once.
        async with claim_chat_digest(storage, chat_id) as claimed:
            subs = await delivery.due_subscriptions(storage, now, chat_id=chat_id) if claimed else []
            if not subs:
                continue
            chat = await delivery.get_chat(storage, chat_id)
            tz = _zone(chat.timezone if chat else config.digest.timezone)
            written += await _digest_for(storage, config, chat_id, subs, tz, now=now, kind="digest")
    return written


async def _digest_for(
    storage: Storage,
    config: Config,
    chat_id: int,
    subs: Sequence[SubscriptionInfo],
    tz: ZoneInfo,
    *,
    now: datetime,
    kind: str,
    limit: int = MESSAGE_LIMIT,
) -> int:
    topics = _by_topic(subs)
    if len(topics) > 1:  # subscriptions posted to different forum topics: a digest in each
        return sum(
            [
                await _digest_for(storage, config, chat_id, group, tz, now=now, kind=kind, limit=limit)
                for group in topics
            ]
        )
    since = min(_since(sub) for sub in subs)
    prepared = await build_digest(
        storage,
        chat_id,
        [(sub.story_id, sub.heading) for sub in subs],
        since=since,
        now=now,
        max_developments=config.digest.max_developments,
    )
    messages = render_prepared(prepared, tz, limit=limit)
    updates = [ScheduleUpdate(sub.id, now, _next_for(sub, now, tz)) for sub in subs]
    await delivery.enqueue_digest(
        storage,
        chat_id,
        kind=kind,
        messages=messages,
        seen=prepared.seen,
        schedule=updates,
        thread_id=subs[0].thread_id,
    )
    return len(messages)


def _by_topic(subs: Sequence[SubscriptionInfo]) -> list[list[SubscriptionInfo]]:
    """Subscriptions grouped by the forum topic they post to, in order of first appearance."""
    groups: dict[int | None, list[SubscriptionInfo]] = {}
    for sub in subs:
        groups.setdefault(sub.thread_id, []).append(sub)
    return list(groups.values())


def _one_topic(subs: Sequence[SubscriptionInfo]) -> int | None:
    """The forum topic all these subscriptions share, else None (the chat itself)."""
    topics = {sub.thread_id for sub in subs}
    return topics.pop() if len(topics) == 1 else None


def _next_for(sub: SubscriptionInfo, now: datetime, tz: ZoneInfo) -> datetime | None:
    try:
        return next_run(parse_schedule(sub.schedule), now, tz)
    except ScheduleError:
        return None


async def send_digest_now(
    storage: Storage,
    config: Config,
    chat_id: int,
    *,
    now: datetime | None = None,
    thread_id: int | None = None,
) -> int | None:
    """``/digest``: write the chat's digest of all its subscriptions to the outbox now (to the
    forum topic ``thread_id`` when asked from one).

    Returns the number of messages written (0: nothing new), or None when the chat has no
    subscriptions. Scheduled times are not moved: the next scheduled digest simply has less.
    """
    now = now or datetime.now(UTC)
    subs = await delivery.list_subscriptions(storage, chat_id)
    if not subs:
        return None
    chat = await delivery.get_chat(storage, chat_id)
    tz = _zone(chat.timezone if chat else config.digest.timezone)
    since = min(_since(sub) for sub in subs)
    prepared = await build_digest(
        storage,
        chat_id,
        [(sub.story_id, sub.heading) for sub in subs],
        since=since,
        now=now,
        max_developments=config.digest.max_developments,
    )
    messages = render_prepared(prepared, tz)
    if not messages:
        return 0
    updates = [ScheduleUpdate(sub.id, now, sub.next_digest_at) for sub in subs]
    await delivery.enqueue_digest(
        storage,
        chat_id,
        kind="digest",
        messages=messages,
        seen=prepared.seen,
        schedule=updates,
        thread_id=thread_id,
    )
    return len(messages)


async def breaking_alerts(storage: Storage, config: Config, *, now: datetime | None = None) -> int:
    """Post, to every ``instant`` subscriber, each development of its stories that just reached
    ``digest.breaking_outlets`` distinct outlets within ``digest.breaking_window`` and that the
    chat has not been shown. Returns how many outbox messages were written."""
    now = now or datetime.now(UTC)
    window = timedelta(seconds=config.digest.breaking_window)
    subs = await delivery.subscriptions_with_schedule(storage, "instant")
    if not subs:
        return 0
    fresh = await delivery.fresh_developments(storage, sorted({s.story_id for s in subs}), since=now - window)
    infos = await delivery.developments(storage, {d for ids in fresh.values() for d in ids})
    written = 0
    by_chat: dict[int, list[SubscriptionInfo]] = {}
    for sub in subs:
        by_chat.setdefault(sub.chat_id, []).append(sub)
    for chat_id, chat_subs in by_chat.items():
        candidates: set[int] = set()
        for sub in chat_subs:
            for dev_id in fresh.get(sub.story_id, []):
                info = infos.get(dev_id)
                if info is None:
                    continue
                probe = DigestDevelopment(
                    info.id, info.title, (), info.outlets, info.first_seen, info.last_seen
                )
                if is_breaking(probe, config.digest.breaking_outlets, window, now):
                    candidates.add(dev_id)
        candidates -= await delivery.seen_developments(storage, chat_id, candidates)
        if not candidates:
            continue
        chat = await delivery.get_chat(storage, chat_id)
        tz = _zone(chat.timezone if chat else config.digest.timezone)
        prepared = await build_digest(
            storage,
            chat_id,
            [(sub.story_id, sub.heading) for sub in chat_subs],
            since=now - window - LOOKBACK,
            now=now,
            max_developments=config.digest.max_developments,
            only_developments=candidates,
        )
        messages = [_as_alert(text) for text in render_digest(prepared.digest, tz)]
        if messages:
            await delivery.enqueue_digest(
                storage,
                chat_id,
                kind="alert",
                messages=messages,
                seen=prepared.seen,
                thread_id=_one_topic(chat_subs),
            )
            written += len(messages)
    return written


def _as_alert(message: str) -> str:
    """A rendered digest message retitled as a breaking alert (only our own fixed intro changes)."""
    return message.replace("🗞 <b>Digest</b>", "🚨 <b>Breaking</b>", 1)


async def terminal_digest(
    storage: Storage,
    config: Config,
    *,
    since: datetime,
    now: datetime | None = None,
    chat_id: int | None = None,
) -> list[str]:
    """A plain-text digest for the terminal (running without a token, or ``newsbot digest``).

    Without ``chat_id``: every global story since ``since``; the items shown are remembered
    (under the pseudo-chat 0), so the next call shows only what is new. With a ``chat_id``:
    a preview of that chat's next digest (its subscribed stories), remembering nothing, so the
    chat still gets it in Telegram. Returns the messages as plain text ([] when nothing is new).
    """
    now = now or datetime.now(UTC)
    tz = _zone(config.digest.timezone)
    if chat_id is not None:
        subs = await delivery.list_subscriptions(storage, chat_id)
        chat = await delivery.get_chat(storage, chat_id)
        if chat is not None:
            tz = _zone(chat.timezone)
        stories = [(sub.story_id, sub.heading) for sub in subs]
        target = chat_id
    else:
        stories = await delivery.global_story_ids(storage)
        target = TERMINAL_CHAT
        await delivery.upsert_chat(
            storage, target, type="terminal", title="terminal", username=None, timezone=config.digest.timezone
        )
    prepared = await build_digest(
        storage, target, stories, since=since, now=now, max_developments=config.digest.max_developments
    )
    messages = [render_plain(text) for text in render_prepared(prepared, tz)]
    if chat_id is None and prepared.seen:
        await delivery.enqueue_digest(storage, target, kind="terminal", messages=[], seen=prepared.seen)
    return messages


async def story_developments(storage: Storage, story_id: int, *, limit: int = 10) -> list[DigestDevelopment]:
    """The ``limit`` most recent developments of a story, for ``/story``: each with its lead
    report (copies folded in as extra sources) and the reports that updated it."""
    recent = await storage.story_items(story_id, limit=max(limit * 20, 100))
    dev_ids: list[int] = []
    for stored in recent:  # newest first
        if stored.development_id is not None and stored.development_id not in dev_ids:
            dev_ids.append(stored.development_id)
            if len(dev_ids) >= limit:
                break
    infos = await delivery.developments(storage, dev_ids)
    items = await delivery.development_items(storage, dev_ids, story_id)
    by_dev: dict[int, list[CandidateItem]] = {}
    for item in items:
        if item.development_id is not None:
            by_dev.setdefault(item.development_id, []).append(item)
    result: list[DigestDevelopment] = []
    for dev_id in dev_ids:
        info = infos.get(dev_id)
        if info is None or dev_id not in by_dev:
            continue
        dev = _assemble(info, by_dev[dev_id], False)
        if dev is not None:
            result.append(dev)
    return result
