"""What a digest shows, and in which order: pure values and ordering rules.

A digest is built per chat from the developments (events) of the stories the chat follows that
are new to it since its last digest. The bot's renderer (``bot/render.py``) turns a ``Digest``
into Telegram messages; storage and the tracker produce the values. Nothing here touches the
network, the database or Telegram.

Ordering (``order_developments``): a development carried by more distinct outlets matters more,
and a fresh one more than an old one. The score is

    score = outlets * 0.5 ** (age / half_life)

where ``age = now - last_seen`` (never negative) and ``half_life`` defaults to 6 hours: a
development last reported 6 hours ago by 4 outlets ranks with one reported just now by 2, and
one last reported 12 hours ago by 4 outlets with a single fresh report. Ties go to the more
recent ``last_seen``, then the lower id (for a stable order).

Assembly (``assemble_development``): a development as people see it, from its tracked reports.
The lead is the first original report (else the first report); copies (``duplicate_of``) fold
into the report they copy, re-reports into the lead, as "+N more sources"; updates follow the
lead. For a development the chat already saw there is no lead: only its updates are shown.

Breaking (``is_breaking``): a development is breaking when it is still fresh — first seen no
longer than ``window`` before ``now`` — and already carried by at least ``min_outlets``
distinct outlets; in other words it reached that many outlets within ``window`` of its first
report. Checking after every poll posts it at once; remembering which developments were
already alerted is the caller's job.

Alert rules (``AlertRule``): each subscription with alerts on has its own threshold, either
absolute — N distinct outlets within T minutes — or relative to the story's usual volume — a
multiple of the reports the story gets in T minutes on average (``hourly_baseline`` over the
last week): ``alerts:x3/60m`` fires when a development reaches three times the outlets the
story usually sees in an hour, and never for fewer than ``outlets`` (at least 2). A quiet
story alerts on a few outlets, a busy one only on a real surge. The text form
(``parse_alert_rule``): ``N/T`` ("3/30m", "5/2h", "4/60" in minutes) or ``xK[/T]`` ("x3",
"x2.5/90m"); ``str()`` gives it back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from stories.errors import EXIT_USAGE, N_, Message, NewsbotError
from stories.model import ItemKind

__all__ = [
    "ALERT_RULE_HELP",
    "BASELINE_PERIOD",
    "DEFAULT_HALF_LIFE",
    "HIGHLIGHT_END",
    "HIGHLIGHT_START",
    "MIN_RELATIVE_OUTLETS",
    "AlertRule",
    "AlertRuleError",
    "DevelopmentFacts",
    "Digest",
    "DigestDevelopment",
    "DigestItem",
    "DigestSection",
    "SearchHit",
    "TrackedReport",
    "assemble_development",
    "development_score",
    "hourly_baseline",
    "is_breaking",
    "order_developments",
    "parse_alert_rule",
]

DEFAULT_HALF_LIFE = timedelta(hours=6)


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value!r}")


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One report shown in a digest.

    ``url`` is untrusted (the renderer links only http/https). ``extra_sources`` counts the
    copies folded into this report (same URL, same text, near copies) and ``extra_outlets``
    names their outlets (distinct, without ``outlet`` itself), possibly fewer than
    ``extra_sources`` when one outlet carried several copies.
    """

    title: str
    url: str | None
    outlet: str
    published: datetime
    kind: ItemKind = "new"
    extra_sources: int = 0
    extra_outlets: tuple[str, ...] = ()
    adds: tuple[str, ...] = ()
    """For an update: the facts it adds (numbers, names, places), as it wrote them."""

    def __post_init__(self) -> None:
        _require_aware(self.published, "DigestItem.published")
        if self.extra_sources < 0:
            raise ValueError("DigestItem.extra_sources must be >= 0")


