"""One error root: NewsbotError's str() carries the causes, every layer's errors derive from it,
and the command line turns any of them into its message and exit status."""

from __future__ import annotations

import argparse

import pytest

from bot import cli
from bot.config import ConfigError
from bot.errors import CommandFailed, UsageError
from bot.singleton import AlreadyRunning
from storage.db import DatabaseURLError
from storage.repository import AlreadyExists, NotFound, StorageError
from stories.devcorpus import CorpusError
from stories.errors import EXIT_FAILURE, EXIT_USAGE, NewsbotError
from stories.evaluation import DatasetError
from stories.query import QueryError, parse
from stories.schedule import ScheduleError


def _raised(error: Exception, cause: BaseException | None) -> Exception:
    try:
        raise error from cause
    except Exception as caught:
        return caught


def test_str_carries_the_causes_once() -> None:
    disk = OSError(28, "No space left on device")
    wrapped = _raised(StorageError("could not store 3 items"), disk)
    assert str(wrapped) == "could not store 3 items: [Errno 28] No space left on device"
    outer = _raised(CommandFailed("fetch failed"), wrapped)
    assert str(outer) == "fetch failed: could not store 3 items: [Errno 28] No space left on device"
    # A message that already quotes its cause does not repeat it; no cause, no suffix.
    bad = ValueError("bad TIMESTAMP 'x'")
    assert str(_raised(DatasetError(f"corpus.csv:3: {bad}"), bad)) == "corpus.csv:3: bad TIMESTAMP 'x'"
    assert str(_raised(ConfigError("config.toml: digest.schedule: bad"), None)) == (
        "config.toml: digest.schedule: bad"
    )
    assert str(_raised(UsageError(""), KeyError("name"))) == "'name'"


@pytest.mark.parametrize(
    ("error", "exit_code"),
    [
        (ConfigError, EXIT_USAGE),
        (UsageError, EXIT_USAGE),
        (DatabaseURLError, EXIT_USAGE),
        (ScheduleError, EXIT_USAGE),
        (DatasetError, EXIT_USAGE),
        (CorpusError, EXIT_USAGE),
        (CommandFailed, EXIT_FAILURE),
        (AlreadyRunning, EXIT_FAILURE),
        (StorageError, EXIT_FAILURE),
        (NotFound, EXIT_FAILURE),
        (AlreadyExists, EXIT_FAILURE),
    ],
)
def test_every_layer_derives_from_the_root(error: type[NewsbotError], exit_code: int) -> None:
    assert issubclass(error, NewsbotError) and error.exit_code == exit_code


def test_query_errors_keep_their_position_and_are_value_errors() -> None:
    with pytest.raises(QueryError) as caught:
        parse('"unclosed')
    assert isinstance(caught.value, NewsbotError) and isinstance(caught.value, ValueError)
    assert str(caught.value) == "unclosed quote at 0" and caught.value.position == 0
    assert caught.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (_raised(StorageError("could not store 3 items"), OSError(28, "No space left on device")), 1),
        (AlreadyRunning("another newsbot polls Telegram (lock telegram-polling)"), 1),
        (DatabaseURLError("database.url: not a database URL: 'x'"), 2),
        (_raised(QueryError("unclosed quote", 0), None), 2),
    ],
)
def test_the_command_line_prints_the_message_and_exits_with_its_status(
    error: NewsbotError, status: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(args: argparse.Namespace) -> int:
        raise error

    monkeypatch.setattr(cli, "cmd_config_check", failing)
    assert cli.main(["config", "check"]) == status
    err = capsys.readouterr().err
    assert err == f"newsbot: {error}\n" and "Traceback" not in err
