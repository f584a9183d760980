"""Read-only questions the analyzers, the inventory's usage view and the report ask the store.

One query per fact: each consumer that counts skill activations reads them here, so `skills usage`, the
staleness phase and the report count the same activations (each event once, in the file that owns it).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlite_utils

# The row of an event's (kind, key) that counts (forks copy events into other files): the capture's own rule.
from skill_insights.store.rollups import OWNED_EVENT


@dataclass(frozen=True)
class Activation:
    """One captured skill activation, counted once however many transcripts repeat it."""

    name: str  # as Claude Code wrote it (`review`, `plugin:skill`, `/review`)
    session_id: str | None
    ts: float | None  # epoch seconds
    date: str | None  # local day, YYYY-MM-DD
    cwd: str | None  # the session's project, else the transcript's working directory


@dataclass
class UsageTally:
    """Activations of one skill (or one activation name): how many, in which sessions, when."""

    activations: int = 0
    sessions: set[str] = field(default_factory=set)
    last_ts: float | None = None
    first_date: str | None = None
    last_date: str | None = None

    def add(self, a: Activation) -> None:
        self.activations += 1
        if a.session_id:
            self.sessions.add(a.session_id)
        if a.ts is not None and (self.last_ts is None or a.ts > self.last_ts):
            self.last_ts = a.ts
        if a.date:
            self.first_date = a.date if self.first_date is None else min(self.first_date, a.date)
            self.last_date = a.date if self.last_date is None else max(self.last_date, a.date)


def _tables(db: sqlite_utils.Database | sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}


def skill_activations(db: sqlite_utils.Database) -> list[Activation]:
    """Every captured skill activation, each once: the copy a fork made in another file is not counted."""
    if "events" not in _tables(db):
        return []
    rows = db.execute(
        f"""SELECT e.name, e.session_id, e.ts, e.date, COALESCE(s.project, f.cwd)
            FROM events e
            LEFT JOIN sessions s ON s.session_id = e.session_id
            LEFT JOIN files f ON f.id = e.file_id
            WHERE e.kind = 'skill' AND e.name IS NOT NULL AND {OWNED_EVENT}
            ORDER BY e.ts, e.rowid"""
    ).fetchall()
    return [Activation(*r) for r in rows]


def usage_by_name(activations: list[Activation]) -> dict[str, UsageTally]:
    """Activations per activation name."""
    out: dict[str, UsageTally] = {}
    for a in activations:
        out.setdefault(a.name, UsageTally()).add(a)
    return out


def skill_usage_by_name(db: sqlite_utils.Database) -> dict[str, UsageTally]:
    """The store's skill activations per activation name."""
    return usage_by_name(skill_activations(db))


def tally_record(t: UsageTally) -> dict[str, Any]:
    """A tally as the analyzers take it: {activations, sessions, last_used (epoch seconds)}."""
    return {"activations": t.activations, "sessions": len(t.sessions), "last_used": t.last_ts}


def stored_locations(db: sqlite_utils.Database | sqlite3.Connection) -> list[dict[str, Any]]:
    """Every location of the newest stored scan, with the names an activation may use for it, its tile and
    its skill's name. `db` is a sqlite-utils Database or a plain connection."""
    if "skill_locations" not in _tables(db):
        return []
    rows = db.execute(
        """SELECT l.path, l.skill_id, l.agent, l.scope, l.installed, l.project_root, l.names, l.tile, s.name
           FROM skill_locations l LEFT JOIN skills s ON s.id = l.skill_id"""
    ).fetchall()
    return [
        {
            "path": r[0],
            "skill_id": r[1],
            "agent": r[2],
            "scope": r[3],
            "installed": r[4],
            "project_root": r[5],
            "names": orjson.loads(r[6] or "[]"),
            "tile": r[7],
            "skill_name": r[8],
        }
        for r in rows
    ]