@dataclass(frozen=True, slots=True)
class DigestDevelopment:
    """A development (event) of a story, as one chat's digest shows it.

    ``items`` are the reports to show, lead report first. ``outlets`` is the number of distinct
    outlets that carried the development so far (not only those in ``items``). ``is_update``
    is True when the chat already saw this development and ``items`` show what is new.
    """

    id: int
    title: str
    items: tuple[DigestItem, ...]
    outlets: int
    first_seen: datetime
    last_seen: datetime
    is_update: bool = False

    def __post_init__(self) -> None:
        _require_aware(self.first_seen, "DigestDevelopment.first_seen")
        _require_aware(self.last_seen, "DigestDevelopment.last_seen")
        if self.outlets < 0:
            raise ValueError("DigestDevelopment.outlets must be >= 0")

    @property
    def lead(self) -> DigestItem | None:
        """The lead report (first item), if any."""
        return self.items[0] if self.items else None


@dataclass(frozen=True, slots=True)
class DigestSection:
    """The developments of one story in a digest, in display order."""

    story: str
    developments: tuple[DigestDevelopment, ...]
    story_id: int | None = None  # the story's id, for buttons under its entries


@dataclass(frozen=True, slots=True)
class Digest:
    """A digest for one chat: sections by story, in display order."""

    sections: tuple[DigestSection, ...]
    generated_at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.generated_at, "Digest.generated_at")

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to send (no development in any section)."""
        return not any(section.developments for section in self.sections)

    @property
    def item_count(self) -> int:
        """Number of reports shown across all sections."""
        return sum(len(d.items) for s in self.sections for d in s.developments)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One full-text search result, as /search shows it.

    ``snippet`` marks matched terms with ``HIGHLIGHT_START`` (U+E000) and ``HIGHLIGHT_END``
    (U+E001), private-use characters that never occur in normalised feed text.
    """

    title: str
    url: str | None
    outlet: str
    published: datetime
    snippet: str = ""
    story: str | None = field(default=None)

    def __post_init__(self) -> None:
        _require_aware(self.published, "SearchHit.published")


HIGHLIGHT_START = "\ue000"
HIGHLIGHT_END = "\ue001"


def development_score(
    dev: DigestDevelopment, now: datetime, half_life: timedelta = DEFAULT_HALF_LIFE
) -> float:
    """``outlets * 0.5 ** (age / half_life)``: the ranking score of a development at ``now``."""
    if half_life <= timedelta(0):
        raise ValueError("half_life must be positive")
    age = max(now - dev.last_seen, timedelta(0))
    decay: float = 0.5 ** (age / half_life)
    return max(dev.outlets, 1) * decay


def order_developments(
    devs: Iterable[DigestDevelopment],
    now: datetime,
    *,
    half_life: timedelta = DEFAULT_HALF_LIFE,
) -> list[DigestDevelopment]:
    """Developments best first: by ``development_score``, then most recent, then lowest id."""
    _require_aware(now, "now")
    return sorted(
        devs,
        key=lambda d: (
            -development_score(d, now, half_life),
            -d.last_seen.timestamp(),
            d.id,
        ),
    )


def is_breaking(dev: DigestDevelopment, min_outlets: int, window: timedelta, now: datetime) -> bool:
    """True when ``dev`` reached ``min_outlets`` distinct outlets within ``window`` of its first
    report, judged at ``now``: first seen at most ``window`` ago and carried by enough outlets.
    """
    _require_aware(now, "now")
    if min_outlets < 1:
        raise ValueError("min_outlets must be >= 1")
    if window <= timedelta(0):
        raise ValueError("window must be positive")
    return dev.outlets >= min_outlets and now - window <= dev.first_seen <= now


# --------------------------------------------------------------------------- alert rules

