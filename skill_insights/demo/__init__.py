"""A bundled demo: real-client transcripts and a handful of skills with planted problems, in a throwaway home.

`build(root)` lays out `root/home` (HOME, with `.claude` as CLAUDE_CONFIG_DIR) and `root/skill-insights`
(SKILL_INSIGHTS_HOME). The transcripts are copies of tests/fixtures/claude-code (written by the real Claude
Code client): each copy gets fresh ids (so de-duplication does not fold the copies together), timestamps
spread over the last 14 days, and one of a few projects, models, skills and MCP servers, so the charts have
shape. Package data cannot hold dot-folders reliably, so `dot-x` in the bundled tree means `.x`.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_IDS = re.compile(rb"\b(msg|req|toolu)_([A-Za-z0-9]+)")
_TS = re.compile(rb'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)"')
_NS = uuid.UUID("6f1c2a52-3c1e-4f7e-9a51-5d0c1e6b2a10")

PROJECTS = ("webapp", "api", "docs")
# Phases that would reach a remote service: a demo stays offline.
OFFLINE_SKIP = {"registry"}
# (days ago, scenario, project, model, renames): 26 sessions over 14 days, busier mid-week.
PLAN: list[tuple[int, str, str, str, dict[str, str]]] = [
    (13, "2.1.197-hello", "docs", "claude-haiku-4-5", {}),
    (13, "2.1.197-bash_tool", "api", "claude-sonnet-4-5", {}),
    (12, "2.1.197-skill", "api", "claude-sonnet-4-5", {"demo-skill": "sql-style"}),
    (11, "2.1.197-thinking_parallel", "webapp", "claude-opus-4-1", {}),
    (11, "2.1.330-mcp_tool", "webapp", "claude-sonnet-4-5", {}),
    (10, "2.1.197-interactive", "webapp", "claude-sonnet-4-5", {}),
    (9, "2.1.330-skill", "webapp", "claude-sonnet-4-5", {}),
    (9, "2.1.197-subagent", "api", "claude-sonnet-4-5", {}),
    (8, "2.1.197-api_error", "docs", "claude-sonnet-4-5", {}),
    (7, "2.1.197-mcp_tool", "webapp", "claude-sonnet-4-5", {"mcp__demo__echo": "mcp__linear__list_issues"}),
    (6, "2.1.330-resume", "webapp", "claude-sonnet-4-5", {}),
    (6, "2.1.197-skill", "webapp", "claude-sonnet-4-5", {"demo-skill": "pdf-report"}),
    (6, "2.1.330-subagent", "api", "claude-opus-4-1", {}),
    (5, "2.1.197-bash_tool", "webapp", "claude-haiku-4-5", {}),
    (5, "2.1.197-thinking_parallel", "api", "claude-sonnet-4-5", {}),
    (4, "2.1.197-resume", "docs", "claude-sonnet-4-5", {}),
    (4, "2.1.330-skill", "webapp", "claude-sonnet-4-5", {"demo-skill": "pdf-report"}),
    (3, "2.1.197-mcp_tool", "api", "claude-sonnet-4-5", {"mcp__demo__echo": "mcp__github__search_issues"}),
    (3, "2.1.197-skill", "webapp", "claude-sonnet-4-5", {}),
    (2, "2.1.330-subagent", "webapp", "claude-sonnet-4-5", {}),
    (2, "2.1.197-interactive", "api", "claude-opus-4-1", {}),
    (1, "2.1.330-mcp_tool", "webapp", "claude-sonnet-4-5", {"mcp__demo__echo": "mcp__linear__list_issues"}),
    (1, "2.1.197-skill", "api", "claude-haiku-4-5", {"demo-skill": "sql-style"}),
    (1, "2.1.197-subagent", "webapp", "claude-sonnet-4-5", {}),
    (0, "2.1.197-hello", "docs", "claude-haiku-4-5", {}),
    (0, "2.1.330-skill", "webapp", "claude-sonnet-4-5", {}),
]


@dataclass
class DemoEnv:
    root: Path
    home: Path
    claude_dir: Path
    si_home: Path
    projects: list[Path] = field(default_factory=list)

    def environ(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "CLAUDE_CONFIG_DIR": str(self.claude_dir),
            "SKILL_INSIGHTS_HOME": str(self.si_home),
            # Offline by construction: nothing in a demo should reach a real service.
            "DO_NOT_TRACK": "1",
            # Registries point at a closed local port: lookups fail at once and show as "not checked".
            "SKILL_INSIGHTS_TESSL_REGISTRY_URL": "http://127.0.0.1:9",
            "SKILLS_API_URL": "http://127.0.0.1:9",
        }


def _walk(node: Traversable, rel: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for child in node.iterdir():
        if child.is_dir():
            yield from _walk(child, (*rel, child.name))
        else:
            yield (*rel, child.name), child


def _undot(parts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple("." + p[4:] if p.startswith("dot-") else p for p in parts)


def encode_project_dir(cwd: str) -> str:
    """Claude Code's folder name for a cwd: every non-alphanumeric character becomes '-'."""
    return re.sub(r"[^A-Za-z0-9]", "-", cwd)


