"""Read-only questions the analyzers, the inventory's usage view and the report ask the store.

One query per fact: each consumer that counts skill activations reads them here, so `skills usage`, the
staleness phase and the report count the same activations (each event once, in the file that owns it).
"""

from __future__ import annotations

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


def _tables(db: sqlite_utils.Database) -> set[str]:
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


def stored_locations(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every location of the newest stored scan, with the names an activation may use for it."""
    if "skill_locations" not in _tables(db):
        return []
    rows = db.execute(
        "SELECT path, skill_id, agent, scope, installed, project_root, names FROM skill_locations"
    ).fetchall()
    return [
        {"path": r[0], "skill_id": r[1], "agent": r[2], "scope": r[3], "installed": r[4], "project_root": r[5],
         "names": orjson.loads(r[6] or "[]")}
        for r in rows
    ]


def stored_skills(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """(id, name) of every skill of the newest stored scan, by name."""
    if "skills" not in _tables(db):
        return []
    return [(r[0], r[1]) for r in db.execute("SELECT id, name FROM skills ORDER BY name, id")]
