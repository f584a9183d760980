"""Running totals that capture keeps up to date by what each chunk adds, in the chunk's own transaction.

`response_totals` holds, per (session, agent, date, model), the count, token sums and cost of the counted
responses; `event_totals`, per (session, date, kind, name, detail), the counted tool, skill, subagent, MCP
and slash-command events and how many of the tool calls failed. Session rows and daily rollups are computed
from these small tables, so the cost of one appended line does not grow with the session or the day.

Every change goes through one rule: take the groups of the keys a write touches away before the write and
add them back after it. That covers a new response, a response whose later line carries more output tokens,
a fork's copy that takes ownership over, and a file re-derived from the start alike, and it keeps the totals
equal to `rebuild`, the full recompute from the rows, which stays as the check and the path for a migration
or a re-price. Costs are whole pico-dollars (`records.cost_units`) so the sums are exact in any order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from skill_insights.records import TOKEN_COLS

COUNTED_EVENTS = ("tool", "skill", "subagent", "mcp", "slash", "prompt")

# The row of an event's (kind, key) that counts: the one from the file opened first (a fork's copies lose to
# the original whatever the ingest order), then the first by path (file ids follow ingest order).
OWNED_EVENT = """NOT EXISTS (
    SELECT 1 FROM events o
    WHERE o.kind = e.kind AND o.key = e.key AND o.file_id != e.file_id
      AND (coalesce((SELECT opened_ts FROM files WHERE id = o.file_id), 9e18),
           coalesce((SELECT path FROM files WHERE id = o.file_id), ''), o.file_id)
          < (coalesce((SELECT opened_ts FROM files WHERE id = e.file_id), 9e18),
             coalesce((SELECT path FROM files WHERE id = e.file_id), ''), e.file_id))"""
# A tool call failed when any copy of its result says so.
FAILED = "EXISTS (SELECT 1 FROM events x WHERE x.kind = 'tool_error' AND x.key = e.key)"

_TOKENS = ", ".join(TOKEN_COLS)
_RESPONSE_GROUP = "r.session_id, coalesce(r.agent_id, ''), r.date, coalesce(r.model, '')"
_EVENT_GROUP = "e.session_id, coalesce(e.date, ''), e.kind, coalesce(e.name, ''), coalesce(e.detail, '')"

_ADD_RESPONSES = f"""
    INSERT INTO response_totals (session_id, agent_id, date, model, responses, {_TOKENS}, cost_units, unpriced)
    {{select}}
    ON CONFLICT (session_id, agent_id, date, model) DO UPDATE SET
        responses = responses + excluded.responses,
        {", ".join(f"{c} = {c} + excluded.{c}" for c in TOKEN_COLS)},
        cost_units = cost_units + excluded.cost_units,
        unpriced = unpriced + excluded.unpriced"""
_ADD_EVENTS = """
    INSERT INTO event_totals (session_id, date, kind, name, detail, calls, failed)
    {select}
    ON CONFLICT (session_id, date, kind, name, detail) DO UPDATE SET
        calls = calls + excluded.calls, failed = failed + excluded.failed"""


def _response_select(sign: int, source: str) -> str:
    s = "-" if sign < 0 else ""
    return (
        f"SELECT {_RESPONSE_GROUP}, {s}count(*), {', '.join(f'{s}sum(r.{c})' for c in TOKEN_COLS)}, "
        f"{s}sum(r.cost_units), {s}sum(r.cost_usd IS NULL) {source} GROUP BY 1, 2, 3, 4"
    )


def _event_select(sign: int, source: str) -> str:
    s = "-" if sign < 0 else ""
    return (
        f"SELECT {_EVENT_GROUP}, {s}count(*), {s}sum(e.kind = 'tool' AND {FAILED}) {source} "
        f"AND {OWNED_EVENT} GROUP BY 1, 2, 3, 4, 5"
    )


def shift_responses_of_keys(conn: sqlite3.Connection, sign: int) -> None:
    """Add (sign 1) or take away (sign -1) the counted responses of the keys in temp.keys."""
    # CROSS JOIN keeps temp.keys as the outer loop: a key lookup each, never a scan of `responses`.
    source = (
        "FROM temp.keys k CROSS JOIN responses r ON r.message_id = k.message_id AND r.request_id = k.request_id WHERE 1"
    )
    conn.execute(_ADD_RESPONSES.format(select=_response_select(sign, source)))


def add_response_rows(conn: sqlite3.Connection, rows: Iterable[tuple]) -> None:
    """Add responses inserted as they are (no other copy), given as (session_id, agent_id, date, model,
    *TOKEN_COLS, cost_usd, cost_units) tuples."""
    groups: dict[tuple, list] = {}
    for sid, aid, date, model, *tokens, cost, units in rows:
        g = groups.get((sid, aid or "", date, model or ""))
        if g is None:
            groups[sid, aid or "", date, model or ""] = [1, *tokens, units, cost is None]
        else:
            g[0] += 1
            for i, t in enumerate(tokens, 1):
                g[i] += t
            g[-2] += units
            g[-1] += cost is None
    conn.executemany(
        _ADD_RESPONSES.format(select=f"VALUES ({', '.join('?' * (4 + 1 + len(TOKEN_COLS) + 2))})"),
        [(*k, *v) for k, v in groups.items()],
    )


def load_event_keys(conn: sqlite3.Connection, keys: Iterable[tuple[str, str]]) -> bool:
    """Fill temp.ekeys with the counted (kind, key)s whose totals events of `keys` can change (a tool error
    changes its tool call's). Returns whether any was loaded."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS ekeys (kind TEXT, key TEXT, PRIMARY KEY (kind, key))")
    conn.execute("DELETE FROM temp.ekeys")
    wanted = {("tool", key) if kind == "tool_error" else (kind, key) for kind, key in keys}
    rows = [k for k in wanted if k[0] in COUNTED_EVENTS]
    conn.executemany("INSERT OR IGNORE INTO temp.ekeys VALUES (?, ?)", rows)
    return bool(rows)


def settle_new_event_keys(conn: sqlite3.Connection, batch: Iterable[tuple]) -> list[tuple]:
    """Of the keys in temp.ekeys, drop those that only the batch's own new rows decide (no row of the key in
    the store yet, no earlier error for a tool call, shown once by the batch) and return those rows, whose
    totals are then simply added (`add_event_rows`): most of a first ingest. `batch` holds the rows about to
    be inserted as (kind, key, session_id, agent_id, ts, date, name, detail)."""
    stored = set(
        conn.execute(
            """SELECT kind, key FROM temp.ekeys k
               WHERE EXISTS (SELECT 1 FROM events e WHERE e.kind = k.kind AND e.key = k.key)
                  OR (k.kind = 'tool'
                      AND EXISTS (SELECT 1 FROM events x WHERE x.kind = 'tool_error' AND x.key = k.key))"""
        ).fetchall()
    )
    rows = list(batch)
    shown: dict[tuple[str, str], int] = {}
    errors = set()
    for r in rows:
        shown[r[0], r[1]] = shown.get((r[0], r[1]), 0) + 1
        if r[0] == "tool_error":
            errors.add(r[1])
    new = [
        r
        for r in rows
        if r[0] in COUNTED_EVENTS
        and shown[r[0], r[1]] == 1
        and (r[0], r[1]) not in stored
        and not (r[0] == "tool" and r[1] in errors)
    ]
    if new:
        settled = {(r[0], r[1]) for r in new}
        left = [k for k in conn.execute("SELECT kind, key FROM temp.ekeys").fetchall() if k not in settled]
        conn.execute("DELETE FROM temp.ekeys")
        conn.executemany("INSERT INTO temp.ekeys VALUES (?, ?)", left)
    return new


def add_event_rows(conn: sqlite3.Connection, rows: Iterable[tuple]) -> None:
    """Add counted events that no other row decides (see `settle_new_event_keys`), as inserted rows."""
    groups: dict[tuple, int] = {}
    for kind, _key, sid, _aid, _ts, date, name, detail in rows:
        g = (sid, date or "", kind, name or "", detail or "")
        groups[g] = groups.get(g, 0) + 1
    conn.executemany(_ADD_EVENTS.format(select="VALUES (?, ?, ?, ?, ?, ?, 0)"), [(*k, n) for k, n in groups.items()])


def shift_events_of_keys(conn: sqlite3.Connection, sign: int) -> None:
    """Add (sign 1) or take away (sign -1) the counted events of the (kind, key)s in temp.ekeys."""
    source = "FROM temp.ekeys k CROSS JOIN events e ON e.kind = k.kind AND e.key = k.key WHERE 1"
    conn.execute(_ADD_EVENTS.format(select=_event_select(sign, source)))


def rebuild(conn: sqlite3.Connection) -> None:
    """The full recompute: both tables from the rows."""
    conn.execute("DELETE FROM response_totals")
    conn.execute("DELETE FROM event_totals")
    conn.execute(_ADD_RESPONSES.format(select=_response_select(1, "FROM responses r WHERE 1")))
    kinds = ", ".join(f"'{k}'" for k in COUNTED_EVENTS)
    conn.execute(_ADD_EVENTS.format(select=_event_select(1, f"FROM events e WHERE e.kind IN ({kinds})")))


def snapshot(conn: sqlite3.Connection) -> tuple[list[tuple], list[tuple]]:
    """Both tables' non-empty rows, sorted: what `rebuild` must reproduce."""
    responses = conn.execute("SELECT * FROM response_totals WHERE responses != 0 ORDER BY 1, 2, 3, 4").fetchall()
    events = conn.execute("SELECT * FROM event_totals WHERE calls != 0 ORDER BY 1, 2, 3, 4, 5").fetchall()
    return responses, events


def prune(conn: sqlite3.Connection, sessions: Iterable[str]) -> None:
    """Drop groups that ownership moved away from entirely (they read as zero)."""
    ids = [(s,) for s in sessions]
    conn.executemany("DELETE FROM response_totals WHERE session_id = ? AND responses = 0", ids)
    conn.executemany("DELETE FROM event_totals WHERE session_id = ? AND calls = 0", ids)


def mark_dirty(conn: sqlite3.Connection, shared_only: bool) -> None:
    """Mark the sessions and days of the rows of the (kind, key)s in temp.ekeys; with `shared_only`, of those
    more than one file shows (which of them counts can change)."""
    rows = "FROM temp.ekeys k CROSS JOIN events e ON e.kind = k.kind AND e.key = k.key WHERE 1"
    if shared_only:
        rows += (
            " AND EXISTS (SELECT 1 FROM events o WHERE o.kind = e.kind AND o.key = e.key AND o.file_id != e.file_id)"
        )
    conn.execute(f"INSERT OR IGNORE INTO dirty SELECT 'session', e.session_id {rows}")
    conn.execute(f"INSERT OR IGNORE INTO dirty SELECT 'date', e.date {rows} AND e.date IS NOT NULL")


def mark_failed_calls_dirty(conn: sqlite3.Connection, tool_use_ids: Iterable[str]) -> None:
    """A tool error counts against its call's session and day, which may not be the error line's."""
    ids = [(k,) for k in tool_use_ids]
    for what, col in (("session", "session_id"), ("date", "date")):
        conn.executemany(
            f"INSERT OR IGNORE INTO dirty SELECT '{what}', {col} FROM events WHERE kind = 'tool' AND key = ?"
            f" AND {col} IS NOT NULL",
            ids,
        )
