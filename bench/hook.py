"""Wall time of the installed hook command against a bare interpreter start (target: ≤ 1.5× `python -c pass`).

Runs the exact command `skill-insights install` writes into settings.json, with a realistic SessionEnd payload
(a real transcript copied from tests/fixtures) on stdin, in a throwaway SKILL_INSIGHTS_HOME:
  - spool: no daemon, so the hook spools the payload and starts a detached one-file ingest
    (between runs, untimed, we wait until that ingest has emptied the spool so it does not steal CPU);
  - socket: a fake daemon listening on the real socket path (a thread that reads and drops);
  - start: SessionStart with a live pid in the pid file (the usual case: nothing to spawn).
Runs are interleaved round-robin so machine noise hits every variant alike. Prints medians of N runs.

    python bench/hook.py [--runs 20]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli  # the sibling module, importable however the script is started

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "claude-code" / "2.1.330" / "subagent"


def payload_for(home: Path) -> bytes:
    projects = home / "claude" / "projects"
    shutil.copytree(FIXTURE / "projects", projects)
    transcript = next(projects.glob("*/*.jsonl"))
    lines = (FIXTURE / "hooks.jsonl").read_text().splitlines()
    end = next(json.loads(line) for line in lines if '"SessionEnd"' in line)
    end["transcript_path"] = str(transcript)
    end["cwd"] = str(home)
    return json.dumps(end).encode()


def timed(argv: list[str], stdin: bytes, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(argv, input=stdin, capture_output=True, env=env, check=False)
    dt = time.perf_counter() - t0
    if p.returncode != 0 or p.stdout:
        raise SystemExit(f"{argv} misbehaved: rc={p.returncode} stdout={p.stdout[:200]!r}")
    return dt


def wait_empty(spool: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not spool.is_dir() or not any(n.endswith(".json") for n in os.listdir(spool)):
            return
        time.sleep(0.02)
    log = spool.parent / "hook.log"
    tail = log.read_text().splitlines()[-6:] if log.exists() else []
    print(
        f"warning: spool {spool} not drained after {timeout}s: {os.listdir(spool)}; log tail:",
        *tail,
        sep="\n  ",
        file=sys.stderr,
    )


FAKE_DAEMON = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(64)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    while c.recv(65536):
        pass
    c.close()
"""


class FakeDaemon:
    """A separate process (a thread here would fight the timer for the GIL) that accepts connections on the
    daemon socket and reads each payload to EOF, like the real daemon."""

    def __init__(self, path: str):
        self.path = path
        self.proc = subprocess.Popen([sys.executable, "-S", "-c", FAKE_DAEMON, path], stdout=subprocess.PIPE)
        assert self.proc.stdout is not None and self.proc.stdout.readline() == b"ready\n"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        os.unlink(self.path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()

    from skill_insights.hooks import install, locations

    install.precompile()  # what `install` does; a wheel install has these .pyc files already
    tmp = Path(tempfile.mkdtemp(prefix="si-hook-bench-"))
    home = tmp / "h"
    env = dict(os.environ, SKILL_INSIGHTS_HOME=str(home))
    os.environ["SKILL_INSIGHTS_HOME"] = str(home)  # so `locations` computes the bench's paths
    payload = payload_for(tmp)
    py = sys.executable
    end_cmd = shlex.split(install.hook_command("session-end"))
    start_cmd = shlex.split(install.hook_command("session-start"))
    spool = Path(locations.spool_dir())
    variants: dict[str, list[float]] = {
        "python -c pass": [],
        "python -S -c pass": [],
        "hook session-end, spool": [],
        "hook session-end, socket": [],
        "hook session-start": [],
    }
    cli = _cli.console_script()
    if cli:
        variants["skill-insights hook (console script)"] = []
    path_python3 = shutil.which("python3")

    try:
        for _ in range(2):  # warm the page cache and bytecode
            timed([py, "-c", "pass"], b"", env)
            timed(end_cmd, payload, env)
            wait_empty(spool)
        for i in range(args.runs):
            variants["python -c pass"].append(timed([py, "-c", "pass"], b"", env))
            variants["python -S -c pass"].append(timed([py, "-S", "-c", "pass"], b"", env))
            variants["hook session-end, spool"].append(timed(end_cmd, payload, env))
            wait_empty(spool)
            daemon = FakeDaemon(locations.socket_path())
            pid_fd = None
            try:
                variants["hook session-end, socket"].append(timed(end_cmd, payload, env))
                # As when the daemon runs: a live pid (this one) in the pid file, under the daemon's flock.
                pid_fd = os.open(locations.pid_path(), os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(pid_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.write(pid_fd, f"{os.getpid()}\n".encode())
                variants["hook session-start"].append(
                    timed(start_cmd, payload.replace(b"SessionEnd", b"SessionStart"), env)
                )
            finally:
                daemon.close()
                if pid_fd is not None:
                    os.unlink(locations.pid_path())
                    os.close(pid_fd)
            if cli and i < 10:
                variants["skill-insights hook (console script)"].append(
                    timed([cli, "hook", "session-end"], payload, env)
                )
                wait_empty(spool)
        log_lines = Path(locations.hook_log()).read_text().splitlines()
        handed = sum("handed to daemon" in line for line in log_lines)
        spooled = sum("spooled" in line for line in log_lines)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    base = statistics.median(variants["python -c pass"])
    print(f"interpreter: {py} (Python {sys.version.split()[0]}), {args.runs} runs each, medians")
    print(f"payload: {len(payload)} bytes SessionEnd; hook command: {shlex.join(end_cmd)}")
    for name, xs in variants.items():
        med = statistics.median(xs)
        print(f"  {name:<40} {med * 1000:7.2f} ms  {med / base:5.2f}x  (min {min(xs) * 1000:.2f}, n={len(xs)})")
    if path_python3 and os.path.realpath(path_python3) != os.path.realpath(py):
        xs = [timed([path_python3, "-c", "pass"], b"", env) for _ in range(min(args.runs, 10))]
        print(
            f"  (`python3` on PATH is {path_python3}: {statistics.median(xs) * 1000:.2f} ms; compared against "
            f"{py} instead)"
        )
    worst = max(statistics.median(variants[k]) for k in variants if k.startswith("hook "))
    print(
        f"worst hook variant / python -c pass = {worst / base:.2f}x (target ≤ 1.5x): "
        f"{'OK' if worst / base <= 1.5 else 'OVER'}"
    )
    print(f"hook log: {handed} handed to the fake daemon, {spooled} spooled")


if __name__ == "__main__":
    main()
