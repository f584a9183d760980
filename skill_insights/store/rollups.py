"""Per-session stats and daily rollups, recomputed for what an ingest marked dirty.

Derived only from the store: the running totals (`store/totals.py`), the files' checkpoints and the few
per-call rows a session lists (subagent calls): never from transcripts, and never by scanning a session's or
a day's responses, so one appended line costs the same in a long session as in a new one. An event or
response that several files show (forks) counts once, for the earliest row.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from skill_insights.records import PROCESSOR_VERSION, TOKEN_COLS, Usage, cost_units, local_date, usd
from skill_insights.store import ledger, totals, write_transaction
from skill_insights.store.activity import active_seconds, merge_blocks
from skill_insights.store.totals import FAILED, OWNED_EVENT

if TYPE_CHECKING:
    import sqlite_utils

_SUMS = ", ".join(f"sum({c})" for c in TOKEN_COLS)
__all__ = ["FAILED", "OWNED_EVENT", "flush", "recompute_days", "reprice", "session_row"]


# Below this many dirty sessions, a second process costs more than it saves.
PARALLEL_MIN_SESSIONS = 64


def flush(db: sqlite_utils.Database | sqlite3.Connection, parallel: bool = False) -> int:
    """Recompute every dirty session and day. Returns how many were recomputed.

    With `parallel` (after a large ingest), a forked reader computes most of the sessions while this
    process computes the rest and the days: the write lock, taken first, keeps what both read unchanged.
    """
    if db.execute("SELECT 1 FROM dirty LIMIT 1").fetchone() is None:
        return 0
    # Side calls first, committed on their own: the session reader below sees only what is committed.
    with write_transaction(db) as conn:
        ledger.settle(conn, [r[0] for r in conn.execute("SELECT value FROM dirty WHERE kind = 'session'")])
    with write_transaction(db) as conn:
        dirty = conn.execute("SELECT kind, value FROM dirty").fetchall()
        sessions = [v for k, v in dirty if k == "session" and v]
        dates = [v for k, v in dirty if k == "date" and v]
        helper = None
        if parallel and len(sessions) >= PARALLEL_MIN_SESSIONS:
            # The days take this process about as long as a third of the sessions: the reader takes 2/3.
            cut = len(sessions) // 3
            helper = _SessionRowsReader(conn, sessions[cut:])
            sessions = sessions[:cut]
        rows = [session_row(conn, sid) for sid in sessions]
        if dates:
            recompute_days(conn, dates)
        if helper is not None:
            rows += helper.rows()
        totals.prune(conn, [sid for sid, _ in rows])
        _write_session_rows(conn, rows)
        conn.execute("DELETE FROM dirty")
    return len(rows) + len(dates)


class _SessionRowsReader:
    """`session_row` for some sessions, computed by a forked process with a read-only connection of its own.
    Whatever keeps it from answering (no process to start, a crash, no answer in READER_TIMEOUT seconds while
    the caller holds the write lock), the caller computes those sessions itself."""

    READER_TIMEOUT = 120.0

    def __init__(self, conn: sqlite3.Connection, sessions: list[str]) -> None:
        from skill_insights.processes import Forked

        self.conn = conn
        self.sessions = sessions
        self.answered = False
        self._child = Forked(_session_rows, conn.execute("PRAGMA database_list").fetchone()[2], sessions)
        self.proc = self._child.proc

    def rows(self) -> list[tuple[str, dict | None]]:
        try:
            rows = self._child.result(self.READER_TIMEOUT)
            self.answered = True
            return rows
        except Exception:  # the reader failed: compute its share here
            return [session_row(self.conn, sid) for sid in self.sessions]


def _session_rows(db_path: str, sessions: list[str]) -> list[tuple[str, dict | None]]:
    # Read-only and without the store's pragmas: the parent holds the write lock until this answers.
    from skill_insights.store import open_readonly

    conn = open_readonly(db_path)
    try:
        return [session_row(conn, sid) for sid in sessions]
    finally:
        conn.close()


def _write_session_rows(conn: sqlite3.Connection, rows: list[tuple[str, dict | None]]) -> None:
    gone = [(sid,) for sid, row in rows if row is None]
    conn.executemany("DELETE FROM sessions WHERE session_id = ?", gone)
    for _, row in rows:
        if row is not None:
            cols = ", ".join(row)
            conn.execute(
                f"INSERT OR REPLACE INTO sessions ({cols}, updated_at) "
                f"VALUES ({', '.join('?' * len(row))}, datetime('now'))",
                list(row.values()),
            )


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def session_row(conn: sqlite3.Connection, sid: str) -> tuple[str, dict | None]:
    """(session id, its `sessions` row computed from the store; None when it has no file any more). Reads only."""
    files = conn.execute(
        """SELECT agent_id, project_dir, malformed, user_messages, first_ts, last_ts, blocks, cwd, git_branch
           FROM files WHERE session_id = ? AND lines > 0 ORDER BY agent_id IS NOT NULL, id""",
        [sid],
    ).fetchall()
    if not files:  # no file, or only empty ones (a file truncated to nothing leaves no session either)
        return sid, None
    cwd = next((f[7] for f in files if f[7]), None)
    branch = next((f[8] for f in files if f[8]), None)
    firsts = [f[4] for f in files if f[4] is not None]
    lasts = [f[5] for f in files if f[5] is not None]
    blocks = merge_blocks([b for f in files for b in orjson.loads(f[6] or "[]")])
    started = min(firsts) if firsts else None
    ended = max(lasts) if lasts else None

    models: dict[str, dict] = {}
    sums = dict.fromkeys(TOKEN_COLS, 0)
    units = 0
    priced = 0
    unpriced: list[str] = []
    assistant_messages = 0
    for row in conn.execute(
        f"""SELECT model, sum(responses), {_SUMS}, sum(cost_units), sum(unpriced),
                   sum(CASE WHEN agent_id = '' THEN responses ELSE 0 END)
            FROM response_totals WHERE session_id = ? AND responses != 0 GROUP BY model""",
        [sid],
    ):
        model, n = row[0], row[1]
        toks = dict(zip(TOKEN_COLS, row[2:8], strict=True))
        m_units, n_unpriced, n_main = row[8], row[9], row[10]
        for c in TOKEN_COLS:
            sums[c] += toks[c]
        if n_unpriced:
            unpriced.append(model)
        if n > n_unpriced:
            units += m_units
            priced += 1
        assistant_messages += n_main
        models[model] = {
            "responses": n,
            **toks,
            "total_tokens": _total(toks),
            "cost_usd": usd(m_units) if n > n_unpriced else None,
        }
    primary = max(models, key=lambda m: models[m]["total_tokens"], default=None)

    counts: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    errors: dict[str, int] = defaultdict(int)
    side_calls = ledger.side_calls_of(conn, sid)
    for kind, name, detail, n, failed in conn.execute(
        """SELECT kind, name, detail, sum(calls), sum(failed) FROM event_totals
           WHERE session_id = ? AND calls != 0 GROUP BY kind, name, detail""",
        [sid],
    ):
        counts[kind][(name, detail)] += n
        if failed:
            errors[name] += failed
    tools = {name: {"calls": n, "errors": errors.get(name, 0)} for (name, _), n in sorted(counts["tool"].items())}
    skills = {name: n for (name, _), n in sorted(counts["skill"].items())}
    mcp: dict[str, dict[str, int]] = defaultdict(dict)
    for (server, tool), n in sorted(counts["mcp"].items()):
        mcp[server][tool or ""] = n
    slash = {name: n for (name, _), n in sorted(counts["slash"].items())}
    subagents = _subagents(conn, sid)

    row = {
        "session_id": sid,
        "project": cwd,
        "project_dir": files[0][1],
        "git_branch": branch,
        "git_repo": _repo(conn, cwd),
        "started_at": _iso(started),
        "ended_at": _iso(ended),
        "last_date": local_date(ended) if ended is not None else None,
        "wall_seconds": round(ended - started, 3) if started is not None and ended is not None else 0.0,
        "active_seconds": round(active_seconds(blocks), 3),
        "user_messages": sum(counts["prompt"].values()),
        "assistant_messages": assistant_messages,
        "primary_model": primary,
        "models": orjson.dumps(models).decode(),
        "input_tokens": sums["input_tokens"],
        "output_tokens": sums["output_tokens"],
        "cache_creation_input_tokens": sums["cache_creation_input_tokens"],
        "cache_read_input_tokens": sums["cache_read_input_tokens"],
        "total_tokens": _total(sums),
        "cost_usd": usd(units) if priced or not models else None,
        "unpriced_models": orjson.dumps(sorted(unpriced)).decode(),
        "tool_calls": sum(counts["tool"].values()),
        "tool_errors": sum(errors.values()),
        "skill_calls": sum(counts["skill"].values()),
        "subagent_calls": sum(counts["subagent"].values()),
        "mcp_calls": sum(counts["mcp"].values()),
        "slash_commands": sum(counts["slash"].values()),
        "distinct_tools": len(counts["tool"]),
        "distinct_skills": len(counts["skill"]),
        "tools": orjson.dumps(tools).decode(),
        "skills": orjson.dumps(skills).decode(),
        "subagents": orjson.dumps(subagents).decode(),
        "mcp": orjson.dumps(mcp).decode(),
        "slash": orjson.dumps(slash).decode(),
        "files": len(files),
        "malformed": sum(f[2] or 0 for f in files),
        "side_calls": orjson.dumps(side_calls).decode(),
        "processor_version": PROCESSOR_VERSION,
    }
    return sid, row


def _subagents(conn: sqlite3.Connection, sid: str) -> list[dict]:
    """Each subagent call with the tokens and cost of the subagent's own transcript."""
    links: dict[str, dict] = {}
    for agent_id, agent_type, tool_use_id in conn.execute(
        "SELECT key, name, detail FROM events WHERE session_id = ? AND kind = 'agent_link' ORDER BY rowid",
        [sid],
    ):
        link = links.setdefault(agent_id, {"type": None, "tool_use_id": None})
        link["type"] = link["type"] or agent_type
        link["tool_use_id"] = link["tool_use_id"] or tool_use_id
    usage = {
        r[0]: (_total(dict(zip(TOKEN_COLS, r[1:7], strict=True))), usd(r[7]), r[8])
        for r in conn.execute(
            f"""SELECT agent_id, {_SUMS}, sum(cost_units), sum(unpriced) FROM response_totals
                WHERE session_id = ? AND agent_id NOT IN ('', ?) AND responses != 0 GROUP BY agent_id""",
            [sid, ledger.SIDE_CALLS],
        )
    }
    by_call = {v["tool_use_id"]: k for k, v in links.items() if v["tool_use_id"]}
    out: list[dict] = []
    seen: set[str] = set()
    for tool_use_id, stype in conn.execute(
        f"""SELECT key, name FROM events e WHERE session_id = ? AND kind = 'subagent' AND {OWNED_EVENT}
            ORDER BY ts, rowid""",
        [sid],
    ):
        agent_id = by_call.get(tool_use_id)
        tokens, cost, unpriced = usage.get(agent_id, (0, None, 0)) if agent_id else (0, None, 0)
        out.append(
            {
                "tool_use_id": tool_use_id,
                "agent_id": agent_id,
                "type": stype,
                "total_tokens": tokens,
                "cost_usd": cost if not unpriced else None,
            }
        )
        if agent_id:
            seen.add(agent_id)
    # Subagent transcripts whose call we did not see (e.g. a file copied alone).
    for agent_id, (tokens, cost, unpriced) in sorted(usage.items()):
        if agent_id not in seen:
            out.append(
                {
                    "tool_use_id": links.get(agent_id, {}).get("tool_use_id"),
                    "agent_id": agent_id,
                    "type": links.get(agent_id, {}).get("type"),
                    "total_tokens": tokens,
                    "cost_usd": cost if not unpriced else None,
                }
            )
    return out


