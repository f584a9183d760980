"""`skill-insights statusline`: one line and exit 0 whatever it is given, numbers equal to the store's, rate-limit
readings kept for `usage quota`; run as Claude Code runs it (a real process on the installed entry script)."""

from __future__ import annotations

import gc
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from transcript_corpus import FIXTURES

from skill_insights.cli import cli
from skill_insights.hooks import install, statusline
from skill_insights.settings import get_paths

V337 = FIXTURES / "2.1.337"
INTERACTIVE = "cd1cae45-8e6f-4163-bdba-17aac7bbc42f"
PAYLOADS = [json.loads(line) for line in (V337 / "statusline" / "payloads.jsonl").read_text().splitlines()]


def run_statusline(stdin: bytes, *args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    """The command `install --statusline` writes, run by a shell as Claude Code runs it."""
    argv = [sys.executable, "-S", "-E", str(install.STATUSLINE_ENTRY), *args]
    # -E: the entry ignores PYTHON* variables, so the store's location comes from the environment we pass.
    return subprocess.run(argv, input=stdin, capture_output=True, env=dict(os.environ), timeout=timeout, check=False)


def one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert out.endswith("\n") and out.count("\n") == 1, out
    assert "\033[" not in out  # no colour unless asked
    return out.strip()


def ingest_interactive(root: Path) -> None:
    projects = root / "projects"
    shutil.copytree(V337 / "interactive" / "projects", projects)
    r = CliRunner().invoke(cli, ["ingest", "--projects-dir", str(projects)])
    assert r.exit_code == 0, r.output


def payload_for(session_id: str, **extra) -> bytes:
    doc = {**PAYLOADS[-1], "session_id": session_id, **extra}
    return json.dumps(doc).encode() + b"\n"


def test_real_payloads_without_a_store_print_one_line_each() -> None:
    assert not get_paths().database.exists()
    for doc in PAYLOADS:
        line = one_line(run_statusline(json.dumps(doc).encode() + b"\n"))
        assert line.startswith(doc["model"]["display_name"])
        # Not captured yet: Claude Code's own figure, marked as such.
        assert f"session {statusline.money(doc['cost']['total_cost_usd'])}*" in line.split(" | ")
    assert not get_paths().database.exists()  # the statusline never creates the store


@pytest.mark.parametrize("stdin", [b"", b"garbage\n", b"[1, 2]\n", b'{"model": 7, "rate_limits": "x"}\n', b"\xff\xfe"])
def test_bad_input_still_prints_one_line(tmp_path, stdin: bytes) -> None:
    ingest_interactive(tmp_path)
    line = one_line(run_statusline(stdin))
    assert line


def test_session_cost_equals_session_show_and_fields_follow_the_format(tmp_path) -> None:
    ingest_interactive(tmp_path)
    shown = json.loads(CliRunner().invoke(cli, ["session", "show", INTERACTIVE, "--json"]).output)
    line = one_line(run_statusline(payload_for(INTERACTIVE), "--format", "session,model,nosuchfield"))
    parts = line.split(" | ")
    assert parts[0] == f"session {statusline.money(shown['estimated_cost_usd'])}"
    assert parts[0] == "session $0.220"  # Claude Code's own 0.2201323, side call included
    assert parts[1] == PAYLOADS[-1]["model"]["display_name"]
    assert parts[2] == "nosuchfield?"
    # The console script answers the same, without click.
    exe = Path(sys.executable).with_name("skill-insights")
    if exe.exists():
        proc = subprocess.run(
            [str(exe), "statusline", "--format", "session"],
            input=payload_for(INTERACTIVE),
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert one_line(proc) == parts[0]


def test_rate_limits_show_pace_and_are_kept_for_usage_quota(isolated_home) -> None:
    from datetime import UTC, datetime, timedelta

    from test_usage_blocks import response_line, write_history

    at = datetime.now(UTC)
    usage = {
        "input_tokens": 100_000,
        "output_tokens": 30_000,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    # In the 5-hour window; in the 7-day window only; before both.
    ago = [timedelta(hours=1), timedelta(hours=3), timedelta(days=3)]
    projects = write_history(
        isolated_home.claude, {"s1": [response_line("s1", f"q{i}", at - d, usage) for i, d in enumerate(ago)]}
    )
    assert CliRunner().invoke(cli, ["ingest", "--projects-dir", str(projects)]).exit_code == 0
    now = time.time()
    limits = {
        "five_hour": {"used_percentage": 60, "resets_at": int(now + 2.5 * 3600)},  # half the window gone
        "seven_day": {"used_percentage": 10, "resets_at": int(now + 6 * 86400)},
    }
    line = one_line(run_statusline(payload_for(INTERACTIVE, rate_limits=limits), "--format", "5h,7d"))
    five, seven = line.split(" | ")
    assert five.startswith("5h 60% (of 50% elapsed, resets ")
    # 60% in 2.5 h: the remaining 40% go in 1h40m, before the reset.
    assert five.endswith("limit in 1h40m)")
    assert seven.startswith("7d 10% (of 14% elapsed") and "limit in" not in seven
    one_line(
        run_statusline(
            payload_for(
                INTERACTIVE,
                rate_limits={**limits, "five_hour": {"used_percentage": 65, "resets_at": int(now + 2.5 * 3600)}},
            )
        )
    )
    r = CliRunner().invoke(cli, ["usage", "quota", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    five_hour = [w for w in doc["windows"] if w["window"] == "five_hour"]
    assert len(five_hour) == 1
    assert [s["used_percentage"] for s in five_hour[0]["snapshots"]] == [60, 65]
    # Each window reaches back from its reset: 5 h holds one response, the 7 days (from 1 day ago) two.
    w = five_hour[0]
    assert [s["total_tokens"] for s in w["snapshots"]] == [130_000, 130_000]
    assert w["tokens_per_percent"] == 2000  # 130,000 tokens for 65%
    assert w["cost_usd"] == pytest.approx(0.75)  # Sonnet 4.5: $3 / $15 per million
    seven_day = [x for x in doc["windows"] if x["window"] == "seven_day"]
    assert [(x["total_tokens"], x["tokens_per_percent"]) for x in seven_day] == [(260_000, 26_000)]
    assert not any(Path(statusline.quota_spool_dir()).glob("*.json"))  # stored, then removed


def test_a_store_locked_by_a_writer_still_gives_a_line_quickly(tmp_path) -> None:
    ingest_interactive(tmp_path)
    db = get_paths().database
    gc.collect()  # the in-process CLI's connections, so the writer below can take the whole file
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sqlite3, sys, time\n"
                f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
                "c.execute('PRAGMA locking_mode=EXCLUSIVE')\n"
                "c.execute('BEGIN EXCLUSIVE')\n"
                "c.execute('DELETE FROM dirty')\n"
                "print('locked', flush=True)\n"
                "time.sleep(30)\n"
            ),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"locked"
        with pytest.raises(sqlite3.OperationalError):  # the lock really keeps readers out
            sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0).execute("SELECT 1 FROM sessions").fetchone()
        started = time.monotonic()
        line = one_line(run_statusline(payload_for(INTERACTIVE)))
        assert time.monotonic() - started < 3
        assert line.startswith(PAYLOADS[-1]["model"]["display_name"])
    finally:
        holder.kill()
        holder.wait()


def test_the_statusline_finds_the_store_where_settings_puts_it(tmp_path: Path, monkeypatch) -> None:
    assert Path(statusline.database_path()) == get_paths().database  # under SKILL_INSIGHTS_HOME
    monkeypatch.delenv("SKILL_INSIGHTS_HOME")
    for xdg in ("", str(tmp_path / "xdg")):
        monkeypatch.setenv("XDG_DATA_HOME", xdg)
        assert Path(statusline.database_path()) == get_paths().database


def test_pace_arithmetic() -> None:
    now = 1_000_000.0
    # 30% used with 60% of the window gone: under pace, lasts past the reset.
    assert statusline.pace(30, now + 2 * 3600, 5 * 3600, now) == (60.0, None)
    elapsed, to_limit = statusline.pace(80, now + 4 * 3600, 5 * 3600, now)
    assert elapsed == 20.0 and to_limit == pytest.approx(900)  # 80% in 1 h: 20% more in 15 min
    assert statusline.epoch("2026-12-08T00:00:00Z") == statusline.epoch(1796688000) == statusline.epoch(1796688000000)


def test_install_statusline_merges_refuses_another_without_force_and_uninstall_restores(isolated_home) -> None:
    settings = isolated_home.claude / "settings.json"
    settings.parent.mkdir(parents=True)
    theirs = {"model": "sonnet", "statusLine": {"type": "command", "command": "~/bin/status.sh", "padding": 1}}
    original = json.dumps(theirs, indent=4).encode()
    settings.write_bytes(original)
    runner = CliRunner()
    refused = runner.invoke(cli, ["install", "--settings", str(settings), "--no-service", "--statusline"])
    assert refused.exit_code != 0 and "--force" in refused.output
    assert settings.read_bytes() == original  # nothing changed, hooks included
    forced = runner.invoke(cli, ["install", "--settings", str(settings), "--no-service", "--statusline", "--force"])
    assert forced.exit_code == 0, forced.output
    doc = json.loads(settings.read_text())
    assert doc["statusLine"] == {"type": "command", "command": install.statusline_command()}
    assert doc["model"] == "sonnet" and install.is_ours(doc["hooks"]["SessionEnd"][0]["hooks"][0])
    # The command installed is the statusline itself.
    proc = subprocess.run(
        doc["statusLine"]["command"] + " --format model",
        shell=True,
        input=payload_for("x"),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert one_line(proc) == PAYLOADS[-1]["model"]["display_name"]
    # Installed again: one statusLine, still ours, the replaced one still kept.
    again = runner.invoke(cli, ["install", "--settings", str(settings), "--no-service", "--statusline"])
    assert again.exit_code == 0, again.output
    assert json.loads(settings.read_text())["statusLine"] == doc["statusLine"]
    removed = runner.invoke(cli, ["uninstall", "--settings", str(settings), "--no-service"])
    assert removed.exit_code == 0, removed.output
    assert json.loads(settings.read_text()) == theirs  # exactly what was there before
    assert not install.replaced_statusline_path().exists()


def test_install_statusline_without_one_before_and_uninstall_removes_it(isolated_home) -> None:
    settings = isolated_home.claude / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"env": {"A": "1"}}))
    runner = CliRunner()
    r = runner.invoke(cli, ["install", "--settings", str(settings), "--no-service", "--statusline"])
    assert r.exit_code == 0, r.output
    assert install.statusline_is_ours(json.loads(settings.read_text())["statusLine"])
    r = runner.invoke(cli, ["uninstall", "--settings", str(settings), "--no-service"])
    assert r.exit_code == 0, r.output
    assert json.loads(settings.read_text()) == {"env": {"A": "1"}}
    assert runner.invoke(cli, ["install", "--no-service", "--force"]).exit_code != 0  # --force needs --statusline


def test_a_running_daemon_stores_the_readings_the_statusline_spooled(tmp_path: Path) -> None:
    from test_daemon_support import DaemonProc, make_env, wait_for

    env = {**make_env(tmp_path), "SKILL_INSIGHTS_SPOOL_S": "0.2"}
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    daemon = DaemonProc(env).wait_ready()
    try:
        reading = {"five_hour": {"used_percentage": 12.5, "resets_at": int(time.time() + 3600)}}
        argv = [sys.executable, "-S", "-E", str(install.STATUSLINE_ENTRY), "--format", "5h"]
        proc = subprocess.run(
            argv, input=payload_for("s1", rate_limits=reading), env=env, capture_output=True, timeout=30, check=False
        )
        assert one_line(proc).startswith("5h 12%")
        db = Path(env["SKILL_INSIGHTS_HOME"]) / "data" / "skill-insights.db"

        def stored() -> list[tuple]:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                return conn.execute("SELECT window, session_id, used_percentage FROM quota_snapshots").fetchall()
            finally:
                conn.close()

        assert wait_for(stored, 30, what="the reading in the store") == [("five_hour", "s1", 12.5)]
        spool = Path(env["SKILL_INSIGHTS_HOME"]) / "run" / "quota"
        assert not any(spool.glob("*.json"))
    finally:
        assert daemon.stop() == 0


def test_the_block_field_is_the_block_usage_blocks_calls_active(isolated_home) -> None:
    from datetime import UTC, datetime, timedelta

    from test_usage_blocks import response_line, write_history

    now = datetime.now(UTC)
    usage = {"input_tokens": 1000, "output_tokens": 500, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    # An older block (more than 5 h before), then the one in progress.
    times = [now - timedelta(hours=9), now - timedelta(hours=2), now - timedelta(minutes=30)]
    lines = [response_line("s1", f"b{i}", t, usage) for i, t in enumerate(times)]
    projects = write_history(isolated_home.claude, {"s1": lines})
    assert CliRunner().invoke(cli, ["ingest", "--projects-dir", str(projects)]).exit_code == 0
    active = json.loads(CliRunner().invoke(cli, ["usage", "blocks", "--active", "--json"]).output)["rows"]
    assert len(active) == 1 and active[0]["responses"] == 2
    line = one_line(run_statusline(payload_for("s1"), "--format", "block"))
    cost = statusline.money(active[0]["cost_usd"])
    # The two processes ran a moment apart: the minutes left may differ by one.
    left = [statusline.duration(active[0]["remaining_seconds"] - d) for d in (0, 60)]
    assert line in [f"block {cost} {x} left" for x in left]