def _rewrite(raw: bytes, copy: int, start: datetime, first_ts: datetime | None, cwd: str, home: str,
             model: str, renames: dict[str, str]) -> bytes:
    ids: dict[bytes, bytes] = {}

    def new_uuid(m: re.Match[bytes]) -> bytes:
        old = m.group(0)
        if old not in ids:
            ids[old] = str(uuid.uuid5(_NS, f"{copy}:{old.decode()}")).encode()
        return ids[old]

    out = _UUID.sub(new_uuid, raw)
    out = _IDS.sub(lambda m: m.group(1) + b"_" + m.group(2) + b"d" + str(copy).encode(), out)
    if first_ts is not None:
        shift = start - first_ts

        def move(m: re.Match[bytes]) -> bytes:
            t = datetime.fromisoformat(m.group(1).decode().replace("Z", "+00:00")) + shift
            return b'"' + t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3].encode() + b'Z"'

        out = _TS.sub(move, out)
    out = out.replace(b"/home/dev/project", cwd.encode())
    out = out.replace(b"-home-dev-project", encode_project_dir(cwd).encode())
    out = out.replace(b"/home/dev/", home.encode() + b"/")
    out = out.replace(b'"model":"claude-sonnet-4-5"', b'"model":"' + model.encode() + b'"')
    for a, b in renames.items():
        out = out.replace(a.encode(), b.encode())
    return out


def _first_ts(blobs: list[bytes]) -> datetime | None:
    stamps = [m.group(1).decode() for b in blobs for m in _TS.finditer(b)]
    if not stamps:
        return None
    return min(datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps)


def _git(cwd: Path, *args: str, date: str | None = None) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    subprocess.run(["git", "-c", "user.name=Demo Dev", "-c", "user.email=dev@example.invalid",
                    "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
                   cwd=cwd, env=env, check=True, capture_output=True, timeout=30)


def _git_history(project: Path, now: datetime) -> None:
    """Back-dated commits, so provenance and staleness have something to say. Skipped without git."""
    if shutil.which("git") is None:
        return
    try:
        _git(project, "init", "-q")
        old = (now - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%S+0000")
        _git(project, "add", "-A")
        _git(project, "commit", "-q", "-m", "Add project skills", date=old)
        # One skill touched recently, the rest left alone for over a year.
        notes = project / ".claude" / "skills" / "pdf-report" / "SKILL.md"
        if notes.is_file():
            notes.write_text(notes.read_text() + "\nKeep the cover page to one line of title.\n")
            _git(project, "commit", "-q", "-am", "pdf-report: cover page rule",
                 date=(now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S+0000"))
    except (OSError, subprocess.SubprocessError):
        pass


def analyze_args(cmd: Any) -> list[str]:
    """`analyze` arguments for the demo: every phase that works offline (no registry search, no LLM)."""
    for p in getattr(cmd, "params", []) or []:
        choices = getattr(p.type, "choices", None)
        if p.name in ("phase", "phases") and choices:
            opt = next((o for o in p.opts if o.startswith("--")), "--phase")
            return [a for c in choices if c not in OFFLINE_SKIP for a in (opt, c)]
    return []


def build(root: Path, now: datetime | None = None) -> DemoEnv:
    """Lay the demo out under `root` (which should be empty or absent)."""
    now = now or datetime.now(UTC)
    root = root.resolve()
    env = DemoEnv(root=root, home=root / "home", claude_dir=root / "home" / ".claude",
                  si_home=root / "skill-insights")
    pkg = resources.files("skill_insights.demo")
    for parts, node in _walk(pkg.joinpath("home")):
        dest = env.home.joinpath(*_undot(parts))
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(node.read_bytes())
    env.projects = [env.home / "code" / p for p in PROJECTS]
    for p in env.projects:
        p.mkdir(parents=True, exist_ok=True)
        (p / "README.md").write_text(f"# {p.name}\n\nA demo project.\n")
    scenarios = {c.name: c for c in pkg.joinpath("transcripts").iterdir() if c.is_dir()}
    projects_dir = env.claude_dir / "projects"
    local_now = now.astimezone()
    for i, (days_ago, scen, proj, model, renames) in enumerate(PLAN):
        files = [(parts, node.read_bytes()) for parts, node in _walk(scenarios[scen])]
        blobs = [gzip.decompress(b) for _, b in files]
        # Sessions start during working hours of their day, but never in the future.
        start = (local_now - timedelta(days=days_ago)).replace(hour=9 + (i * 5) % 9, minute=(i * 17) % 60,
                                                             second=0, microsecond=0)
        start = min(start, local_now - timedelta(minutes=5)).astimezone(UTC)
        cwd = str(env.home / "code" / proj)
        folder = projects_dir / encode_project_dir(cwd)
        first = _first_ts(blobs)
        for (parts, _), blob in zip(files, blobs, strict=True):
            name_parts = list(parts)
            name_parts[-1] = name_parts[-1].removesuffix(".gz")
            rel = _rewrite("/".join(name_parts).encode(), i, start, None, cwd, str(env.home), model, {}).decode()
            dest = folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(_rewrite(blob, i, start, first, cwd, str(env.home), model, renames))
    _git_history(env.home / "code" / "webapp", now)
    env.si_home.mkdir(parents=True, exist_ok=True)
    return env
