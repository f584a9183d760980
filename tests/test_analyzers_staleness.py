"""Staleness + provenance on real git repositories (several authors, back-dated commits) and a real store."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from test_analyzers_support import by_name, commit_all, init_repo, inventory, skill_entry, write_skill

from skill_insights.analyzers import staleness
from skill_insights.analyzers.runner import usage_from_store, validate
from skill_insights.store import open_db

DAY = 86_400
ADA, BOB, CY = ("Ada", "ada@example.org"), ("Bob", "bob@example.org"), ("Cy", "cy@example.org")


def at(days_ago: float, now: float) -> str:
    return f"@{int(now - days_ago * DAY)} +0000"


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    now = time.time()
    repo = init_repo(tmp_path / "repo")
    skills = repo / ".claude" / "skills"
    write_skill(
        skills,
        "old-skill",
        body="Read [gone](references/gone.md) and `references/{lang}/x.md`.\n"
        "See https://example.org/references/nowhere.md and `GET /api/skills`.\n",
    )
    write_skill(skills, "unused-skill")
    write_skill(skills, "fresh-skill")
    commit_all(repo, "add skills", author=ADA, date=at(400, now))
    (skills / "old-skill" / "SKILL.md").write_text((skills / "old-skill" / "SKILL.md").read_text() + "More.\n")
    commit_all(repo, "tweak old", author=BOB, date=at(300, now))
    (skills / "fresh-skill" / "notes.md").write_text("notes\n")
    commit_all(repo, "fresh notes", author=CY, date=at(10, now))
    write_skill(skills, "new-unused")
    commit_all(repo, "new skill", author=BOB, date=at(3, now))
    # An edit in progress and a skill never committed at all.
    (skills / "fresh-skill" / "SKILL.md").write_text((skills / "fresh-skill" / "SKILL.md").read_text() + "WIP\n")
    write_skill(skills, "untracked-skill")
    # A second repository, and a skill in no repository.
    repo2 = init_repo(tmp_path / "repo2")
    write_skill(repo2 / ".agents" / "skills", "other-skill")
    commit_all(repo2, "other", author=CY, date=at(50, now))
    loose = write_skill(tmp_path / "home" / ".claude" / "skills", "loose-skill")

    db = open_db(tmp_path / "store.db")
    events = [
        ("old-skill", "s1", now - 250 * DAY),
        ("old-skill", "s2", now - 260 * DAY),
        ("fresh-skill", "s3", now - 5 * DAY),
        ("loose-skill", "s3", now - 1 * DAY),
        ("other-plugin:other-skill", "s4", now - 2 * DAY),
    ]
    for i, (name, sid, ts) in enumerate(events):
        db.execute(
            "INSERT INTO events (file_id, kind, key, session_id, ts, date, name) VALUES (1, 'skill', ?, ?, ?, "
            "date(?, 'unixepoch'), ?)",
            [f"toolu_{i}", sid, ts, ts, name],
        )
    names = ["old-skill", "unused-skill", "fresh-skill", "new-unused", "untracked-skill"]
    inv = inventory(
        *(skill_entry(skills / n) for n in names),
        skill_entry(repo2 / ".agents" / "skills" / "other-skill", scope="project"),
        skill_entry(loose, scope="user"),
    )
    return {"now": now, "inv": inv, "usage": usage_from_store(db), "repo": repo}


def rules(out: dict[str, Any], name: str) -> set[str]:
    return {f["rule"] for f in out["findings"] if f["skill"]["name"] == name}


def test_provenance_from_one_batched_git_log_per_repository(world: dict[str, Any]) -> None:
    out = staleness.run(world["inv"], {"now": world["now"], "stale_days": 180, "usage": world["usage"]})
    assert validate("staleness", out) == []
    # two repositories: one `git log` and one `git status` each, whatever the number of skills
    assert out["summary"]["repositories"] == 2
    assert out["summary"]["git_processes"] == 4
    s = by_name(out)
    old = s["old-skill"]["git"]
    assert old["commits"] == 2
    assert [c["author"] for c in old["contributors"]] == ["Ada <ada@example.org>", "Bob <bob@example.org>"]
    assert round((world["now"] - old["first_commit"]["time"]) / DAY) == 400
    assert round((world["now"] - old["last_commit"]["time"]) / DAY) == 300
    assert s["old-skill"]["age_days"] == pytest.approx(400, abs=0.1)
    assert s["fresh-skill"]["git"]["commits"] == 2
    assert {c["author"] for c in s["fresh-skill"]["git"]["contributors"]} == {
        "Ada <ada@example.org>",
        "Cy <cy@example.org>",
    }
    assert s["fresh-skill"]["git"]["uncommitted"] == [".claude/skills/fresh-skill/SKILL.md"]
    assert s["new-unused"]["git"]["commits"] == 1 and s["new-unused"]["git"]["uncommitted"] == []
    unt = s["untracked-skill"]["git"]
    assert unt["tracked"] is False and unt["commits"] == 0 and unt["uncommitted"]
    assert s["other-skill"]["git"]["contributors"] == [{"author": "Cy <cy@example.org>", "commits": 1}]
    assert s["loose-skill"]["git"] is None
    assert s["loose-skill"]["days_since_change"] is not None and s["loose-skill"]["days_since_change"] < 1


def test_stale_never_used_and_uncommitted_findings(world: dict[str, Any]) -> None:
    out = staleness.run(world["inv"], {"now": world["now"], "stale_days": 180, "usage": world["usage"]})
    s = by_name(out)
    assert rules(out, "old-skill") == {"staleness.stale", "staleness.broken-reference"}
    assert s["old-skill"]["stale"] is True
    assert s["old-skill"]["usage"]["activations"] == 2 and s["old-skill"]["usage"]["sessions"] == 2
    assert s["old-skill"]["days_since_use"] == pytest.approx(250, abs=0.1)
    never = [f for f in out["findings"] if f["rule"] == "staleness.never-used"]
    assert {f["skill"]["name"]: f["severity"] for f in never} == {
        "unused-skill": "warning",  # unchanged for 400 days and never used
        "new-unused": "info",  # new: not used yet
        "untracked-skill": "info",
    }
    assert rules(out, "fresh-skill") == {"staleness.uncommitted"}
    assert s["fresh-skill"]["stale"] is False
    # a plugin-namespaced activation counts for the skill of that name
    assert s["other-skill"]["usage"]["activations"] == 1
    assert rules(out, "loose-skill") == set()
    # a longer threshold makes nothing stale
    calm = staleness.run(world["inv"], {"now": world["now"], "stale_days": 500, "usage": world["usage"]})
    assert not any(r["stale"] for r in calm["skills"])


def test_broken_references_ignore_placeholders_urls_and_url_paths(world: dict[str, Any]) -> None:
    out = staleness.run(world["inv"], {"now": world["now"], "stale_days": 180, "usage": world["usage"]})
    broken = by_name(out)["old-skill"]["broken_references"]
    assert [b["ref"] for b in broken] == ["references/gone.md"]
    assert broken[0]["line"] == 5  # the SKILL.md line: frontmatter (4 lines) + first body line


def test_no_captured_usage_is_said_once_not_flagged_per_skill(world: dict[str, Any]) -> None:
    out = staleness.run(world["inv"], {"now": world["now"], "stale_days": 180, "usage": {}})
    assert out["summary"]["usage"] == "no captured activations"
    assert not [f for f in out["findings"] if f["rule"] in ("staleness.never-used", "staleness.stale")]


def test_parse_helpers() -> None:
    log = "\x00abc\x1f100\x1fAda\x1fa@x\n\nskills/a/SKILL.md\nskills/b/x.md\n\x00def\x1f50\x1fBob\x1fb@x\n"
    assert staleness.parse_log(log) == [
        ("abc", 100.0, "Ada <a@x>", ["skills/a/SKILL.md", "skills/b/x.md"]),
        ("def", 50.0, "Bob <b@x>", []),
    ]
    assert staleness.parse_status(" M a/b.md\x00R  new.md\x00old.md\x00?? c d.md\x00") == [
        "a/b.md",
        "new.md",
        "old.md",
        "c d.md",
    ]


def test_collect_git_edge_layouts(tmp_path: Path) -> None:
    now = time.time()
    # many skills in one repo, with a pathspec limit small enough to force asking about parent folders
    repo = init_repo(tmp_path / "mono")
    dirs = [write_skill(repo / "team" / t / "skills", f"s{i}") for t in ("a", "b") for i in range(3)]
    (repo / "README.md").write_text("not a skill\n")
    commit_all(repo, "all", author=ADA, date=at(20, now))
    write_skill(repo / "team" / "a" / "skills", "s0", body="changed\n")
    commit_all(repo, "s0 again", author=BOB, date=at(5, now))
    facts, procs = staleness.collect_git(dirs, pathspec_limit=1)
    assert procs == {str(repo.resolve()): 2}
    assert len(facts[str(dirs[0].resolve())].commits) == 2
    assert all(len(facts[str(d.resolve())].commits) == 1 for d in dirs[1:])
    # a skill folder that is a repository of its own, next to one in no repository, and a repo with no commit
    own = init_repo(tmp_path / "skills" / "own-repo")
    write_skill(tmp_path / "skills", "own-repo")
    commit_all(own, "own", author=CY, date=at(2, now))
    plain = write_skill(tmp_path / "skills", "plain")
    empty = init_repo(tmp_path / "fresh")
    fresh = write_skill(empty / "skills", "brand-new")
    facts, procs = staleness.collect_git([plain, own, fresh])
    assert str(plain.resolve()) not in facts
    assert facts[str(own.resolve())].contributors == {"Cy <cy@example.org>": 1}
    f = facts[str(fresh.resolve())]
    assert not f.tracked and f.uncommitted == ["skills/brand-new/SKILL.md"]