def stored_skills(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """(id, name) of every skill of the newest stored scan, by name."""
    if "skills" not in _tables(db):
        return []
    return [(r[0], r[1]) for r in db.execute("SELECT id, name FROM skills ORDER BY name, id")]


# -- sources: every activation attributed to where it comes from (analyzers/attribution.py) ---------------------

# Kinds of events that are activations of something installed or built in; a tool call that is also a skill,
# subagent or MCP call shows under that kind (its `tool` row is left out there).
SOURCE_EVENT_KINDS = ("tool", "skill", "subagent", "mcp", "slash")


@dataclass(frozen=True)
class SourceEvent:
    """One captured activation, counted once however many transcripts repeat it."""

    kind: str  # tool | skill | subagent | mcp | slash (as stored)
    key: str
    name: str | None  # tool name, skill name, subagent type, MCP server, `/command`
    detail: str | None  # the MCP tool
    session_id: str | None
    ts: float | None
    date: str | None
    cwd: str | None  # the session's project, else the transcript's working directory
    failed: bool


def source_events(
    db: Any, since: str | None = None, until: str | None = None, project: str | None = None
) -> list[SourceEvent]:
    """Every activation between the days `since` and `until` (inclusive, local days), each once; with
    `project`, only those of sessions whose project is it or contains it (as `usage --project` matches)."""
    if "events" not in _tables(db):
        return []
    where = ["e.kind IN ('tool', 'skill', 'subagent', 'mcp', 'slash')", OWNED_EVENT]
    args: list[Any] = []
    if since:
        where.append("e.date >= ?")
        args.append(since)
    if until:
        where.append("e.date <= ?")
        args.append(until)
    if project:
        where.append("(s.project = ? OR s.project_dir = ? OR instr(s.project, ?) > 0)")
        args += [project, project, project]
    failed = {r[0] for r in db.execute("SELECT DISTINCT key FROM events WHERE kind = 'tool_error'")}
    rows = db.execute(
        f"""SELECT e.kind, e.key, e.name, e.detail, e.session_id, e.ts, e.date, COALESCE(s.project, f.cwd)
            FROM events e
            LEFT JOIN sessions s ON s.session_id = e.session_id
            LEFT JOIN files f ON f.id = e.file_id
            WHERE {" AND ".join(where)}
            ORDER BY e.ts, e.rowid""",
        args,
    ).fetchall()
    return [SourceEvent(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[1] in failed) for r in rows]


def _per_session(db: Any, session_ids: set[str], table: str, select: str, where: str) -> dict[str, list[Any]]:
    """`SELECT session_id, <select> FROM <table> WHERE <where> AND session_id IN (…)` by session and time, the
    ids bound 500 at a time (under SQLite's parameter limit): session id → [the selected value per row]."""
    out: dict[str, list[Any]] = {}
    if not session_ids or table not in _tables(db):
        return out
    ids = sorted(session_ids)
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        rows = db.execute(
            f"""SELECT session_id, {select} FROM {table}
                WHERE {where} AND session_id IN ({",".join("?" * len(part))}) ORDER BY session_id, ts""",
            part,
        )
        for sid, *value in rows:
            out.setdefault(sid, []).append(value[0] if len(value) == 1 else tuple(value))
    return out


def session_response_tokens(db: Any, session_ids: set[str]) -> dict[str, list[tuple[float, int]]]:
    """Per session: (ts, all four token counts) of each counted response, subagents' included, by time."""
    tokens = (
        "coalesce(input_tokens, 0) + coalesce(output_tokens, 0)"
        " + coalesce(cache_creation_input_tokens, 0) + coalesce(cache_read_input_tokens, 0)"
    )
    return _per_session(db, session_ids, "responses", f"ts, {tokens}", "ts IS NOT NULL")


def session_prompt_times(db: Any, session_ids: set[str]) -> dict[str, list[float]]:
    """Per session: when each user prompt was written, by time ({} on a store that records no prompts)."""
    return _per_session(db, session_ids, "events", "ts", "kind = 'prompt' AND ts IS NOT NULL")
