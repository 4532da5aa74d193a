"""Digests and breaking alerts: what each chat is sent, and when.

A chat's digest holds the developments of its subscribed stories that it has not been shown:
grouped by story, ordered by distinct outlets and recency (``stories.digest``), each assembled
by ``stories.digest.assemble_development`` (the read model ``/story`` shows too). A
development the chat already saw comes back only as an *update*, with the reports that added
facts; copies are folded into the report they copy as "+N more sources". Every item
considered is recorded as seen, so no item is sent twice, and nothing is sent when nothing is
new.

Every digest and alert goes one way to the outbox (``_deliver``: subscriptions -> build ->
render -> enqueue); schedules (per subscription, in the chat's time zone) are
``stories.schedule``'s rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from storage import chats as chat_store
from storage import digest_reads
from storage import outbox as outbox_store
from storage import subscriptions as subscription_store
from storage.digest_reads import CandidateItem
from storage.locks import claim_chat_digest
from storage.repository import Storage
from storage.subscriptions import ScheduleUpdate, SubscriptionInfo
from stories.digest import (
    BASELINE_PERIOD,
    Digest,
    DigestDevelopment,
    DigestSection,
    assemble_development,
    hourly_baseline,
    order_developments,
)

from ..config import Config
from ..i18n import ENGLISH, Translator, translator
from ..keyboards import digest_keyboard, load_signer
from ..render import MESSAGE_LIMIT, DigestPart, escape, render_digest_parts, render_plain, visible_length
from .subscriptions import alert_rule, next_digest, zone_of

__all__ = [
    "LOOKBACK",
    "TERMINAL_CHAT",
    "PreparedDigest",
    "breaking_alerts",
    "build_digest",
    "render_prepared",
    "run_due_digests",
    "send_digest_now",
    "terminal_digest",
]

# How far before a chat's last digest (or its subscription) items are still considered: the
# tracker may decide on an item a while after it was fetched.
LOOKBACK = timedelta(hours=24)
# The pseudo-chat under which the terminal digest remembers what it printed.
TERMINAL_CHAT = 0


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
    candidates = await digest_reads.unseen_items(storage, chat_id, story_ids, since=since)
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
    infos = await digest_reads.developments(storage, by_dev)
    seen_devs = await digest_reads.seen_developments(storage, chat_id, by_dev)
    built: list[tuple[int, DigestDevelopment]] = []
    seen: dict[int, int | None] = {}
    for dev_id, items in by_dev.items():
        info = infos.get(dev_id)
        if info is None:
            continue
        dev = assemble_development(info, items, already_seen=dev_id in seen_devs)
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
            sections.append(DigestSection(name, devs, sid))
    return PreparedDigest(Digest(tuple(sections), now), seen, len(ordered) - len(ranked))


def render_prepared(
    prepared: PreparedDigest, tz: ZoneInfo, *, tr: Translator = ENGLISH, limit: int = MESSAGE_LIMIT
) -> list[str]:
    """The digest's messages in ``tr``'s language, with a closing line counting the
    developments left out."""
    return [part.text for part in _render_parts(prepared, tz, tr, limit=limit)]


def _render_parts(
    prepared: PreparedDigest, tz: ZoneInfo, tr: Translator, *, limit: int = MESSAGE_LIMIT
) -> list[DigestPart]:
    """``render_prepared``'s messages, each with the developments it shows (for its buttons)."""
    parts = render_digest_parts(prepared.digest, tz, tr=tr, limit=limit)
    if parts and prepared.omitted:
        closing = tr.tn(
            "… and {n} more development: /story NAME lists them all.",
            "… and {n} more developments: /story NAME lists them all.",
            prepared.omitted,
        )
        last = parts[-1]
        closing = escape(closing)
        if visible_length(render_plain(last.text)) + 2 + visible_length(render_plain(closing)) <= limit:
            parts[-1] = DigestPart(last.text + "\n\n" + closing, last.entries)
        else:
            parts.append(DigestPart(closing))
    return parts


def _since(sub: SubscriptionInfo) -> datetime:
    return (sub.last_digest_at or sub.created_at) - LOOKBACK


def _headings(subs: Sequence[SubscriptionInfo]) -> list[tuple[int, str]]:
    """The stories a digest shows: a muted one's section is left out (its schedule still
    moves on, so unmuting does not bring back a backlog)."""
    return [(sub.story_id, sub.heading) for sub in subs if not sub.muted]