def _repo(conn: sqlite3.Connection, cwd: str | None) -> str | None:
    if not cwd:
        return None
    row = conn.execute("SELECT remote FROM repos WHERE cwd = ?", [cwd]).fetchone()
    return row[0] if row else None


def _total(toks: dict) -> int:
    return (
        (toks["input_tokens"] or 0)
        + (toks["output_tokens"] or 0)
        + (toks["cache_creation_input_tokens"] or 0)
        + (toks["cache_read_input_tokens"] or 0)
    )


def recompute_days(conn: sqlite3.Connection, dates: list[str]) -> None:
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS days (date TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.days")
    conn.executemany("INSERT OR IGNORE INTO temp.days VALUES (?)", [(d,) for d in dates])
    for table in ("usage_daily", "tools_daily", "skills_daily"):
        conn.execute(f"DELETE FROM {table} WHERE date IN (SELECT date FROM temp.days)")
    days = conn.execute(
        f"""SELECT date, model, sum(responses), {_SUMS}, sum(cost_units), sum(unpriced) FROM response_totals
            WHERE date IN (SELECT date FROM temp.days) AND responses != 0 GROUP BY date, model"""
    ).fetchall()
    conn.executemany(
        f"""INSERT INTO usage_daily (date, model, responses, {", ".join(TOKEN_COLS)}, cost_usd, unpriced_responses)
            VALUES ({", ".join("?" * (len(TOKEN_COLS) + 5))})""",
        [(*r[:9], usd(r[9]), r[10]) for r in days],
    )
    conn.execute(
        """INSERT INTO tools_daily (date, tool, calls, errors)
           SELECT date, name, sum(calls), sum(failed) FROM event_totals
           WHERE kind = 'tool' AND date IN (SELECT date FROM temp.days) AND calls != 0 GROUP BY date, name"""
    )
    conn.execute(
        """INSERT INTO skills_daily (date, skill, activations, sessions)
           SELECT date, name, sum(calls), count(DISTINCT session_id) FROM event_totals
           WHERE kind = 'skill' AND date IN (SELECT date FROM temp.days) AND calls != 0 GROUP BY date, name"""
    )


def reprice(db: sqlite_utils.Database, prices) -> int:
    """Recompute every stored cost with a new price table; returns responses re-priced."""
    with write_transaction(db) as conn:
        for table in ("response_obs", "responses"):
            # TOKEN_COLS are in Usage's field order. Side calls keep Claude Code's own cost.
            rows = conn.execute(
                f"SELECT rowid, model, {', '.join(TOKEN_COLS)} FROM {table} WHERE agent_id IS NOT ?",
                [ledger.SIDE_CALLS],
            ).fetchall()
            costs = [(prices.cost(r[1], Usage(*r[2:])), r[0]) for r in rows]
            conn.executemany(
                f"UPDATE {table} SET cost_usd = ?, cost_units = ? WHERE rowid = ?",
                [(cost, cost_units(cost), rowid) for cost, rowid in costs],
            )
        n = len(rows)  # the canonical responses
        totals.rebuild(conn)
        conn.execute("INSERT OR IGNORE INTO dirty SELECT DISTINCT 'session', session_id FROM responses")
        conn.execute("INSERT OR IGNORE INTO dirty SELECT DISTINCT 'date', date FROM responses")
    flush(db)
    return n
