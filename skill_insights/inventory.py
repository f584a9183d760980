"""Captured skill activations joined with the stored inventory.

Each activation (events.kind = 'skill', name as Claude Code wrote it) resolves to one inventory skill: a
project skill of the session's cwd first, then a user skill, then a plugin skill (`plugin:skill`), then any
other place it is installed. What resolves nowhere was used but is not installed any more.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from skill_insights.store.queries import Activation, skill_activations, stored_locations, stored_skills

# Agents whose skills Claude Code can activate (only Claude Code activations are captured).
_CLAUDE_AGENTS = ("claude-code",)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _within(path: str, root: str) -> bool:
    root = root.rstrip(os.sep) or os.sep
    return path == root or path.startswith(root + os.sep) or root == os.sep


class Resolver:
    """Activation name + session cwd → skill id, following the order Claude Code itself applies."""

    def __init__(self, locations: list[dict[str, Any]]) -> None:
        self.by_name: dict[str, list[dict[str, Any]]] = {}
        for loc in locations:
            if loc["installed"] == 0:
                continue  # a stale plugin version or an uninstalled marketplace plugin
            for n in loc["names"]:
                self.by_name.setdefault(n, []).append(loc)

    def resolve(self, name: str, cwd: str | None) -> tuple[str, str] | None:
        """(skill_id, how) with how in project | user | plugin | other; None when nothing matches."""
        cands = self.by_name.get(name) or self.by_name.get(name.removeprefix("/")) or []
        if not cands:
            return None
        if cwd:
            proj = [
                c for c in cands if c["scope"] == "project" and c["project_root"] and _within(cwd, c["project_root"])
            ]
            if proj:
                best = max(proj, key=lambda c: (len(c["project_root"]), c["agent"] in _CLAUDE_AGENTS))
                return best["skill_id"], "project"
        for scope in ("user", "plugin"):
            hit = [c for c in cands if c["scope"] == scope]
            if hit:
                best = sorted(hit, key=lambda c: (c["agent"] not in _CLAUDE_AGENTS, c["path"]))[0]
                return best["skill_id"], scope
        best = sorted(cands, key=lambda c: (c["agent"] not in _CLAUDE_AGENTS, c["path"]))[0]
        return best["skill_id"], "other"


def tally(
    db: sqlite_utils.Database, resolver: Resolver, activations: list[Activation] | None = None
) -> tuple[dict[str, dict], dict[str, dict]]:
    """Captured activations (`store.queries.skill_activations`, read here unless given) resolved to inventory
    skills: ({skill id: record}, {unresolved name: record}), a record counting activations, the set of
    sessions, the last timestamp and (per skill) the scopes it was resolved through."""
    per: dict[str, dict[str, Any]] = {}
    missing: dict[str, dict[str, Any]] = {}
    for a in skill_activations(db) if activations is None else activations:
        hit = resolver.resolve(a.name, a.cwd)
        if hit is None:
            rec = missing.setdefault(a.name, {"name": a.name, "activations": 0, "sessions": set(), "last_ts": None})
        else:
            rec = per.setdefault(hit[0], {"activations": 0, "sessions": set(), "last_ts": None, "via": {}})
            rec["via"][hit[1]] = rec["via"].get(hit[1], 0) + 1
        rec["activations"] += 1
        if a.session_id:
            rec["sessions"].add(a.session_id)
        if a.ts is not None and (rec["last_ts"] is None or a.ts > rec["last_ts"]):
            rec["last_ts"] = a.ts
    return per, missing


def skill_usage(db: sqlite_utils.Database, days: int = 30, now: float | None = None) -> dict[str, Any]:
    """Per inventory skill: activations, sessions, last used; the skills installed but unused in `days`
    days; the activation names used but not installed any more."""
    now = time.time() if now is None else now
    cutoff = now - days * 86400
    locs = stored_locations(db)
    per, missing = tally(db, Resolver(locs))
    skills_rows = stored_skills(db)
    locs_by_skill: dict[str, list[dict[str, Any]]] = {}
    for loc in locs:
        locs_by_skill.setdefault(loc["skill_id"], []).append(loc)
    skills: list[dict[str, Any]] = []
    unused: list[dict[str, Any]] = []
    for sid, name in skills_rows:
        u = per.get(sid)
        ls = locs_by_skill.get(sid, [])
        rec = {
            "id": sid,
            "name": name,
            "activations": u["activations"] if u else 0,
            "sessions": len(u["sessions"]) if u else 0,
            "last_used": _iso(u["last_ts"]) if u else None,
            "resolved_via": u["via"] if u else {},
            "scopes": sorted({loc["scope"] for loc in ls}),
            "agents": sorted({loc["agent"] for loc in ls}),
            "installed": any(loc["installed"] != 0 for loc in ls),
        }
        skills.append(rec)
        claude_visible = any(
            loc["installed"] != 0 and (loc["agent"] in _CLAUDE_AGENTS or loc["scope"] == "plugin") for loc in ls
        )
        if claude_visible and (u is None or u["last_ts"] is None or u["last_ts"] < cutoff):
            unused.append({"id": sid, "name": name, "last_used": rec["last_used"]})
    return {
        "generated_at": _iso(now),
        "days": days,
        "skills": skills,
        "unused": unused,
        "missing": [
            {
                "name": m["name"],
                "activations": m["activations"],
                "sessions": len(m["sessions"]),
                "last_used": _iso(m["last_ts"]),
            }
            for m in sorted(missing.values(), key=lambda m: (-m["activations"], m["name"]))
        ],
    }
