"""Captured skill activations joined with the stored inventory: resolution order and the two lists."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from skill_insights.cli import cli
from skill_insights.settings import get_paths
from skill_insights.store import open_db


def _skill(d: Path, name: str, body: str = "body\n") -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {name} things.\n---\n{body}")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SKILL_INSIGHTS_HOME", str(tmp_path / "si"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.setenv("SKILL_INSIGHTS_TESSL_REGISTRY_URL", "http://127.0.0.1:9")
    proj = tmp_path / "proj"
    _skill(home / ".claude" / "skills" / "review", "review", "user review\n")
    _skill(proj / ".claude" / "skills" / "review", "review", "project review\n")
    _skill(home / ".claude" / "skills" / "idle", "idle")
    _skill(home / ".codex" / "skills" / "codex-idle", "codex-idle")  # not Claude's: never "unused"
    plug = home / ".claude" / "plugins" / "cache" / "mkt" / "plug" / "1.0.0"
    _skill(plug / "skills" / "pskill", "pskill")
    return {"home": home, "proj": proj, "other": tmp_path / "other"}


def _activation(db, n: int, session: str, project: str, name: str, ts: float) -> None:
    db["sessions"].upsert({"session_id": session, "project": project}, pk="session_id")
    db["events"].insert(
        {
            "file_id": 1,
            "kind": "skill",
            "key": f"toolu_{n}",
            "session_id": session,
            "ts": ts,
            "date": "2026-11-01",
            "name": name,
        }
    )


def test_usage_resolves_project_before_user_and_lists_unused_and_missing(world):
    runner = CliRunner()
    r = runner.invoke(cli, ["scan", str(world["proj"])])
    assert r.exit_code == 0, r.output
    now = time.time()
    db = open_db(get_paths().database)
    _activation(db, 1, "s1", str(world["proj"]), "review", now - 3600)  # in the project: project skill
    _activation(db, 2, "s1", str(world["proj"]), "review", now - 1800)
    _activation(db, 3, "s2", str(world["other"]), "review", now - 7200)  # elsewhere: the user skill
    _activation(db, 4, "s2", str(world["other"]), "plug:pskill", now - 60)
    _activation(db, 5, "s3", str(world["other"]), "gone-skill", now - 86400 * 2)
    # A forked transcript repeats an event (same key) in another file: it counts once.
    db["events"].insert(
        {
            "file_id": 2,
            "kind": "skill",
            "key": "toolu_1",
            "session_id": "s9",
            "ts": now,
            "date": "2026-11-01",
            "name": "review",
        }
    )
    db.conn.close()

    r = runner.invoke(cli, ["skills", "usage", "--json", "--days", "7"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    reviews = [s for s in doc["skills"] if s["name"] == "review"]
    proj_review = next(s for s in reviews if s["scopes"] == ["project"])
    user_review = next(s for s in reviews if s["scopes"] == ["user"])
    assert (proj_review["activations"], proj_review["sessions"], proj_review["resolved_via"]) == (2, 1, {"project": 2})
    assert (user_review["activations"], user_review["resolved_via"]) == (1, {"user": 1})
    [pskill] = [s for s in doc["skills"] if s["name"] == "pskill"]
    assert pskill["activations"] == 1 and pskill["last_used"] is not None
    unused = {u["name"] for u in doc["unused"]}
    assert unused == {"idle"}  # codex-idle is not Claude Code's; the rest were used this week
    assert doc["missing"] == [
        {"name": "gone-skill", "activations": 1, "sessions": 1, "last_used": doc["missing"][0]["last_used"]}
    ]

    r = runner.invoke(cli, ["skills", "usage"])
    assert r.exit_code == 0 and "gone-skill" in r.output and "idle" in r.output


def test_removed_skill_becomes_missing_after_rescan(world):
    runner = CliRunner()
    assert runner.invoke(cli, ["scan"]).exit_code == 0
    db = open_db(get_paths().database)
    _activation(db, 1, "s1", str(world["other"]), "idle", time.time() - 100)
    db.conn.close()
    doc = json.loads(runner.invoke(cli, ["skills", "usage", "--json"]).output)
    assert not doc["missing"] and "idle" not in {u["name"] for u in doc["unused"]}
    import shutil

    shutil.rmtree(world["home"] / ".claude" / "skills" / "idle")
    assert runner.invoke(cli, ["scan"]).exit_code == 0
    doc = json.loads(runner.invoke(cli, ["skills", "usage", "--json"]).output)
    assert [m["name"] for m in doc["missing"]] == ["idle"]
