"""A FIFO named like a subagent's meta.json or like a transcript, under a projects folder, is never waited for:
`ingest` and the daemon finish and count everything else (opening a FIFO for reading blocks until a writer
comes, which here never does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_daemon_support import DaemonProc, usage_sessions, wait_for
from transcript_corpus import copy_projects


def _projects_with_fifos(root: Path) -> tuple[Path, str]:
    projects = copy_projects(root, "2.1.330", ["subagent", "hello"])
    sub = next(projects.rglob("subagents"))
    meta = next(sub.glob("agent-*.meta.json"))
    meta.unlink()
    os.mkfifo(meta)  # the subagent's meta.json: read when its transcript is first read
    os.mkfifo(sub / "agent-fifo.jsonl")  # named like a subagent transcript
    os.mkfifo(next(projects.glob("*")) / "stuck.jsonl")  # named like a session transcript
    session = sub.parent.name
    return projects, session


def _env() -> dict[str, str]:
    return dict(os.environ)  # conftest's home: store and Claude folder under tmp


def test_ingest_finishes_past_fifos_and_counts_the_rest(tmp_path):
    projects, session = _projects_with_fifos(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "skill_insights", "ingest", "--projects-dir", str(projects)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("3 files (3 changed)")  # two sessions and one subagent transcript
    rows = {r["session_id"]: r for r in json.loads(_usage(["usage", "session", "--json"]))["rows"]}
    assert session in rows and rows[session]["total_tokens"] > 0
    assert len(rows) == 2


def test_the_daemon_finishes_past_fifos_and_counts_the_rest(tmp_path):
    projects, session = _projects_with_fifos(tmp_path)
    env = _env()
    daemon = DaemonProc(env, "--projects-dir", str(projects))
    try:
        daemon.wait_ready(timeout=60)
        rows = wait_for(
            lambda: (r := {s["session_id"]: s for s in usage_sessions(env)["rows"]}) and len(r) == 2 and r,
            timeout=60,
            what="both sessions captured",
        )
        assert rows[session]["total_tokens"] > 0
        assert daemon.status()["pid"] == daemon.pid  # still answering
    finally:
        daemon.stop()


def _usage(args: list[str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "skill_insights", *args], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout
