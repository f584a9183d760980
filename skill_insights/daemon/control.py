"""Single-instance lock, and the `daemon start|stop|status` side that talks to a running daemon.

The pid file is also the lock: the daemon holds an exclusive `flock` on it for its whole life, so a SIGKILLed
daemon leaves a file whose lock the kernel already released and the next one simply takes over.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from skill_insights.hooks import locations
from skill_insights.hooks.fastpath import DAEMON_ARGS, daemon_running, private_dir, read_small_file

STATUS_NAME = "daemon.status.json"
STATUS_REQUEST = b'{"skill_insights_request": "status"}'
STATUS_MAX_BYTES = 4 * 1024 * 1024


def status_path() -> str:
    return os.path.join(locations.runtime_dir(), STATUS_NAME)


def ensure_runtime_dir() -> str:
    """The runtime dir, created 0700 (it holds the socket: only this user may talk to the daemon)."""
    d = locations.runtime_dir()
    # The hook's own rule: on the shared /tmp fallback, a folder another user made must not get our socket.
    if not private_dir(d):
        raise PermissionError(f"runtime folder {d} is not a private folder of this user")
    return d


class AlreadyRunning(RuntimeError):
    def __init__(self, pid: int | None):
        self.pid = pid
        super().__init__(
            f"a skill-insights daemon is already running (pid {pid or '?'}); pid file {locations.pid_path()}"
        )


class InstanceLock:
    def __init__(self, path: str | None = None):
        self.path = path or locations.pid_path()
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write our pid, or raise AlreadyRunning."""
        # The hook probes the lock for an instant to see whether a daemon runs: a start that meets a probe
        # tries again for a moment instead of reporting a daemon that is not there.
        probe_deadline = time.monotonic() + 0.2
        for _ in range(100):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() < probe_deadline:
                    time.sleep(0.01)
                    continue
                raise AlreadyRunning(read_pid(self.path)) from None
            # A stopping daemon unlinks the file while still holding its lock: if we locked that orphaned
            # inode, the file at `path` is not ours and a third process could lock it too. Retry.
            try:
                same = os.path.samestat(os.stat(self.path), os.fstat(fd))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.fd = fd
            return
        raise AlreadyRunning(read_pid(self.path))

    def release(self) -> None:
        if self.fd is None:
            return
        # Unlink before unlocking, so nobody reads our pid from a file we no longer hold.
        with contextlib.suppress(OSError):
            if os.path.samestat(os.stat(self.path), os.fstat(self.fd)):
                os.unlink(self.path)
        os.close(self.fd)
        self.fd = None


def read_pid(path: str | None = None) -> int | None:
    raw = read_small_file(path or locations.pid_path(), 32)  # a FIFO there must not hang `daemon stop`
    try:
        return int((raw or b"").strip() or b"0") or None
    except ValueError:
        return None


def is_alive(pid: int) -> bool:
    """A live (not zombie) process that looks like ours, where /proc lets us check."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process reusing the pid
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        if stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"Z":
            return False
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read()
        return b"skill_insights" in cmd or b"skill-insights" in cmd
    except OSError:
        return True  # no /proc (macOS): the signal check is all we have


def running_pid() -> int | None:
    """The daemon's pid while one holds the flock on its pid file: the hook's rule (daemon_running). A pid
    file left by a kill -9 may name a pid since reused by another skill-insights process, which
    `daemon stop` would then signal."""
    running, pid = daemon_running()
    return pid if running else None


def query_status(timeout: float = 2.0) -> dict[str, Any] | None:
    """Ask the daemon over its socket; None if it does not answer."""
    path = locations.socket_path()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(STATUS_REQUEST)
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        doc = json.loads(b"".join(chunks))
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None


def read_status_file() -> dict[str, Any] | None:
    raw = read_small_file(status_path(), STATUS_MAX_BYTES)  # non-blocking, regular files only
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def proc_rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def status() -> dict[str, Any]:
    """What `daemon status` shows: live from the socket, else the last status file the daemon wrote."""
    pid = running_pid()
    if pid is None:
        return {"running": False, "pid": None, "pid_file": locations.pid_path()}
    doc = query_status()
    source = "socket"
    if doc is None or doc.get("pid") != pid:
        doc = read_status_file() or {}
        source = "status-file" if doc.get("pid") == pid else "none"
        if source == "none":
            doc = {}
        elif doc.get("started_at"):
            doc["uptime_s"] = round(time.time() - doc["started_at"], 1)
    rss = proc_rss_bytes(pid)
    if rss is not None:
        doc["rss_bytes"] = rss
    return {**doc, "running": True, "pid": pid, "source": source}


def _log_reason(max_bytes: int = 64 * 1024) -> str:
    """The last error the daemon logged (its traceback's last line), for a start that failed."""
    from skill_insights.settings import get_paths

    log = get_paths().log_dir / "daemon.log"
    try:
        with open(log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - max_bytes))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return f"see {log}"
    for line in reversed(lines):
        text = line.strip()
        if text and not text.startswith(("File ", "^", "~")) and ("Error" in text or "error" in text):
            return f"{text[:300]} (more in {log})"
    return f"see {log}"


