"""The hook as Claude Code runs it: the exact command `install` writes, a real subprocess, real stdin.

Every wait polls with a generous deadline; nothing here times the hook (bench/hook.py measures that).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from transcript_corpus import FIXTURES

from skill_insights.cli import cli
from skill_insights.hooks import fastpath, install, locations
from skill_insights.settings import get_paths

SUBAGENT = FIXTURES / "2.1.330" / "subagent"
SUBAGENT_COST = 0.1542423  # Claude Code's own cost-state for this session (parent + subagent)


@pytest.fixture
def short_store(monkeypatch) -> Iterator[Path]:
    # A store of its own, not the conftest's: its path is short, so the daemon's socket under it stays within
    # the AF_UNIX limit (104 bytes on macOS) wherever the temporary folder is.
    d = Path(tempfile.mkdtemp(prefix="sih-"))
    monkeypatch.setenv("SKILL_INSIGHTS_HOME", str(d / "si"))
    yield d / "si"
    while _held_locks:
        os.close(_held_locks.pop())
    shutil.rmtree(d, ignore_errors=True)


_held_locks: list[int] = []


def hold_daemon_lock() -> None:
    """Play a running daemon: this process's pid in the pid file, under the daemon's flock (until teardown)."""
    Path(locations.runtime_dir()).mkdir(parents=True, mode=0o700, exist_ok=True)
    fd = os.open(locations.pid_path(), os.O_RDWR | os.O_CREAT, 0o600)
    _held_locks.append(fd)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, f"{os.getpid()}\n".encode())


def copy_session(claude: Path) -> Path:
    """The subagent scenario's transcript (+ its subagents folder) under Claude's projects dir; returns the
    transcript."""
    dest = claude / "projects"
    shutil.copytree(SUBAGENT / "projects", dest)
    return next(dest.glob("*/*.jsonl"))


def payload(event: str, transcript: Path | str) -> bytes:
    lines = (SUBAGENT / "hooks.jsonl").read_text().splitlines()
    doc = next(json.loads(line) for line in lines if f'"{event}"' in line)
    doc["transcript_path"] = str(transcript)
    return json.dumps(doc).encode()


def run_hook(event: str, stdin: bytes, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    argv = shlex.split(install.hook_command(event))
    env = dict(os.environ, **(extra_env or {}))
    return subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=30, check=False)


def log_lines() -> list[str]:
    try:
        return Path(locations.hook_log()).read_text().splitlines()
    except FileNotFoundError:
        return []


def wait_for(cond: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}; hook log: {log_lines()}")


def spooled() -> list[str]:
    d = Path(locations.spool_dir())
    return sorted(p.name for p in d.glob("*.json")) if d.is_dir() else []


# -- bad input: exit 0, nothing on stdout, one log line -----------------------------------------------------


@pytest.mark.parametrize(
    ("event", "stdin", "expected"),
    [
        ("session-end", b"", "empty stdin"),
        ("session-end", b"   \n", "empty stdin"),
        ("session-end", b"this is not json", "not a JSON object"),
        ("session-end", b'{"transcript_path": "/x.jsonl"', "not a JSON object"),
        ("session-end", b'{"a": 1} trailing', "not a JSON object"),
        ("session-end", b"[1, 2]", "not a JSON object"),
        ("session-end", b"\xff\xfe\x00garbage", "not a JSON object"),
        ("session-end", b'{"session_id": "s"}', "no transcript_path"),
        ("session-end", b'{"transcript_path": "/nonexistent/dir/s.jsonl"}', "transcript missing"),
        ("session-start", b"garbage", "not a JSON object"),
        ("session-start", b"", "empty stdin"),
        ("bogus-event", b"{}", "unknown event"),
    ],
)
def test_bad_input_exits_0_quietly_with_one_log_line(short_store, event, stdin, expected):
    # What a running daemon holds, so session-start does not spawn a daemon here.
    hold_daemon_lock()

    result = run_hook(event, stdin)

    assert result.returncode == 0
    assert result.stdout == b""
    lines = log_lines()
    assert len(lines) == 1, lines
    assert expected in lines[0]
    assert "internal error" not in lines[0]
    assert spooled() == []


def test_garbage_session_start_prints_no_context_even_when_configured(short_store):
    Path(locations.config_file()).parent.mkdir(parents=True)
    Path(locations.config_file()).write_text(json.dumps({"session_start_context": "remember the budget"}))
    hold_daemon_lock()

    assert run_hook("session-start", b"not json").stdout == b""
    assert run_hook("session-start", payload("SessionStart", "/x.jsonl")).stdout == b"remember the budget\n"


def test_oversized_payload_is_ignored(isolated_home, short_store):
    transcript = copy_session(isolated_home.claude)
    big = payload("SessionEnd", transcript)[:-1] + b', "pad": "' + b"x" * locations.MAX_PAYLOAD + b'"}'
    result = run_hook("session-end", big)
    assert result.returncode == 0 and result.stdout == b""
    assert "payload over" in log_lines()[-1]
    assert spooled() == []


def test_log_rotates_when_over_the_cap(short_store):
    Path(locations.runtime_dir()).mkdir(parents=True, mode=0o700)
    Path(locations.hook_log()).write_text("old line\n" * (fastpath.LOG_MAX_BYTES // 9 + 10))

    run_hook("session-end", b"")

    assert Path(locations.hook_log() + ".1").read_text().startswith("old line")
    assert len(log_lines()) == 1 and "empty stdin" in log_lines()[0]


# -- session-end: the daemon socket --------------------------------------------------------------------------


class Listener:
    """A real AF_UNIX listener on the daemon's socket path that records every payload received."""

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
            self.received.append(b"".join(chunks))

    def close(self) -> None:
        self.sock.close()


