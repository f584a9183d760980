"""Bad input, crashes and concurrency: nothing stored is lost, nothing is counted twice."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from transcript_corpus import FIXTURES, assistant_line, big_corpus, copy_projects

from skill_insights.collectors.parse import MAX_LINE_BYTES, MalformedLine, parse_line
from skill_insights.collectors.transcripts import TranscriptTailer, discover
from skill_insights.pricing import PriceTable
from skill_insights.store import open_db
from skill_insights.usage import by_period, by_session

CLI = [sys.executable, "-c", "from skill_insights.cli import cli; cli()"]


def _good_line(mid: str = "m", out: int = 7) -> bytes:
    return assistant_line(mid, out).encode()


@pytest.mark.parametrize(
    "raw",
    [
        _good_line()[:-9],  # truncated JSON
        b'{"type": "user", "message": {"content": "caf\xe9"}}',  # invalid UTF-8
        b"[1, 2, 3]",  # not an object
        b'"just a string"',
        b'{"type": 5}',
        b'{"type": "assistant", "message": "not an object"}',
        b'{"type": "assistant", "requestId": "r", "message": {"id": "m", "usage": "lots"}}',
        b'{"type": "assistant", "requestId": "r", "message": {"id": "m", "usage": {"output_tokens": "12"}}}',
        b'{"type": "assistant", "requestId": "r", "message": {"id": "m", "usage": {"input_tokens": -1}}}',
        b'{"type": "assistant", "message": {"id": "m", "content": 42}}',
        b'{"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": 7}]}}',
        b'{"type": "assistant", "message": {"content": [{"type": "tool_use", "name": "Bash"}]}}',
    ],
)
def test_malformed_lines_raise(raw):
    with pytest.raises(MalformedLine):
        parse_line(raw)


def test_oversized_line_is_malformed_without_parsing():
    with pytest.raises(MalformedLine, match="cap"):
        parse_line(b"{" + b" " * MAX_LINE_BYTES + b"}")


def test_parse_line_facts():
    line = parse_line(_good_line("msg_1", 9))
    assert line is not None and line.response is not None
    assert (line.response.message_id, line.response.request_id, line.response.usage.output_tokens) == (
        "msg_1",
        "rmsg_1",
        9,
    )
    synthetic = json.dumps(
        {
            "type": "assistant",
            "isApiErrorMessage": True,
            "message": {
                "id": "x",
                "model": "<synthetic>",
                "usage": {"input_tokens": 0, "output_tokens": 0},
                "content": [],
            },
        }
    )
    assert parse_line(synthetic.encode()).response is None
    assert parse_line(b"   ") is None
    slash = parse_line(b'{"type": "user", "message": {"content": "/review this PR"}}')
    assert slash.slash_command == "/review" and slash.is_prompt
    tag = parse_line(
        json.dumps(
            {
                "type": "user",
                "message": {"content": "<command-name>/model</command-name>\n<command-args>opus</command-args>"},
            }
        ).encode()
    )
    assert tag.slash_command == "/model"
    path = parse_line(b'{"type": "user", "message": {"content": "/usr/bin/env is a path, not a command"}}')
    assert path.slash_command == "/usr"  # the rule is the client's: text that starts with "/"
    mcp = parse_line(
        json.dumps(
            {
                "type": "assistant",
                "requestId": "r",
                "message": {
                    "id": "m",
                    "model": "claude-sonnet-4-5",
                    "usage": {"input_tokens": 1, "output_tokens": 1},
                    "content": [
                        {"type": "tool_use", "id": "t", "name": "mcp__github__create_issue", "input": {}},
                        {"type": "tool_use", "id": "u", "name": "Task", "input": {"subagent_type": "Explore"}},
                    ],
                },
            }
        ).encode()
    )
    assert (mcp.tool_uses[0].mcp_server, mcp.tool_uses[0].mcp_tool) == ("github", "create_issue")
    assert mcp.tool_uses[1].subagent_type == "Explore"


def _ingest(home: Path, projects: Path):
    db = open_db(home / "db.sqlite")
    return db, TranscriptTailer(db, PriceTable.load()).ingest_paths(discover([projects]))


def test_malformed_lines_are_counted_per_file_and_skipped(tmp_path):
    d = tmp_path / "projects" / "-p"
    d.mkdir(parents=True)
    bad = [
        b'{"type": "assistant", "truncated',
        b"\xff\xfe not utf-8",
        b"[]",
        b'{"type": "assistant", "requestId": "r", "message": {"id": "m", "usage": {"output_tokens": "7"}}}',
    ]
    body = b"\n".join([_good_line("a", 1), *bad, _good_line("b", 2), b"", b"  "]) + b"\n"
    (d / "s.jsonl").write_bytes(body)
    db, summary = _ingest(tmp_path, tmp_path / "projects")
    assert summary.malformed == 4
    assert summary.responses == 2
    assert db.execute("SELECT lines, malformed FROM files").fetchone() == (6, 4)
    assert db.execute("SELECT malformed FROM sessions").fetchone()[0] == 4


def test_a_20_mb_line_is_skipped_and_what_follows_is_kept(tmp_path):
    d = tmp_path / "projects" / "-p"
    d.mkdir(parents=True)
    huge = b'{"type": "user", "message": {"content": "' + b"x" * (20 * 1024 * 1024) + b'"}}'
    (d / "s.jsonl").write_bytes(_good_line("a", 1) + b"\n" + huge + b"\n" + _good_line("b", 2) + b"\n")
    db, summary = _ingest(tmp_path, tmp_path / "projects")
    assert summary.malformed == 1
    assert by_period(db, "daily")["totals"]["output_tokens"] == 3


def test_fuzzed_transcripts_never_fail_the_ingest(tmp_path):
    rng = random.Random(1234)
    sources = sorted(FIXTURES.glob("2.1.197/*/projects/*/*.jsonl"))
    d = tmp_path / "projects" / "-p"
    d.mkdir(parents=True)
    for i in range(40):
        lines = rng.choice(sources).read_bytes().splitlines()
        out = []
        for line in lines:
            r = rng.random()
            b = bytearray(line)
            if r < 0.15 and b:
                for _ in range(rng.randint(1, 5)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
            elif r < 0.25:
                b = b[: rng.randrange(len(b) + 1)]
            elif r < 0.3:
                b = bytearray(json.dumps(rng.choice([None, 1, "x", [], {"type": None}, {"message": []}])).encode())
            out.append(bytes(b).replace(b"\n", b" "))
        (d / f"fuzz-{i}.jsonl").write_bytes(b"\n".join(out) + b"\n")
    db, summary = _ingest(tmp_path, tmp_path / "projects")
    assert summary.files == 40
    assert summary.malformed > 0
    stored = db.execute("SELECT sum(lines), sum(malformed) FROM files").fetchone()
    assert stored[1] == summary.malformed
    # Every line was either derived or counted as malformed: nothing silently dropped.
    assert stored[0] == summary.new_lines
    assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 40


# -- processes ------------------------------------------------------------------------------------------


def _env(home: Path) -> dict:
    return {**os.environ, "SKILL_INSIGHTS_HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / "claude")}


def _totals(home: Path) -> dict:
    out = subprocess.run([*CLI, "usage", "daily", "--json"], env=_env(home), capture_output=True, check=True)
    return json.loads(out.stdout)["totals"]


def _counts(home: Path) -> tuple:
    conn = sqlite3.connect(home / "data" / "skill-insights.db")
    try:
        return conn.execute(
            """SELECT (SELECT count(*) FROM responses), (SELECT count(*) FROM events),
                      (SELECT sum(tool_calls) FROM sessions), (SELECT count(*) FROM sessions)"""
        ).fetchone()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict, tuple]:
    """~40 MB of real-client sessions with fresh ids (enough for the parallel path), and clean-ingest totals."""
    root = tmp_path_factory.mktemp("corpus")
    projects = big_corpus(root, 11)
    clean = root / "clean-home"
    subprocess.run([*CLI, "ingest", "--projects-dir", str(projects)], env=_env(clean), check=True, capture_output=True)
    return projects, _totals(clean), _counts(clean)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_sigkill_mid_ingest_then_rerun_gives_identical_totals(corpus, tmp_path):
    projects, expected, expected_counts = corpus
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [*CLI, "ingest", "--projects-dir", str(projects)],
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    db = home / "data" / "skill-insights.db"
    deadline = time.monotonic() + 60
    progressed = 0
    while time.monotonic() < deadline and proc.poll() is None and not progressed:
        if db.exists():
            try:
                conn = sqlite3.connect(db, timeout=0.1)
                progressed = conn.execute("SELECT count(*) FROM files WHERE offset > 0").fetchone()[0]
                conn.close()
            except sqlite3.Error:
                progressed = 0
        time.sleep(0.002)
    # Freeze the ingest and its workers the moment a first batch is committed, then kill the parent alone:
    # its workers must notice and exit by themselves, whatever they had not committed is rolled back.
    os.killpg(proc.pid, signal.SIGSTOP)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    os.killpg(proc.pid, signal.SIGCONT) if workers else None
    assert proc.returncode == -signal.SIGKILL
    assert progressed > 0, "the ingest finished before it could be killed"
    gone = time.monotonic() + 30
    while any(_alive(w) for w in workers) and time.monotonic() < gone:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "ingest workers outlived their killed parent"
    conn = sqlite3.connect(db)
    done = conn.execute("SELECT count(*) FROM files WHERE offset > 0").fetchone()[0]
    dirty = conn.execute("SELECT count(*) FROM dirty").fetchone()[0]
    conn.close()
    # Killed before the end: files left to read, or at least the final rollup never ran.
    assert done < len(discover([projects])) or dirty > 0
    rerun = subprocess.run(
        [*CLI, "ingest", "--projects-dir", str(projects)], env=_env(home), capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    assert _totals(home) == expected
    assert _counts(home) == expected_counts


def test_two_concurrent_ingests_neither_duplicate_nor_lock(corpus, tmp_path):
    projects, expected, expected_counts = corpus
    home = tmp_path / "home"
    procs = [
        subprocess.Popen(
            [*CLI, "ingest", "--projects-dir", str(projects)],
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err
    assert _totals(home) == expected
    assert _counts(home) == expected_counts


def test_store_keeps_data_when_a_transcript_disappears(tmp_path):
    projects = copy_projects(tmp_path, "2.1.197", ["skill"])
    db, _ = _ingest(tmp_path, projects)
    before = by_period(db, "daily")["totals"]
    for f in projects.rglob("*.jsonl"):
        f.unlink()
    db, summary = _ingest(tmp_path, projects)
    assert summary.files == 0
    assert by_period(db, "daily")["totals"] == before


def test_parallel_ingest_equals_serial(tmp_path, monkeypatch):
    from skill_insights.collectors.transcripts import tailer

    projects = big_corpus(tmp_path / "c", 2)
    serial_db = open_db(tmp_path / "serial.db")
    TranscriptTailer(serial_db, PriceTable.load()).ingest_paths(discover([projects]), workers=1)
    monkeypatch.setattr(tailer, "PARALLEL_MIN_BYTES", 0)
    parallel_db = open_db(tmp_path / "parallel.db")
    seen: list[Path] = []
    summary = TranscriptTailer(parallel_db, PriceTable.load()).ingest_paths(
        discover([projects]), progress=seen.append, workers=2
    )
    assert summary.files == len(seen) == len(discover([projects]))
    assert by_period(parallel_db, "daily") == by_period(serial_db, "daily")
    query = "SELECT session_id, total_tokens, cost_usd, tool_calls, skill_calls FROM sessions ORDER BY session_id"
    assert parallel_db.execute(query).fetchall() == serial_db.execute(query).fetchall()


def test_large_lines_of_unread_types_are_checked_for_framing_only():
    from skill_insights.collectors.parse import LAZY_LINE_BYTES

    pad = "x" * LAZY_LINE_BYTES
    snapshot = json.dumps(
        {
            "type": "attachment",
            "attachment": {"type": "prompt_snapshot", "text": pad},
            "timestamp": "2026-11-20T10:00:00.000Z",
        }
    ).encode()
    line = parse_line(snapshot)
    assert line is not None and line.response is None
    assert line.timestamp == 1795168800.0  # 2026-11-20T10:00:00Z
    with pytest.raises(MalformedLine):
        parse_line(snapshot[:-1])  # cut: no closing brace
    # A large user line is always decoded in full: its tool results count.
    big_user = json.dumps(
        {
            "type": "user",
            "timestamp": "2026-11-20T10:00:00Z",
            "message": {"content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": True, "content": pad}]},
        }
    ).encode()
    assert parse_line(big_user).tool_results == [("t1", True)]


def test_large_unread_lines_take_the_top_level_timestamp_not_one_inside_their_payload():
    from skill_insights.collectors.parse import LAZY_LINE_BYTES

    pad = "x" * LAZY_LINE_BYTES
    inner = {"type": "queued", "text": pad, "timestamp": "2020-01-01T00:00:00Z"}
    # An attachment: the payload first, the line's own keys after it.
    after = json.dumps(
        {"parentUuid": None, "attachment": inner, "type": "attachment", "timestamp": "2026-11-20T10:00:00Z"}
    ).encode()
    assert parse_line(after).timestamp == 1795168800.0
    # A request shape: the line's own keys first, the payload after them.
    first = json.dumps({"type": "api-request-shape", "timestamp": "2026-11-20T10:00:00Z", "shape": inner}).encode()
    assert parse_line(first).timestamp == 1795168800.0
    assert parse_line(json.dumps({"type": "attachment", "attachment": {"text": pad}}).encode()).timestamp is None


def test_out_of_range_timestamps_do_not_block_rollups(tmp_path):
    d = tmp_path / "projects" / "-p"
    d.mkdir(parents=True)
    far = json.loads(_good_line("a", 5))
    far["timestamp"] = "9999-12-31T23:59:59-01:00"
    (d / "s.jsonl").write_text(json.dumps(far) + "\n" + _good_line("b", 7).decode() + "\n")
    db, summary = _ingest(tmp_path, tmp_path / "projects")
    assert summary.responses == 2
    assert db.execute("SELECT count(*) FROM dirty").fetchone()[0] == 0
    assert by_period(db, "daily")["totals"]["output_tokens"] == 12
    assert db.execute("SELECT first_ts, last_ts FROM files").fetchone() == (1795168800.0, 1795168800.0)


def test_one_file_under_two_spellings_has_one_row(tmp_path, monkeypatch):
    projects = copy_projects(tmp_path, "2.1.197", ["skill"])
    f = next(projects.rglob("*.jsonl"))
    db, _ = _ingest(tmp_path, projects)
    monkeypatch.chdir(projects)
    other = Path("..") / "projects" / f.parent.name / ".." / f.parent.name / f.name
    TranscriptTailer(db, PriceTable.load()).ingest_paths(discover([other]))
    assert db.execute("SELECT count(*) FROM files").fetchone()[0] == 1
    assert db.execute("SELECT user_messages FROM sessions").fetchone()[0] == 1


def test_a_line_between_chunk_size_and_the_cap_is_read(tmp_path):
    from skill_insights.collectors.transcripts import CHUNK_BYTES

    d = tmp_path / "projects" / "-p"
    d.mkdir(parents=True)
    big = json.loads(_good_line("big", 11))
    big["message"]["content"] = [{"type": "text", "text": "y" * (CHUNK_BYTES + 1024 * 1024)}]
    (d / "s.jsonl").write_text(
        _good_line("a", 1).decode() + "\n" + json.dumps(big) + "\n" + _good_line("b", 2).decode() + "\n"
    )
    db, summary = _ingest(tmp_path, tmp_path / "projects")
    assert (summary.responses, summary.malformed) == (3, 0)
    assert by_period(db, "daily")["totals"]["output_tokens"] == 14


def test_fork_owner_does_not_depend_on_ingest_order(tmp_path):
    """2.1.197 marks no copies: the original is the file opened first, even when its mtime is newer."""
    projects = copy_projects(tmp_path, "2.1.197", ["resume"])
    files = {f.stem[:8]: f for f in projects.rglob("*.jsonl")}
    original, fork = files["2f958fa9"], files["f25f68eb"]
    os.utime(fork, (1_700_000_000, 1_700_000_000))
    os.utime(original, (1_700_000_500, 1_700_000_500))  # resumed after the fork: newer mtime
    assert discover([projects]) == [fork, original]  # the fork is ingested first
    db, _ = _ingest(tmp_path, projects)
    rows = {r["session_id"][:8]: r for r in by_session(db)["rows"]}
    assert rows["2f958fa9"]["total_tokens"] == 14 + 105 + 93_368 + 54_409
    assert rows["f25f68eb"]["total_tokens"] == 4 + 12 + 29_694
    tools = dict(db.execute("SELECT session_id, tool_calls FROM sessions").fetchall())
    assert tools[original.stem] == 2 and tools[fork.stem] == 0


def test_fork_ownership_with_equal_opening_times_does_not_depend_on_ingest_order(tmp_path):
    # Two sessions whose files open at the same instant and show the same response (a fork copied whole):
    # the owner is the first by path, whichever file the store saw first (file ids follow ingest order).
    projects = tmp_path / "projects" / "-p"
    projects.mkdir(parents=True)
    tool = {"type": "tool_use", "id": "toolu_same", "name": "Skill", "input": {"skill": "pdf"}}
    line = json.loads(assistant_line("m1", 40))
    line["message"]["content"] = [tool]
    for sid in ("aaaa", "bbbb"):
        (projects / f"{sid}.jsonl").write_text(json.dumps({**line, "sessionId": sid}) + "\n")
    owners = []
    for order in (("aaaa", "bbbb"), ("bbbb", "aaaa")):
        db = open_db(tmp_path / f"{order[0]}-first.db")
        tailer = TranscriptTailer(db, PriceTable.load())
        for sid in order:
            tailer.ingest_file(projects / f"{sid}.jsonl")
        from skill_insights.store.rollups import flush

        flush(db)
        owners.append(
            (
                db.execute("SELECT session_id FROM responses").fetchall(),
                db.execute("SELECT session_id, total_tokens, skill_calls FROM sessions ORDER BY 1").fetchall(),
            )
        )
    assert owners[0] == owners[1]
    assert owners[0][0] == [("aaaa",)]
    assert owners[0][1] == [("aaaa", 43, 1), ("bbbb", 0, 0)]


def test_parallel_flush_equals_serial_flush(tmp_path, monkeypatch):
    from skill_insights.store import rollups

    monkeypatch.setattr(rollups, "PARALLEL_MIN_SESSIONS", 2)
    projects = copy_projects(tmp_path, "2.1.330")
    tables = {}
    for parallel in (False, True):
        db = open_db(tmp_path / f"parallel-{parallel}.db")
        TranscriptTailer(db, PriceTable.load()).ingest_files(discover([projects]))
        # Enough dirty sessions for the reader process to take a share.
        assert db.execute("SELECT count(*) FROM dirty WHERE kind = 'session'").fetchone()[0] >= 3
        rollups.flush(db, parallel=parallel)
        assert db.execute("SELECT count(*) FROM dirty").fetchone()[0] == 0
        cols = [c for c in db["sessions"].columns_dict if c != "updated_at"]
        tables[parallel] = (
            db.execute(f"SELECT {', '.join(cols)} FROM sessions ORDER BY session_id").fetchall(),
            db.execute("SELECT * FROM usage_daily ORDER BY date, model").fetchall(),
        )
    assert tables[True] == tables[False]
    assert len(tables[True][0]) >= 3


def test_session_rows_reader_answers_from_its_own_process_while_the_lock_is_held(tmp_path):
    from skill_insights.store import rollups, write_transaction

    db = open_db(tmp_path / "a ?#% folder" / "s.db")  # characters a URI would misread
    TranscriptTailer(db, PriceTable.load()).ingest_files(discover([copy_projects(tmp_path, "2.1.197")]))
    sids = [r[0] for r in db.execute("SELECT DISTINCT session_id FROM files ORDER BY 1")] + ["no-such-session"]
    with write_transaction(db) as conn:
        reader = rollups._SessionRowsReader(conn, sids)
        rows = reader.rows()
        assert reader.answered and reader.proc.exitcode == 0
        assert rows == [rollups.session_row(conn, sid) for sid in sids]
    assert rows[-1] == ("no-such-session", None)
    assert all(row is not None for _, row in rows[:-1])


def test_an_ingest_that_read_a_file_before_another_read_it_further_does_not_wipe_it(tmp_path):
    # Ingest A opens and parses a file; meanwhile it grows and ingest B reads all of it. A's commit must see
    # the file as it is now, not as a file smaller than B's checkpoint (a "shrunk" file would be wiped).
    from skill_insights.store import open_reader

    f = tmp_path / "projects" / "-p" / "11111111-1111-1111-1111-111111111111.jsonl"
    f.parent.mkdir(parents=True)
    f.write_text("".join(assistant_line(f"m{i}") + "\n" for i in range(10)))
    a = TranscriptTailer(open_reader(tmp_path / "s.db"), PriceTable.load())
    b = TranscriptTailer(open_reader(tmp_path / "s.db"), PriceTable.load())

    def paths_for_a():
        yield f  # A takes the file and parses its 10 lines when it asks for the next path:
        with open(f, "a") as fh:
            fh.write("".join(assistant_line(f"n{i}") + "\n" for i in range(10)))
        assert b.ingest_files([f]) == [(20, 20, 0, 0)]

    assert a.ingest_files(paths_for_a()) == [(0, 0, 0, 0)]  # nothing left for A, and no reset
    db = open_reader(tmp_path / "s.db")
    assert db.execute("SELECT lines, offset = size FROM files").fetchall() == [(20, 1)]
    assert db.execute("SELECT count(*) FROM responses").fetchone() == (20,)


def test_a_file_given_twice_is_ingested_once(tmp_path):
    f = tmp_path / "projects" / "-p" / "s.jsonl"
    f.parent.mkdir(parents=True)
    f.write_text(assistant_line("m1") + "\n")
    db = open_db(tmp_path / "s.db")
    counts = TranscriptTailer(db, PriceTable.load()).ingest_files([f, str(f), tmp_path / "projects/-p/../-p/s.jsonl"])
    assert counts == [(1, 1, 0, 0)]
    assert db.execute("SELECT count(*) FROM files").fetchone() == (1,)


def test_session_rows_reader_that_cannot_answer_leaves_the_work_to_the_caller(tmp_path, monkeypatch):
    from skill_insights.store import rollups, write_transaction

    db = open_db(tmp_path / "s.db")
    TranscriptTailer(db, PriceTable.load()).ingest_files(discover([copy_projects(tmp_path, "2.1.197")]))
    sids = [r[0] for r in db.execute("SELECT DISTINCT session_id FROM files ORDER BY 1")]
    monkeypatch.setattr(rollups._SessionRowsReader, "READER_TIMEOUT", 0.0)  # gives up before any answer
    with write_transaction(db) as conn:
        reader = rollups._SessionRowsReader(conn, sids)
        rows = reader.rows()
        assert not reader.answered and not reader.proc.is_alive()
        assert rows == [rollups.session_row(conn, sid) for sid in sids]
