"""The daemon's pure parts: hook payload parsing, the scheduler, the instance lock."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import IsolatedHome

from skill_insights.daemon import control
from skill_insights.daemon.scheduler import Scheduler
from skill_insights.hooks import payload


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xff\xfe", b"[1, 2]", b"null", b'"str"', b"{", b'{"transcript_path": 3}', b"x" * (2 * 1024 * 1024)],
)
def test_garbage_payloads_give_nothing(raw: bytes) -> None:
    p = payload.parse(raw)
    assert p is None or payload.transcript_files(p, ["/"]) == []


def test_payload_names_the_transcript_and_its_subagents(tmp_path: Path) -> None:
    t = tmp_path / "proj" / "abc.jsonl"
    sub = tmp_path / "proj" / "abc" / "subagents" / "agent-1.jsonl"
    sub.parent.mkdir(parents=True)
    t.write_text("{}\n")
    sub.write_text("{}\n")
    (sub.parent / "agent-1.meta.json").write_text("{}")
    doc = {"session_id": "abc", "transcript_path": str(t), "hook_event_name": "SessionEnd", "cwd": "/x"}
    p = payload.parse(json.dumps(doc).encode())
    assert p is not None and p.event == "SessionEnd"
    assert payload.transcript_files(p, [tmp_path]) == [str(t), str(sub)]
    # Relative, non-jsonl, or a session id trying to climb out: ignored.
    for bad in ("rel/abc.jsonl", str(tmp_path / "notes.txt")):
        assert payload.transcript_files(payload.HookPayload(bad, None, None), [tmp_path]) == []
    assert payload.transcript_files(payload.HookPayload(str(t), "../..", None), [tmp_path]) == [str(t), str(sub)]
    # Outside the projects folders: nothing, however real the files are.
    assert payload.transcript_files(p, [tmp_path / "other"]) == []


def test_missing_transcript_still_finds_subagents(tmp_path: Path) -> None:
    sub = tmp_path / "s1" / "subagents" / "agent-2.jsonl"
    sub.parent.mkdir(parents=True)
    sub.write_text("{}\n")
    missing = payload.HookPayload(str(tmp_path / "s1.jsonl"), "s1", None)
    assert payload.transcript_files(missing, [tmp_path]) == [str(sub)]


def test_scheduler_runs_due_jobs_and_survives_failures() -> None:
    now = [1000.0]
    s = Scheduler(clock=lambda: now[0])
    ran: list[str] = []
    s.register("a", 10, lambda: ran.append("a"), run_at_start=True)
    s.register("b", 5, lambda: 1 / 0)
    with pytest.raises(ValueError):
        s.register("a", 1, lambda: None)
    with pytest.raises(ValueError):
        s.register("c", 0, lambda: None)
    assert s.seconds_until_next() == 0
    assert s.run_due() == ["a"]
    assert s.seconds_until_next() == 5
    now[0] += 5
    assert s.run_due() == ["b"]
    jobs = {j["name"]: j for j in s.describe()}
    assert jobs["b"]["last_error"].startswith("ZeroDivisionError")
    s.trigger("a")
    assert s.run_due() == ["a"] and ran == ["a", "a"]
    s.unregister("b")
    assert [j["name"] for j in s.describe()] == ["a"]


def test_instance_lock_is_exclusive(tmp_path: Path) -> None:
    path = str(tmp_path / "daemon.pid")
    first = control.InstanceLock(path)
    first.acquire()
    second = control.InstanceLock(path)
    with pytest.raises(control.AlreadyRunning) as exc:
        second.acquire()
    assert exc.value.pid == control.read_pid(path)
    first.release()
    assert not Path(path).exists()
    second.acquire()  # free again once released
    second.release()


def test_spool_drain_keeps_a_payload_it_could_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: drain() unlinked every pending file, so one whose read failed (EIO, a transient permission
    # error) lost its payload. The failure is injected at the OS-read boundary; drain() itself runs for real.
    from skill_insights.collectors.transcripts import TranscriptTailer
    from skill_insights.daemon import spool
    from skill_insights.pricing import PriceTable
    from skill_insights.store import open_db

    d = tmp_path / "spool"
    d.mkdir()
    garbage, kept = d / "1-garbage.json", d / "2-kept.json"
    garbage.write_bytes(b"not json")
    kept.write_bytes(b'{"hook_event_name": "SessionEnd"}')
    real_open = os.open

    def flaky_open(path, *args, **kwargs):
        if os.fspath(path) == str(kept):
            raise OSError(5, "Input/output error")
        return real_open(path, *args, **kwargs)

    tailer = TranscriptTailer(open_db(tmp_path / "store.db"), PriceTable.bundled())
    monkeypatch.setattr(os, "open", flaky_open)
    res = spool.drain(tailer, [tmp_path / "projects"], d)
    monkeypatch.setattr(os, "open", real_open)
    assert (res.payloads, res.garbage) == (1, 1)
    assert not garbage.exists()  # read (as garbage): may go
    assert kept.exists()  # not read: stays for the next drain
    res = spool.drain(tailer, [tmp_path / "projects"], d)
    assert res.payloads == 1 and spool.pending(d) == []


def _no_real_daemon(monkeypatch) -> None:
    """Should validation let a bad value through, fail fast instead of running or spawning a daemon."""
    from skill_insights.daemon import service

    def refuse(*_a, **_k):
        raise AssertionError("the bad value was accepted")

    monkeypatch.setattr(service.Daemon, "run", refuse)
    monkeypatch.setattr(control, "start", refuse)
    monkeypatch.setattr(control, "stop", refuse)


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--reconcile-interval", "nan"],
        ["run", "--reconcile-interval", "inf"],
        ["run", "--reconcile-interval", "0"],
        ["run", "--debounce-ms", "-5"],
        ["run", "--debounce-ms", "nan"],
        ["start", "--wait", "-1"],
        ["start", "--wait", "nan"],
        ["stop", "--timeout", "-1"],
    ],
)
def test_daemon_numeric_options_must_be_finite_and_positive(
    args: list[str], monkeypatch, isolated_home: IsolatedHome
) -> None:
    # Regression: nan, negative and infinite intervals were accepted.
    from click.testing import CliRunner

    from skill_insights.cli import cli

    _no_real_daemon(monkeypatch)
    result = CliRunner().invoke(cli, ["daemon", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Invalid value" in result.output
    assert not (isolated_home.store / "run" / "daemon.pid").exists()


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_daemon_run_refuses_a_projects_dir_that_is_not_a_folder(
    kind: str, monkeypatch, tmp_path: Path, isolated_home: IsolatedHome
) -> None:
    # Regression: `daemon run --projects-dir /typo` ran silently, watching nothing.
    from click.testing import CliRunner

    from skill_insights.cli import cli

    _no_real_daemon(monkeypatch)
    target = tmp_path / "projects"
    if kind == "file":
        target.write_text("not a folder\n")
    result = CliRunner().invoke(cli, ["daemon", "run", "--projects-dir", str(target)])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    assert result.output.strip().splitlines() == [f"Error: no such projects folder: {target}"]
    assert not (isolated_home.store / "run" / "daemon.pid").exists()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give a folder to another user")
def test_runtime_dir_of_another_user_is_refused(isolated_home):
    run = isolated_home.store / "run"
    run.mkdir(parents=True, mode=0o700)
    assert control.ensure_runtime_dir() == str(run)
    os.chown(run, 65534, 65534)
    with pytest.raises(PermissionError, match="not a private folder"):
        control.ensure_runtime_dir()


@pytest.mark.parametrize(
    ("raw", "expected"), [("2.5", 2.5), ("nan", 7.0), ("inf", 7.0), ("-1", 7.0), ("0", 7.0), ("abc", 7.0), (None, 7.0)]
)
def test_env_durations_take_the_clis_rule(monkeypatch: pytest.MonkeyPatch, raw: str | None, expected: float) -> None:
    # Regression: SKILL_INSIGHTS_RECONCILE_S=nan made reconcile due on every loop pass (nan > now is false),
    # the bug the CLI's options already refused.
    from skill_insights.daemon import env_float

    if raw is None:
        monkeypatch.delenv("SKILL_INSIGHTS_RECONCILE_S", raising=False)
    else:
        monkeypatch.setenv("SKILL_INSIGHTS_RECONCILE_S", raw)
    assert env_float("SKILL_INSIGHTS_RECONCILE_S", 7.0) == expected


def test_a_stale_pid_file_naming_another_live_skill_insights_process_is_not_a_daemon() -> None:
    # Regression: running_pid trusted a live pid whose command line mentions skill_insights, so after a kill -9
    # `daemon stop` would have signalled whatever process reused the pid; now only the pid file's flock counts.
    import fcntl
    import subprocess
    import sys

    from skill_insights.hooks import locations

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)  # skill_insights"])
    try:
        control.ensure_runtime_dir()
        pid_file = Path(locations.pid_path())
        pid_file.write_text(f"{other.pid}\n")
        assert control.is_alive(other.pid)  # what the old rule went by
        assert control.running_pid() is None and control.status()["running"] is False
        with open(pid_file, "r+b") as held:  # the daemon's own lock: now it counts
            fcntl.flock(held, fcntl.LOCK_EX)
            assert control.running_pid() == other.pid
    finally:
        other.kill()
        other.wait()
