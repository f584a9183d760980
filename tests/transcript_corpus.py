"""Test material built from the real-client transcripts in tests/fixtures/claude-code."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "claude-code"
_IDS = re.compile(rb'"((?:msg|req|toolu)_[A-Za-z0-9]+)"')


def assistant_line(mid: str = "m", output_tokens: int = 7, *, model: str = "claude-sonnet-4-5") -> str:
    """One billable assistant line (3 input tokens) of session `s`, without its newline."""
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": "s",
            "timestamp": "2026-11-20T10:00:00Z",
            "requestId": "r" + mid,
            "message": {
                "id": mid,
                "model": model,
                "usage": {"input_tokens": 3, "output_tokens": output_tokens},
                "content": [{"type": "text", "text": "hi"}],
            },
        }
    )


def scenario_projects(version: str, scenario: str) -> Path:
    return FIXTURES / version / scenario / "projects"


def copy_projects(dest: Path, version: str, scenarios: list[str] | None = None) -> Path:
    """Copy scenarios' projects folders into one `projects` dir, keeping file order by scenario mtime."""
    projects = dest / "projects"
    names = scenarios or sorted(p.name for p in (FIXTURES / version).iterdir() if p.is_dir())
    t = 1_700_000_000.0
    for name in names:
        src = scenario_projects(version, name)
        for f in sorted(src.rglob("*"), key=lambda p: (p.suffix != ".jsonl", str(p))):
            if f.is_dir():
                continue
            target = projects / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
    # Distinct, deterministic mtimes: discovery orders files by them.
    for f in sorted(projects.rglob("*.jsonl")):
        t += 1
        os.utime(f, (t, t))
    return projects


def rewrite_ids(data: bytes, n: int) -> bytes:
    """Give every message/request/tool id a suffix, so a copy counts as new responses."""
    return _IDS.sub(lambda m: b'"' + m.group(1) + b"x%d" % n + b'"', data)


def clone_session(src: Path, dest_dir: Path, n: int) -> list[Path]:
    """A copy of a session file (and its subagents) with fresh ids, so it counts as new responses."""
    sid = src.stem
    new_sid = f"{sid[:-6]}{n:06d}"
    out: list[Path] = []

    def rewrite(data: bytes) -> bytes:
        return rewrite_ids(data.replace(sid.encode(), new_sid.encode()), n)

    target = dest_dir / f"{new_sid}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(rewrite(src.read_bytes()))
    out.append(target)
    sub = src.parent / sid / "subagents"
    if sub.is_dir():
        for f in sub.iterdir():
            t = dest_dir / new_sid / "subagents" / f.name
            t.parent.mkdir(parents=True, exist_ok=True)
            t.write_bytes(rewrite(f.read_bytes()))
            out.append(t)
    return out


def big_corpus(dest: Path, copies: int) -> Path:
    """`copies` clones of every 2.1.330 and 2.1.197 session, in one projects dir."""
    projects = dest / "projects" / "-home-dev-project"
    sources = sorted(p for v in ("2.1.197", "2.1.330") for p in FIXTURES.glob(f"{v}/*/projects/*/*.jsonl"))
    for n in range(copies):
        for src in sources:
            clone_session(src, projects, n * 1000 + sources.index(src))
    return dest / "projects"
