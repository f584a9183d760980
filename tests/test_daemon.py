"""The capture daemon as a real process: real files, real sockets, real SQLite under tmp_path.

Every wait polls with a generous deadline; no test asserts a latency (bench/freshness.py measures those).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from test_daemon_support import (
    DaemonProc,
    assistant_line,
    assistant_template,
    big_transcript,
    cli,
    fixture_sessions,
    make_env,
    usage_sessions,
    wait_for,
)

FIX = Path(__file__).parent / "fixtures" / "claude-code" / "2.1.197"


@pytest.fixture
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A short base path: the socket path must stay under the AF_UNIX limit.
    return tmp_path_factory.mktemp("d")


@pytest.fixture
def env(root: Path) -> dict[str, str]:
    return make_env(root)


@pytest.fixture
def daemons():
    started: list[DaemonProc] = []
    yield started
    for d in started:
        d.stop()


def projects(env: dict[str, str]) -> Path:
    return Path(env["CLAUDE_CONFIG_DIR"]) / "projects"


def session_row(env: dict[str, str], sid: str) -> dict | None:
    return next((r for r in usage_sessions(env)["rows"] if r["session_id"] == sid), None)


def copy_session(scenario: str, dest_projects: Path) -> Path:
    src = FIX / scenario / "projects"
    shutil.copytree(src, dest_projects, dirs_exist_ok=True)
    return next(p for p in dest_projects.rglob("*.jsonl") if p.parent.name != "subagents")


def test_appended_line_becomes_visible(env: dict[str, str], daemons: list[DaemonProc]) -> None:
    transcript = copy_session("bash_tool", projects(env))
    sid = transcript.stem
    d = DaemonProc(env).wait_ready()
    daemons.append(d)
    before = wait_for(lambda: session_row(env, sid), what="the existing session")
    line, _ = assistant_line(assistant_template(), sid, output_tokens=777)
    with open(transcript, "ab") as fh:
        fh.write(line)
    after = wait_for(
        lambda: (r := session_row(env, sid)) and r["output_tokens"] == before["output_tokens"] + 777 and r,
        what="the appended line in `usage session --json`",
    )
    assert after["input_tokens"] > before["input_tokens"]
    # A session created after start, in a project dir that did not exist yet, is picked up too.
    new = projects(env) / "-home-dev-other" / "11111111-2222-3333-4444-555555555555.jsonl"
    new.parent.mkdir(parents=True)
    line, _ = assistant_line(assistant_template(), new.stem, output_tokens=5)
    new.write_bytes(line)
    wait_for(lambda: session_row(env, new.stem), what="a session in a new project dir")
    assert d.status()["files_watched"] == 2


def blind(env: dict[str, str]) -> dict[str, str]:
    """A daemon that sees no file event and reconciles only at start: what it captures after that, a socket
    payload or the spool explains."""
    return {
        **env,
        "SKILL_INSIGHTS_DAEMON_POLLING": "1",
        "SKILL_INSIGHTS_POLL_S": "3600",
        "SKILL_INSIGHTS_RECONCILE_S": "3600",
    }


def test_socket_payload_ingests_the_transcript_and_its_subagents(
    root: Path, env: dict[str, str], daemons: list[DaemonProc]
) -> None:
    d = DaemonProc(blind(env)).wait_ready()
    daemons.append(d)
    d.wait_idle()
    transcript = copy_session("subagent", projects(env))  # after the start-up reconcile: unseen until nudged
    sid = transcript.stem
    d.send(b"\x00not json at all")
    d.send(b"")
    d.send(json.dumps({"transcript_path": 42}).encode())
    payload = {
        "session_id": sid,
        "transcript_path": str(transcript),
        "cwd": "/home/dev/project",
        "hook_event_name": "SessionEnd",
        "reason": "other",
    }
    d.send(json.dumps(payload).encode())
    row = wait_for(lambda: session_row(env, sid), what="the transcript named by the socket payload")

    # Parent and subagent transcript both captured: equal to a clean ingest of the two files.
    clean = make_env(root / "clean")
    sub = next(projects(env).rglob("subagents/*.jsonl"))
    cli(clean, "ingest", "--file", str(transcript), "--file", str(sub))
    expected = next(r for r in usage_sessions(clean)["rows"] if r["session_id"] == sid)
    row = wait_for(lambda: (r := session_row(env, sid)) and r == expected and r, what="subagent tokens too")
    assert row == expected
    st = d.status()
    assert st["stats"]["bad_payloads"] >= 2
    assert d.proc.poll() is None  # garbage did not hurt it


def test_spooled_payloads_are_drained(root: Path, env: dict[str, str], daemons: list[DaemonProc]) -> None:
    t1 = copy_session("hello", projects(env))
    spool = Path(env["SKILL_INSIGHTS_HOME"]) / "run" / "spool"
    spool.mkdir(parents=True)
    (spool / "1-1.json").write_text(
        json.dumps({"session_id": t1.stem, "transcript_path": str(t1), "hook_event_name": "SessionEnd"})
    )
    (spool / "2-1.json").write_bytes(b"{garbage")
    d = DaemonProc(env).wait_ready()
    daemons.append(d)
    wait_for(lambda: session_row(env, t1.stem), what="the payload spooled before start")
    # Spooled while the daemon runs (a hook that found the socket busy): the spool dir is watched.
    t2 = copy_session("mcp_tool", projects(env))
    (spool / ".3-1.json.tmp").write_text(json.dumps({"transcript_path": str(t2)}))
    os.replace(spool / ".3-1.json.tmp", spool / "3-1.json")
    wait_for(lambda: session_row(env, t2.stem), what="the payload spooled while running")
    wait_for(lambda: not list(spool.glob("*.json")), what="an empty spool")


@pytest.mark.slow
def test_kill9_during_ingest_then_restart_equals_a_clean_ingest(
    root: Path, env: dict[str, str], daemons: list[DaemonProc]
) -> None:
    big = big_transcript(projects(env) / "-home-dev-big" / "big-session.jsonl", 96 * 1024 * 1024)
    size = big.stat().st_size
    db_path = Path(env["SKILL_INSIGHTS_HOME"]) / "data" / "skill-insights.db"
    d = DaemonProc(env)
    daemons.append(d)

    def committed_offset() -> int:
        try:
            con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
            try:
                row = con.execute("SELECT offset FROM files WHERE path = ?", [str(big)]).fetchone()
            finally:
                con.close()
        except sqlite3.Error:
            return 0
        return row[0] if row else 0

    # Kill as soon as a first chunk is committed: the file is then only partly ingested.
    wait_for(committed_offset, timeout=60, interval=0.002, what="a first committed chunk")
    d.kill9()
    partial = committed_offset()
    assert partial > 0, "nothing committed before the kill"
    if partial >= size:
        pytest.fail("the whole file was ingested before the kill; make the generated transcript larger")
    # Leftovers of the killed daemon: a stale pid file and socket that the next one must take over.
    assert d.pid_path.exists()

    d2 = DaemonProc(env).wait_ready()
    daemons.append(d2)
    wait_for(lambda: committed_offset() == size, timeout=60, what="the restarted daemon to finish")
    d2.wait_idle()
    got = usage_sessions(env)

    clean = make_env(root / "clean")
    cli(clean, "ingest", "--file", str(big))
    expected = usage_sessions(clean)
    assert got == expected
    assert got["totals"]["output_tokens"] > 0


def test_single_instance(env: dict[str, str], daemons: list[DaemonProc]) -> None:
    d = DaemonProc(env).wait_ready()
    daemons.append(d)
    second = cli(env, "daemon", "run", check=False, timeout=30)
    assert second.returncode != 0
    assert "already running" in second.stderr and str(d.pid) in second.stderr
    assert int(d.pid_path.read_text()) == d.pid  # the loser did not touch the winner's files
    assert d.socket_path.exists()


def test_sigterm_removes_socket_and_pid_file(env: dict[str, str]) -> None:
    d = DaemonProc(env).wait_ready()
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(15) == 0
    d.stop()
    assert not d.socket_path.exists()
    assert not d.pid_path.exists()
    log = Path(env["SKILL_INSIGHTS_HOME"]) / "logs" / "daemon.log"
    assert "daemon stopped" in log.read_text()


def test_start_status_stop(env: dict[str, str]) -> None:
    copy_session("skill", projects(env))
    copy_session("subagent", projects(env))
    n_files = len(list(projects(env).rglob("*.jsonl")))
    assert cli(env, "daemon", "status", check=False).returncode == 3
    out = cli(env, "daemon", "start").stdout
    assert "started" in out
    try:
        assert "already running" in cli(env, "daemon", "start").stdout

        def status() -> dict | None:
            doc = json.loads(cli(env, "daemon", "status", "--json").stdout)
            return doc if doc.get("files_watched") == n_files and doc.get("backlog") == 0 else None

        doc = wait_for(status, what="status to report the watched files")
        pid = int((Path(env["SKILL_INSIGHTS_HOME"]) / "run" / "daemon.pid").read_text())
        assert doc["running"] is True and doc["pid"] == pid
        assert doc["rss_bytes"] > 0 and doc["uptime_s"] >= 0
        assert {j["name"] for j in doc["jobs"]} >= {"ingest.reconcile", "rollups.flush", "spool.drain"}
        text = cli(env, "daemon", "status").stdout
        assert f"pid           {pid}" in text and "files watched" in text
    finally:
        stopped = cli(env, "daemon", "stop", check=False)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    gone = json.loads(cli(env, "daemon", "status", "--json", check=False).stdout)
    assert gone["running"] is False


def test_polling_fallback_and_reconcile_catch_writes(env: dict[str, str], daemons: list[DaemonProc]) -> None:
    """With the polling observer (no inotify), and files written while the daemon was down."""
    first = copy_session("hello", projects(env))
    d = DaemonProc(env, "--polling").wait_ready()
    daemons.append(d)
    wait_for(lambda: session_row(env, first.stem), what="a session seen by the polling observer")
    assert d.status()["observer"] == "polling"
    d.stop()
    later = copy_session("thinking_parallel", projects(env))
    d2 = DaemonProc(env, "--polling").wait_ready()
    daemons.append(d2)
    wait_for(lambda: session_row(env, later.stem), what="a file written while the daemon was down")
    assert len(fixture_sessions()) > 2


def test_a_deleted_and_recreated_root_is_watched_again(env: dict[str, str], daemons: list[DaemonProc]) -> None:
    d = DaemonProc(env).wait_ready()
    daemons.append(d)
    d.wait_idle()
    shutil.rmtree(projects(env))  # inotify drops the watch with the directory
    time.sleep(0.3)
    transcript = copy_session("skill", projects(env))
    wait_for(lambda: session_row(env, transcript.stem), what="a session in the re-created root")
    # And the re-armed watch sees appends, not only the reconcile it triggered.
    before = session_row(env, transcript.stem)
    line, _ = assistant_line(assistant_template(), transcript.stem, output_tokens=4242)
    with open(transcript, "ab") as fh:
        fh.write(line)
    wait_for(
        lambda: session_row(env, transcript.stem)["output_tokens"] == before["output_tokens"] + 4242,
        what="an append after the re-arm",
    )


def test_socket_path_too_long_runs_spool_only(
    tmp_path_factory: pytest.TempPathFactory, daemons: list[DaemonProc]
) -> None:
    base = tmp_path_factory.mktemp("long")
    deep = base / ("x" * 60) / ("y" * 60)
    env = make_env(deep)
    assert len(str(deep / "home" / "run" / "daemon.sock")) > 100
    d = DaemonProc({**env, "SKILL_INSIGHTS_SPOOL_S": "0.5"})
    daemons.append(d)
    wait_for(lambda: d.pid_path.exists() and d.pid_path.read_text().strip() == str(d.pid), what="the pid file")
    assert not d.socket_path.exists()
    spool = d.run_dir / "spool"
    wait_for(spool.is_dir, what="the spool dir")
    t = copy_session("hello", projects(env))
    (spool / "9-9.json").write_text(json.dumps({"transcript_path": str(t), "session_id": t.stem}))
    wait_for(lambda: session_row(env, t.stem), what="the spooled session")
    doc = json.loads(cli(env, "daemon", "status", "--json").stdout)
    assert doc["running"] is True and doc["pid"] == d.pid and doc["source"] == "status-file"
    assert doc["socket"] is None
