"""The daemon's background jobs: a skills scan + analysis + report, and report regeneration after capture."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from test_daemon_support import DaemonProc, make_env, wait_for

FIX = Path(__file__).parent / "fixtures" / "claude-code" / "2.1.197"


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("j")
    env = make_env(root)
    env["HOME"] = str(root / "user")
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
        latest = wait_for(lambda: (reports / "latest.html").is_file() and reports / "latest.html", timeout=90,
                          what="a report written by the daemon's jobs")
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
        html = wait_for(lambda: "demo-skill" in latest.read_text() and latest.read_text(), timeout=90,
                        what="the scanned skill in the report")
        assert "9a2457df" in html  # the captured session
        jobs = {j["name"]: j for j in d.status()["jobs"]}
        assert jobs["skills.scan"]["runs"] >= 1
        assert "report.regenerate" in jobs
    finally:
        d.stop()
