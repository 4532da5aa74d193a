"""`newsbot run` without a token: migrates, fetches, tracks and prints digests; stops cleanly."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.app.test_config import ROOT
from tests.app.test_poll_cycle import KHARTOUM, feed
from tests.fakes.feed_server import FeedServer, Reply


def test_run_without_token_prints_digests_and_stops_on_sigterm(tmp_path: Path) -> None:
    with FeedServer() as server:
        server.script(
            "/a.xml",
            Reply(
                body=feed(
                    "Reuters",
                    "reuters.example",
                    [("r1", KHARTOUM[0], "https://reuters.example/k", KHARTOUM[1])],
                )
            ),
        )
        (tmp_path / "config.toml").write_text(
            "[fetch]\nallow_private_networks = true\n"
            f'[[feeds]]\nurl = "{server.url("/a.xml")}"\n'
            '[[stories]]\nname = "sudan"\nquery = "Sudan* OR Khartoum"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
        env["PYTHONPATH"] = str(ROOT)
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout
        reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True)
        reader.start()
        out = ""
        try:
            deadline = time.monotonic() + 60
            while KHARTOUM[0] not in out and time.monotonic() < deadline and proc.poll() is None:
                with contextlib.suppress(queue.Empty):
                    out += lines.get(timeout=1)
            assert KHARTOUM[0] in out, out
            assert (tmp_path / "newsbot.db").exists()
            assert proc.poll() is None  # still running
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                err = proc.stderr.read() if proc.stderr else ""
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        assert proc.returncode == 0, err
        assert "no Telegram token configured" in err and "NEWSBOT_TELEGRAM_TOKEN" in err
        assert "Sudan" in out or "sudan" in out
