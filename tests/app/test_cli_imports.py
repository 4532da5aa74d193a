"""Lighter at rest (issue 14 item 3): read-only commands do not import python-telegram-bot.

Each command runs in a real subprocess on a real SQLite file; a hook in that process
reports, at exit, which of the heavy packages were imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.test_cli import write_config
from tests.app.test_config import ROOT

HEAVY = ("telegram", "numpy")

# Runs `newsbot ARGS...` in this interpreter, then prints the heavy top-level packages
# imported as one JSON line on stderr.
HOOK = """
import atexit, json, sys
atexit.register(lambda: print("IMPORTED " + json.dumps(
    sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))), file=sys.stderr))
sys.argv = ["newsbot", *sys.argv[1:]]
from bot.cli import main
raise SystemExit(main())
""".replace("HEAVY", repr(HEAVY))


def imported(*args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", HOOK, *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    lines = [line for line in result.stderr.splitlines() if line.startswith("IMPORTED ")]
    assert lines, result.stderr
    return result, json.loads(lines[-1].removeprefix("IMPORTED "))


@pytest.mark.parametrize(
    "command",
    [
        ["search", "Khartoum", "--json"],
        ["story", "sudan", "--json"],
        ["stories", "list", "--json"],
        ["feeds", "list", "--json"],
        ["status", "--json"],
    ],
)
def test_read_only_commands_do_not_import_telegram(tmp_path: Path, command: list[str]) -> None:
    config = write_config(tmp_path)
    result, heavy = imported("--config", str(config), *command)
    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)  # one JSON object, as before
    assert "telegram" not in heavy


def test_search_imports_neither_telegram_nor_numpy(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result, heavy = imported("--config", str(config), "search", "Khartoum", "--json")
    assert result.returncode == 0, result.stderr
    assert heavy == []
    # The hook really sees imports: `digest` renders with the bot's keyboards (PTB).
    result, digest_heavy = imported("--config", str(config), "digest", "--json")
    assert result.returncode == 0, result.stderr
    assert "telegram" in digest_heavy
