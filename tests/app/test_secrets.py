"""Secrets never reach the terminal: the bot token in logs and tracebacks (issue 13, item 10),
the database password in ``newsbot config check`` (item 11).

The bot runs as a real process (``python -m bot.cli``) against the fake Bot API server.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.test_config import ROOT
from tests.fakes.telegram_api import FakeTelegram

REJECTED = "7000000001:AAWrongTokenWrongTokenWrongToken12345"
DB_PASSWORD = "hunter2/Very%40Secret"  # a "/" and an encoded "@": the mask must not stop early


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _write_config(tmp_path: Path, token: str, base_url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[telegram]\ntoken = "{token}"\nbase_url = "{base_url}"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n'
    )
    return path


def test_a_rejected_token_is_reported_without_the_token(tmp_path: Path) -> None:
    with FakeTelegram() as tg:
        config = _write_config(tmp_path, REJECTED, tg.base_url)
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", "-v", "--config", str(config), "run", "--no-fetch"],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "was rejected by the server" in output  # the error is still reported...
    assert "Traceback" in output  # ...with its traceback...
    assert REJECTED not in output  # ...but never the token, whole or in part
    assert REJECTED.split(":", 1)[1] not in output


def test_debug_logs_of_a_running_bot_never_show_the_token(tmp_path: Path) -> None:
    with FakeTelegram() as tg:
        config = _write_config(tmp_path, tg.token, tg.base_url)
        env = _env() | {"NEWSBOT_POLL_TICK": "0.2", "NEWSBOT_OUTBOX_TICK": "0.2"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "-v", "--config", str(config), "run", "--no-fetch"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # Running: it has long-polled Telegram a few times (each call logged at DEBUG).
            tg.wait_for_sync(lambda: len(tg.calls("getUpdates")) >= 3, timeout=60)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
    output = out + err
    assert "DEBUG" in output and "getUpdates" in output, output[-2000:]
    assert tg.token not in output
    assert tg.token.split(":", 1)[1] not in output


def test_the_redaction_filter_covers_messages_arguments_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.observability import install_log_redaction

    install_log_redaction("my-webhook-secret-value")
    log = logging.getLogger("newsbot.test_secrets")
    with caplog.at_level(logging.DEBUG):
        log.debug("GET https://api.telegram.org/bot%s/getMe", REJECTED)
        log.info("webhook secret is %s", "my-webhook-secret-value")
        try:
            raise RuntimeError(f"The token `{REJECTED}` was rejected by the server.")
        except RuntimeError:
            log.exception("failed")
        log.warning("db postgresql://newsbot:%s@db.example/newsbot", DB_PASSWORD)
    text = "\n".join(caplog.messages) + "\n".join(r.exc_text or "" for r in caplog.records)
    assert text.count("[redacted]") >= 4
    for secret in (REJECTED, "my-webhook-secret-value", DB_PASSWORD, "hunter2"):
        assert secret not in text
    assert "postgresql://newsbot:[redacted]@db.example/newsbot" in text


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_config_check_masks_the_database_password(tmp_path: Path, as_json: bool) -> None:
    url = f"postgresql://newsbot:{DB_PASSWORD}@db.example.org:5432/newsbot"
    (tmp_path / "config.toml").write_text(f'[database]\nurl = "{url}"\n')
    args = [sys.executable, "-m", "bot.cli", "config", "check", "--config", str(tmp_path / "config.toml")]
    done = subprocess.run(
        [*args, "--json"] if as_json else args, env=_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "hunter2" not in output and "Secret" not in output
    shown = json.loads(output)["database"] if as_json else output
    assert "postgresql://newsbot:[redacted]@db.example.org:5432/newsbot" in shown


def test_db_upgrade_masks_the_database_password(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite URLs carry no password")
    # Trust authentication ignores the password, so the real server accepts this URL.
    url = database_url.replace("postgresql://postgres@", f"postgresql://postgres:{DB_PASSWORD}@", 1)
    env = {**_env(), "NEWSBOT_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert DB_PASSWORD not in done.stdout + done.stderr
    assert "postgres:[redacted]@" in done.stdout