def test_session_end_hands_exact_payload_bytes_to_the_daemon_socket(isolated_home, short_store):
    transcript = copy_session(isolated_home.claude)
    # Odd but valid spacing and key order: the hook must pass the bytes on untouched, not re-serialise them.
    raw = (
        b'  {"hook_event_name":"SessionEnd",  "transcript_path": '
        + json.dumps(str(transcript)).encode()
        + (b', "reason": "other", "extra": [1, 2.50, "\\u00e9"]}\n')
    )
    listener = Listener(locations.socket_path())
    try:
        result = run_hook("session-end", raw)
        wait_for(lambda: listener.received, what="the payload on the socket")
    finally:
        listener.close()

    assert result.returncode == 0 and result.stdout == b""
    assert listener.received == [raw]
    assert spooled() == []
    assert "handed to daemon" in log_lines()[-1]


def test_hook_fast_path_imports_only_cheap_stdlib_modules(isolated_home, short_store):
    transcript = copy_session(isolated_home.claude)
    listener = Listener(locations.socket_path())
    try:
        argv = shlex.split(install.hook_command("session-end"))
        argv.insert(1, "-X")
        argv.insert(2, "importtime")
        result = subprocess.run(argv, input=payload("SessionEnd", transcript), capture_output=True, timeout=30)
        wait_for(lambda: listener.received, what="the payload on the socket")
    finally:
        listener.close()

    imported = {line.split("|")[-1].strip() for line in result.stderr.decode().splitlines() if "|" in line}
    assert "fastpath" in imported
    heavy = {"re", "json", "socket", "subprocess", "tempfile", "site", "skill_insights", "click", "orjson"}
    assert imported & heavy == set()


# -- session-end: no daemon → spool + detached one-file ingest ------------------------------------------------


def session_rows() -> list[dict]:
    result = CliRunner().invoke(cli, ["usage", "session", "--json"], catch_exceptions=False)
    return json.loads(result.output)["rows"]


@pytest.mark.parametrize("socket_state", ["absent", "stale"])
def test_session_end_without_daemon_spools_and_ingests_detached(isolated_home, short_store, socket_state):
    transcript = copy_session(isolated_home.claude)
    if socket_state == "stale":  # a socket file nobody listens on (a SIGKILLed daemon): connect is refused
        Path(locations.runtime_dir()).mkdir(parents=True, mode=0o700)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(locations.socket_path())
        s.close()

    result = run_hook("session-end", payload("SessionEnd", transcript))

    assert result.returncode == 0 and result.stdout == b""
    assert "spooled" in log_lines()[0] and "one-file ingest" in log_lines()[0]
    wait_for(lambda: any("ingest-spool" in line for line in log_lines()), what="the detached ingest")
    wait_for(lambda: spooled() == [], what="the spool to drain")
    rows = [r for r in session_rows() if r["session_id"] == transcript.stem]
    assert len(rows) == 1
    # Parent and subagent both ingested: the total equals Claude Code's own cost-state.
    assert rows[0]["cost_usd"] == pytest.approx(SUBAGENT_COST, abs=1e-9)


