"""The running totals that capture moves by what each write changes equal a full recompute from the rows,
after any sequence of appends, truncations, forks and re-derivations; and an appended line does not
re-read its session's or its day's rows."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transcript_corpus import copy_projects

from skill_insights.collectors.transcripts import TranscriptTailer, discover
from skill_insights.pricing import PriceTable
from skill_insights.records import MAX_RESPONSE_TOKENS
from skill_insights.store import open_db, totals
from skill_insights.store.ledger import SIDE_CALLS
from skill_insights.store.rollups import flush

PRICES = PriceTable.bundled()
DERIVED = ("sessions", "usage_daily", "tools_daily", "skills_daily")
_IGNORED = {"updated_at"}


def _derived(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    out = {}
    for table in DERIVED:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] not in _IGNORED]
        out[table] = conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {', '.join(cols[:2])}").fetchall()
    return out


def recomputed(db_path: Path, scratch: Path) -> tuple[tuple, dict]:
    """The totals and every derived table, computed from scratch from a copy of the store's rows."""
    copy = scratch / "full.db"
    copy.unlink(missing_ok=True)
    src = sqlite3.connect(db_path)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.execute("BEGIN")
    # Side calls too are recomputed from scratch, from the ledgers the files keep.
    dst.execute("DELETE FROM responses WHERE agent_id = ?", [SIDE_CALLS])
    totals.rebuild(dst)
    for table in DERIVED:
        dst.execute(f"DELETE FROM {table}")
    dst.execute("INSERT OR IGNORE INTO dirty SELECT 'session', session_id FROM files")
    dst.execute("INSERT OR IGNORE INTO dirty SELECT 'date', date FROM responses")
    dst.execute("INSERT OR IGNORE INTO dirty SELECT 'date', date FROM events WHERE date IS NOT NULL")
    dst.execute("COMMIT")
    dst.isolation_level = None
    flush(dst)
    return totals.snapshot(dst), _derived(dst)


def assert_incremental_equals_full(db, db_path: Path, scratch: Path) -> None:
    full_totals, full_derived = recomputed(db_path, scratch)
    assert totals.snapshot(db.conn) == full_totals
    assert _derived(db.conn) == full_derived


# -- hostile token counts -------------------------------------------------------------------------------


def _line(mid: str, out: int, ts: str = "2026-11-20T10:00:00Z", sid: str = "s") -> bytes:
    return (
        json.dumps(
            {
                "type": "assistant",
                "sessionId": sid,
                "timestamp": ts,
                "requestId": "r" + mid,
                "message": {
                    "id": mid,
                    "model": "claude-sonnet-4-5",
                    "usage": {"input_tokens": 3, "output_tokens": out},
                    "content": [{"type": "text", "text": "hi"}],
                },
            }
        ).encode()
        + b"\n"
    )


@pytest.mark.parametrize("absurd", [2**63 - 1, 2**64 - 1, MAX_RESPONSE_TOKENS + 1, -5])
def test_an_absurd_token_count_is_a_malformed_line_and_the_rest_of_the_batch_is_captured(tmp_path, absurd):
    projects = tmp_path / "projects" / "-p"
    projects.mkdir(parents=True)
    (projects / "bad.jsonl").write_bytes(_line("m1", 5) + _line("m2", absurd) + _line("m3", 7))
    (projects / "good.jsonl").write_bytes(_line("g1", 11, sid="good"))
    db = open_db(tmp_path / "db.sqlite")
    summary = TranscriptTailer(db, PRICES).ingest_paths(discover([tmp_path / "projects"]))
    assert summary.malformed == 1
    out = dict(db.execute("SELECT session_id, output_tokens FROM sessions").fetchall())
    assert out == {"bad": 12, "good": 11}
    # More of the same, twice over: sums never overflow, and later ingests still work.
    with open(projects / "bad.jsonl", "ab") as fh:
        fh.write(_line("m4", MAX_RESPONSE_TOKENS) + _line("m5", MAX_RESPONSE_TOKENS))
    TranscriptTailer(db, PRICES).ingest_paths(discover([tmp_path / "projects"]))
    assert db.execute("SELECT output_tokens FROM sessions WHERE session_id='bad'").fetchone()[0] == 12 + 2 * (
        MAX_RESPONSE_TOKENS
    )
    assert_incremental_equals_full(db, tmp_path / "db.sqlite", tmp_path)


