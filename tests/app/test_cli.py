"""The CLI end to end: real subprocesses, a real SQLite file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.app.test_config import ROOT, newsbot
from tests.fakes.feed_server import FeedServer, Reply


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "cli.db"}"\n'
        '[[stories]]\nname = "sudan"\nquery = "Sudan OR Khartoum -\\"South Sudan\\""\n' + extra
    )
    return config


def test_every_command_has_help() -> None:
    commands = [
        [],
        ["run"],
        ["worker"],
        ["db", "upgrade"],
        ["config", "check"],
        ["fetch"],
        ["feeds", "list"],
        ["feeds", "add"],
        ["feeds", "import"],
        ["feeds", "export"],
        ["stories", "add"],
        ["story"],
        ["search"],
        ["digest"],
        ["status"],
        ["eval", "clustering"],
        ["eval", "developments"],
        ["eval", "pairs"],
    ]
    for command in commands:
        result = newsbot(*command, "--help")
        assert result.returncode == 0, (command, result.stderr)
        assert "usage: newsbot" in result.stdout


def test_bad_usage_exits_2() -> None:
    result = newsbot("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_db_upgrade_and_stories_crud(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    up = newsbot("db", "upgrade", "--config", str(config))
    assert up.returncode == 0, up.stderr
    assert "revision" in up.stdout and (tmp_path / "cli.db").exists()

    listed = newsbot("stories", "list", "--json", "--config", str(config))
    assert json.loads(listed.stdout)["stories"] == [
        {"name": "sudan", "query": 'Sudan OR Khartoum -"South Sudan"'}
    ]

    bad = newsbot("stories", "add", "wagner", '"Wagner Group', "--config", str(config))
    assert bad.returncode == 2 and "unclosed quote at 0" in bad.stderr

    added = newsbot("stories", "add", "wagner", '"Wagner Group" OR Prigozhin', "--config", str(config))
    assert added.returncode == 0, added.stderr
    edited = newsbot(
        "stories", "edit", "wagner", '"Wagner Group" OR Prigozhin OR "Africa Corps"', "--config", str(config)
    )
    assert edited.returncode == 0, edited.stderr
    shown = json.loads(newsbot("stories", "show", "wagner", "--json", "--config", str(config)).stdout)
    assert [h["action"] for h in shown["history"]] == ["add", "edit"]
    assert shown["query"] == '"Wagner Group" OR Prigozhin OR "Africa Corps"'

    missing = newsbot("stories", "rm", "wagnr", "--config", str(config))
    assert missing.returncode == 1 and "did you mean wagner" in missing.stderr
    assert newsbot("stories", "rm", "wagner", "--config", str(config)).returncode == 0

    story = json.loads(newsbot("story", "sudan", "--json", "--config", str(config)).stdout)
    assert story == {"story": "sudan", "developments": []}


def test_bad_database_url_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "mysql://nope"\n')
    result = newsbot("db", "upgrade", "--config", str(config))
    assert result.returncode == 2 and "unsupported database 'mysql'" in result.stderr


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("newsbot")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0 and "story" in result.stdout


def test_options_before_the_subcommand_are_kept(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = newsbot("--config", str(config), "config", "check", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["file"] == str(config)


def test_status_json(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert newsbot("db", "upgrade", "--config", str(config)).returncode == 0
    result = newsbot("status", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["database"] == "sqlite" and status["feeds"] == 0 and status["items"] == 0
    assert status["feeds_leased"] == 0 and status["outbox"] == {}


def test_search_outlet_filter(tmp_path: Path, server: FeedServer) -> None:
    """``newsbot search --outlet NAME`` keeps what ``/search outlet:NAME`` keeps (the same
    case- and spacing-insensitive containment); the --json shape is the usual one."""
    item = "<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>"
    item += "<pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate><description>Talks.</description></item>"
    for path, outlet, host in (("/r.xml", "Reuters Africa", "reuters"), ("/b.xml", "BBC News", "bbc")):
        body = (
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>{outlet}</title>"
            f"<link>https://{host}.example/</link>"
            + item.format(guid=host, title=f"Caracas talks resume ({host})", link=f"https://{host}.example/c")
            + "</channel></rss>"
        )
        server.script(path, Reply(body=body.encode()))
    config = write_config(
        tmp_path,
        "[fetch]\nallow_private_networks = true\ntimeout = 5\n"
        + "".join(f'[[feeds]]\nurl = "{server.url(p)}"\n' for p in ("/r.xml", "/b.xml")),
    )
    assert newsbot("fetch", "--once", "--config", str(config)).returncode == 0

    def search(*extra: str) -> Any:
        result = newsbot("search", "caracas", "--json", *extra, "--config", str(config))
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    everything = search()
    assert sorted(str(r["outlet"]) for r in everything["results"]) == ["BBC News", "Reuters Africa"]
    only = search("--outlet", "reuters")
    assert set(only) == {"query", "results"} and only["query"] == "caracas"
    assert [(r["outlet"], r["url"]) for r in only["results"]] == [
        ("Reuters Africa", "https://reuters.example/c")
    ]
    assert set(only["results"][0]) == set(everything["results"][0])
    assert [r["outlet"] for r in search("--outlet", "bbc NEWS")["results"]] == ["BBC News"]
    assert search("--outlet", "ap")["results"] == []
    text = newsbot("search", "caracas", "--outlet", "bbc", "--config", str(config))
    assert text.returncode == 0 and "BBC News: Caracas talks resume (bbc)" in text.stdout
    assert "reuters" not in text.stdout.lower()


def test_the_offline_demo_lists_a_story_in_plain_words(tmp_path: Path) -> None:
    """The README's no-network demo: sample feeds through file: URLs, then ``newsbot story``."""
    config = str(ROOT / "examples" / "offline.toml")
    fetched = newsbot("fetch", "--once", "--config", config, cwd=tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    assert "0 errors" in fetched.stdout and (tmp_path / "newsbot-offline.db").exists()
    lines = []
    for story in ("wagner", "sudan", "venezuela"):
        shown = newsbot("story", story, "--config", config, cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        lines += shown.stdout.splitlines()
    headers = [line for line in lines if not line.startswith("   ")]
    assert headers and all(line.rstrip().endswith(("outlet]", "outlets]")) for line in headers)
    text = "\n".join(lines)
    assert "[1 outlet]" in text and "[1 outlets]" not in text
    # The El Fasher report is carried by three outlets: an update with its own copy.
    assert any("El Fasher" in line and "[3 outlets]" in line for line in headers)
    assert "(+1 more source)" in text and "(+1 more sources)" not in text
    # An update says what it adds, the El Fasher one its toll first, with what it counts.
    assert any(line.startswith("   + ") and "[adds: 30 civilians, Darfur]" in line for line in lines)
