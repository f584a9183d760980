"""Support for the daemon tests and benchmarks (no tests here): real daemon processes on a throwaway home."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transcript_corpus import FIXTURES, rewrite_ids


def make_env(root: Path) -> dict[str, str]:
    """An environment whose store, runtime dir and Claude config all live under `root`."""
    env = dict(os.environ)
    env["SKILL_INSIGHTS_HOME"] = str(root / "home")
    env["CLAUDE_CONFIG_DIR"] = str(root / "claude")
    env.pop("SKILL_INSIGHTS_DAEMON_POLLING", None)
    return env


def cli(env: dict[str, str], *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "skill_insights", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"skill-insights {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def usage_sessions(env: dict[str, str]) -> dict[str, Any]:
    return json.loads(cli(env, "usage", "session", "--json").stdout)


def wait_for(pred: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class DaemonProc:
    """`python -m skill_insights daemon run` as a real child process."""

    def __init__(self, env: dict[str, str], *args: str, log: Path | None = None):
        self.env = env
        home = Path(env["SKILL_INSIGHTS_HOME"])
        self.run_dir = home / "run"
        self.log = log or home.parent / f"daemon-stderr-{time.monotonic_ns()}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._err = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "skill_insights", "daemon", "run", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._err,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "daemon.sock"

    @property
    def pid_path(self) -> Path:
        return self.run_dir / "daemon.pid"

    def wait_ready(self, timeout: float = 30.0) -> DaemonProc:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}: {self.log.read_text()}")
            try:
                return self.socket_path.exists() and int(self.pid_path.read_text().strip()) == self.pid
            except (OSError, ValueError):
                return False

        wait_for(ready, timeout, what="daemon socket and pid file")
        return self

    def status(self) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(self.socket_path))
            s.sendall(b'{"skill_insights_request": "status"}')
            s.shutdown(socket.SHUT_WR)
            buf = b""
            while chunk := s.recv(65536):
                buf += chunk
        return json.loads(buf)

    def wait_idle(self, timeout: float = 30.0) -> dict[str, Any]:
        """Until the start-up reconcile has run and nothing is queued."""

        def idle() -> dict[str, Any] | None:
            st = self.status()
            jobs = {j["name"]: j for j in st["jobs"]}
            return st if jobs["ingest.reconcile"]["runs"] >= 1 and st["backlog"] == 0 else None

        return wait_for(idle, timeout, what="daemon idle")

    def send(self, raw: bytes) -> None:
        """What the hook does: the raw payload, then shut down the write side."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.socket_path))
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._err.close()
        return self.proc.returncode

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._err.close()


# -- transcript material -------------------------------------------------------------------------------


def fixture_sessions(version: str = "2.1.197") -> list[Path]:
    return sorted(FIXTURES.glob(f"{version}/*/projects/*/*.jsonl"))


def assistant_template() -> dict[str, Any]:
    for f in fixture_sessions():
        for line in f.read_bytes().splitlines():
            doc = json.loads(line)
            if doc.get("type") == "assistant" and doc["message"]["model"].startswith("claude-"):
                return doc
    raise AssertionError("no assistant line in the fixtures")


def assistant_line(template: dict[str, Any], session_id: str, output_tokens: int) -> tuple[bytes, str]:
    """A realistic assistant line with fresh ids; returns (line with newline, message id)."""
    doc = json.loads(json.dumps(template))
    mid = f"msg_{uuid.uuid4().hex}"
    doc["message"]["id"] = mid
    doc["requestId"] = f"req_{uuid.uuid4().hex}"
    doc["uuid"] = str(uuid.uuid4())
    doc["sessionId"] = session_id
    doc["message"]["usage"]["output_tokens"] = output_tokens
    doc["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n", mid


def big_transcript(path: Path, min_bytes: int) -> Path:
    """One long session made of the 2.1.197 fixtures repeated with fresh ids."""
    datas = [f.read_bytes() for f in fixture_sessions()]
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "wb") as fh:
        while fh.tell() < min_bytes:
            for data in datas:
                fh.write(rewrite_ids(data, n))
                n += 1
    return path
