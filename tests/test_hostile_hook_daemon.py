"""The hook, the spool and the daemon against hostile input: real files, real processes, a real daemon.

Paths outside the projects folders, links out of them (to another tree, to `/`), a NUL in a session id, a
store locked by another writer, a FIFO for a config file, a disk that takes no more bytes.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_daemon_support import DaemonProc, assistant_line, assistant_template, cli, make_env, usage_sessions, wait_for

from skill_insights.hooks import install

FIX = Path(__file__).parent / "fixtures" / "claude-code" / "2.1.197"


@pytest.fixture
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("h")  # short: the socket path must stay under the AF_UNIX limit


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


def spool_dir(env: dict[str, str]) -> Path:
    return Path(env["SKILL_INSIGHTS_HOME"]) / "run" / "spool"


def copy_session(scenario: str, dest_projects: Path) -> Path:
    """A fixture session's projects folder copied into `dest_projects`; returns its main transcript there."""
    src = FIX / scenario / "projects"
    shutil.copytree(src, dest_projects, dirs_exist_ok=True)
    main = next(p for p in sorted(src.rglob("*.jsonl")) if p.parent.name != "subagents")
    return dest_projects / main.relative_to(src)


def sessions(env: dict[str, str]) -> set[str]:
    return {r["session_id"] for r in usage_sessions(env)["rows"]}


def blind(env: dict[str, str]) -> dict[str, str]:
    """A daemon that sees no file event and reconciles only at start: what it captures later, a payload explains."""
    return {
        **env,
        "SKILL_INSIGHTS_DAEMON_POLLING": "1",
        "SKILL_INSIGHTS_POLL_S": "3600",
        "SKILL_INSIGHTS_RECONCILE_S": "3600",
    }


def hook_payload(transcript: Path | str, session_id: str | None = None) -> bytes:
    doc = {
        "session_id": session_id or Path(transcript).stem,
        "transcript_path": str(transcript),
        "hook_event_name": "SessionEnd",
        "reason": "other",
        "cwd": "/home/dev/project",
    }
    return json.dumps(doc).encode()


# -- item: a payload names a transcript outside the projects folders -------------------------------------


def test_daemon_ingests_no_payload_transcript_outside_the_projects_folders(
    root: Path, env: dict[str, str], daemons: list[DaemonProc]
) -> None:
    outside = copy_session("hello", root / "elsewhere")  # a real transcript, just not under the projects folder
    through_link = copy_session("mcp_tool", root / "other-tree")
    d = DaemonProc(blind(env)).wait_ready()
    daemons.append(d)
    d.wait_idle()
    # A link inside the projects folder to a transcript elsewhere is outside too, once resolved.
    link = projects(env) / "-home-dev-x" / f"{through_link.stem}.jsonl"
    link.parent.mkdir(parents=True)
    link.symlink_to(through_link)
    inside = copy_session("bash_tool", projects(env))  # after the start-up reconcile: only a payload explains it
    d.send(hook_payload(outside))
    d.send(hook_payload(link))
    d.send(hook_payload(root / "claude" / "projects" / ".." / ".." / "elsewhere" / outside.name))
    d.send(hook_payload(inside))  # sent last: once it is in, the others were handled
    wait_for(lambda: inside.stem in sessions(env), what="the transcript inside the projects folder")
    d.wait_idle()
    assert sessions(env) == {inside.stem}
    assert d.status()["files_watched"] == 1


def test_ingest_spool_ingests_no_transcript_outside_the_projects_folders(root: Path, env: dict[str, str]) -> None:
    outside = copy_session("hello", root / "elsewhere")
    inside = copy_session("bash_tool", projects(env))
    spool = spool_dir(env)
    spool.mkdir(parents=True)
    (spool / "1-1.json").write_bytes(hook_payload(outside))
    (spool / "2-1.json").write_bytes(hook_payload(inside))
    out = cli(env, "ingest-spool").stdout
    assert "2 spooled payloads, 1 transcripts" in out
    assert sessions(env) == {inside.stem}
    assert list(spool.iterdir()) == []


# -- item: links out of the projects folders --------------------------------------------------------------


