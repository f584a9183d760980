"""`session extract`: analytics.csv, analytics.md and dashboard.html from session comments on a fake GitHub
API on 127.0.0.1; the dashboard is loaded in a real headless Chromium."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_github_support import SKILL_SID, SUBAGENT_SID, TOKEN, FakeState, fake_github, world  # noqa: F401

from skill_insights.cli import cli
from skill_insights.github import publish, render, stats
from skill_insights.github.client import GitHub, api_url
from skill_insights.github.extract import COLUMNS

HOSTILE_TITLE = "<script>alert('title')</script> | =cmd @team"
CHROMIUM = os.environ.get("SKILL_INSIGHTS_CHROMIUM", "/usr/bin/chromium")


def _post(world, sid: str, number: int) -> dict:  # noqa: F811
    from skill_insights.store import open_reader

    conn = open_reader(world.db_path)
    doc = stats.build(conn, sid).model_dump(mode="json")
    with GitHub(TOKEN, api_url()) as gh:
        publish.post_session(gh, "acme/widgets", number, doc, stats.diagrams(conn, sid))
    return doc


@pytest.fixture
def extracted(world, fake_github: FakeState, tmp_path: Path) -> tuple[Path, dict[int, dict]]:  # noqa: F811
    fake_github.add_issue(
        12,
        HOSTILE_TITLE,
        state="closed",
        created_at="2026-11-21T10:00:00Z",
        pr={
            "head": {"ref": "feature/demo", "sha": "abc"},
            "merged_at": "2026-11-22T16:00:00Z",
            "additions": 120,
            "deletions": 30,
            "review_comments": 4,
        },
    )
    fake_github.runs["abc"] = [
        {"status": "completed", "conclusion": "success"},
        {"status": "completed", "conclusion": "failure"},
        {"status": "completed", "conclusion": "success"},
    ]
    fake_github.add_issue(40, '=HYPERLINK("http://x") flake')
    fake_github.add_issue(50, "No agent here")
    fake_github.comments.append({"id": 1, "issue": 50, "body": "just a human"})
    docs = {12: _post(world, SKILL_SID, 12), 40: _post(world, SUBAGENT_SID, 40)}
    out = tmp_path / "out"
    r = CliRunner().invoke(
        cli,
        [
            "session",
            "extract",
            "--repo",
            "acme/widgets",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--output-dir",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert r.output.split() == [str(out / n) for n in ("analytics.csv", "analytics.md", "dashboard.html")]
    return out, docs


def test_csv_has_the_extended_columns_and_one_row_per_session(extracted) -> None:
    out, docs = extracted
    with (out / "analytics.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == COLUMNS
        rows = {int(r["pr_number"]): r for r in reader}
    assert set(rows) == {12, 40}
    pr, issue = rows[12], rows[40]
    assert (pr["target_type"], pr["pr_status"], pr["acceptance_status"]) == ("pr", "merged", "merged")
    assert pr["pr_title"] == HOSTILE_TITLE
    assert (pr["ci_runs"], pr["ci_pass_rate"]) == ("3", "66.7")
    assert (pr["lines_added"], pr["lines_removed"], pr["review_comments"]) == ("120", "30", "4")
    assert float(pr["time_to_merge_hours"]) == 30.0
    assert pr["session_id"] == SKILL_SID and float(pr["estimated_cost_usd"]) == docs[12]["estimated_cost_usd"]
    assert pr["commit_shas"] == docs[12]["commits"][0]["sha"] and pr["commits_count"] == "1"
    assert pr["skills_used"] == "demo-skill" and json.loads(pr["per_skill_tokens"])["demo-skill"]["out"] > 0
    assert (pr["problems_count"], pr["problems_resolved"]) == ("1", "1")
    assert (issue["target_type"], issue["pr_status"], issue["ci_runs"]) == ("issue", "open", "")
    assert issue["subagent_count"] == "1"
    assert issue["pr_title"] == '\'=HYPERLINK("http://x") flake'  # a spreadsheet shows it, never runs it
    assert (
        json.loads(issue["per_subagent_tokens"])["general-purpose"]["out"]
        == docs[40]["subagents"][0]["tokens"]["output"]
    )
    assert int(issue["total_output_tokens"]) == docs[40]["total_tokens"]["output"]


def _tables(md: str) -> list[list[list[str]]]:
    tables, cur = [], []
    for line in [*md.splitlines(), ""]:
        if line.startswith("|"):
            cur.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        elif cur:
            tables.append(cur)
            cur = []
    return tables


def test_markdown_tables_parse(extracted) -> None:
    out, docs = extracted
    md = (out / "analytics.md").read_text()
    tables = _tables(md)
    assert len(tables) == 4  # summary, per-PR, models, skills
    for t in tables:
        assert all(len(row) == len(t[0]) for row in t), t
        assert set("".join(t[1])) <= {"-"}
    summary = dict(tables[0][2:])
    assert summary["Total sessions"] == "2" and summary["PRs with session data"] == "1"
    assert summary["PR acceptance rate"] == "100%" and summary["Average time to merge"] == "30.0h"
    total = sum(d["estimated_cost_usd"] for d in docs.values())
    assert summary["Total cost"] == render.money(total)
    assert "<script>" not in md and "&lt;script&gt;" in md and "@team" not in md
    assert [r[0] for r in tables[1][2:]] == ["PR #12", "issue #40"]


def test_a_period_without_sessions_gives_empty_files(world, fake_github: FakeState, tmp_path: Path) -> None:  # noqa: F811
    fake_github.add_issue(12, pr={"head": {"ref": "feature/demo", "sha": "abc"}})
    _post(world, SKILL_SID, 12)
    out = tmp_path / "dec"
    r = CliRunner().invoke(
        cli,
        [
            "session",
            "extract",
            "--repo",
            "acme/widgets",
            "--from",
            "2026-11-23",
            "--to",
            "2026-12-31",
            "--output-dir",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (out / "analytics.csv").read_text().strip() == ",".join(COLUMNS)
    assert "| Total sessions | 0 |" in (out / "analytics.md").read_text()


def test_bad_period_is_a_usage_error(world) -> None:  # noqa: F811
    r = CliRunner().invoke(
        cli,
        [
            "session",
            "extract",
            "--repo",
            "acme/widgets",
            "--from",
            "2026-12-01",
            "--to",
            "2026-11-01",
            "--output-dir",
            "x",
        ],
    )
    assert r.exit_code == 2 and "--from is after --to" in r.output


@pytest.mark.browser
def test_dashboard_loads_in_chromium_without_errors(extracted) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    from test_report_browser import ARGS

    out, _ = extracted
    html = out / "dashboard.html"
    console, errors, dialogs, requests = [], [], [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html.as_uri())
            page.wait_for_load_state("load")
            charts = page.locator("section.card svg").count()
            rows = page.locator("#sessions tbody tr").all_inner_texts()
            title_cell = page.locator("#sessions tbody tr").first.locator("td").nth(1).inner_text()
        finally:
            browser.close()
    assert console == [] and errors == [] and dialogs == []
    assert requests == [html.as_uri()]  # self-contained: nothing else is fetched
    assert charts == 5 and len(rows) == 2
    assert title_cell == HOSTILE_TITLE
