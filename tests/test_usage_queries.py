"""One count of skill activations: `skills usage`, the analyzers and the report read the same query."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import IsolatedHome

from skill_insights.analyzers.runner import usage_by_skill, usage_from_store
from skill_insights.analyzers.source import latest_stored
from skill_insights.cli import cli
from skill_insights.inventory import skill_usage
from skill_insights.report.data import gather
from skill_insights.settings import get_paths
from skill_insights.store import open_db


def _skill(d: Path, name: str) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {name} things. Use when asked.\n---\nbody\n")


@pytest.fixture
def store(tmp_path: Path, isolated_home: IsolatedHome, offline_tessl_registry: None):
    skills = isolated_home.claude / "skills"
    _skill(skills / "review", "review")
    _skill(skills / "lint", "lint")
    _skill(skills / "idle", "idle")
    assert CliRunner().invoke(cli, ["scan"]).exit_code == 0
    db = open_db(get_paths().database)
    now = time.time()
    day = datetime.fromtimestamp(now - 3600, UTC).astimezone().date().isoformat()
    for fid, path, opened in ((1, "/t/s1.jsonl", 100.0), (2, "/t/s2.jsonl", 200.0), (3, "/t/fork.jsonl", 300.0)):
        db["files"].insert({"id": fid, "path": path, "opened_ts": opened, "cwd": str(tmp_path)})
    events = [
        (1, "toolu_1", "s1", "review"),
        (1, "toolu_2", "s1", "review"),
        (2, "toolu_3", "s2", "review"),
        (2, "toolu_4", "s2", "lint"),
        # A fork copies earlier lines into its own transcript (another session): the copies count once, in
        # the file that wrote them first.
        (3, "toolu_1", "s9", "review"),
        (3, "toolu_4", "s9", "lint"),
        (3, "toolu_5", "s9", "lint"),  # the fork's own activation
    ]
    for i, (fid, key, sid, name) in enumerate(events):
        db["events"].insert(
            {
                "file_id": fid,
                "kind": "skill",
                "key": key,
                "session_id": sid,
                "ts": now - 3600 + i,
                "date": day,
                "name": name,
            }
        )
    yield db
    db.conn.close()


def test_the_three_consumers_count_the_same_activations_and_sessions(store) -> None:
    expected = {"review": (3, 2), "lint": (2, 2)}  # (activations, sessions)

    by_name = usage_from_store(store)
    assert {n: (u["activations"], u["sessions"]) for n, u in by_name.items()} == expected

    inventory = latest_stored(store)
    ids = {s["name"]: s["id"] for s in inventory["skills"]}
    per_skill = usage_by_skill(store, inventory)
    assert {n: (per_skill[ids[n]]["activations"], per_skill[ids[n]]["sessions"]) for n in expected} == expected

    cli_usage = {s["name"]: (s["activations"], s["sessions"]) for s in skill_usage(store)["skills"]}
    assert cli_usage == {**expected, "idle": (0, 0)}

    report = gather(store)
    activity = {r["skill"]: (r["activations"], r["sessions"]) for r in report["usage"]["skills"]}
    assert activity == {**expected, "idle": (0, 0)}
    assert {s["name"]: (s["activations"], s["sessions"]) for s in report["skills"]} == {**expected, "idle": (0, 0)}
