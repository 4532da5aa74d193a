"""`newsbot run` with a token serves /healthz and /metrics when telegram.metrics_port is set."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.app.test_config import ROOT
from tests.fakes.telegram_api import FakeTelegram


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bot_process_serves_metrics(sqlite_url: str, tmp_path: Path) -> None:
    port = _free_port()
    with FakeTelegram() as tg:
        config = tmp_path / "bot.toml"
        config.write_text(
            f'[telegram]\ntoken = "{tg.token}"\nbase_url = "{tg.base_url}"\nmetrics_port = {port}\n'
            f'[database]\nurl = "{sqlite_url}"\n'
        )
        env = {**os.environ, "NEWSBOT_POLL_TICK": "3600"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bot.run_bot", str(config)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            body = ""
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
                        body = reply.read().decode()
                    break
                except OSError:
                    time.sleep(0.3)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                assert reply.status == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        assert "newsbot_outbox_depth" in body, body
        assert tg.token not in err.decode()  # the token never reaches the logs
