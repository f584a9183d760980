"""Side calls: what Claude Code's own ledger holds beyond the responses its transcripts show.

Claude Code 2.1.330+ writes `cost-state` lines: its running totals for the session, per model, including
calls that never reach the transcript (title generation and other side queries). Capture keeps the last one
per file (`files.ledger`). Per model, the ledger minus the responses of the session's lineage is the session's
side calls, stored as one row per model in `responses` (agent `SIDE_CALLS`, a key no transcript can show),
so they count in every total the responses feed, and priced with Claude Code's own cost for them.

A resumed or forked session's ledger is restored from its parent's and keeps counting: it covers the
responses the fork copied (owned by the parent) and the parent's side calls. Both are taken away, so
nothing counts twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import orjson

from skill_insights.records import TOKEN_COLS, cost_units, local_date, usd
from skill_insights.store import totals

SIDE_CALLS = "<side-calls>"
MAX_ROUNDS = 4
_SUMS = ", ".join(f"sum(r.{c})" for c in TOKEN_COLS)


def side_key(session_id: str, model: str) -> str:
    return f"side-calls:{session_id}:{model}"


def settle(conn: sqlite3.Connection, sessions: Iterable[str]) -> int:
    """Bring the side-call rows of `sessions` up to date with their ledgers (parents first, whose side calls a
    fork's ledger repeats), moving the running totals and marking changed days. Returns rows changed."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS side_sessions (session_id TEXT PRIMARY KEY)")
    conn.execute(  # as store.connect makes it, for a connection opened otherwise
        "CREATE TEMP TABLE IF NOT EXISTS keys (message_id TEXT, request_id TEXT, file_id INTEGER,"
        " PRIMARY KEY (message_id, request_id))"
    )
    conn.execute("DELETE FROM temp.side_sessions")
    conn.executemany("INSERT OR IGNORE INTO temp.side_sessions VALUES (?)", [(s,) for s in sessions])
    order = conn.execute(
        """SELECT s.session_id FROM temp.side_sessions s
           ORDER BY (SELECT min(coalesce(f.opened_ts, 9e18)) FROM files f WHERE f.session_id = s.session_id),
                    s.session_id"""
    ).fetchall()
    changed = 0
    settled: dict[str, int] = {}
    queue = [sid for (sid,) in order]
    while queue:
        sid = queue.pop(0)
        # Sessions that copied from each other could pass a change back and forth: a few rounds each at most.
        if settled.get(sid, 0) >= MAX_ROUNDS:
            continue
        settled[sid] = settled.get(sid, 0) + 1
        if _settle_one(conn, sid):
            changed += 1
            # A fork's ledger repeats this session's side calls, which its own side calls leave out: settle
            # the forks again (after this one, as parents come first).
            queue.extend(forks_of(conn, sid))
    return changed


def forks_of(conn: sqlite3.Connection, sid: str) -> list[str]:
    """Sessions whose files copied responses this session owns (Claude Code marks the copies)."""
    return [
        r[0]
        for r in conn.execute(
            """SELECT DISTINCT f.session_id FROM responses r
               JOIN response_obs o ON o.message_id = r.message_id AND o.request_id = r.request_id AND o.copied = 1
               JOIN files f ON f.id = o.file_id
               WHERE r.session_id = ? AND f.session_id != ? ORDER BY 1""",
            [sid, sid],
        )
    ]


def _ledger_of(conn: sqlite3.Connection, sid: str) -> tuple[int, dict, float | None] | None:
    """(file id, ledger, its timestamp) of the session's latest ledger, from its main transcript."""
    best = None
    for fid, text, last_ts in conn.execute(
        "SELECT id, ledger, last_ts FROM files WHERE session_id = ? AND agent_id IS NULL AND ledger IS NOT NULL",
        [sid],
    ):
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        ts = doc.get("ts") if isinstance(doc.get("ts"), int | float) else last_ts
        if best is None or (ts or 0) >= (best[2] or 0):
            best = (fid, doc, ts)
    return best


def _side_range(sid: str) -> tuple[str, str]:
    """Bounds of the session's side-call keys: a range of the primary key, never a scan of its responses."""
    return side_key(sid, ""), f"side-calls:{sid};"


def desired_rows(conn: sqlite3.Connection, sid: str) -> list[tuple]:
    """The session's side-call rows as `responses` rows (without file id), from its ledger.

    Reads the running totals and the fork's copies only, so its cost does not grow with the session."""
    found = _ledger_of(conn, sid)
    if found is None:
        return []
    _fid, ledger, ts = found
    width = len(TOKEN_COLS) + 1
    lineage: dict[str, list[int]] = {}

    def add(model: str, sums) -> None:
        acc = lineage.setdefault(model, [0] * width)
        for i, v in enumerate(sums):
            acc[i] += v or 0

    # The session's own responses, side calls apart.
    for model, *sums in conn.execute(
        f"""SELECT model, {", ".join(f"sum({c})" for c in TOKEN_COLS)}, sum(cost_units) FROM response_totals
            WHERE session_id = ? AND agent_id != ? GROUP BY model""",
        [sid, SIDE_CALLS],
    ):
        add(model, sums)
    # The responses its files copied from other sessions (Claude Code 2.1.330+, which writes ledgers, marks
    # them), and the side calls of those sessions, which the restored ledger holds too.
    parents = set()
    for parent, model, *sums in conn.execute(
        f"""SELECT r.session_id, r.model, {_SUMS}, sum(r.cost_units)
            FROM files f JOIN response_obs o ON o.file_id = f.id AND o.copied = 1
            JOIN responses r ON r.message_id = o.message_id AND r.request_id = o.request_id
            WHERE f.session_id = ? AND r.session_id != ? GROUP BY r.session_id, r.model""",
        [sid, sid],
    ):
        parents.add(parent)
        add(model, sums)
    for parent in sorted(parents):
        for model, *sums in conn.execute(
            f"""SELECT r.model, {_SUMS}, sum(r.cost_units) FROM responses r
                WHERE r.message_id >= ? AND r.message_id < ? GROUP BY r.model""",
            _side_range(parent),
        ):
            add(model, sums)
    date = local_date(ts) if ts is not None else None
    rows = []
    for model, usage in sorted(ledger.get("models", {}).items()):
        seen = lineage.get(model, [0] * width)
        tokens = [max(0, int(usage.get(c, 0)) - seen[i]) for i, c in enumerate(TOKEN_COLS)]
        units = max(0, cost_units(usage.get("cost_usd", 0.0)) - seen[-1])
        if not any(tokens) and units == 0:
            continue
        rows.append((side_key(sid, model), "", sid, SIDE_CALLS, model, ts, date, *tokens, usd(units), units))
    return rows


def _settle_one(conn: sqlite3.Connection, sid: str) -> int:
    cols = (
        f"message_id, request_id, session_id, agent_id, model, ts, date, {', '.join(TOKEN_COLS)}, cost_usd, cost_units"
    )
    low, high = _side_range(sid)
    have = [
        tuple(r)
        for r in conn.execute(
            f"SELECT {cols} FROM responses WHERE message_id >= ? AND message_id < ? ORDER BY model", [low, high]
        )
    ]
    want = desired_rows(conn, sid)
    if have == want:
        return 0
    found = _ledger_of(conn, sid)
    fid = found[0] if found else None
    conn.execute("DELETE FROM temp.keys")
    conn.executemany("INSERT OR IGNORE INTO temp.keys VALUES (?, ?, ?)", [(r[0], r[1], fid) for r in have + want])
    totals.shift_responses_of_keys(conn, -1)
    conn.executemany("INSERT OR IGNORE INTO dirty VALUES ('date', ?)", [(r[6],) for r in have + want if r[6]])
    conn.execute("INSERT OR IGNORE INTO dirty VALUES ('session', ?)", [sid])
    conn.execute("DELETE FROM responses WHERE message_id >= ? AND message_id < ?", [low, high])
    conn.executemany(
        f"INSERT INTO responses (file_id, {cols}) VALUES ({', '.join('?' * (len(TOKEN_COLS) + 10))})",
        [(fid, *r) for r in want],
    )
    totals.shift_responses_of_keys(conn, 1)
    return len(have) + len(want)


def side_calls_of(conn: sqlite3.Connection, sid: str) -> dict[str, dict]:
    """The session's side calls per model: tokens and Claude Code's cost for them."""
    out: dict[str, dict] = {}
    for model, *row in conn.execute(
        f"""SELECT model, {", ".join(f"sum({c})" for c in TOKEN_COLS)}, sum(cost_units) FROM response_totals
            WHERE session_id = ? AND agent_id = ? AND responses != 0 GROUP BY model ORDER BY model""",
        [sid, SIDE_CALLS],
    ):
        toks = dict(zip(TOKEN_COLS, row[:-1], strict=True))
        out[model] = {
            **toks,
            "total_tokens": toks["input_tokens"]
            + toks["output_tokens"]
            + toks["cache_creation_input_tokens"]
            + toks["cache_read_input_tokens"],
            "cost_usd": usd(row[-1]),
            "priced_from": "ledger",
        }
    return out
