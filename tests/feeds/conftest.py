"""Fixtures for feed tests: a real HTTP server on 127.0.0.1 and a local-network policy."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from feeds.fetch import FetchPolicy
from feeds.schedule import SchedulePolicy


@pytest.fixture
def local_policy() -> FetchPolicy:
    """Tests talk to 127.0.0.1, so the SSRF guard is lifted; limits are small and fast."""
    return FetchPolicy(
        allow_private_networks=True,
        timeout=2.0,
        connect_timeout=1.0,
        max_body_bytes=100_000,
        concurrency=8,
        per_host_concurrency=8,
        max_redirects=5,
        retry_after_max=3600,
    )


@pytest.fixture
def schedule() -> SchedulePolicy:
    return SchedulePolicy(
        interval=timedelta(minutes=15),
        jitter=0.1,
        backoff_max=timedelta(hours=6),
        retry_after_max=timedelta(hours=1),
        max_consecutive_errors=3,
    )


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)