# The week a story's usual volume is measured over (``AlertRule.min_outlets``' baseline).
BASELINE_PERIOD = timedelta(days=7)
MIN_RELATIVE_OUTLETS = 2  # a relative rule never fires on a single report
MAX_ALERT_WINDOW = timedelta(hours=24)
ALERT_RULE_HELP = N_(
    'an alert threshold is "N/T" (N outlets within T: "3/30m", "5/2h") or "xK[/T]" '
    '(K times the story\'s usual volume: "x3", "x2/90m")'
)
# The errors' messages (``{text}`` is the threshold as given, quoted); the bot translates them.
_NOT_A_RULE = N_("{text} is not an alert threshold: {help}")
_BAD_RULE = N_("{text}: {problem}; {help}")
_WINDOW_RANGE = N_("the time must be between 1 minute and 24 hours")
_OUTLETS_AT_LEAST_ONE = N_("AlertRule.outlets must be >= 1")
_MULTIPLE_POSITIVE = N_("AlertRule.multiple must be positive")
_RULE_PROBLEMS = frozenset((_WINDOW_RANGE, _OUTLETS_AT_LEAST_ONE, _MULTIPLE_POSITIVE))
_ABSOLUTE = re.compile(r"^([0-9]{1,3})/([0-9]{1,4})(m|h)?$")
_RELATIVE = re.compile(r"^x([0-9]{1,2}(?:\.[0-9])?)(?:/([0-9]{1,4})(m|h)?)?$")


class AlertRuleError(NewsbotError, ValueError):
    """An alert threshold that cannot be used; ``str()`` says what is accepted (and
    ``message`` is that as a template with its values, to translate)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True, slots=True)
class AlertRule:
    """When a development of a story is worth a breaking alert to one subscription.

    ``outlets`` distinct outlets within ``window`` of its first report; with ``multiple``,
    that many times the story's usual reports per ``window`` instead (``outlets`` the floor).
    """

    outlets: int
    window: timedelta
    multiple: float | None = None

    def __post_init__(self) -> None:
        if self.outlets < 1:
            raise ValueError(_OUTLETS_AT_LEAST_ONE)
        if self.window <= timedelta(0):
            raise ValueError("AlertRule.window must be positive")
        if self.multiple is not None and self.multiple <= 0:
            raise ValueError(_MULTIPLE_POSITIVE)

    def min_outlets(self, hourly_baseline: float = 0.0) -> int:
        """The outlets a development needs, for a story that usually gets ``hourly_baseline``
        reports an hour."""
        if self.multiple is None:
            return self.outlets
        usual = max(hourly_baseline, 0.0) * self.window / timedelta(hours=1)
        return max(self.outlets, math.ceil(self.multiple * usual - 1e-9))

    def fires(self, dev: DigestDevelopment, now: datetime, hourly_baseline: float = 0.0) -> bool:
        """True when ``dev`` is breaking under this rule at ``now`` (``is_breaking``)."""
        return is_breaking(dev, self.min_outlets(hourly_baseline), self.window, now)

    def __str__(self) -> str:
        window = _window_text(self.window)
        if self.multiple is None:
            return f"{self.outlets}/{window}"
        return f"x{self.multiple:g}/{window}"


def _window_text(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def hourly_baseline(reports: int, period: timedelta = BASELINE_PERIOD) -> float:
    """A story's usual volume: ``reports`` over ``period``, per hour."""
    return max(reports, 0) / (period / timedelta(hours=1))


def parse_alert_rule(text: str, *, default_window: timedelta) -> AlertRule:
    """``N/T`` or ``xK[/T]`` (T in minutes, or with ``m``/``h``; ``default_window`` when a
    relative rule names none); AlertRuleError saying what is accepted."""
    value = text.strip().lower()
    absolute = _ABSOLUTE.match(value)
    relative = _RELATIVE.match(value)
    try:
        if absolute:
            window = _window(absolute.group(2), absolute.group(3))
            return AlertRule(int(absolute.group(1)), window)
        if relative:
            window = _window(relative.group(2), relative.group(3)) if relative.group(2) else default_window
            return AlertRule(MIN_RELATIVE_OUTLETS, window, float(relative.group(1)))
    except ValueError as exc:
        problem = str(exc)
        said = Message(problem) if problem in _RULE_PROBLEMS else problem
        raise AlertRuleError(
            Message(_BAD_RULE, {"text": repr(text), "problem": said, "help": Message(ALERT_RULE_HELP)})
        ) from None
    raise AlertRuleError(Message(_NOT_A_RULE, {"text": repr(text), "help": Message(ALERT_RULE_HELP)}))


