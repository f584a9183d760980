"""Writing a batch of chunks: observations, canonical responses and events, with the running totals moved by
what each write changes (`store/totals.py`), in the batch's one transaction.

An API response that several files show (forks copy lines) has one canonical row: owned by an observation not
marked as a fork's copy, from the file opened first, then the first by path; with the tokens of the
observation with the largest output_tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from skill_insights.collectors.transcripts.checkpoint import TranscriptFile
from skill_insights.collectors.transcripts.chunk import Chunk, EventRow, ObsRow
from skill_insights.store import totals


class BatchRows:
    """The rows of every chunk one transaction commits, written together: a few statements per batch of
    files instead of a dozen per file."""

    def __init__(self) -> None:
        self.obs: list[tuple[ObsRow, int]] = []  # (observation, file id)
        self.keys: list[tuple[str, str, int]] = []
        self.events: list[tuple[EventRow, int]] = []
        self.dirty: set[tuple[str, str]] = set()

    def add(self, tf: TranscriptFile, fid: int, chunk: Chunk) -> None:
        self.obs.extend((o, fid) for o in chunk.obs.values())
        self.keys.extend((mid, rid, fid) for mid, rid in chunk.obs)
        self.events.extend((e, fid) for e in chunk.events)
        self.dirty.add(("session", tf.session_id))
        self.dirty.update(("date", d) for d in chunk.dates)

    def write(self, conn) -> dict[int, int]:
        """Write the rows and move the running totals by what they change; returns the number of responses new
        to the store, per file id that first showed them."""
        new: dict[int, int] = {}
        if self.obs:
            conn.executemany(
                """INSERT INTO response_obs (message_id, request_id, session_id, agent_id, model, ts, date,
                       input_tokens, output_tokens, cache_creation_input_tokens, cache_creation_5m,
                       cache_creation_1h, cache_read_input_tokens, cost_usd, cost_units, copied, file_id)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT (message_id, request_id, file_id) DO UPDATE SET
                       model=excluded.model, input_tokens=excluded.input_tokens,
                       output_tokens=excluded.output_tokens,
                       cache_creation_input_tokens=excluded.cache_creation_input_tokens,
                       cache_creation_5m=excluded.cache_creation_5m, cache_creation_1h=excluded.cache_creation_1h,
                       cache_read_input_tokens=excluded.cache_read_input_tokens, cost_usd=excluded.cost_usd,
                       cost_units=excluded.cost_units
                   WHERE excluded.output_tokens > response_obs.output_tokens""",
                [(*o, fid) for o, fid in self.obs],
            )
            conn.execute("DELETE FROM temp.keys")
            # A key several files of the batch show is new for the first of them, as if committed one by one.
            conn.executemany("INSERT OR IGNORE INTO temp.keys VALUES (?, ?, ?)", self.keys)
            fresh = conn.execute(
                """SELECT message_id, request_id, file_id FROM temp.keys k WHERE NOT EXISTS (
                       SELECT 1 FROM responses r WHERE r.message_id = k.message_id AND r.request_id = k.request_id)"""
            ).fetchall()
            for *_, fid in fresh:
                new[fid] = new.get(fid, 0) + 1
            # A response new to the store that one file alone shows is its own canonical row, written as is
            # (most of a first ingest); the others are recomputed from all their observations.
            shown = Counter((mid, rid) for mid, rid, _ in self.keys)
            alone = {(mid, rid) for mid, rid, _ in fresh if shown[mid, rid] == 1}
            if alone:
                rows = [(o, fid) for o, fid in self.obs if (o.message_id, o.request_id) in alone]
                conn.executemany(
                    """INSERT INTO responses (message_id, request_id, file_id, session_id, agent_id, model, ts, date,
                           input_tokens, output_tokens, cache_creation_input_tokens, cache_creation_5m,
                           cache_creation_1h, cache_read_input_tokens, cost_usd, cost_units)
                       VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                    [(o.message_id, o.request_id, fid, *o[2:15]) for o, fid in rows],
                )
                totals.add_response_rows(conn, ((o.session_id, o.agent_id, o.date, o.model, *o[7:15]) for o, _ in rows))
                conn.execute("DELETE FROM temp.keys")
                conn.executemany(
                    "INSERT OR IGNORE INTO temp.keys VALUES (?, ?, ?)",
                    [k for k in self.keys if (k[0], k[1]) not in alone],
                )
            recompute_canonical(conn)
        if self.events:
            moved = totals.load_event_keys(conn, ((e.kind, e.key) for e, _ in self.events))
            new_rows = totals.settle_new_event_keys(conn, (e for e, _ in self.events)) if moved else []
            if moved:
                totals.shift_events_of_keys(conn, -1)
            conn.executemany(
                """INSERT OR IGNORE INTO events (kind, key, session_id, agent_id, ts, date, name, detail, file_id)
                   VALUES (?,?,?,?,?,?,?,?,?)""",
                [(*e, fid) for e, fid in self.events],
            )
            totals.mark_failed_calls_dirty(conn, {e.key for e, _ in self.events if e.kind == "tool_error"})
            if moved:
                totals.mark_dirty(conn, shared_only=True)  # a copy that stops or starts counting: another session
                totals.shift_events_of_keys(conn, 1)
                totals.add_event_rows(conn, new_rows)
        conn.executemany("INSERT OR IGNORE INTO dirty VALUES (?, ?)", sorted(self.dirty))
        return new


