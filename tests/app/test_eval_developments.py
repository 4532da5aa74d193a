"""``newsbot eval developments`` end to end: local HTTP feeds, the real poll path, a fresh database.

The floors are what this tracker measured on the Venezuela story (held out: the link and
kind models were fitted on the Wagner and Sudan stories), a little below, so a regression
fails here. Polled alone (as here) it measured B-cubed 0.877, folded 0.932, x-lang 0.941,
first reports new 0.903, updates 0.679 (0.643 before numbers written in words or with a
scale word were read as numbers), with each language's own mean taken out of the vectors
and a story's merges checked by its items' own time; with the whole corpus it
decides the same (tests/stories/test_tracker_v2.py). Updates are not at the issue's target
(0.75): the README says where we stand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.eval_developments import run_development_eval

FLOORS = {
    "story_precision": 0.95,
    "story_recall": 0.97,
    "bcubed_f1": 0.86,
    "rereports_folded": 0.90,
    "cross_language_folded": 0.90,
    "first_reports_new": 0.88,
    "updates_marked_update": 0.66,
}


def test_the_venezuela_story_scores_at_least_the_floors(tmp_path: Path) -> None:
    database = tmp_path / "eval.db"
    result = run_development_eval(stories=["venezuela"], keep_database=database)
    venezuela = result["stories"]["venezuela"]
    assert venezuela["stored"] == venezuela["reports"]  # every report came through the feeds
    for metric, floor in FLOORS.items():
        assert venezuela[metric] >= floor, (metric, venezuela[metric])
    confusion = venezuela["confusion"]
    assert sum(confusion["new"].values()) == venezuela["developments"]
    assert result["run"]["feed_requests"] >= 9 * 8

    # `newsbot story NAME --json` over that database keeps its shape; a development's first
    # item is its lead, the earliest original report.
    env = {**os.environ, "NEWSBOT_DATABASE_URL": f"sqlite:///{database}"}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "story", "venezuela", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    )
    shown = json.loads(done.stdout)
    developments = shown["developments"] if isinstance(shown, dict) else shown
    assert developments
    for dev in developments:
        kinds = [i["kind"] for i in dev["items"]]
        assert set(kinds) <= {"new", "update", "rereport"}
        assert set(dev) >= {"id", "title", "first_seen", "last_seen", "outlets", "items"}
        if "new" in kinds:
            assert kinds[0] == "new" and dev["title"] == dev["items"][0]["title"]
        # What an update adds, as it wrote it; nothing for the other kinds.
        assert all(isinstance(i["adds"], list) for i in dev["items"])
        assert all(not i["adds"] for i in dev["items"] if i["kind"] != "update")
    assert any(i["adds"] for dev in developments for i in dev["items"] if i["kind"] == "update")


def test_lexical_mode_runs_without_the_encoder_and_scores_lower() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "eval",
            "developments",
            "--story",
            "venezuela",
            "--encoder",
            "none",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lexical = json.loads(done.stdout)["stories"]["venezuela"]
    assert lexical["story_recall"] >= 0.97
    assert lexical["cross_language_folded"] < FLOORS["cross_language_folded"]
