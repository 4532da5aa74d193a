"""Config loading: the example is valid; broken files fail naming the file and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"


def newsbot(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=60,
    )


def test_example_config_is_valid_and_ships_three_stories() -> None:
    config = load_config(EXAMPLE)
    assert [s.name for s in config.stories] == ["venezuela", "wagner", "sudan"]
    assert len(config.feeds) >= 12
    assert all(f.url.startswith("https://") for f in config.feeds)
    assert config.database.url == "sqlite:///newsbot.db"
    assert config.fetch.allow_private_networks is False


def test_config_check_exit_codes(tmp_path: Path) -> None:
    ok = newsbot("config", "check", "--config", str(EXAMPLE))
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout

    bad_type = tmp_path / "bad_type.toml"
    bad_type.write_text('[fetch]\ntimeout = "ten"\n')
    result = newsbot("config", "check", "--config", str(bad_type))
    assert result.returncode == 2
    assert f"{bad_type}: fetch.timeout:" in result.stderr and "'ten'" in result.stderr

    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[fetch]\ntimeout = 5\nintervall = 60\n")
    result = newsbot("config", "check", "--config", str(unknown))
    assert result.returncode == 2
    assert f"{unknown}: fetch.intervall: unknown setting" in result.stderr

    malformed = tmp_path / "malformed.toml"
    malformed.write_text('[telegram]\ntoken = "abc\nadmins = [1]\n')
    result = newsbot("config", "check", "--config", str(malformed))
    assert result.returncode == 2
    assert f"{malformed}: malformed TOML" in result.stderr and "line 2" in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[digest]\nschedule = "hourly"\n', "digest.schedule: 'hourly' is not a schedule: a schedule is"),
        ('[digest]\nschedule = "every 1m"\n', "digest.schedule: 'every 1m': the interval must be between 5m"),
        ('[digest]\ntimezone = "Mars/Olympus"\n', "digest.timezone: unknown time zone"),
        (
            '[[stories]]\nname = "x"\nquery = "\\"unclosed"\n',
            "stories.0.query: bad query: unclosed quote at 0",
        ),
        ("[fetch]\nconcurrency = 0\n", "fetch.concurrency:"),
        ('[telegram]\nmode = "carrier-pigeon"\n', "telegram.mode:"),
        (
            '[[stories]]\nname = "a"\nquery = "x"\n[[stories]]\nname = "A"\nquery = "y"\n',
            "duplicate story name 'a'",
        ),
    ],
)
def test_bad_values_name_the_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="config.toml", env={})
    assert str(info.value).startswith("config.toml: ")
    assert expected in str(info.value)


def test_environment_overrides_token_and_database() -> None:
    config = parse_config(
        "", env={"NEWSBOT_TELEGRAM_TOKEN": "123:secret", "NEWSBOT_DATABASE_URL": "postgresql://u@h/db"}
    )
    assert config.telegram.token == "123:secret"
    assert config.database.url == "postgresql://u@h/db"
    # The token never shows up in a repr that could reach a log line.
    assert "secret" not in repr(config.telegram) and "secret" not in str(config.telegram)


def test_config_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSBOT_CONFIG", raising=False)
    # Nothing local: the bundled example.
    assert load_config().path == EXAMPLE
    (tmp_path / "config.toml").write_text('[digest]\ntimezone = "Europe/Madrid"\n')
    assert load_config().digest.timezone == "Europe/Madrid"
    other = tmp_path / "other.toml"
    other.write_text('[digest]\ntimezone = "Africa/Khartoum"\n')
    monkeypatch.setenv("NEWSBOT_CONFIG", str(other))
    assert load_config().digest.timezone == "Africa/Khartoum"
    assert load_config(tmp_path / "config.toml").digest.timezone == "Europe/Madrid"
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_example_config_stories_match_the_documented_examples() -> None:
    from stories.examples import EXAMPLE_STORIES

    config = load_config(EXAMPLE)
    assert {s.name: s.query for s in config.stories} == EXAMPLE_STORIES
