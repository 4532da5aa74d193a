"""Structured log lines, Prometheus text, and the /healthz + /metrics server over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from bot.observability import (
    FEEDS_FETCHED,
    OUTBOX_DEPTH,
    TELEGRAM_429,
    TELEGRAM_SEND_SECONDS,
    Metrics,
    MetricsServer,
    format_event,
    log_event,
)


def test_event_line_is_one_line_with_quoted_values_and_no_secrets() -> None:
    line = format_event(
        "delivery",
        {
            "chat": -100123,
            "title": 'He said "hi"\nand left',
            "token": "123456:ABCDEF",
            "url": "https://api.telegram.org/bot123456:AAH-x_y/sendMessage",
            "db": "postgresql://newsbot:hunter2@db/newsbot",
            "seconds": 0.25,
            "ok": True,
            "error": None,
        },
    )
    assert "\n" not in line
    assert line.startswith("event=delivery chat=-100123 ")
    assert 'title="He said \\"hi\\"\\nand left"' in line
    assert "token=[redacted]" in line
    assert "123456" not in line and "AAH-x_y" not in line and "hunter2" not in line
    assert "seconds=0.25 ok=true error=-" in line


def test_log_event_goes_through_logging(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("newsbot.test.events")
    with caplog.at_level(logging.INFO, logger="newsbot.test.events"):
        log_event(logger, "fetch", url="https://a.example/x.xml", kind="ok", new=3)
    assert caplog.messages == ["event=fetch url=https://a.example/x.xml kind=ok new=3"]


def test_prometheus_text_format() -> None:
    metrics = Metrics()
    metrics.inc(FEEDS_FETCHED, kind="ok")
    metrics.inc(FEEDS_FETCHED, 2, kind="not_modified")
    metrics.set(OUTBOX_DEPTH, 7)
    metrics.observe(TELEGRAM_SEND_SECONDS, 0.2)
    metrics.observe(TELEGRAM_SEND_SECONDS, 3.0)
    metrics.inc(TELEGRAM_429)
    text = metrics.render()
    assert "# TYPE newsbot_feeds_fetched_total counter" in text
    assert 'newsbot_feeds_fetched_total{kind="not_modified"} 2' in text
    assert 'newsbot_feeds_fetched_total{kind="ok"} 1' in text
    assert "# TYPE newsbot_outbox_depth gauge\nnewsbot_outbox_depth 7" in text
    assert 'newsbot_telegram_send_seconds_bucket{le="0.25"} 1' in text
    assert 'newsbot_telegram_send_seconds_bucket{le="5"} 2' in text
    assert 'newsbot_telegram_send_seconds_bucket{le="+Inf"} 2' in text
    assert "newsbot_telegram_send_seconds_count 2" in text
    assert "newsbot_telegram_send_seconds_sum 3.2" in text
    assert "newsbot_telegram_429_total 1" in text
    # Every sample line is NAME{labels} VALUE.
    sample = re.compile(r'^[a-z_0-9]+(\{([a-z_]+="[^"]*",?)+\})? [0-9.+Inf-]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line
    with pytest.raises(ValueError):
        metrics.inc(FEEDS_FETCHED, -1)


async def _get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_server_answers_healthz_and_metrics_with_fresh_gauges() -> None:
    metrics = Metrics()
    healthy = [True]
    scrapes = 0

    async def collect() -> None:
        nonlocal scrapes
        scrapes += 1
        metrics.set(OUTBOX_DEPTH, scrapes)

    async def health() -> tuple[bool, str]:
        return (True, "ok") if healthy[0] else (False, "database unreachable")

    async with MetricsServer(metrics, port=0, collect=collect, health=health) as server:
        assert await _get(server.port, "/healthz") == (200, "ok\n")
        status, body = await _get(server.port, "/metrics")
        assert status == 200 and "newsbot_outbox_depth 1" in body
        status, body = await _get(server.port, "/metrics")
        assert "newsbot_outbox_depth 2" in body
        healthy[0] = False
        assert await _get(server.port, "/healthz") == (503, "database unreachable\n")
        assert (await _get(server.port, "/nope"))[0] == 404
        assert (await _get(server.port, "/metrics", "POST"))[0] == 405


async def test_a_failing_collector_still_serves_the_last_values() -> None:
    metrics = Metrics()
    metrics.set(OUTBOX_DEPTH, 5)

    async def collect() -> None:
        raise RuntimeError("db down")

    async with MetricsServer(metrics, collect=collect) as server:
        status, body = await _get(server.port, "/metrics")
    assert status == 200 and "newsbot_outbox_depth 5" in body
