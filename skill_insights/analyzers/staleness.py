"""Staleness and provenance: git history per skill, last use, broken references.

The edge runs one `git log` (and one `git status`) per repository over all of its skill folders at once; the
pure core (`assess`) turns those facts, the captured usage and a clock into per-skill records and findings.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skill_insights.analyzers.config import DEFAULT_STALE_DAYS
from skill_insights.analyzers.model import SkillDoc, SkillView, finding, load_doc, phase_output, skills_from_inventory

PHASE = "staleness"
DAY = 86_400.0
# Keeps the command line well under ARG_MAX even for thousands of skills in one repository.
PATHSPEC_LIMIT = 500


@dataclass
class GitFacts:
    repo: str
    tracked: bool = False
    first_commit: tuple[str, float] | None = None  # (hash, author time)
    last_commit: tuple[str, float] | None = None
    commits: set[str] = field(default_factory=set)
    contributors: dict[str, int] = field(default_factory=dict)  # "Name <email>" → commits
    uncommitted: list[str] = field(default_factory=list)  # repo-relative paths with changes

    def add_commit(self, sha: str, ts: float, author: str) -> None:
        if sha in self.commits:
            return
        self.commits.add(sha)
        self.tracked = True
        self.contributors[author] = self.contributors.get(author, 0) + 1
        if self.first_commit is None or ts < self.first_commit[1]:
            self.first_commit = (sha, ts)
        if self.last_commit is None or ts > self.last_commit[1]:
            self.last_commit = (sha, ts)


# -- edge: git ---------------------------------------------------------------------------------------------


def worktree_root(path: Path) -> Path | None:
    """The folder holding `.git` (a dir, or a file for worktrees/submodules) at or above `path`."""
    p = path
    while True:
        if (p / ".git").exists():
            return p
        if p.parent == p:
            return None
        p = p.parent


def _git(root: Path, *args: str) -> str | None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "-c", "core.quotepath=off", *args],
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", "replace")


def parse_log(out: str) -> list[tuple[str, float, str, list[str]]]:
    """`git log --name-only --format=%x00%H%x1f%at%x1f%aN%x1f%aE` → [(sha, time, author, files)]."""
    commits = []
    for chunk in out.split("\x00"):
        if not chunk.strip():
            continue
        head, _, rest = chunk.partition("\n")
        parts = head.split("\x1f")
        if len(parts) < 4:
            continue
        sha, ts, name, email = parts[0], parts[1], parts[2], parts[3]
        try:
            t = float(ts)
        except ValueError:
            continue
        files = [ln for ln in rest.splitlines() if ln.strip()]
        commits.append((sha, t, f"{name} <{email}>", files))
    return commits


def parse_status(out: str) -> list[str]:
    """`git status --porcelain=v1 -z` → changed paths (for renames, both names)."""
    paths: list[str] = []
    entries = out.split("\x00")
    i = 0
    while i < len(entries):
        e = entries[i]
        i += 1
        if len(e) < 4:
            continue
        xy, path = e[:2], e[3:]
        paths.append(path)
        if "R" in xy or "C" in xy:  # the original name follows as its own entry
            if i < len(entries) and entries[i]:
                paths.append(entries[i])
            i += 1
    return paths


def _owner(path: str, dirs: set[str]) -> str | None:
    # Longest skill folder that contains `path` (walk up the path's parents).
    p = path.rstrip("/")
    while True:
        if p in dirs:
            return p
        if "/" not in p:
            return "" if "" in dirs else None
        p = p.rsplit("/", 1)[0]


def collect_git(
    skill_dirs: list[Path], pathspec_limit: int = PATHSPEC_LIMIT
) -> tuple[dict[str, GitFacts], dict[str, int]]:
    """Git facts for each skill folder (keyed by str(resolved folder)); and how many processes ran per repo."""
    by_repo: dict[Path, dict[str, str]] = {}  # repo root → {rel dir: key}
    roots_cache: dict[Path, Path | None] = {}
    for d in skill_dirs:
        real = d.resolve()
        parent = real.parent
        if (real / ".git").exists():  # the skill folder is a repository of its own
            root: Path | None = real
        else:
            if parent not in roots_cache:  # siblings share the answer: one walk up per skills folder
                roots_cache[parent] = worktree_root(parent)
            root = roots_cache[parent]
        if root is None:
            continue
        rel = os.path.relpath(real, root).replace(os.sep, "/")
        by_repo.setdefault(root, {})["" if rel == "." else rel] = str(real)
    facts: dict[str, GitFacts] = {}
    processes: dict[str, int] = {}
    for root, rels in by_repo.items():
        dirs = set(rels)
        per_dir = {rel: GitFacts(repo=str(root)) for rel in rels}
        # One `git log` per repository: with very many skill folders, ask about their parent folders instead
        # (files outside any skill are dropped by `_owner`), so the command line stays short.
        spec_dirs = set(rels)
        while len(spec_dirs) > pathspec_limit:
            spec_dirs = {d.rsplit("/", 1)[0] if "/" in d else "" for d in spec_dirs}
        specs = ["."] if "" in spec_dirs else sorted(f":(literal){d}" for d in spec_dirs)
        out = _git(root, "log", "--no-renames", "--name-only", "--format=%x00%H%x1f%at%x1f%aN%x1f%aE", "--", *specs)
        # None: a repository without commits yet (or git missing): no history, which is not an error
        for sha, t, author, files in parse_log(out or ""):
            owners = {o for f in files if (o := _owner(f, dirs)) is not None}
            for o in owners:
                per_dir[o].add_commit(sha, t, author)
        status = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *specs)
        for path in parse_status(status or ""):
            o = _owner(path, dirs)
            if o is not None:
                per_dir[o].uncommitted.append(path)
        processes[str(root)] = 2
        for rel, key in rels.items():
            facts[key] = per_dir[rel]
    return facts, processes


def newest_mtime(root: Path, rel_paths: list[str] | None = None) -> float | None:
    """Newest modification time among the given files (or every file) under `root`, links not followed."""
    best: float | None = None
    if rel_paths is not None:
        candidates = [root / p for p in rel_paths]
    else:
        candidates = []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = [d for d in dirnames if d not in (".git", "node_modules")]
            candidates.extend(Path(dirpath) / f for f in filenames)
            if len(candidates) > 5_000:
                break
    for c in candidates:
        try:
            m = c.lstat().st_mtime
        except OSError:
            continue
        best = m if best is None else max(best, m)
    return best


# -- pure core ---------------------------------------------------------------------------------------------


def usage_for(view: SkillView, usage: dict[str, dict[str, Any]], folder: str = "") -> dict[str, Any] | None:
    """Captured activations of a skill: by its name, its folder, a plugin-namespaced `plugin:name`, or a
    `tessl__name` link name. `usage` maps an activation name to {activations, sessions, last_used}."""
    names = {n for n in (view.name, folder, *view.names) if n}
    # The inventory lists the exact activation names (plugin skills as `plugin:skill`); without them a
    # namespaced activation matches on its last part.
    loose = not view.names
    hits = [
        u
        for key, u in usage.items()
        if key in names or key.removeprefix("tessl__") in names or (loose and key.rsplit(":", 1)[-1] in names)
    ]
    if not hits:
        return None
    return {
        "activations": sum(int(h.get("activations") or 0) for h in hits),
        "sessions": sum(int(h.get("sessions") or 0) for h in hits),
        "last_used": max(float(h.get("last_used") or 0) for h in hits),
    }


def broken_references(doc: SkillDoc) -> list[dict[str, Any]]:
    out = []
    for ref in doc.body_refs():
        if ref.absolute or ref.escapes:
            continue  # outside the skill root: the inventory reports those, and they are never read
        if doc.missing(ref):
            out.append({"ref": ref.raw, "path": ref.path, "line": ref.line})
    return out


def assess(
    doc: SkillDoc,
    git: GitFacts | None,
    mtime: float | None,
    use: dict[str, Any] | None,
    *,
    now: float,
    stale_days: int,
    usage_known: bool,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    view = doc.view
    findings: list[dict[str, Any]] = []
    rec: dict[str, Any] = {"skill": view.ref(), "git": None}
    last_change = mtime
    if git is not None and (git.tracked or git.uncommitted):
        first, last = git.first_commit, git.last_commit
        rec["git"] = {
            "repo": git.repo,
            "tracked": git.tracked,
            "first_commit": {"sha": first[0], "time": first[1]} if first else None,
            "last_commit": {"sha": last[0], "time": last[1]} if last else None,
            "commits": len(git.commits),
            "contributors": [
                {"author": a, "commits": n} for a, n in sorted(git.contributors.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            "uncommitted": sorted(set(git.uncommitted))[:50],
        }
        if last is not None:
            # an uncommitted edit is a change too: only then does the file time count
            last_change = max(last[1], mtime or 0) if git.uncommitted else last[1]
        if git.uncommitted:
            findings.append(
                finding(
                    view,
                    "staleness.uncommitted",
                    "info",
                    f"{len(set(git.uncommitted))} uncommitted change(s) in the skill folder",
                    "Commit (or discard) the changes so the skill's history is shared.",
                    {"paths": sorted(set(git.uncommitted))[:20], "repo": git.repo},
                )
            )
    created = git.first_commit[1] if git and git.first_commit else None
    rec["age_days"] = round((now - created) / DAY, 1) if created else None
    rec["last_change"] = last_change
    rec["days_since_change"] = round((now - last_change) / DAY, 1) if last_change else None
    rec["usage"] = use
    rec["days_since_use"] = round((now - use["last_used"]) / DAY, 1) if use and use.get("last_used") else None

    broken = broken_references(doc)
    rec["broken_references"] = broken
    for b in broken:
        findings.append(
            finding(
                view,
                "staleness.broken-reference",
                "warning",
                f"SKILL.md line {b['line']} refers to {b['ref']!r}, which does not exist in the skill folder",
                "Restore the file, fix the path, or remove the reference.",
                b,
            )
        )

    unchanged = rec["days_since_change"] is not None and rec["days_since_change"] >= stale_days
    if usage_known and use is None:
        findings.append(
            finding(
                view,
                "staleness.never-used",
                "warning" if unchanged else "info",
                "never used in any captured session" + (f" and unchanged for {stale_days}+ days" if unchanged else ""),
                "Check that its description says when to use it, or remove the skill.",
                {"days_since_change": rec["days_since_change"], "stale_days": stale_days},
            )
        )
    elif use is not None and unchanged and (rec["days_since_use"] or 0) >= stale_days:
        findings.append(
            finding(
                view,
                "staleness.stale",
                "warning",
                f"unchanged for {rec['days_since_change']:.0f} days and last used {rec['days_since_use']:.0f} days ago",
                "Review whether it is still needed; update or remove it.",
                {
                    "days_since_change": rec["days_since_change"],
                    "days_since_use": rec["days_since_use"],
                    "stale_days": stale_days,
                },
            )
        )
    rec["stale"] = any(
        f["rule"] in ("staleness.stale", "staleness.never-used") and f["severity"] == "warning" for f in findings
    )
    return rec, findings


def run(inventory: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    views = skills_from_inventory(inventory)
    docs = [load_doc(v, texts=False) for v in views]  # the scan's references and files; no text
    roots = [d.root for d in docs]
    git_facts, processes = collect_git([r for r in roots if r is not None])
    usage: dict[str, dict[str, Any]] = options.get("usage") or {}
    by_skill: dict[str, dict[str, Any]] | None = options.get("usage_by_skill")
    # With nothing captured at all, "never used" would flag every skill: say so once instead.
    usage_known = bool(usage)
    now = float(options["now"])
    days = int(options.get("stale_days") or DEFAULT_STALE_DAYS)
    records: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    for view, doc, root in zip(views, docs, roots, strict=True):
        facts = git_facts.get(str(root.resolve())) if root is not None else None
        changed = facts.uncommitted if facts and facts.tracked else None
        if root is None:
            mtime = None
        elif facts is not None and facts.tracked:
            repo = Path(facts.repo)
            mtime = newest_mtime(repo, changed) if changed else None
        else:
            mtime = newest_mtime(root)
        # Resolved per skill id when the runner could (same-named project and user skills kept apart),
        # else matched by name.
        use = by_skill.get(view.id) if by_skill is not None else usage_for(view, usage, doc.folder)
        rec, fs = assess(doc, facts, mtime, use, now=now, stale_days=days, usage_known=usage_known)
        records.append(rec)
        findings.extend(fs)
    return phase_output(
        PHASE,
        "skills",
        records,
        findings,
        len(records),
        stale=sum(1 for r in records if r["stale"]),
        in_git=sum(1 for r in records if r["git"]),
        repositories=len(processes),
        git_processes=sum(processes.values()),
        usage="captured" if usage_known else "no captured activations",
        stale_days=days,
    )