async def _chat_zone(storage: Storage, config: Config, chat_id: int) -> ZoneInfo:
    chat = await chat_store.get_chat(storage, chat_id)
    return zone_of(chat.timezone if chat else config.digest.timezone)


async def _chat_translator(storage: Storage, chat_id: int) -> Translator:
    """A digest's language: the chat's setting, else English (no user is asking)."""
    chat = await chat_store.get_chat(storage, chat_id)
    return translator(chat.language if chat else None)


async def _prepare(
    storage: Storage,
    config: Config,
    chat_id: int,
    stories: Sequence[tuple[int, str]],
    tz: ZoneInfo,
    *,
    since: datetime,
    now: datetime,
    only_developments: Iterable[int] | None = None,
    limit: int = MESSAGE_LIMIT,
) -> tuple[PreparedDigest, list[DigestPart]]:
    """Build a chat's digest of ``stories`` and render it in the chat's language (an alert:
    retitled, no closing line)."""
    prepared = await build_digest(
        storage,
        chat_id,
        stories,
        since=since,
        now=now,
        max_developments=config.digest.max_developments,
        only_developments=only_developments,
    )
    tr = await _chat_translator(storage, chat_id)
    if only_developments is not None:
        return prepared, render_digest_parts(prepared.digest, tz, tr=tr, breaking=True, limit=limit)
    return prepared, _render_parts(prepared, tz, tr, limit=limit)


async def _deliver(
    storage: Storage,
    config: Config,
    chat_id: int,
    subs: Sequence[SubscriptionInfo],
    tz: ZoneInfo,
    *,
    kind: str,
    since: datetime,
    now: datetime,
    schedule: Callable[[SubscriptionInfo], datetime | None] | None = None,
    only_developments: Iterable[int] | None = None,
    thread_id: int | None = None,
    when_empty: bool = False,
    limit: int = MESSAGE_LIMIT,
) -> int:
    """subscriptions -> build -> render -> outbox: the one path of every digest and alert.

    In one transaction the messages are written, the items they account for marked seen, and
    (with ``schedule``: each subscription's next time) the subscriptions moved on. With nothing
    to send nothing is written, unless ``when_empty`` (a scheduled digest still moves on).
    Returns how many messages were written."""
    prepared, parts = await _prepare(
        storage,
        config,
        chat_id,
        _headings(subs),
        tz,
        since=since,
        now=now,
        only_developments=only_developments,
        limit=limit,
    )
    if not parts and not when_empty:
        return 0
    messages = [part.text for part in parts]
    markups = await _keyboards(storage, chat_id, parts) if parts else []
    updates = [ScheduleUpdate(sub.id, now, schedule(sub)) for sub in subs] if schedule is not None else []
    await outbox_store.enqueue_digest(
        storage,
        chat_id,
        kind=kind,
        messages=messages,
        seen=prepared.seen,
        schedule=updates,
        thread_id=thread_id,
        markups=markups,
    )
    return len(messages)


async def _keyboards(storage: Storage, chat_id: int, parts: Sequence[DigestPart]) -> list[str | None]:
    """The buttons under each digest message (lead report, whole development, mute the story),
    signed for the chat and labelled in its language, as Bot API JSON for the outbox."""
    signer = await load_signer(storage)
    tr = await _chat_translator(storage, chat_id)
    out: list[str | None] = []
    for part in parts:
        keyboard = digest_keyboard(signer, chat_id, part.entries, tr)
        out.append(keyboard.to_json() if keyboard is not None else None)
    return out


async def run_due_digests(storage: Storage, config: Config, *, now: datetime | None = None) -> int:
    """Write the digests of every chat with a subscription due now into the outbox.

    Each chat gets one digest for all its due subscriptions (one per forum topic they post
    to); their next times move on even when nothing was new. Returns how many outbox messages
    were written.
    """
    now = now or datetime.now(UTC)
    due = await subscription_store.due_subscriptions(storage, now)
    written = 0
    for chat_id in dict.fromkeys(sub.chat_id for sub in due):
        # Several bot processes may run this at once: each chat's run is claimed in the
        # database and its due subscriptions re-read under the claim, so one builds it once.
        async with claim_chat_digest(storage, chat_id) as claimed:
            subs = (
                await subscription_store.due_subscriptions(storage, now, chat_id=chat_id) if claimed else []
            )
            if not subs:
                continue
            tz = await _chat_zone(storage, config, chat_id)
            for group in _by_topic(subs):
                written += await _deliver(
                    storage,
                    config,
                    chat_id,
                    group,
                    tz,
                    kind="digest",
                    since=min(_since(sub) for sub in group),
                    now=now,
                    schedule=_scheduled(now, tz),
                    thread_id=group[0].thread_id,
                    when_empty=True,
                )
    return written