def reown(conn, file_id: int, change: Callable[[], None]) -> None:
    """Run `change`, a write that alters which rows of one file's keys count (removing them, or the file's
    opened_ts), with the running totals of those keys taken away before it and added back after it."""
    conn.execute("DELETE FROM temp.keys")
    conn.execute(
        "INSERT OR IGNORE INTO temp.keys SELECT message_id, request_id, file_id FROM response_obs WHERE file_id=?",
        [file_id],
    )
    moved = totals.load_event_keys(conn, conn.execute("SELECT kind, key FROM events WHERE file_id = ?", [file_id]))
    conn.execute("INSERT OR IGNORE INTO dirty SELECT 'session', session_id FROM files WHERE id=?", [file_id])
    if moved:
        totals.mark_dirty(conn, shared_only=False)
        totals.shift_events_of_keys(conn, -1)
    change()
    recompute_canonical(conn)
    if moved:
        totals.shift_events_of_keys(conn, 1)


def _mark_dirty_responses(conn) -> None:
    # CROSS JOIN keeps temp.keys as the outer loop: a key lookup each, never a scan of `responses`.
    conn.execute(
        """INSERT OR IGNORE INTO dirty SELECT 'session', r.session_id
           FROM temp.keys k CROSS JOIN responses r ON r.message_id = k.message_id AND r.request_id = k.request_id"""
    )
    conn.execute(
        """INSERT OR IGNORE INTO dirty SELECT 'date', r.date
           FROM temp.keys k CROSS JOIN responses r ON r.message_id = k.message_id AND r.request_id = k.request_id"""
    )


def recompute_canonical(conn) -> None:
    """Rebuild `responses` for the keys in temp.keys from their observations, marking what changed dirty.

    The owner is an observation not marked as a fork's copy, from the file opened first (see files.opened_ts),
    then the first by path: so ownership does not depend on which file was ingested first (file ids follow
    ingest order, which parallel workers vary). The tokens are those of the observation with the largest
    output_tokens.
    """
    _mark_dirty_responses(conn)
    totals.shift_responses_of_keys(conn, -1)
    conn.execute(
        "DELETE FROM responses WHERE (message_id, request_id) IN (SELECT message_id, request_id FROM temp.keys)"
    )
    conn.execute(
        """INSERT INTO responses (message_id, request_id, file_id, session_id, agent_id, model, ts, date,
               input_tokens, output_tokens, cache_creation_input_tokens, cache_creation_5m, cache_creation_1h,
               cache_read_input_tokens, cost_usd, cost_units)
           SELECT k.message_id, k.request_id, own.file_id, own.session_id, own.agent_id, best.model, own.ts,
               own.date, best.input_tokens, best.output_tokens, best.cache_creation_input_tokens,
               best.cache_creation_5m, best.cache_creation_1h, best.cache_read_input_tokens, best.cost_usd,
               best.cost_units
           FROM temp.keys k
           JOIN response_obs own ON own.rowid = (
               SELECT o.rowid FROM response_obs o JOIN files f ON f.id = o.file_id
               WHERE o.message_id = k.message_id AND o.request_id = k.request_id
               ORDER BY o.copied, coalesce(f.opened_ts, 9e18), f.path LIMIT 1)
           JOIN response_obs best ON best.rowid = (
               SELECT o.rowid FROM response_obs o JOIN files f ON f.id = o.file_id
               WHERE o.message_id = k.message_id AND o.request_id = k.request_id
               ORDER BY o.output_tokens DESC, f.path LIMIT 1)"""
    )
    totals.shift_responses_of_keys(conn, 1)
    _mark_dirty_responses(conn)