def start(wait_s: float = 10.0, extra_args: list[str] | None = None) -> tuple[int | None, bool, str]:
    """Start a detached daemon unless one runs, and wait until it answers on its socket.

    Returns (pid, ok, message): ok is False when it exited at start or did not answer in `wait_s`."""
    pid = running_pid()
    if pid:
        return pid, True, f"daemon already running (pid {pid})"
    ensure_runtime_dir()
    cmd = [sys.executable, *DAEMON_ARGS, *(extra_args or [])]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # out of the caller's process group: a Ctrl-C there does not reach it
        close_fds=True,
        cwd="/",
    )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            other = running_pid()
            if other:  # lost a race with another start: that one is the daemon
                return other, True, f"daemon already running (pid {other})"
            return None, False, f"daemon exited at start (code {code}): {_log_reason()}"
        # Written pid file and a live process are not enough: a daemon on a store it cannot open dies just
        # after. It is up when it answers.
        if read_pid() == proc.pid:
            answer = query_status(timeout=0.5)
            if answer is not None and answer.get("pid") == proc.pid:
                return proc.pid, True, f"daemon started (pid {proc.pid})"
        time.sleep(0.05)
    if proc.poll() is not None:
        return None, False, f"daemon exited at start (code {proc.returncode}): {_log_reason()}"
    return proc.pid, False, f"daemon (pid {proc.pid}) did not answer within {wait_s:.0f}s: {_log_reason()}"


def stop(timeout: float = 10.0, force: bool = False) -> tuple[int | None, bool, str]:
    """SIGTERM the daemon and wait for it to exit. Returns (pid, stopped, message)."""
    pid = running_pid()
    if pid is None:
        return None, True, "daemon not running"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return pid, True, f"daemon stopped (pid {pid})"
        time.sleep(0.05)
    if force:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        gone = time.monotonic() + 5
        while is_alive(pid) and time.monotonic() < gone:  # return when the process is gone, not before
            time.sleep(0.02)
        return pid, True, f"daemon did not stop within {timeout:.0f}s; killed (pid {pid})"
    return pid, False, f"daemon (pid {pid}) did not stop within {timeout:.0f}s"


def _ago(ts: float | None) -> str:
    if not ts:
        return "never"
    s = max(0.0, time.time() - ts)
    return f"{s:.1f}s ago" if s < 120 else f"{s / 60:.0f} min ago" if s < 7200 else f"{s / 3600:.1f} h ago"


def status_lines(doc: dict[str, Any]) -> list[str]:
    """`daemon status` for a person: pid, uptime, last ingest, files watched, backlog, RSS, socket, jobs."""
    if not doc["running"]:
        return ["daemon not running"]
    rss = doc.get("rss_bytes")
    lines = [
        f"pid           {doc['pid']}",
        f"uptime        {doc.get('uptime_s', '?')}s",
        f"last ingest   {_ago(doc.get('last_ingest_at'))}",
        f"files watched {doc.get('files_watched', '?')}  ({doc.get('observer', '?')} observer)",
        f"backlog       {doc.get('backlog', '?')}",
    ]
    wait = doc.get("store_wait")
    if isinstance(wait, dict):  # another writer holds the store's lock: capture waits and retries
        lines.append(
            f"store         locked by another writer for {wait.get('seconds', '?')}s: "
            f"{wait.get('files', '?')} files wait, attempt {wait.get('attempts', '?')}, "
            f"next retry in {wait.get('next_retry_in_s', '?')}s"
        )
    lines.append(f"rss           {rss / 1048576:.1f} MB" if rss else "rss           ?")
    lines.append(f"socket        {doc.get('socket') or 'none (spool only)'}")
    for job in doc.get("jobs", []):
        err = f"  last error: {job['last_error']}" if job.get("last_error") else ""
        lines.append(
            f"job           {job['name']} every {job['interval_s']:g}s, next in {job['next_in_s']:.0f}s, "
            f"{job['runs']} runs{err}"
        )
    return lines