def test_socket_path_too_long_falls_back_to_the_spool(isolated_home, monkeypatch, tmp_path):
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    monkeypatch.setenv("SKILL_INSIGHTS_HOME", str(deep))  # a store whose socket path is too long, on purpose
    assert len(os.fsencode(locations.socket_path())) > locations.MAX_SOCKET_PATH
    transcript = copy_session(isolated_home.claude)

    result = run_hook("session-end", payload("SessionEnd", transcript))

    assert result.returncode == 0 and result.stdout == b""
    assert "socket path too long" in log_lines()[0]
    wait_for(lambda: any("ingest-spool" in line for line in log_lines()), what="the detached ingest")
    assert any(r["session_id"] == transcript.stem for r in session_rows())


def test_ingest_spool_command_tolerates_garbage_and_deletes_what_it_processed(isolated_home, short_store):
    transcript = copy_session(isolated_home.claude)
    spool = Path(locations.spool_dir())
    spool.mkdir(parents=True)
    (spool / "1-1.json").write_bytes(payload("SessionEnd", transcript))
    (spool / "2-1.json").write_bytes(b"\x00garbage")
    (spool / "3-1.json").write_bytes(b'{"transcript_path": "/gone/away.jsonl"}')
    (spool / "4-1.json").write_bytes(b"[]")
    (spool / ".5-1.json.tmp").write_bytes(b"{half written")  # a hook mid-write: not ours to touch yet

    result = CliRunner().invoke(cli, ["ingest-spool"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert "4 spooled payloads, 2 transcripts" in result.output
    assert sorted(p.name for p in spool.iterdir()) == [".5-1.json.tmp"]
    rows = [r for r in session_rows() if r["session_id"] == transcript.stem]
    assert rows and rows[0]["cost_usd"] == pytest.approx(SUBAGENT_COST, abs=1e-9)
    assert "4 payloads (2 garbage)" in log_lines()[-1]  # the missing transcript is not garbage


def test_hook_cli_command_runs_the_same_code(isolated_home, short_store):
    transcript = copy_session(isolated_home.claude)
    result = CliRunner().invoke(cli, ["hook", "session-end"], input=b"garbage")
    assert result.exit_code == 0 and result.output == ""
    assert "not a JSON object" in log_lines()[-1]
    listener = Listener(locations.socket_path())
    try:
        raw = payload("SessionEnd", transcript)
        # Through `python -m skill_insights` (the package entry), not the fast script.
        proc = subprocess.run(
            [sys.executable, "-m", "skill_insights", "hook", "session-end"],
            input=raw,
            capture_output=True,
            timeout=60,
            env=dict(os.environ),
        )
        wait_for(lambda: listener.received, what="the payload on the socket")
    finally:
        listener.close()
    assert proc.returncode == 0 and proc.stdout == b""
    assert listener.received == [raw]


# -- session-start -------------------------------------------------------------------------------------------


def test_session_start_with_running_daemon_spawns_nothing_and_prints_nothing(short_store):
    hold_daemon_lock()

    result = run_hook("session-start", payload("SessionStart", "/x.jsonl"))

    assert result.returncode == 0 and result.stdout == b""
    assert f"daemon running (pid {os.getpid()})" in log_lines()[-1]


def test_session_start_prints_the_configured_context_line(short_store):
    hold_daemon_lock()
    Path(locations.config_file()).parent.mkdir(parents=True)
    Path(locations.config_file()).write_text(json.dumps({"session_start_context": "Skills used this week: 3 ✓"}))

    result = run_hook("session-start", payload("SessionStart", "/x.jsonl"))

    assert result.returncode == 0
    assert result.stdout.decode() == "Skills used this week: 3 ✓\n"


def test_session_start_leaves_a_service_managed_daemon_to_its_manager(short_store):
    marker = Path(locations.service_marker())
    marker.parent.mkdir(parents=True)
    marker.write_text("systemd\n")

    result = run_hook("session-start", payload("SessionStart", "/x.jsonl"))

    assert result.returncode == 0 and result.stdout == b""
    assert "service manager owns it" in log_lines()[-1]
    assert not Path(locations.pid_path()).exists()


def test_session_start_spawns_a_detached_daemon_when_none_runs(isolated_home, short_store):
    (isolated_home.claude / "projects").mkdir(parents=True)
    result = run_hook("session-start", payload("SessionStart", "/x.jsonl"))
    assert result.returncode == 0 and result.stdout == b""
    assert "spawned" in log_lines()[-1]

    pid = int(wait_for(lambda: _live_pid(), timeout=60, what="the daemon's pid file"))
    try:
        assert pid != os.getpid()
        # Detached: its own session, so Claude Code killing the hook's process group cannot take it down.
        assert os.getsid(pid) == pid
        # A second session start finds it running and spawns nothing.
        run_hook("session-start", payload("SessionStart", "/x.jsonl"))
        assert f"daemon running (pid {pid})" in log_lines()[-1]
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not _alive(pid), timeout=30, what="the daemon to stop")


def test_session_start_does_not_trust_a_live_pid_without_the_daemons_lock(isolated_home, short_store):
    # Regression: a stale pid file naming any live process (a reused pid after a crash or reboot) read as
    # "daemon running", so no daemon was ever started again.
    (isolated_home.claude / "projects").mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "30"])
    daemon_pid = None
    try:
        Path(locations.runtime_dir()).mkdir(parents=True, mode=0o700)
        Path(locations.pid_path()).write_text(f"{sleeper.pid}\n")  # no lock held: not a daemon

        result = run_hook("session-start", payload("SessionStart", "/x.jsonl"))

        assert result.returncode == 0 and result.stdout == b""
        assert "daemon not running; spawned it" in log_lines()[-1], log_lines()
        daemon_pid = int(wait_for(lambda: (p := _live_pid()) != sleeper.pid and p, what="the spawned daemon"))
    finally:
        subprocess.run(
            [sys.executable, "-m", "skill_insights", "daemon", "stop"],
            capture_output=True,
            timeout=60,
            env=dict(os.environ),
            check=False,
        )
        if daemon_pid and _alive(daemon_pid):
            os.kill(daemon_pid, signal.SIGKILL)
        sleeper.kill()
        sleeper.wait()