def test_a_store_poisoned_before_the_fix_is_repaired_by_the_migration(tmp_path):
    """Rows a pre-fix capture left with a count past any sum's range are removed, the rest recomputed."""
    projects = tmp_path / "projects" / "-p"
    projects.mkdir(parents=True)
    (projects / "s.jsonl").write_bytes(_line("m1", 5) + _line("m2", 9))
    db_path = tmp_path / "db.sqlite"
    db = open_db(db_path)
    TranscriptTailer(db, PRICES).ingest_paths(discover([tmp_path / "projects"]))
    db.conn.execute("UPDATE responses SET output_tokens = ? WHERE message_id = 'm2'", [2**63 - 1])
    db.conn.execute("UPDATE response_obs SET output_tokens = ? WHERE message_id = 'm2'", [2**63 - 1])
    db.conn.execute("DELETE FROM _migrations WHERE name = 'capture_0003_totals'")
    db.conn.execute("DROP TABLE response_totals")
    db.conn.execute("DROP TABLE event_totals")
    for table in ("response_obs", "responses"):
        db.conn.execute(f"ALTER TABLE {table} DROP COLUMN cost_units")
    db.conn.close()
    db = open_db(db_path)  # migrates
    flush(db)
    assert db.execute("SELECT output_tokens FROM sessions").fetchone()[0] == 5
    assert_incremental_equals_full(db, db_path, tmp_path)


# -- the real-client fixtures ---------------------------------------------------------------------------


def test_fixtures_ingested_in_two_orders_match_a_full_recompute(tmp_path):
    projects = copy_projects(tmp_path / "projects", "2.1.330")
    copy_projects(projects, "2.1.197")
    files = discover([projects])
    for name, order in (("forward", files), ("backward", files[::-1])):
        db = open_db(tmp_path / f"{name}.db")
        for f in order:  # one file per ingest: every fork meets its parent already stored, or not yet
            TranscriptTailer(db, PRICES).ingest_paths([f])
        assert db.execute("SELECT count(*) FROM responses").fetchone()[0] > 0
        assert_incremental_equals_full(db, tmp_path / f"{name}.db", tmp_path)


# -- random histories -----------------------------------------------------------------------------------

MIDS = [f"msg_{i}" for i in range(6)]  # a small pool: the same response recurs across files (forks)
TOOLS = [f"toolu_{i}" for i in range(5)]


@st.composite
def transcript_line(draw) -> bytes:
    kind = draw(st.sampled_from(["response", "response", "tool", "error", "skill", "slash", "prompt", "ledger"]))
    ts = f"2026-11-{draw(st.integers(19, 21)):02d}T{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}:00Z"
    if kind == "response":
        mid = draw(st.sampled_from(MIDS))
        doc = {
            "type": "assistant",
            "timestamp": ts,
            "requestId": "r" + mid,
            "message": {
                "id": mid,
                "model": draw(st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-1", "x-unpriced"])),
                "usage": {
                    "input_tokens": draw(st.integers(0, 50)),
                    "output_tokens": draw(st.integers(0, 50)),
                    "cache_read_input_tokens": draw(st.integers(0, 1000)),
                },
                "content": [{"type": "text", "text": "ok"}],
            },
        }
    elif kind in ("tool", "skill"):
        tid = draw(st.sampled_from(TOOLS))
        block = {
            "type": "tool_use",
            "id": tid,
            "name": "Skill" if kind == "skill" else draw(st.sampled_from(["Bash", "Read"])),
            "input": {"skill": draw(st.sampled_from(["pdf", "docs"]))} if kind == "skill" else {},
        }
        mid = draw(st.sampled_from(MIDS))
        doc = {
            "type": "assistant",
            "timestamp": ts,
            "requestId": "r" + mid,
            "message": {
                "id": mid,
                "model": "claude-sonnet-4-5",
                "usage": {"input_tokens": 1, "output_tokens": 1},
                "content": [block],
            },
        }
    elif kind == "error":
        doc = {
            "type": "user",
            "timestamp": ts,
            "message": {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": draw(st.sampled_from(TOOLS)),
                        "is_error": True,
                        "content": "failed",
                    }
                ],
            },
        }
    elif kind == "slash":
        doc = {
            "type": "user",
            "timestamp": ts,
            "uuid": f"u{draw(st.integers(0, 3))}",
            "message": {"role": "user", "content": "/review now"},
        }
    elif kind == "ledger":  # Claude Code's own running totals: more than the transcript shows, or less
        usage = {
            model: {
                "inputTokens": draw(st.integers(0, 200)),
                "outputTokens": draw(st.integers(0, 200)),
                "cacheReadInputTokens": draw(st.integers(0, 3000)),
                "cacheCreationInputTokens": 0,
                "costUSD": draw(st.integers(0, 10_000)) / 1e6,
            }
            for model in draw(st.sets(st.sampled_from(["claude-sonnet-4-5", "claude-haiku-5-5", "x-unpriced"])))
        }
        doc = {"type": "cost-state", "timestamp": ts, "totalCostUSD": 0.5, "modelUsage": usage}
    else:
        # A prompt with a uuid keeps it in a fork's copy: it counts once, for the file that wrote it first.
        uuid = draw(st.sampled_from([None, "p0", "p1", "p2"]))
        doc = {"type": "user", "timestamp": ts, "message": {"role": "user", "content": "please"}}
        if uuid:
            doc["uuid"] = uuid
    return json.dumps(doc).encode() + b"\n"


