"""Captured skill activations joined with the stored inventory.

Each activation (events.kind = 'skill', name as Claude Code wrote it) resolves to one inventory skill: a
project skill of the session's cwd first, then a user skill, then a plugin skill (`plugin:skill`), then any
other place it is installed. What resolves nowhere was used but is not installed any more.

Also what `scan` and `skills usage` do and print: a scan of every skill place, checked, written and stored.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite_utils

    from skill_insights.settings import Paths
    from skill_insights.store.queries import Activation

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
    # Imported here: the store's queries bring sqlite-utils, which `scan` (a plain connection) does without.
    from skill_insights.store.queries import skill_activations

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
    from skill_insights.store.queries import stored_locations, stored_skills

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


def session_projects(db: Any) -> list[Path]:
    """The cwd of every captured session in `db` that is still a folder (None: no store yet)."""
    if db is None:
        return []
    try:
        rows = db.execute("SELECT DISTINCT project FROM sessions WHERE project IS NOT NULL").fetchall()
    except Exception:
        return []
    return [Path(r[0]) for r in rows if r[0] and Path(r[0]).is_dir()]


def scan_and_store(
    roots: list[Path],
    *,
    agent_dirs: bool,
    use_registry: bool,
    output: Path | None,
    db: Any,
    open_store: Callable[[], Any],
    paths: Paths,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Inventory every skill (agent skill dirs, plugins, Tessl tiles, `roots` and the cwd of the sessions in
    `db`), check it, write it to `output` and store it: the document and the diff from the last stored scan.
    Raises SchemaError or OutputFailed (collectors.skills.output) as `publish` does."""
    from skill_insights.collectors.skills import POOL_THRESHOLD, paused_gc, scan
    from skill_insights.collectors.skills.output import publish
    from skill_insights.collectors.skills.tessl import TesslRegistry, registry_base_url

    registry = TesslRegistry(registry_base_url(paths.config_file), paths.cache_dir, enabled=use_registry)
    # The inventory is ~10 acyclic objects per file: no cyclic GC while it is built, checked, written, stored.
    with paused_gc():
        try:
            doc = scan(
                roots,
                agent_dirs=agent_dirs,
                project_dirs=session_projects(db),
                registry=registry,
                cache_file=paths.cache_dir / "skills-scan.json",
            )
        finally:
            registry.close()
        diff = publish(doc, open_store, output, background=len(doc["skills"]) >= POOL_THRESHOLD)
    return doc, diff


def scan_lines(doc: dict[str, Any], diff: dict[str, Any], output: Path | None) -> list[str]:
    """`scan` for a person: what was found, what changed since the last scan, where the file went."""
    from skill_insights.usage import plural

    st = doc["stats"]
    nf = sum(len(s["findings"]) for s in doc["skills"]) + len(doc["findings"])
    lines = [
        f"{plural(st['skills'], 'skill')} ({plural(st['locations'], 'location')}, "
        f"{plural(st['files'], 'file')}), {plural(st['manifests'], 'manifest')}, {plural(nf, 'finding')}, "
        f"in {doc['duration_seconds']:.2f}s"
    ]
    if not diff["first"]:
        lines.append(
            f"since the last scan: {diff['added']} added, {diff['removed']} removed, {diff['changed']} changed"
        )
    if output is not None:
        lines.append(f"inventory written to {output}")
    return lines


def usage_lines(doc: dict[str, Any], scanned: bool) -> list[str]:
    """`skills usage` for a person: the used skills, the unused and the no-longer-installed ones; `scanned`:
    whether any scan is stored (an empty list means something else then)."""
    lines = []
    if not doc["skills"]:
        lines.append(
            "the last scan found no skills: add some under ~/.claude/skills or a project's .claude/skills, "
            "or scan a folder: `skill-insights scan DIR`"
            if scanned
            else "no inventory yet: run `skill-insights scan`"
        )
    lines += [
        f"{s['name']:<40} {s['activations']:>5} activations  {s['sessions']:>4} sessions  last {s['last_used']}"
        for s in sorted(doc["skills"], key=lambda s: (-s["activations"], s["name"]))
        if s["activations"]
    ]
    if doc["unused"]:
        lines.append(
            f"installed but not used in {doc['days']} days ({len(doc['unused'])}): "
            + ", ".join(u["name"] for u in doc["unused"])
        )
    if doc["missing"]:
        lines.append(
            "used but not installed any more: "
            + ", ".join(f"{m['name']} (×{m['activations']})" for m in doc["missing"])
        )
    return lines


def has_scan(db: sqlite_utils.Database) -> bool:
    """Whether any scan is stored."""
    return "scans" in db.table_names() and db.execute("SELECT 1 FROM scans LIMIT 1").fetchone() is not None
