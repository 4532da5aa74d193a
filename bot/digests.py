"""Where digests used to live: they are ``bot.actions.digests`` now, and a story's
developments ``bot.actions.stories.story_developments``. Kept only so the imports of
``bot/app.py`` and ``tests/app/test_tracking.py`` still resolve; import from the actions."""

from __future__ import annotations

from .actions.digests import (
    LOOKBACK,
    TERMINAL_CHAT,
    PreparedDigest,
    breaking_alerts,
    build_digest,
    render_prepared,
    run_due_digests,
    send_digest_now,
    terminal_digest,
)
from .actions.stories import story_developments

__all__ = [
    "LOOKBACK",
    "TERMINAL_CHAT",
    "PreparedDigest",
    "breaking_alerts",
    "build_digest",
    "render_prepared",
    "run_due_digests",
    "send_digest_now",
    "story_developments",
    "terminal_digest",
]
