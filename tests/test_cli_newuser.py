"""The command line as a new user meets it: pipes, tables, prices, refusals and empty states."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from skill_insights.cli import cli


@pytest.fixture
def demo_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A month of generated sessions, ingested; HOME is the demo's."""
    from skill_insights import demo

    env = demo.build(tmp_path / "demo", now=datetime(2026, 11, 20, 18, 0, tzinfo=UTC))
    monkeypatch.setenv("HOME", str(env.home))  # the demo's generated home, not the empty one of the conftest
    res = CliRunner().invoke(cli, ["ingest", "--projects-dir", str(env.claude_dir / "projects")])
    assert res.exit_code == 0, res.output
    return env.home


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "skill_insights.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        env=os.environ.copy(),
    )


@pytest.mark.parametrize("args", [["usage", "session"], ["usage", "daily"], ["pricing", "show"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(demo_store: Path, args: list[str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "skill_insights.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    assert proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    code = proc.wait(timeout=120)
    err = proc.stderr.read().decode()
    assert code == 0 and "Broken pipe" not in err and "Traceback" not in err, err


def test_usage_session_table_reads_like_a_table(demo_store: Path) -> None:
    out = _run("usage", "session").stdout
    header = next(line for line in out.splitlines() if "session_id" in line)
    for col in ("date", "project", "duration"):
        assert col in header
    assert re.search(r"~/code/(webapp|api|docs-site)\b", out) and str(demo_store) not in out
    assert re.search(r"\b\d+h \d\dm\b|\b\d+m\b", out)  # 3h 47m, not 13660s
    assert not re.search(r"\b\d{3,}s\b", out)
    assert "sonnet-4.5" in out and "claude-sonnet-4-5" not in out
    costs = re.findall(r"\$\d[\d,]*\.\d+", out)
    assert costs and all(re.fullmatch(r"\$\d[\d,]*\.\d\d", c) for c in costs)
    # JSON keeps full precision.
    doc = json.loads(_run("usage", "session", "--json").stdout)
    assert any(len(repr(r["cost_usd"]).split(".")[-1]) > 2 for r in doc["rows"])


def test_short_model_names_stay_distinct() -> None:
    from skill_insights.usage import fmt_duration, plural, short_model

    assert short_model("claude-sonnet-4-5-20250929") == "sonnet-4.5"
    assert short_model("claude-opus-4-1") == "opus-4.1"
    both = ["claude-sonnet-4-5", "claude-sonnet-4-5-20250929"]
    assert short_model(both[0], both) != short_model(both[1], both)
    assert short_model("<synthetic>") == "<synthetic>"
    assert fmt_duration(13660) == "3h 47m" and fmt_duration(59) == "59s" and fmt_duration(600) == "10m"
    assert plural(1, "error") == "1 error" and plural(2, "file") == "2 files"


def test_pricing_show_prints_every_rate_without_float_noise() -> None:
    out = _run("pricing", "show").stdout
    assert "cache write 5m" in out and "cache write 1h" in out and "input >200k" in out
    assert not re.search(r"\d\.\d*0000000\d", out) and not re.search(r"\d\.\d*9999999\d", out)
    sonnet = next(line for line in out.splitlines() if line.startswith("claude-sonnet-4-5"))
    assert re.search(r"\b0\.3\b", sonnet) and re.search(r"\b3\.75\b", sonnet)


def test_pricing_update_with_a_json_list_says_so(tmp_path) -> None:
    f = tmp_path / "prices.json"
    f.write_text("[1, 2]")
    proc = _run("pricing", "update", "--from", str(f))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"Error: cannot load prices from {f}: expected a JSON object of models (LiteLLM's format), got a JSON list"
    ]


@pytest.mark.parametrize("content", [b"myhost\n", os.urandom(4096), b'{"a": 1}\n'])
def test_ingest_file_refuses_what_is_not_a_transcript(tmp_path, content: bytes) -> None:
    f = tmp_path / "hostname"
    f.write_bytes(content)
    res = CliRunner().invoke(cli, ["ingest", "--file", str(f)])
    assert res.exit_code == 1
    assert res.output.strip().startswith(f"Error: {f} is not a Claude Code transcript")
    assert len(res.output.strip().splitlines()) == 1
    folder = CliRunner().invoke(cli, ["ingest", "--file", str(tmp_path)])
    assert folder.exit_code == 1 and "is a folder" in folder.output


def test_empty_states_say_what_to_do(tmp_path) -> None:
    proc = _run("usage", "daily")
    assert proc.returncode == 0 and "skill-insights ingest" in proc.stderr
    filtered = _run("usage", "daily", "--since", "2020-01-01")
    assert "no usage matches these filters" in filtered.stderr
    (tmp_path / "empty").mkdir()
    assert CliRunner().invoke(cli, ["scan", "--no-agent-dirs", str(tmp_path / "empty")]).exit_code == 0
    res = CliRunner().invoke(cli, ["skills", "usage"])
    assert "the last scan found no skills" in res.output and "run `skill-insights scan`" not in res.output


def test_daemon_start_on_a_corrupt_store_fails_and_says_why(isolated_home) -> None:
    data = isolated_home.store / "data"
    data.mkdir(parents=True)
    (data / "skill-insights.db").write_bytes(b"not a database, just bytes" * 1000)
    proc = _run("daemon", "start")
    assert proc.returncode == 1, proc.stdout
    assert "daemon started" not in proc.stdout
    assert "exited at start" in proc.stderr and "not a database" in proc.stderr
    assert "not running" in _run("daemon", "status").stdout


def test_daemon_start_then_stop_waits_for_both() -> None:
    started = _run("daemon", "start")
    assert started.returncode == 0, started.stderr
    pid = int(re.search(r"pid (\d+)", started.stdout)[1])
    status = json.loads(_run("daemon", "status", "--json").stdout)
    assert status["running"] and status["pid"] == pid and status["source"] == "socket"
    stopped = _run("daemon", "stop")
    assert stopped.returncode == 0
    assert not Path(f"/proc/{pid}").exists() or b"Z" in Path(f"/proc/{pid}/stat").read_bytes().split(b")")[-1][:3]


def test_daemon_start_names_a_broken_config_file(isolated_home) -> None:
    config = isolated_home.store / "config" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text("{not json")
    started = _run("daemon", "start")
    try:
        assert started.returncode == 0, started.stderr
        (line,) = [x for x in started.stderr.splitlines() if "config.json" in x]
        assert str(config) in line and "not valid JSON" in line
    finally:
        _run("daemon", "stop")


def test_counts_read_as_words(tmp_path) -> None:
    one = tmp_path / "one" / ".claude" / "skills" / "only"
    one.mkdir(parents=True)
    (one / "SKILL.md").write_text("---\nname: only\ndescription: Does one thing. Use when asked.\n---\nbody\n")
    res = CliRunner().invoke(cli, ["scan", "--no-agent-dirs", "--no-registry", str(tmp_path / "one")])
    assert res.exit_code == 0, res.output
    assert "1 skill (1 location, 1 file), 0 manifests, 0 findings" in res.output
    res = CliRunner().invoke(cli, ["analyze"])
    assert "analysis run 1 over 1 skill\n" in res.output and " 1 findings" not in res.output
