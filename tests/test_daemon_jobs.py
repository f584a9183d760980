"""The daemon's background jobs: a skills scan + analysis + report, and report regeneration after capture."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_daemon_support import DaemonProc, make_env, wait_for

FIX = Path(__file__).parent / "fixtures" / "claude-code" / "2.1.197"


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("j")
    env = make_env(root)  # HOME stays the conftest's empty one
    env["SKILL_INSIGHTS_FIRST_SCAN_S"] = "1"
    env["SKILL_INSIGHTS_REPORT_S"] = "1"
    env["SKILL_INSIGHTS_TESSL_REGISTRY_URL"] = "http://127.0.0.1:9"
    env["SKILLS_API_URL"] = "http://127.0.0.1:9"
    skill = Path(env["CLAUDE_CONFIG_DIR"]) / "skills" / "demo-skill"  # Claude Code user skills
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(
        "---\nname: demo-skill\ndescription: Prints a greeting. Use when the user asks for the demo skill.\n---\n\n"
        "Run `echo demo-skill-ran` with the Bash tool.\n"
    )
    return env


def test_daemon_scans_analyzes_and_reports_in_the_background(env: dict[str, str]) -> None:
    projects = Path(env["CLAUDE_CONFIG_DIR"]) / "projects"
    shutil.copytree(FIX / "skill" / "projects", projects)
    reports = Path(env["SKILL_INSIGHTS_HOME"]) / "reports"
    d = DaemonProc(env).wait_ready()
    try:
        latest = wait_for(
            lambda: (reports / "latest.html").is_file() and reports / "latest.html",
            timeout=90,
            what="a report written by the daemon's jobs",
        )
        db = Path(env["SKILL_INSIGHTS_HOME"]) / "data" / "skill-insights.db"

        def scanned() -> bool:
            conn = sqlite3.connect(db)
            try:
                return conn.execute("SELECT count(*) FROM skills WHERE name = 'demo-skill'").fetchone()[0] == 1
            except sqlite3.Error:
                return False
            finally:
                conn.close()

        wait_for(scanned, timeout=90, what="the skills scan stored by the daemon's refresh job")
        html = wait_for(
            lambda: "demo-skill" in latest.read_text() and latest.read_text(),
            timeout=90,
            what="the scanned skill in the report",
        )
        assert "9a2457df" in html  # the captured session
        jobs = {j["name"]: j for j in d.status()["jobs"]}
        assert jobs["skills.scan"]["runs"] >= 1
        assert "report.regenerate" in jobs
    finally:
        d.stop()


def test_an_ingest_that_changed_nothing_does_not_count_as_a_change(tmp_path: Path) -> None:
    # Regression: every reconcile re-ingests a transcript ending in a partial line; that bumped `ingests` and so
    # regenerated the report each interval. Only ingests that added something count as `changes`.
    from skill_insights.daemon.service import Daemon, DaemonConfig

    transcript = tmp_path / "projects" / "p" / "s.jsonl"
    transcript.parent.mkdir(parents=True)
    src = next((FIX / "skill" / "projects").glob("*/*.jsonl"))
    transcript.write_bytes(src.read_bytes() + b'{"type": "assistant", "partial')  # a line still being written
    daemon = Daemon(DaemonConfig(roots=[tmp_path / "projects"]))
    daemon._open_store()
    try:
        daemon.ingest([str(transcript)], "reconcile")
        daemon.ingest([str(transcript)], "reconcile")  # the partial line again: nothing new
    finally:
        daemon.db.conn.close()
    assert daemon.stats["ingests"] == 2 and daemon.stats["changes"] == 1


def test_report_regenerates_only_after_a_change(tmp_path: Path, monkeypatch) -> None:
    from skill_insights.daemon.jobs import BackgroundJobs

    # A plain stand-in for the daemon (its stats and paths), and `true` for the child: each spawn is one line
    # in jobs.log, and the job is over at once.
    monkeypatch.setattr(sys, "executable", shutil.which("true"))
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    daemon = SimpleNamespace(stats={"ingests": 0, "changes": 0}, paths=SimpleNamespace(log_dir=log_dir))
    jobs = BackgroundJobs(daemon)

    def regenerate() -> int:
        jobs.regenerate_report()
        if jobs.proc is not None:
            jobs.proc.wait()
        return sum(" report" in line for line in (log_dir / "jobs.log").read_text().splitlines())

    assert regenerate() == 1  # the first interval after start
    daemon.stats["ingests"] += 3  # ingests that changed nothing
    assert regenerate() == 1
    daemon.stats["ingests"] += 1
    daemon.stats["changes"] += 1
    assert regenerate() == 2
    assert regenerate() == 2
