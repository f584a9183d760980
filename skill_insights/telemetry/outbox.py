"""The outbox's events as they would leave: payloads built from the store at send time.

The triggers queue (event, key) only; the properties that need joins (the session's git remote, the skill's tile,
the skills installed for the session's folder) are read here, from the owning row of each event, so the same
function answers `telemetry status --show-payload` and the sender.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from skill_insights.store.queries import stored_locations
from skill_insights.telemetry import signals
from skill_insights.telemetry.consent import TelemetrySettings

# Claude Code's skills: the agent whose activations are captured, plus plugin skills it loads.
_CLAUDE_AGENTS = ("claude-code",)
TESSL_MCP_SERVER = "tessl"


@dataclass
class Outgoing:
    row_id: int
    event: dict[str, Any]


@dataclass
class Collected:
    ready: list[Outgoing] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)  # queued rows whose captured rows no longer exist
    waiting: int = 0  # sessions not finished yet, or events waiting for their backoff


def _within(path: str, root: str) -> bool:
    root = root.rstrip(os.sep) or os.sep
    return path == root or path.startswith(root + os.sep) or root == os.sep


class _Inventory:
    """The newest stored inventory's locations, read once per collection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        from skill_insights.inventory import Resolver

        self.locations = stored_locations(conn)
        self.resolver = Resolver(self.locations)
        self._installed: dict[str | None, list[dict[str, str | None]]] = {}

    def tile_of(self, name: str | None, cwd: str | None) -> str | None:
        if not name:
            return None
        hit = self.resolver.resolve(name, cwd)
        if hit is None:
            return None
        tiles = sorted(loc["tile"] for loc in self.locations if loc["skill_id"] == hit[0] and loc["tile"])
        return tiles[0] if tiles else None

    def installed_for(self, cwd: str | None) -> list[dict[str, str | None]]:
        """The skills Claude Code can load in `cwd`: user and plugin skills, and project skills of that folder."""
        if cwd not in self._installed:
            seen: list[dict[str, str | None]] = []
            for loc in self.locations:
                if loc["installed"] == 0 or not (loc["agent"] in _CLAUDE_AGENTS or loc["scope"] == "plugin"):
                    continue
                root = loc["project_root"]
                if root and not (cwd and _within(cwd, root)):
                    continue
                seen.append({"tile": loc["tile"], "name": loc["skill_name"], "scope": loc["scope"]})
            self._installed[cwd] = seen
        return self._installed[cwd]


def _owner(conn: sqlite3.Connection, kind: str, key: str) -> tuple | None:
    """(session_id, ts, name, detail, cwd) of the row of an event that counts: a fork's copies lose to the
    original (the file opened first, then the first by path), as the capture counts them."""
    return conn.execute(
        """SELECT e.session_id, e.ts, e.name, e.detail, COALESCE(s.project, f.cwd)
           FROM events e LEFT JOIN files f ON f.id = e.file_id LEFT JOIN sessions s ON s.session_id = e.session_id
           WHERE e.kind = ? AND e.key = ?
           ORDER BY coalesce(f.opened_ts, 9e18), coalesce(f.path, ''), e.file_id LIMIT 1""",
        [kind, key],
    ).fetchone()


def _remote(conn: sqlite3.Connection, cwd: str | None) -> str | None:
    if not cwd:
        return None
    row = conn.execute("SELECT remote FROM repos WHERE cwd = ?", [cwd]).fetchone()
    return row[0] if row else None


def _parse_iso(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def collect(
    conn: sqlite3.Connection,
    settings: TelemetrySettings,
    install_id: str,
    *,
    now: float | None = None,
    respect_backoff: bool = True,
    limit: int | None = None,
) -> Collected:
    """The queued events that would be sent now, in queue order, each as its exact payload."""
    now = time.time() if now is None else now
    out = Collected()
    rows = conn.execute(
        "SELECT id, event, key, next_attempt_at FROM telemetry_outbox WHERE status = 'pending' ORDER BY id"
    ).fetchall()
    inventory: _Inventory | None = None
    for row_id, event, key, next_at in rows:
        if respect_backoff and next_at is not None and next_at > now:
            out.waiting += 1
            continue
        if inventory is None:
            inventory = _Inventory(conn)
        if event == signals.SESSION_PROCESSED:
            doc = _session_event(conn, settings, install_id, key, inventory, now)
        else:
            doc = _activation_event(conn, settings, install_id, event, key, inventory)
        if isinstance(doc, str):  # a session not finished yet
            out.waiting += 1
        elif doc is None:
            out.gone.append(row_id)
        else:
            out.ready.append(Outgoing(row_id, doc))
            if limit is not None and len(out.ready) >= limit:
                break
    return out


def _activation_event(
    conn: sqlite3.Connection, settings: TelemetrySettings, install_id: str, event: str, key: str, inventory: _Inventory
) -> dict[str, Any] | None:
    kind = "skill" if event == signals.SKILL_ACTIVATION else "mcp"
    owner = _owner(conn, kind, key)
    if owner is None:
        return None
    session_id, ts, name, detail, cwd = owner
    repo = _remote(conn, cwd)
    if kind == "skill":
        props = signals.skill_activation_props(
            name, inventory.tile_of(name, cwd), session_id, repo, inventory.installed_for(cwd)
        )
    else:
        props = signals.mcp_activation_props(name, detail, session_id, repo)
    return signals.envelope(event, key, props, ts, install_id, settings.distinct_id)


def _session_event(
    conn: sqlite3.Connection,
    settings: TelemetrySettings,
    install_id: str,
    session_id: str,
    inventory: _Inventory,
    now: float,
) -> dict[str, Any] | str | None:
    cur = conn.execute("SELECT * FROM sessions WHERE session_id = ?", [session_id])
    values = cur.fetchone()
    if values is None:
        return None
    row = dict(zip([d[0] for d in cur.description], values, strict=True))
    ended = _parse_iso(row.get("ended_at"))
    if ended is None or ended > now - settings.session_idle_s:
        return "waiting"
    skills = orjson.loads(row.get("skills") or "{}")
    tessl_skills = sum(n for name, n in skills.items() if inventory.tile_of(name, row.get("project")))
    mcp = orjson.loads(row.get("mcp") or "{}")
    tessl_mcp = sum(mcp.get(TESSL_MCP_SERVER, {}).values())
    props = signals.session_props(row, tessl_skills, tessl_mcp)
    return signals.envelope(signals.SESSION_PROCESSED, session_id, props, ended, install_id, settings.distinct_id)