def test_hook_cli_command_ignores_extra_arguments(short_store):
    # Regression: `hook session-start --foo bar` exited 2 with click's usage error; a hook must always exit 0.
    hold_daemon_lock()
    result = CliRunner().invoke(cli, ["hook", "session-start", "--foo", "bar"], input=b"")
    assert result.exit_code == 0 and result.stdout == ""
    assert "empty stdin" in log_lines()[-1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of ours would still answer; the daemon is not our child, so it is reaped by init.
    return True


def _live_pid() -> int | None:
    try:
        pid = int(Path(locations.pid_path()).read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    return pid if pid and _alive(pid) else None


# -- pure pieces ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": [1, 2.5, null, true], "b": "\\u00e9"}', {"a": [1, 2.5, None, True], "b": "é"}),
        (b'  {"x": {}}  \n', {"x": {}}),
        (b'{"n": NaN}', "nan"),
        (b"[]", None),
        (b'"str"', None),
        (b"{", None),
        (b'{"a": 1}{"b": 2}', None),
        (b"\xff", None),
        (b"", None),
    ],
)
def test_parse_object(raw, expected):
    got = fastpath.parse_object(raw)
    if expected == "nan":
        assert got is not None and got["n"] != got["n"]
    else:
        assert got == expected


def test_locations_config_file_matches_settings(monkeypatch, tmp_path):
    assert Path(locations.config_file()) == get_paths().config_file
    monkeypatch.delenv("SKILL_INSIGHTS_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert Path(locations.config_file()) == get_paths().config_file
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert Path(locations.config_file()) == get_paths().config_file
