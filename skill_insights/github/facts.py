"""Read-only queries for one session's facts, as the stats need them (never writes the store).

Reads `sessions`, `responses`, `events`, `files`, `repos`, `skills` and `skill_locations`; an event several
files show (forks) counts once, by the store's own ownership rule.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from skill_insights.safefile import read_capped
from skill_insights.store.queries import stored_locations
from skill_insights.store.rollups import OWNED_EVENT

# A SKILL.md larger than this is not read for its diagram.
MAX_SKILL_MD = 1_000_000


@dataclass(frozen=True)
class ResponseFact:
    ts: float | None
    agent_id: str | None
    model: str
    input: int
    output: int
    cache_creation: int
    cache_read: int
    cost_usd: float | None


@dataclass(frozen=True)
class CallFact:
    """One tool call: its id, tool name, the thread that made it (None: the main one) and whether it failed."""

    key: str
    ts: float | None
    agent_id: str | None
    tool: str
    failed: bool
    skill: str | None = None
    subagent_type: str | None = None


@dataclass
class SessionFacts:
    session_id: str
    row: dict[str, Any]
    responses: list[ResponseFact]
    calls: list[CallFact]
    # agent id -> (type, tool_use_id) from the agent links
    agent_links: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    # skill name -> SKILL.md text (only skills invoked in this session that the inventory knows)
    skill_md: dict[str, str] = field(default_factory=dict)


def session_facts(conn: sqlite3.Connection, session_id: str) -> SessionFacts | None:
    cur = conn.execute("SELECT * FROM sessions WHERE session_id = ?", [session_id])
    found = cur.fetchone()
    if found is None:
        return None
    row = dict(zip([d[0] for d in cur.description], found, strict=True))
    responses = [
        ResponseFact(*r)
        for r in conn.execute(
            """SELECT ts, agent_id, model, input_tokens, output_tokens, cache_creation_input_tokens,
                      cache_read_input_tokens, cost_usd
               FROM responses WHERE session_id = ? ORDER BY ts IS NULL, ts, message_id""",
            [session_id],
        )
    ]
    events: dict[str, dict[str, Any]] = {}
    for kind, key, ts, agent_id, name in conn.execute(
        f"""SELECT kind, key, ts, agent_id, name FROM events e
            WHERE session_id = ? AND kind IN ('tool', 'skill', 'subagent') AND {OWNED_EVENT}
            ORDER BY ts IS NULL, ts, rowid""",
        [session_id],
    ):
        ev = events.setdefault(key, {"ts": ts, "agent_id": agent_id})
        ev[kind] = name
    failed = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT key FROM events WHERE session_id = ? AND kind = 'tool_error'", [session_id]
        )
    }
    calls = [
        CallFact(key, ev["ts"], ev["agent_id"], ev["tool"], key in failed, ev.get("skill"), ev.get("subagent"))
        for key, ev in events.items()
        if "tool" in ev
    ]
    links: dict[str, tuple[str | None, str | None]] = {}
    for agent_id, agent_type, tool_use_id in conn.execute(
        "SELECT key, name, detail FROM events WHERE session_id = ? AND kind = 'agent_link' ORDER BY rowid",
        [session_id],
    ):
        old = links.get(agent_id, (None, None))
        links[agent_id] = (old[0] or agent_type, old[1] or tool_use_id)
    facts = SessionFacts(session_id, row, responses, calls, links)
    invoked = sorted({c.skill for c in calls if c.skill})
    facts.skill_md = skill_documents(conn, invoked, row.get("project"))
    return facts


def skill_documents(conn: sqlite3.Connection, names: list[str], cwd: str | None) -> dict[str, str]:
    """SKILL.md text of each named skill, resolved as the skills usage view resolves activations."""
    if not names:
        return {}
    from skill_insights.inventory import Resolver

    locations = stored_locations(conn)
    resolver = Resolver(locations)
    out: dict[str, str] = {}
    for name in names:
        hit = resolver.resolve(name, cwd)
        if hit is None:
            continue
        paths = sorted(loc["path"] for loc in locations if loc["skill_id"] == hit[0])
        for path in paths:
            text = read_skill_md(path)
            if text is not None:
                out[name] = text
                break
    return out


def read_skill_md(path: str) -> str | None:
    """The SKILL.md of a skill folder (or the file itself): a regular file, not a link, under the size cap."""
    target = path if os.path.basename(path) == "SKILL.md" else os.path.join(path, "SKILL.md")
    # Through safefile: a FIFO named SKILL.md must not hang the command; not through a link: a SKILL.md that
    # links elsewhere (out of the skill, as the scan refuses to read) must not end up in a comment.
    try:
        data = read_capped(target, MAX_SKILL_MD, follow=False)
    except (OSError, ValueError):  # gone, a link, not a regular file, over the cap
        return None
    return data.decode("utf-8", "replace")
