"""The HTML report: built from a real store (fixtures ingested into SQLite in tmp_path), escaped, self-contained."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from skill_insights.cli import cli

FIXTURES = Path(__file__).parent / "fixtures" / "claude-code"
SECTIONS = ("overview", "issues", "changes", "usage", "skills", "duplicates", "manifests", "sessions")
HOSTILE_NAME = "<script>alert('name')</script><img src=x onerror=alert(1)>"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKILL_INSIGHTS_HOME", str(tmp_path / "si"))
    return tmp_path


def _ingest_fixtures() -> None:
    args = ["ingest"]
    for d in sorted(FIXTURES.glob("*/*/projects")):
        args += ["--projects-dir", str(d)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output


def build_demo_report(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo data set through ingest, scan, analyze and report, in-process, in `tmp`. Returns latest.html.

    Uses the `scan` command when it exists; otherwise the scanner's function, fed to the report directly.
    """
    from skill_insights import demo

    env = demo.build(tmp / "demo")
    for k, v in env.environ().items():
        monkeypatch.setenv(k, v)
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest"]).exit_code == 0
    phases = demo.analyze_args(cli.commands.get("analyze"))
    if "scan" in cli.commands:
        res = runner.invoke(cli, ["scan", *map(str, env.projects)])
        assert res.exit_code == 0, res.output
        runner.invoke(cli, ["analyze", *phases])
    else:
        from skill_insights.collectors.skills import scan
        from skill_insights.report import adapters

        doc = scan(list(env.projects), home=env.home, claude_dir=env.claude_dir)
        inv = tmp / "inventory.json"
        inv.write_text(json.dumps(doc))
        monkeypatch.setattr(adapters, "_inventory_doc", lambda _st: doc)
        if "analyze" in cli.commands:
            runner.invoke(cli, ["analyze", "--inventory", str(inv), *phases])
    res = runner.invoke(cli, ["report"])
    assert res.exit_code == 0, res.output
    latest = env.si_home / "reports" / "latest.html"
    assert latest.is_file()
    return latest


def test_report_o_writes_one_self_contained_file(home: Path) -> None:
    _ingest_fixtures()
    out = home / "out" / "r.html"
    res = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == str(out.resolve())
    html = out.read_text()
    for s in SECTIONS:
        assert f'id="{s}"' in html
    # Nothing to fetch: no external scripts, styles, images or fonts.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html
    # Usage from the real-client fixtures: the Skill tool, the demo skill, the MCP server and the subagent.
    for needle in ("demo-skill", "mcp__demo__echo", "general-purpose", "claude-sonnet-4-5"):
        assert needle in html
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)[1])
    assert len(data["sessions"]) == 26


def test_report_without_inventory_or_analysis_shows_empty_states(home: Path) -> None:
    out = home / "empty.html"
    res = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "No sessions captured yet" in html
    assert "No skills inventoried yet" in html


def test_default_report_keeps_last_n_and_latest(home: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from skill_insights.report import generate_report
    from skill_insights.settings import get_paths
    from skill_insights.store import open_db

    paths = get_paths().ensure()
    db = open_db(paths.database)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    made = [generate_report(db, paths, keep=2, now=t0 + timedelta(seconds=i)) for i in range(4)]
    left = sorted(p.name for p in paths.reports_dir.glob("report-*.html"))
    assert left == sorted(p.name for p in made[-2:])
    assert (paths.reports_dir / "latest.html").read_text() == made[-1].read_text()
    res = CliRunner().invoke(cli, ["report"])
    assert Path(res.output.strip().splitlines()[-1]).is_file()


def test_hostile_strings_are_escaped_in_the_source(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from skill_insights.report import adapters
    from skill_insights.report.render import json_for_script

    desc = "\"><svg onload=alert(2)></script><script>alert('desc')</script>\u2028&amp;"
    doc = {
        "generated_at": "2026-01-01T00:00:00Z",
        "skills": [{
            "id": "sk_hostile", "name": HOSTILE_NAME, "description": desc, "content_hash": "x",
            "locations": [{"path": "/tmp/<b>evil</b>/SKILL.md", "agent": "claude-code<i>", "scope": "user",
                           "is_link": False}],
            "files": [], "findings": [{"code": "<u>code</u>", "severity": "warning", "message": "<img src=y>"}],
        }],
        "manifests": [{"kind": "tessl.json", "path": "/p/<script>/tessl.json",
                       "dependencies": {"<b>ws/tile</b>": {"version": "1<i>"}}}],
    }
    monkeypatch.setattr(adapters, "_inventory_doc", lambda _st: doc)
    out = home / "h.html"
    assert CliRunner().invoke(cli, ["report", "-o", str(out)]).exit_code == 0
    html = out.read_text()
    # Exactly two script elements: the inert JSON block and our own code.
    assert len(re.findall(r"<script\b", html, re.I)) == 2
    for raw in ("<script>alert", "<img src=x", "<svg onload", "<img src=y", "<b>evil", "<u>code", "<i>"):
        assert raw not in html
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in html
    assert "\u2028" not in html
    block = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)[1]
    assert "<" not in block and ">" not in block and "&" not in block
    data = json.loads(block)
    assert data["skills"][0][1] == HOSTILE_NAME
    assert data["skills"][0][2] == desc
    assert json_for_script({"a": "</script>"}) == '{"a":"\\u003c/script\\u003e"}'


def test_run_demo_ends_with_a_report_path(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SKILL_INSIGHTS_HOME", "CLAUDE_CONFIG_DIR")}
    env["TMPDIR"] = str(tmp_path)
    env["HOME"] = str(tmp_path / "realhome")  # the demo must not need (or touch) the user's home
    proc = subprocess.run([sys.executable, "-m", "skill_insights.cli", "run", "--demo"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    path = Path(last)
    assert path.is_absolute() and path.is_file() and path.suffix == ".html"
    assert path.is_relative_to(tmp_path)
    html = path.read_text()
    assert "demo-skill" in html and 'id="sessions"' in html
    assert not (tmp_path / "realhome").exists()


def test_report_o_refuses_a_fifo_or_a_folder(home: Path) -> None:
    # Regression: the tmp-then-rename write turned a FIFO (or /dev/null) given as -o into a regular file.
    from skill_insights.outputs import NotRegularFile
    from skill_insights.report import write_report

    fifo = home / "pipe"
    os.mkfifo(fifo)
    res = CliRunner().invoke(cli, ["report", "-o", str(fifo)])
    assert res.exit_code != 0 and isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert fifo.is_fifo()
    # A folder (the CLI's click.Path already refuses one): the writer itself refuses it too.
    folder = home / "folder"
    folder.mkdir()
    with pytest.raises(NotRegularFile):
        write_report(None, folder)  # type: ignore[arg-type]  # refused before the store is read
    assert folder.is_dir() and not any(folder.iterdir())