def test_a_folder_moved_in_with_links_out_is_not_walked_and_costs_no_events(
    root: Path, env: dict[str, str], daemons: list[DaemonProc]
) -> None:
    other_tree = copy_session("hello", root / "other-tree" / "projects")
    d = DaemonProc(env).wait_ready()
    daemons.append(d)
    d.wait_idle()
    # A project folder built elsewhere and moved in: one real session, a link to another tree, a link to /.
    staging = root / "staging" / "-home-dev-moved"
    new = copy_session("bash_tool", staging)
    (staging / "tree").symlink_to(other_tree.parent.parent, target_is_directory=True)
    (staging / "slash").symlink_to("/", target_is_directory=True)
    moved = projects(env) / staging.name
    os.rename(staging, moved)
    # The moved-in session (events of the same turn as the links) is captured, and nothing through a link.
    wait_for(lambda: new.stem in sessions(env), timeout=20, what="the session in the moved-in folder")
    d.wait_idle()
    assert sessions(env) == {new.stem}
    st = d.status()
    assert st["stats"]["errors"] == 0
    assert d.proc.poll() is None


def test_reconcile_takes_no_transcript_linked_in_from_outside(
    root: Path, env: dict[str, str], daemons: list[DaemonProc]
) -> None:
    outside = copy_session("hello", root / "elsewhere")
    inside = copy_session("bash_tool", projects(env))
    link = projects(env) / "-home-dev-x" / f"{outside.stem}.jsonl"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    d = DaemonProc(env).wait_ready()
    daemons.append(d)
    d.wait_idle()
    wait_for(lambda: inside.stem in sessions(env), what="the session inside")
    assert sessions(env) == {inside.stem}


def test_a_root_recreated_as_a_link_to_another_tree_is_neither_watched_nor_walked(
    root: Path, env: dict[str, str], daemons: list[DaemonProc]
) -> None:
    other = copy_session("hello", root / "other-tree" / "projects")
    inside = copy_session("bash_tool", projects(env))
    env = {**env, "SKILL_INSIGHTS_RECONCILE_S": "1"}  # reconciles keep coming: none may walk the link
    d = DaemonProc(env).wait_ready()
    daemons.append(d)
    wait_for(lambda: inside.stem in sessions(env), what="the session inside")
    shutil.rmtree(projects(env))
    projects(env).symlink_to(other.parent.parent, target_is_directory=True)
    log = Path(d.status()["log_file"])
    wait_for(lambda: "no longer leads to the folder" in log.read_text(), what="the daemon refusing the new root")
    runs = {j["name"]: j for j in d.status()["jobs"]}["ingest.reconcile"]["runs"]
    wait_for(
        lambda: {j["name"]: j for j in d.status()["jobs"]}["ingest.reconcile"]["runs"] >= runs + 2,
        what="two more reconciles",
    )
    assert other.stem not in sessions(env)
    assert d.status()["stats"]["errors"] == 0


# -- item: a NUL in session_id ----------------------------------------------------------------------------


def nul_payload(transcript: Path) -> bytes:
    return json.dumps({"session_id": "a\u0000b", "transcript_path": str(transcript)}).encode()


def test_ingest_spool_drains_past_a_payload_with_a_nul_in_its_session_id(env: dict[str, str]) -> None:
    first = copy_session("hello", projects(env))
    second = copy_session("bash_tool", projects(env))
    spool = spool_dir(env)
    spool.mkdir(parents=True)
    (spool / "1-1.json").write_bytes(nul_payload(first))
    (spool / "2-1.json").write_bytes(hook_payload(second))
    proc = cli(env, "ingest-spool", check=False)
    assert proc.returncode == 0, proc.stderr
    assert sessions(env) == {first.stem, second.stem}  # the NUL payload's transcript itself is fine
    assert list(spool.iterdir()) == []


