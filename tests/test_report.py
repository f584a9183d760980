"""The HTML report: built from a real store (fixtures ingested into SQLite in tmp_path), escaped, self-contained."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from skill_insights.cli import cli

FIXTURES = Path(__file__).parent / "fixtures" / "claude-code"
SECTIONS = ("overview", "issues", "changes", "usage", "skills", "duplicates", "manifests", "sessions")
HOSTILE_NAME = "<script>alert('name')</script><img src=x onerror=alert(1)>"


def _ingest_fixtures() -> None:
    args = ["ingest"]
    for d in sorted(FIXTURES.glob("*/*/projects")):
        args += ["--projects-dir", str(d)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output


HOSTILE_SKILL = """---
name: "<script>alert('name')</script><img src=x onerror=alert(1)>"
description: "\\"><svg onload=console.log('pwned-desc')><script>alert('desc')</script> Use when testing & <b>b</b>."
---
# <img src=x onerror="console.log('pwned-body')">

<script>console.log('pwned-body-script'); alert('body')</script>
<a href="javascript:alert('link')" onmouseover="alert('hover')">click me</a>
See [evil](</script><script>alert('ref')</script>) and [hosts](../../../../etc/hosts).
"""


def build_demo_report(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, *, hostile: bool = False, built_at: datetime | None = None
) -> Path:
    """The demo data set through ingest, scan, analyze and report, in-process, in `tmp`. Returns latest.html.

    `hostile` adds a skill made of markup and escaping links (hostile input belongs in tests, not the demo);
    `built_at` dates the demo's history (its last session a few hours before that moment).
    """
    from skill_insights import demo

    env = demo.build(tmp / "demo", now=built_at)
    if hostile:
        skill = env.claude_dir / "skills" / "hostile-skill" / "SKILL.md"
        skill.parent.mkdir(parents=True)
        skill.write_text(HOSTILE_SKILL)
    for name in demo.DemoEnv.REMOTE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for k, v in env.environ().items():
        monkeypatch.setenv(k, v)
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest"]).exit_code == 0
    res = runner.invoke(cli, ["scan", *map(str, env.projects)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["analyze"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["report"])
    assert res.exit_code == 0, res.output
    latest = env.si_home / "reports" / "latest.html"
    assert latest.is_file()
    return latest


def page_data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)[1])


def test_report_o_writes_one_self_contained_file(tmp_path) -> None:
    _ingest_fixtures()
    out = tmp_path / "out" / "r.html"
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
    # A tool with no errors gets no error-rate bar (a 0 % bar was drawn as a sliver).
    assert "meter-fill good" not in html
    data = page_data(html)
    from skill_insights.settings import get_paths

    with sqlite3.connect(get_paths().database) as conn:
        stored = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    assert stored > 20 and len(data["sessions"]) == stored


def test_report_without_inventory_or_analysis_shows_empty_states(tmp_path) -> None:
    out = tmp_path / "empty.html"
    res = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "No sessions captured yet" in html
    assert "No skills inventoried yet" in html


def test_default_report_keeps_last_n_and_latest() -> None:
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


def test_hostile_strings_are_escaped_in_the_source(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from skill_insights.report import adapters
    from skill_insights.report.render import json_for_script

    desc = "\"><svg onload=alert(2)></script><script>alert('desc')</script>\u2028&amp;"
    doc = {
        "generated_at": "2026-01-01T00:00:00Z",
        "skills": [
            {
                "id": "sk_hostile",
                "name": HOSTILE_NAME,
                "description": desc,
                "content_hash": "x",
                "locations": [
                    {"path": "/tmp/<b>evil</b>/SKILL.md", "agent": "claude-code<i>", "scope": "user", "is_link": False}
                ],
                "files": [],
                "findings": [{"code": "<u>code</u>", "severity": "warning", "message": "<img src=y>"}],
            }
        ],
        "manifests": [
            {
                "kind": "tessl.json",
                "path": "/p/<script>/tessl.json",
                "dependencies": {"<b>ws/tile</b>": {"version": "1<i>"}},
            }
        ],
    }
    monkeypatch.setattr(adapters, "_inventory_doc", lambda _st: doc)
    out = tmp_path / "h.html"
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


TEST_PAYLOADS = ("<script>alert", "Bad_Name", "etc/hosts", "demo-skill", "hostile-skill", "onerror=", "pwned")


def test_run_on_an_empty_home_shows_the_demo_and_open_opens_that_report(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opened = tmp_path / "opened"
    # A browser stand-in on PATH: `open` hands the report to xdg-open, which records what it was given.
    (bin_dir / "xdg-open").write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    (bin_dir / "xdg-open").chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SKILL_INSIGHTS_HOME", "CLAUDE_CONFIG_DIR") and not k.startswith("XDG_")
    }
    env.update(HOME=str(home), PATH=f"{bin_dir}:{env['PATH']}", TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "skill_insights.cli", "run"], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    printed = Path(proc.stdout.strip().splitlines()[-1])
    assert printed.is_absolute() and printed.is_file() and printed.suffix == ".html"
    assert printed.is_relative_to(home)  # the user's own reports folder, not a throwaway one
    assert not list((tmp_path / "tmp").glob("*demo*"))  # no throwaway demo folder left behind
    demo_root = next(home.rglob("demo.json")).parent
    assert demo_root.name == "demo" and (demo_root / "home" / ".claude" / "projects").is_dir()
    html = printed.read_text()
    assert 'class="demo-badge"' in html and "Demo data." in html
    for payload in TEST_PAYLOADS:
        assert payload not in html, payload
    data = page_data(html)
    assert 40 <= len(data["sessions"]) <= 120
    # Durations and costs look like work: minutes to hours, cents to a few dollars.
    walls = sorted(s[4] for s in data["sessions"])
    assert walls[len(walls) // 2] >= 300 and max(s[7] for s in data["sessions"]) < 20

    proc = subprocess.run(
        [sys.executable, "-m", "skill_insights.cli", "open"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while not opened.exists() and datetime.now(UTC) < deadline:
        time.sleep(0.05)
    target = Path(opened.read_text().removeprefix("file://"))
    assert target.read_bytes() == printed.read_bytes()


def test_demo_is_the_same_for_the_same_moment(tmp_path: Path) -> None:
    from skill_insights import demo

    at = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
    a, b = demo.build(tmp_path / "a", now=at), demo.build(tmp_path / "b", now=at)
    files_a = sorted((a.claude_dir / "projects").rglob("*.jsonl"), key=lambda p: p.name)
    files_b = sorted((b.claude_dir / "projects").rglob("*.jsonl"), key=lambda p: p.name)
    assert [p.name for p in files_a] == [p.name for p in files_b] and len(files_a) > 40
    for fa, fb in zip(files_a, files_b, strict=True):
        assert fa.read_text().replace(str(a.home), "~") == fb.read_text().replace(str(b.home), "~")
    # Everything the brief of the demo promises is in its home.
    assert {p.name for p in (a.claude_dir / "agents").iterdir()} == {"code-reviewer.md", "perf-auditor.md"}
    assert {p.name for p in (a.claude_dir / "commands").iterdir()} == {"ship.md", "standup.md"}
    lines = "".join(p.read_text() for p in (a.claude_dir / "projects").rglob("*.jsonl"))
    assert '"subagent_type":"code-reviewer"' in lines and "perf-auditor" not in lines
    # Each Agent call has the subagent's own transcript, as Claude Code writes it (its tokens count).
    subs = list((a.claude_dir / "projects").rglob("subagents/agent-*.jsonl"))
    assert subs and lines.count('"subagent_type":"code-reviewer"') == len(subs)
    assert "<command-name>/ship</command-name>" in lines and "/standup" not in lines
    mcp = json.loads((a.home / "code" / "webapp" / ".mcp.json").read_text())
    assert list(mcp["mcpServers"]) == ["linear"] and '"name":"mcp__linear__list_issues"' in lines


def test_cli_and_page_count_the_same_problems_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    latest = build_demo_report(tmp_path, monkeypatch)
    res = CliRunner().invoke(cli, ["analyze"])
    assert res.exit_code == 0, res.output
    m = re.search(r"problems: (\d+) errors?, (\d+) warnings?, (\d+) info", res.output)
    assert m, res.output
    cli_counts = {"error": int(m[1]), "warning": int(m[2]), "info": int(m[3])}
    html = latest.read_text()
    chips = dict((sev, int(n)) for n, sev in re.findall(r'<span class="sev sev-\w+">(\d+) (\w+)</span>', html))
    assert {k: v for k, v in cli_counts.items() if v} == chips
    # The broken reference was seen by quality and staleness: one problem, naming both.
    assert res.output.count("references/style-guide.md") == 1
    assert re.search(r"api-docs\s+quality\+staleness", res.output)
    issues = html[html.index('id="issues"') : html.index('id="changes"')]
    assert issues.count("style-guide.md") == 1 and "quality + staleness" in issues


def test_report_since_until_set_the_first_period(tmp_path) -> None:
    _ingest_fixtures()
    out = tmp_path / "p.html"
    res = CliRunner().invoke(cli, ["report", "-o", str(out), "--since", "2026-01-01", "--until", "2026-12-31"])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert '<button type="button" class="period-btn" data-period="custom" aria-pressed="true">' in html
    panels = dict(re.findall(r'class="period-panel usage-panel" data-period="([^"]+)"( hidden)?>', html))
    shown = [k for k, hidden in panels.items() if not hidden]
    assert len(shown) == 1 and "custom" in shown[0].split() and len(panels) > 1
    bad = CliRunner().invoke(cli, ["report", "--since", "2026-02-01", "--until", "2026-01-01"])
    assert bad.exit_code != 0 and "is after" in bad.output


def test_report_o_refuses_a_fifo_or_a_folder(tmp_path) -> None:
    # Regression: the tmp-then-rename write turned a FIFO (or /dev/null) given as -o into a regular file.
    from skill_insights.outputs import NotRegularFile
    from skill_insights.report import write_report

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    res = CliRunner().invoke(cli, ["report", "-o", str(fifo)])
    assert res.exit_code != 0 and isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert fifo.is_fifo()
    # A folder (the CLI's click.Path already refuses one): the writer itself refuses it too.
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(NotRegularFile):
        write_report(None, folder)  # type: ignore[arg-type]  # refused before the store is read
    assert folder.is_dir() and not any(folder.iterdir())


def test_recently_changed_lists_a_new_skill_once_and_no_git_outside_a_repository(isolated_home, tmp_path: Path) -> None:
    claude = isolated_home.claude

    def skill(name: str) -> None:
        d = claude / "skills" / name
        d.mkdir(parents=True)
        (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Does {name}. Use when asked.\n---\nbody\n")

    skill("first")
    runner = CliRunner()
    for args in (["scan", "--no-registry"], ["analyze"]):
        assert runner.invoke(cli, args).exit_code == 0
    skill("newcomer")
    for args in (["scan", "--no-registry"], ["analyze"]):
        assert runner.invoke(cli, args).exit_code == 0
    out = tmp_path / "c.html"
    assert runner.invoke(cli, ["report", "-o", str(out)]).exit_code == 0
    html = out.read_text()
    changes = html[html.index('<section id="changes"') : html.index('<section id="usage"')]
    rows = re.findall(r"<tr><td[^>]*>.*?</tr>", changes, re.S)
    assert len([r for r in rows if "newcomer" in r]) == 1
    assert "added" in next(r for r in rows if "newcomer" in r)
    for word in ("commit", "uncommitted", "git"):
        assert word not in changes, word
    # Every phase says it ran; the registry one, with nothing configured, says so.
    assert "registry: not configured" in html


def test_a_period_equal_to_another_is_drawn_once(tmp_path: Path) -> None:
    # A month of history: the 30-day, 90-day and all-time panels would be the same bytes.
    from skill_insights import demo

    env = demo.build(tmp_path / "d", now=datetime.now(UTC))
    for f in list(env.claude_dir.rglob("*.jsonl")):  # without the one session of seven months ago
        if f.exists() and '"legacy-deploy"' in f.read_text():
            f.unlink()
            shutil.rmtree(f.with_suffix(""), ignore_errors=True)  # and its subagents
    res = CliRunner().invoke(cli, ["ingest", "--projects-dir", str(env.claude_dir / "projects")])
    assert res.exit_code == 0, res.output
    out = tmp_path / "a.html"
    assert CliRunner().invoke(cli, ["report", "-o", str(out)]).exit_code == 0
    panels = re.findall(r'class="period-panel usage-panel" data-period="([^"]+)"', out.read_text())
    assert panels == ["7d", "30d 90d all"]


def test_sources_without_an_inventory_say_to_scan_not_that_everything_was_used(tmp_path) -> None:
    """Captured activations but no scan yet: nothing is known to be installed, so nothing can be called used
    or never used."""
    _ingest_fixtures()
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "No inventory yet" in html
    assert "Everything installed has been used" not in html