FILES = ["-a/s1.jsonl", "-a/s2.jsonl", "-b/s3.jsonl", "-a/s1/subagents/agent-x.jsonl"]
step = st.one_of(
    st.tuples(st.just("append"), st.sampled_from(FILES), st.lists(transcript_line(), min_size=1, max_size=6)),
    st.tuples(st.just("truncate"), st.sampled_from(FILES), st.integers(0, 3)),
    st.tuples(st.just("fork"), st.sampled_from(FILES), st.sampled_from(FILES)),
    st.tuples(st.just("marked fork"), st.sampled_from(FILES), st.sampled_from(FILES)),
    st.tuples(st.just("rewrite"), st.sampled_from(FILES), st.lists(transcript_line(), min_size=1, max_size=3)),
    st.tuples(st.just("delete"), st.sampled_from(FILES), st.none()),
)


def _apply(projects: Path, op: tuple) -> None:
    kind, name, arg = op
    path = projects / name
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_bytes() if path.exists() else b""
    if kind == "append":
        with open(path, "ab") as fh:
            fh.write(b"".join(arg))
    elif kind == "truncate":  # keep the first lines: the file shrank, so it is re-derived
        path.write_bytes(b"".join(old.splitlines(keepends=True)[:arg]))
    elif kind == "fork":  # another session's file copies this one's lines, as a resumed session does
        target = projects / arg
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(old + (target.read_bytes() if target.exists() and target != path else b""))
    elif kind == "marked fork":  # as Claude Code 2.1.330+ forks: copied responses name the session they are from
        target = projects / arg
        target.parent.mkdir(parents=True, exist_ok=True)
        source = path.stem if path.parent.name != "subagents" else path.parent.parent.name
        copied = []
        for line in old.splitlines(keepends=True):
            doc = json.loads(line)
            if doc.get("type") == "assistant":
                doc["requestSessionId"] = source
            copied.append(json.dumps(doc).encode() + b"\n")
        target.write_bytes(b"".join(copied) + (target.read_bytes() if target.exists() and target != path else b""))
    elif kind == "rewrite":  # same size or larger, different head: rewritten in place
        path.write_bytes(b"".join(arg) + old)
    elif kind == "delete":
        path.unlink(missing_ok=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(step, min_size=1, max_size=12))
def test_random_histories_keep_totals_equal_to_a_full_recompute(tmp_path, ops):
    root = tmp_path / "h"
    shutil.rmtree(root, ignore_errors=True)
    projects = root / "projects"
    projects.mkdir(parents=True)
    db = open_db(root / "db.sqlite")
    try:
        for op in ops:
            _apply(projects, op)
            TranscriptTailer(db, PRICES).ingest_paths(discover([projects]))
            assert_incremental_equals_full(db, root / "db.sqlite", root)
    finally:
        db.conn.close()


def _steps_for_one_append(tmp_path: Path, history: int) -> int:
    """SQLite VM instructions that ingesting one appended line runs, in a session of `history` responses on
    one day: a count of the work done, the same on every run (unlike a timing)."""
    projects = tmp_path / f"h{history}" / "projects" / "-p"
    projects.mkdir(parents=True)
    path = projects / "long.jsonl"
    path.write_bytes(
        b"".join(_line(f"m{i}", i % 50, ts=f"2026-11-20T10:{i % 60:02d}:00Z", sid="long") for i in range(history))
    )
    db = open_db(tmp_path / f"h{history}" / "db.sqlite")
    TranscriptTailer(db, PRICES).ingest_paths([path])
    with open(path, "ab") as fh:
        fh.write(_line("new", 1, ts="2026-11-20T11:00:00Z", sid="long"))
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    db.conn.set_progress_handler(count, 1)
    TranscriptTailer(db, PRICES).ingest_paths([path])
    db.conn.set_progress_handler(None, 0)
    assert db.execute("SELECT output_tokens FROM sessions").fetchone()[0] == sum(i % 50 for i in range(history)) + 1
    return steps[0]


def test_an_appended_line_costs_the_same_in_a_long_session(tmp_path):
    """Recomputing the session and the day from their rows made this ~20× more work at 4,000 than at 200."""
    short, long = _steps_for_one_append(tmp_path, 200), _steps_for_one_append(tmp_path, 4000)
    assert long < 1.5 * short, (short, long)