def test_ingest_spool_removes_a_fifo_and_a_link_named_like_payloads(root: Path, env: dict[str, str]) -> None:
    good = copy_session("bash_tool", projects(env))
    secret = root / "secret.json"
    secret.write_bytes(hook_payload(copy_session("hello", root / "elsewhere")))
    spool = spool_dir(env)
    spool.mkdir(parents=True)
    os.mkfifo(spool / "1-1.json")  # reading it would block the drain for good
    (spool / "2-1.json").symlink_to(secret)
    (spool / "3-1.json").write_bytes(hook_payload(good))
    proc = cli(env, "ingest-spool", check=False, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert sessions(env) == {good.stem}
    assert list(spool.iterdir()) == [] and secret.exists()  # the link went, not what it pointed at


def test_daemon_drains_past_a_payload_with_a_nul_in_its_session_id(
    env: dict[str, str], daemons: list[DaemonProc]
) -> None:
    spool = spool_dir(env)
    spool.mkdir(parents=True)
    (spool / "1-1.json").write_bytes(nul_payload(projects(env) / "x" / "gone.jsonl"))
    (spool / "2-1.json").write_bytes(b"[not a payload")
    d = DaemonProc(blind(env)).wait_ready()
    daemons.append(d)
    d.wait_idle()
    wait_for(lambda: not list(spool.iterdir()), what="the spool to drain")
    good = copy_session("bash_tool", projects(env))
    d.send(nul_payload(good))  # the same payload over the socket: its transcript is taken
    wait_for(lambda: good.stem in sessions(env), what="the transcript of a payload with a NUL session id")
    st = d.status()
    jobs = {j["name"]: j for j in st["jobs"]}
    assert jobs["spool.drain"]["last_error"] is None and st["stats"]["errors"] == 0
    # The payload that cannot be used is said once, as it is removed.
    logged = [line for line in Path(st["log_file"]).read_text().splitlines() if "unusable" in line]
    assert len(logged) == 1 and "2-1.json" in logged[0]


# -- item: the store locked by another writer -------------------------------------------------------------


def quick_status(path: Path, timeout: float = 3.0) -> dict | None:
    """The daemon's status over its socket, or None if it does not answer within `timeout` (a blocked loop)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(b'{"skill_insights_request": "status"}')
            s.shutdown(socket.SHUT_WR)
            buf = b""
            while chunk := s.recv(65536):
                buf += chunk
        return json.loads(buf)
    except (OSError, ValueError):
        return None


def test_a_locked_store_is_waited_out_with_retries_and_shown_in_status(
    root: Path, env: dict[str, str], daemons: list[DaemonProc]
) -> None:
    transcript = copy_session("hello", projects(env))
    env = {**env, "SKILL_INSIGHTS_RECONCILE_S": "3600"}  # only the retry can bring the line in
    d = DaemonProc(env).wait_ready()
    daemons.append(d)
    wait_for(lambda: transcript.stem in sessions(env), what="the first capture")
    d.wait_idle()
    before = next(r for r in usage_sessions(env)["rows"] if r["session_id"] == transcript.stem)

    store = Path(env["SKILL_INSIGHTS_HOME"]) / "data" / "skill-insights.db"
    assert store.is_file()
    writer = sqlite3.connect(store, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        line, _ = assistant_line(assistant_template(), transcript.stem, output_tokens=4321)
        with open(transcript, "ab") as fh:
            fh.write(line)

        def waiting() -> dict | None:
            st = quick_status(d.socket_path)
            return st["store_wait"] if st and st.get("store_wait") else None

        wait = wait_for(waiting, timeout=20, what="`store_wait` in a status that still answers")
        assert wait["files"] >= 1 and wait["attempts"] >= 1
        shown = cli(env, "daemon", "status").stdout
        assert "locked by another writer" in shown
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    after = wait_for(
        lambda: (
            (r := next(r for r in usage_sessions(env)["rows"] if r["session_id"] == transcript.stem))
            and r["output_tokens"] == before["output_tokens"] + 4321
            and r
        ),
        timeout=30,
        what="the line written while the store was locked",
    )
    assert after["output_tokens"] == before["output_tokens"] + 4321
    assert wait_for(lambda: (st := quick_status(d.socket_path)) and st["store_wait"] is None, what="no wait")


def test_daemon_status_does_not_hang_on_a_fifo_status_file(root: Path, env: dict[str, str]) -> None:
    run = Path(env["SKILL_INSIGHTS_HOME"]) / "run"
    run.mkdir(parents=True, mode=0o700)
    # A process that holds the daemon's lock but answers on no socket: status falls back to the status file.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
            " fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode()); print(flush=True);"
            " time.sleep(60)",
            str(run / "daemon.pid"),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"\n"
        os.mkfifo(run / "daemon.status.json")
        doc = json.loads(cli(env, "daemon", "status", "--json", timeout=20).stdout)
        assert doc["running"] is True and doc["pid"] == holder.pid and doc["source"] == "none"
    finally:
        holder.kill()
        holder.wait()


# -- item: the SessionStart hook and a FIFO config; the SessionEnd hook and a full disk ---------------------


def hook_env(root: Path) -> dict[str, str]:
    return {**os.environ, "SKILL_INSIGHTS_HOME": str(root / "home"), "CLAUDE_CONFIG_DIR": str(root / "claude")}


def run_hook(event: str, stdin: bytes, env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    argv = shlex.split(install.hook_command(event))
    return subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=20, check=False, **kw)


def test_session_start_does_not_hang_on_a_fifo_config(root: Path) -> None:
    env = hook_env(root)
    config = root / "home" / "config"
    config.mkdir(parents=True)
    (config / "service-manager").write_text("systemd\n")  # spawn no daemon from this test
    os.mkfifo(config / "config.json")
    result = run_hook("session-start", b'{"hook_event_name": "SessionStart", "source": "startup"}', env)
    assert result.returncode == 0 and result.stdout == b""
    log = (root / "home" / "run" / "hook.log").read_text()
    assert "session-start" in log and "internal error" not in log


def test_no_hook_hangs_on_a_fifo_for_its_log(root: Path) -> None:
    env = hook_env(root)
    run = root / "home" / "run"
    run.mkdir(parents=True, mode=0o700)
    os.mkfifo(run / "hook.log")
    (root / "home" / "config").mkdir(parents=True)
    (root / "home" / "config" / "service-manager").write_text("systemd\n")
    for event, stdin in (("session-start", b"{}"), ("session-end", b"garbage")):
        result = run_hook(event, stdin, env)
        assert result.returncode == 0 and result.stdout == b""


def test_a_full_disk_leaves_no_partial_spool_file(root: Path) -> None:
    env = hook_env(root)
    transcript = copy_session("hello", root / "claude" / "projects")
    spool = root / "home" / "run" / "spool"
    spool.mkdir(parents=True, mode=0o700)

    def no_more_bytes() -> None:  # every write to a file fails as on a full disk (EFBIG instead of ENOSPC)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    result = run_hook("session-end", hook_payload(transcript), env, preexec_fn=no_more_bytes)
    assert result.returncode == 0 and result.stdout == b""
    assert list(spool.iterdir()) == []


def test_the_hook_path_still_imports_no_package_code() -> None:
    # The fast path's new config read must not pull anything in: the module's own imports stay the stdlib trio.
    src = (Path(install.ENTRY).parent / "fastpath.py").read_text()
    top = [line for line in src.splitlines() if line.startswith(("import ", "from ")) and "__future__" not in line]
    assert top == ["import os", "import stat  # already loaded by os", "import sys", "import time"]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the daemon's CPU time from /proc")
def test_a_wait_for_the_store_whose_files_are_gone_ends_without_spinning(
    env: dict[str, str], daemons: list[DaemonProc]
) -> None:
    transcript = copy_session("hello", projects(env))
    env = {**env, "SKILL_INSIGHTS_RECONCILE_S": "3600"}
    d = DaemonProc(env).wait_ready()
    daemons.append(d)
    wait_for(lambda: transcript.stem in sessions(env), what="the first capture")
    d.wait_idle()
    writer = sqlite3.connect(Path(env["SKILL_INSIGHTS_HOME"]) / "data" / "skill-insights.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        line, _ = assistant_line(assistant_template(), transcript.stem, output_tokens=5)
        with open(transcript, "ab") as fh:
            fh.write(line)
        wait_for(lambda: (st := quick_status(d.socket_path)) and st.get("store_wait"), what="the wait")
        transcript.unlink()  # the file waiting for the store goes away
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    wait_for(lambda: (st := quick_status(d.socket_path)) and st["store_wait"] is None, what="the wait to end")
    before = cpu_seconds(d.pid)
    time.sleep(2.0)
    assert cpu_seconds(d.pid) - before < 0.5  # idle again, not retrying in a tight loop
