"""Posting an update to the bot's webhook the way Telegram does (or a forger would)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping


def post_update(url: str, body: Mapping[str, object], secret: str | None) -> int:
    """POST ``body`` as JSON to ``url``, with Telegram's secret-token header when given; the status."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
