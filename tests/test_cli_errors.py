"""Bad environment and bad input: one line, a non-zero exit, no traceback, nothing stored lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from transcript_corpus import copy_projects

from skill_insights.cli import cli


def one_line_error(result) -> str:
    assert result.exit_code not in (0, None), result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("args", [["ingest"], ["usage", "daily"], ["session", "show", "x"], ["report"]])
def test_home_that_is_a_file(isolated_home, args):
    (isolated_home.store).write_text("not a folder")
    msg = one_line_error(CliRunner().invoke(cli, args))
    assert "Not a directory" in msg or "File exists" in msg


@pytest.mark.parametrize("args", [["usage", "daily", "--json"], ["ingest"], ["run"]])
def test_corrupt_store_is_named(isolated_home, args):
    db = isolated_home.store / "data" / "skill-insights.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 100)
    (isolated_home.claude / "projects").mkdir(parents=True)
    msg = one_line_error(CliRunner().invoke(cli, args))
    assert str(db) in msg
    assert db.read_bytes().startswith(b"this is not a database")  # left for the user to look at


@pytest.mark.parametrize("doc", [{"models": 5}, [], {"models": {"claude-x": {"input": -1, "output": 1}}}])
def test_bad_user_price_table_is_one_line(isolated_home, doc):
    prices = isolated_home.store / "data" / "prices.json"
    prices.parent.mkdir(parents=True)
    prices.write_text(json.dumps(doc))
    msg = one_line_error(CliRunner().invoke(cli, ["pricing", "show"]))
    assert "price table" in msg


def test_pricing_update_rejects_bad_numbers_and_keeps_the_table(isolated_home, tmp_path):
    bad = tmp_path / "weird.json"
    bad.write_text('{"claude-sonnet-4-5": {"input_cost_per_token": -1, "output_cost_per_token": 1}}')
    msg = one_line_error(CliRunner().invoke(cli, ["pricing", "update", "--from", str(bad)]))
    assert "non-negative" in msg
    inf = tmp_path / "inf.json"
    inf.write_text('{"claude-sonnet-4-5": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e400}}')
    one_line_error(CliRunner().invoke(cli, ["pricing", "update", "--from", str(inf)]))
    assert not (isolated_home.store / "data" / "prices.json").exists()


def test_pricing_update_with_a_broken_store_changes_nothing(isolated_home, tmp_path):
    ok = tmp_path / "ok.json"
    ok.write_text('{"claude-sonnet-4-5": {"input_cost_per_token": 4e-06, "output_cost_per_token": 2e-05}}')
    db = isolated_home.store / "data" / "skill-insights.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage" * 1000)
    one_line_error(CliRunner().invoke(cli, ["pricing", "update", "--from", str(ok)]))
    assert not (isolated_home.store / "data" / "prices.json").exists()


def test_a_fifo_among_transcripts_is_skipped_not_waited_for(tmp_path, isolated_env):
    projects = copy_projects(tmp_path, "2.1.197", ["hello"])
    os.mkfifo(projects / "-home-dev-project" / "stuck.jsonl")
    out = subprocess.run(
        [sys.executable, "-m", "skill_insights", "ingest", "--projects-dir", str(projects)],
        env=isolated_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("1 file (")


def test_session_prefix_that_matches_several_says_so(tmp_path):
    projects = copy_projects(tmp_path, "2.1.330", ["interactive_clear", "resume"])
    runner = CliRunner()
    runner.invoke(cli, ["ingest", "--projects-dir", str(projects)], catch_exceptions=False)
    ids = [r["session_id"] for r in json.loads(runner.invoke(cli, ["usage", "session", "--json"]).output)["rows"]]
    assert {i[0] for i in ids} >= {"a"}  # a16b7a55 and a410a5e3
    msg = one_line_error(runner.invoke(cli, ["session", "show", "a"]))
    assert "several sessions" in msg
    assert runner.invoke(cli, ["session", "show", "a4"]).exit_code == 0


def test_since_after_until_is_refused():
    r = CliRunner().invoke(cli, ["usage", "daily", "--since", "2024-01-01", "--until", "2023-01-01"])
    assert r.exit_code == 2
    assert "after --until" in r.output
