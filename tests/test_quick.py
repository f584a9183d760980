"""The console script's quick path for `usage … --json` and `ingest`: what the click commands do, without click."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from transcript_corpus import assistant_line, copy_projects

from skill_insights import quick
from skill_insights.cli import cli
from skill_insights.quick import parse_usage_json

# What the console script runs (pyproject's [project.scripts]), reporting whether click was imported.
ENTRY = (
    "import sys; from skill_insights.quick import main; sys.argv[0] = 'skill-insights'; main(); "
    "sys.stderr.write('click imported: %s\\n' % ('click' in sys.modules))"
)


@pytest.fixture
def home(tmp_path, isolated_env) -> dict[str, str]:
    env = {**isolated_env, "TZ": "UTC"}
    projects = copy_projects(tmp_path, "2.1.197")
    # One model with no price: its warning must come out of both paths alike.
    (projects / "unpriced").mkdir()
    (projects / "unpriced" / "u.jsonl").write_text(assistant_line("mu", model="mystery-model-9") + "\n")
    result = subprocess.run(
        [sys.executable, "-c", ENTRY, "ingest", "--projects-dir", str(projects)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return env


def _quick(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ENTRY, *args], env=env, capture_output=True, text=True)


def _click(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize(
    "args",
    [
        ["usage", "daily", "--json"],
        ["usage", "monthly", "--json"],
        ["usage", "session", "--json"],
        ["usage", "--json", "daily", "--since", "2020-01-01", "--until=20991231"],
        ["usage", "session", "--json", "--project", "demo", "--since", "2026/01/01"],
    ],
)
def test_quick_path_prints_what_the_click_command_prints_without_importing_click(home, args):
    quick = _quick(home, *args)
    assert quick.returncode == 0, quick.stderr
    assert "click imported: False" in quick.stderr
    slow = _click(home, *args)
    assert slow.exit_code == 0, slow.stderr
    assert quick.stdout == slow.stdout
    assert quick.stderr.replace("click imported: False\n", "") == slow.stderr
    doc = json.loads(quick.stdout)
    assert doc["totals"]["total_tokens"] > 0 or "--project" in args


def test_unpriced_model_warning_comes_from_the_quick_path(home):
    quick = _quick(home, "usage", "daily", "--json")
    assert "warning: no price for model 'mystery-model-9'" in quick.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["usage", "daily", "--json", "--since", "yesterday"], "is not a date"),
        (["usage", "daily", "--json", "--since", "2026-02-01", "--until", "2026-01-01"], "is after --until"),
        (["usage", "yearly", "--json"], "Invalid value"),
        (["usage", "daily", "--json", "--bogus"], "No such option"),
    ],
)
def test_anything_the_quick_path_does_not_take_gets_clicks_error(home, args, message):
    result = _quick(home, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_store_that_cannot_be_opened_gets_clicks_one_line_error(isolated_home, isolated_env):
    (isolated_home.store / "data").mkdir(parents=True)
    (isolated_home.store / "data" / "skill-insights.db").write_bytes(b"not a database" * 100)
    result = _quick(isolated_env, "usage", "daily", "--json")
    assert result.returncode == 1
    assert "cannot open the store" in result.stderr or "cannot be used" in result.stderr
    assert "Traceback" not in result.stderr


def test_parse_usage_json_takes_only_what_it_fully_understands():
    assert parse_usage_json(["usage", "daily", "--json"]) == ("daily", None, None, None)
    assert parse_usage_json(["usage", "--since=20260102", "session", "--json", "--project", "p"]) == (
        "session",
        "2026-01-02",
        None,
        "p",
    )
    for argv in (
        ["usage", "daily"],
        ["usage", "daily", "--json", "--help"],
        ["ingest"],
        [],
        ["usage", "daily", "--json", "--since", "2026-01-01", "--since", "2026-01-02"],
        ["usage", "daily", "monthly", "--json"],
        ["usage", "daily", "--json", "--project"],
    ):
        assert parse_usage_json(argv) is None, argv


def test_console_script_points_at_the_quick_entry():
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert 'skill-insights = "skill_insights.quick:main"' in pyproject


def test_quick_ingest_equals_the_click_ingest_and_skips_click(tmp_path):
    projects = copy_projects(tmp_path, "2.1.330")
    # A store for each path, to compare what they stored.
    quick_env = dict(os.environ, SKILL_INSIGHTS_HOME=str(tmp_path / "quick"), TZ="UTC")
    click_env = dict(os.environ, SKILL_INSIGHTS_HOME=str(tmp_path / "click"), TZ="UTC")
    fast = _quick(quick_env, "ingest", f"--projects-dir={projects}")
    assert fast.returncode == 0, fast.stderr
    assert "click imported: False" in fast.stderr
    slow = _click(click_env, "ingest", "--projects-dir", str(projects))
    assert slow.exit_code == 0
    # The same summary (but for its timing) and the same store.
    assert fast.stdout.rsplit(" in ", 1)[0] == slow.stdout.rsplit(" in ", 1)[0]
    assert " 0 new lines" not in fast.stdout
    sessions = [_quick(env, "usage", "session", "--json").stdout for env in (quick_env, click_env)]
    assert sessions[0] == sessions[1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["ingest", "--projects-dir", "/no/such/folder"], "no such projects folder"),
        (["ingest", "--file", "/no/such/file.jsonl"], "no such transcript file"),
        (["ingest", "--bogus"], "No such option"),
    ],
)
def test_ingest_arguments_the_quick_path_does_not_take_get_clicks_error(isolated_env, args, message):
    result = _quick(isolated_env, *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_parse_ingest_needs_existing_roots(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text("")
    assert quick.parse_ingest(["ingest"]) == []
    assert quick.parse_ingest(["ingest", "--projects-dir", str(tmp_path)]) == [str(tmp_path)]
    # A file goes to the click command, which checks that it is a transcript before capturing it.
    assert quick.parse_ingest(["ingest", "--projects-dir", str(tmp_path), f"--file={f}"]) is None
    assert quick.parse_ingest(["ingest", "--file", str(f)]) is None
    assert quick.parse_ingest(["ingest", "--projects-dir"]) is None
    assert quick.parse_ingest(["ingest", "--help"]) is None


def test_hook_through_the_console_script_skips_click_and_always_exits_0(isolated_home, isolated_env):
    for args, stdin in ((["hook", "session-end"], "not json"), (["hook", "no-such-event"], "{}"), (["hook"], "")):
        result = subprocess.run(
            [sys.executable, "-c", ENTRY, *args],
            input=stdin,
            env=isolated_env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, (args, result.stderr)
        assert "Traceback" not in result.stderr
        # sys.exit ends the process before ENTRY can report: click's absence shows as no report at all.
        assert "click imported" not in result.stderr
    log = (isolated_home.store / "run" / "hook.log").read_text()
    assert "unknown event 'no-such-event'" in log


def test_a_reader_that_goes_away_ends_quietly_with_0(home):
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "usage", "session", "--json"],
        env=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # as `| head` does once it has enough
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 0  # as other Unix tools end under `| head`
    assert "Broken pipe" not in err and "Traceback" not in err


def test_ingest_file_without_a_terminal_refuses_a_file_that_is_not_a_transcript(home, tmp_path):
    """Without a terminal `ingest` runs on the quick path; a --file still gets the click command's check."""
    f = tmp_path / "hostname"
    f.write_text("my-host\n")
    result = subprocess.run(
        [sys.executable, "-c", ENTRY, "ingest", "--file", str(f)], env=home, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "is not a Claude Code transcript" in result.stderr