def _scheduled(now: datetime, tz: ZoneInfo) -> Callable[[SubscriptionInfo], datetime | None]:
    """Each subscription's next time by its own schedule, after ``now`` in ``tz``."""
    return lambda sub: next_digest(sub.schedule, now, tz)


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
    subs = await subscription_store.list_subscriptions(storage, chat_id)
    if not subs:
        return None
    return await _deliver(
        storage,
        config,
        chat_id,
        subs,
        await _chat_zone(storage, config, chat_id),
        kind="digest",
        since=min(_since(sub) for sub in subs),
        now=now,
        schedule=lambda sub: sub.next_digest_at,
        thread_id=thread_id,
    )


async def breaking_alerts(storage: Storage, config: Config, *, now: datetime | None = None) -> int:
    """Post, to every subscription with alerts on (beside its digests, or ``instant``: instead
    of them), each development of its story that just crossed the subscription's threshold
    (``alert_rule``: N outlets within T minutes, by default ``digest.breaking_outlets`` within
    ``digest.breaking_window``, or a multiple of the story's usual volume) and that the chat
    has not been shown. Muted subscriptions and paused chats get none. Returns how many
    outbox messages were written."""
    now = now or datetime.now(UTC)
    subs = await subscription_store.alert_subscriptions(storage)
    if not subs:
        return 0
    rules = {sub.id: alert_rule(sub, config) for sub in subs}
    widest = max(rule.window for rule in rules.values())
    story_ids = sorted({s.story_id for s in subs})
    fresh = await digest_reads.fresh_developments(storage, story_ids, since=now - widest)
    infos = await digest_reads.developments(storage, {d for ids in fresh.values() for d in ids})
    relative = sorted(
        {s.story_id for s in subs if rules[s.id].multiple is not None and fresh.get(s.story_id)}
    )
    volume = await subscription_store.story_report_counts(storage, relative, since=now - BASELINE_PERIOD)
    written = 0
    by_chat: dict[int, list[SubscriptionInfo]] = {}
    for sub in subs:
        by_chat.setdefault(sub.chat_id, []).append(sub)
    for chat_id, chat_subs in by_chat.items():
        candidates: set[int] = set()
        for sub in chat_subs:
            rule = rules[sub.id]
            baseline = hourly_baseline(volume.get(sub.story_id, 0))
            for dev_id in fresh.get(sub.story_id, []):
                info = infos.get(dev_id)
                if info is None:
                    continue
                probe = DigestDevelopment(
                    info.id, info.title, (), info.outlets, info.first_seen, info.last_seen
                )
                if rule.fires(probe, now, baseline):
                    candidates.add(dev_id)
        candidates -= await digest_reads.seen_developments(storage, chat_id, candidates)
        if not candidates:
            continue
        written += await _deliver(
            storage,
            config,
            chat_id,
            chat_subs,
            await _chat_zone(storage, config, chat_id),
            kind="alert",
            since=now - widest - LOOKBACK,
            now=now,
            only_developments=candidates,
            thread_id=_one_topic(chat_subs),
        )
    return written


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
    if chat_id is not None:
        stories = _headings(await subscription_store.list_subscriptions(storage, chat_id))
        target = chat_id
        chat = await chat_store.get_chat(storage, chat_id)
        tz = zone_of(chat.timezone if chat else config.digest.timezone)
    else:
        stories = await subscription_store.global_story_ids(storage)
        target = TERMINAL_CHAT
        tz = zone_of(config.digest.timezone)
        await chat_store.upsert_chat(
            storage, target, type="terminal", title="terminal", username=None, timezone=config.digest.timezone
        )
    prepared, parts = await _prepare(storage, config, target, stories, tz, since=since, now=now)
    if chat_id is None and prepared.seen:
        await outbox_store.enqueue_digest(storage, target, kind="terminal", messages=[], seen=prepared.seen)
    return [render_plain(part.text) for part in parts]