def _window(number: str, unit: str | None) -> timedelta:
    amount = int(number)
    window = timedelta(hours=amount) if unit == "h" else timedelta(minutes=amount)
    if window <= timedelta(0) or window > MAX_ALERT_WINDOW:
        raise ValueError(_WINDOW_RANGE)
    return window


# ------------------------------------------------------------------------------- assembly


class TrackedReport(Protocol):
    """A stored report with the tracker's verdict (storage's ``CandidateItem`` is one)."""

    @property
    def item_id(self) -> int: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def duplicate_of(self) -> int | None: ...
    @property
    def title(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def outlet(self) -> str: ...
    @property
    def outlets(self) -> tuple[str, ...]: ...
    @property
    def published(self) -> datetime: ...
    @property
    def new_facts(self) -> tuple[str, ...]: ...


class DevelopmentFacts(Protocol):
    """What is known of a development apart from its reports (storage's ``DevelopmentInfo``)."""

    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def outlets(self) -> int: ...
    @property
    def first_seen(self) -> datetime: ...
    @property
    def last_seen(self) -> datetime: ...


def _kind(value: str | None) -> ItemKind:
    if value == "update":
        return "update"
    if value == "rereport":
        return "rereport"
    return "new"


@dataclass
class _Report:
    """A report being assembled: the report and the copies folded into it."""

    item: TrackedReport
    copies: list[TrackedReport] = field(default_factory=list)

    def shown(self, kind: ItemKind) -> DigestItem:
        # Other sources are other outlets: a copy from the report's own outlet (a feed that
        # changes an entry's GUID and link each poll) is no second source.
        outlets: list[str] = []
        for name in (*self.item.outlets, *(o for c in self.copies for o in (c.outlets or (c.outlet,)))):
            if name != self.item.outlet and name not in outlets:
                outlets.append(name)
        return DigestItem(
            title=self.item.title,
            url=self.item.url,
            outlet=self.item.outlet,
            published=self.item.published,
            kind=kind,
            extra_sources=len(outlets),
            extra_outlets=tuple(outlets),
            adds=self.item.new_facts if kind == "update" else (),
        )


def assemble_development(
    dev: DevelopmentFacts, reports: Sequence[TrackedReport], *, already_seen: bool = False
) -> DigestDevelopment | None:
    """``dev`` as people see it, from its ``reports`` (oldest first); None when nothing in them
    is worth showing (only copies, or, for a development ``already_seen``, no update)."""
    originals: dict[int, _Report] = {}
    loose: list[TrackedReport] = []
    for report in reports:
        if report.duplicate_of is not None:
            loose.append(report)
        else:
            originals[report.item_id] = _Report(report)
    lead: _Report | None = None
    if not already_seen:
        firsts = [r for r in originals.values() if r.item.kind in (None, "new")] or list(originals.values())
        lead = firsts[0] if firsts else None
    for report in loose:
        target = originals.get(report.duplicate_of or -1)
        if target is not None:
            target.copies.append(report)
        elif lead is not None:
            lead.copies.append(report)
    rest: list[_Report] = []
    for original in originals.values():
        kind = _kind(original.item.kind)
        if original is lead:
            continue
        if kind == "update":
            rest.append(original)
        elif lead is not None and kind == "rereport":
            lead.copies.append(original.item)
        elif lead is not None:
            rest.append(original)
    # Built last, so the copies folded into the lead above are counted.
    shown = ([lead.shown("new")] if lead is not None else []) + [r.shown(_kind(r.item.kind)) for r in rest]
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
