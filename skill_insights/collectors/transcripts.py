"""Incremental, crash-safe capture of Claude Code transcripts into the store.

Each file has a checkpoint (inode/device, size, mtime, byte offset just past the last complete line, a hash
of its first bytes). A pass reads from the offset, parses complete lines, and commits the derived rows
together with the new checkpoint in one `BEGIN IMMEDIATE` transaction per chunk, re-reading the checkpoint
inside it: a SIGKILL loses at most the uncommitted chunk, and two concurrent ingests never derive the same
bytes twice. A file that shrank, changed inode or was rewritten in place is re-derived from the start after
its earlier rows are removed.
"""

from __future__ import annotations

import os
import stat
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from skill_insights.collectors import git
from skill_insights.collectors.parse import MAX_LINE_BYTES, MalformedLine, ParsedLine, parse_span
from skill_insights.pricing import PriceTable
from skill_insights.records import PROCESSOR_VERSION, cost_units, local_date
from skill_insights.safefile import open_regular, read_capped
from skill_insights.store import totals, write_transaction
from skill_insights.store.activity import add_timestamp

if TYPE_CHECKING:
    import sqlite3

    import sqlite_utils

CHUNK_BYTES = 8 * 1024 * 1024
# Files committed together: one transaction for many files. A larger transaction writes each B-tree page it
# touches once, not once per small transaction: the 200 MB bench corpus writes 21 MB of WAL instead of 42 MB
# (64 files / 8 MB) for a 9 MB store, ~10% less CPU. A kill loses one uncommitted batch, re-read next run.
BATCH_FILES = 128  # each holds an open file until its commit: stay well under a 256-file limit
BATCH_BYTES = 32 * 1024 * 1024
# Below this much new data, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
HEAD_BYTES = 4096
BULK_CACHE_KIB = 64 * 1024
META_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class TranscriptFile:
    path: Path
    session_id: str
    agent_id: str | None
    project_dir: str


def classify(path: Path) -> TranscriptFile:
    """`<project>/<session>.jsonl` or `<project>/<session>/subagents/agent-<id>.jsonl`."""
    # One spelling per file (absolute, `..` folded, links kept), as the daemon spells it: one row per file.
    path = Path(os.path.abspath(path))
    if path.parent.name == "subagents":
        agent = path.stem[6:] if path.stem.startswith("agent-") else path.stem
        return TranscriptFile(path, path.parent.parent.name, agent, path.parent.parent.parent.name)
    return TranscriptFile(path, path.stem, None, path.parent.name)


def discover(roots: Iterable[Path]) -> list[Path]:
    """Every regular `*.jsonl` file under the roots, in one spelling each, least recently written first."""
    found: dict[str, tuple[float, Path]] = {}
    for root in roots:
        root = Path(root)
        if root.is_file():
            candidates: Iterable[Path] = [root]
        elif root.is_dir():
            candidates = root.rglob("*.jsonl")
        else:
            continue
        for p in candidates:
            try:
                st = p.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):  # a FIFO named *.jsonl would block the read forever
                continue
            p = Path(os.path.abspath(p))
            found[str(p)] = (st.st_mtime, p)
    return [p for _, p in sorted(found.values(), key=lambda t: (t[0], str(t[1])))]


def known_checkpoints(db) -> dict[str, tuple]:
    """path → the part of its checkpoint `is_current` compares, for every file in the store."""
    rows = db.execute("SELECT path, size, mtime, inode, dev, offset, processor_version FROM files").fetchall()
    return {r[0]: r[1:] for r in rows}


def is_current(checkpoint: tuple | None, st: os.stat_result) -> bool:
    """Has a file (stat `st`) nothing its checkpoint (from `known_checkpoints`) has not read?"""
    return checkpoint == (st.st_size, st.st_mtime, st.st_ino, st.st_dev, st.st_size, PROCESSOR_VERSION)


@dataclass
class IngestSummary:
    files: int = 0
    changed_files: int = 0
    new_lines: int = 0
    responses: int = 0
    malformed: int = 0
    reset_files: int = 0
    seconds: float = 0.0
    unpriced_models: set[str] = field(default_factory=set)

    def line(self) -> str:
        return (
            f"{self.files} files ({self.changed_files} changed), {self.new_lines} new lines, "
            f"{self.responses} new responses, {self.malformed} malformed skipped "
            f"in {self.seconds:.2f}s"
        )


class ObsRow(NamedTuple):
    """One file's observation of one API response (the line with the largest output_tokens)."""

    message_id: str
    request_id: str
    session_id: str
    agent_id: str | None
    model: str
    ts: float | None
    date: str
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_creation_5m: int
    cache_creation_1h: int
    cache_read_input_tokens: int
    cost_usd: float | None
    cost_units: int
    copied: int


class EventRow(NamedTuple):
    kind: str
    key: str
    session_id: str
    agent_id: str | None
    ts: float | None
    date: str | None
    name: str | None
    detail: str | None


@dataclass
class _Chunk:
    """What one chunk of a file adds: accumulated in memory, written in one transaction."""

    obs: dict[tuple[str, str], ObsRow] = field(default_factory=dict)
    events: list[EventRow] = field(default_factory=list)
    dates: set[str] = field(default_factory=set)
    lines: int = 0
    malformed: int = 0
    user_messages: int = 0


class TranscriptTailer:
    def __init__(self, db: sqlite_utils.Database | sqlite3.Connection, prices: PriceTable):
        self.db = db
        self.prices = prices
        self._remotes: dict[str, str | None] = {}  # cwd → its git remote, read once per tailer
        self._remotes_stored: set[str] = set()
        self.unpriced: set[str] = set()

    # -- public -----------------------------------------------------------------------------------------

    def ingest_paths(
        self,
        paths: Iterable[Path],
        progress: Callable[[Path], None] | None = None,
        workers: int | None = None,
    ) -> IngestSummary:
        started = time.perf_counter()
        summary = IngestSummary()
        known = known_checkpoints(self.db)
        pending: list[tuple[Path, int]] = []
        for path in paths:
            summary.files += 1
            try:
                st = os.stat(path)
            except OSError:
                continue
            cp = known.get(str(path))
            if is_current(cp, st):  # the warm path: nothing about the file changed since its checkpoint
                if progress:
                    progress(path)
                continue
            pending.append((Path(path), st.st_size - (cp[4] if cp else 0)))

        workers = workers if workers is not None else min(4, os.cpu_count() or 1)
        parallel = workers > 1 and len(pending) >= 4 * workers and sum(n for _, n in pending) >= PARALLEL_MIN_BYTES
        if parallel:
            results = self._ingest_parallel(pending, workers, progress)
        else:
            results = []
            step = max(BATCH_FILES, len(pending) // 50)  # progress moves, batches stay large
            for i in range(0, len(pending), step):
                part = [p for p, _ in pending[i : i + step]]
                results.extend(self.ingest_files(part))
                if progress:
                    for path in part:
                        progress(path)
        for lines, responses, malformed, reset in results:
            if lines or reset:
                summary.changed_files += 1
            summary.new_lines += lines
            summary.responses += responses
            summary.malformed += malformed
            summary.reset_files += reset
        from skill_insights.store.rollups import flush

        flush(self.db, parallel=parallel)
        summary.unpriced_models = set(self.unpriced)
        summary.seconds = time.perf_counter() - started
        return summary

    def _ingest_parallel(
        self, pending: list[tuple[Path, int]], workers: int, progress: Callable[[Path], None] | None
    ) -> list[tuple[int, int, int, int]]:
        """Parse on every core; writes still serialize on the store's write lock.

        Ownership of copied lines does not depend on ingest order (see `_recompute_canonical`), so workers
        simply take files one by one from one shared list, largest first: they finish together however the
        work per byte varies between files.
        """
        import multiprocessing

        from skill_insights.forked import Forked

        order = sorted(pending, key=lambda t: -t[1])
        db_path = self.db.execute("PRAGMA database_list").fetchone()[2]
        # Workers never touch this process's connection, and a forked worker ends with os._exit, so it never
        # closes (and checkpoints) it. A process per worker, not a pool: a pool's queues and threads cost
        # ~20 ms to start, 5% of a 200 MB ingest.
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        cursor = ctx.Value("q", 0)  # index of the next file not taken by any worker
        started = [Forked(_ingest_worker, db_path, self.prices, order, cursor) for _ in range(min(workers, len(order)))]
        results: list[tuple[int, int, int, int]] = []
        for child in started:
            counts, unpriced, done = child.result()
            results.extend(counts)
            self.unpriced |= unpriced
            if progress:
                for p in done:
                    progress(p)
        return results

    def ingest_file(self, path: Path) -> tuple[int, int, int, int]:
        """Bring one file's rows up to date. Returns (new lines, new responses, malformed, reset)."""
        return self.ingest_files([path])[0]

    def ingest_files(self, paths: Iterable[Path]) -> list[tuple[int, int, int, int]]:
        """Bring files up to date, committing up to BATCH_FILES files or BATCH_BYTES per transaction.

        Each file's chunk is parsed before the write lock is taken, so parsing overlaps other writers; under
        the lock its checkpoint is read again, and the chunk parsed anew only if another writer moved it.
        `paths` may be a generator (the workers' shared queue): a path is taken only when a batch has room.
        Returns (new lines, new responses, malformed, reset) per file, in the order they were taken.
        """
        totals: dict[str, list[int]] = {}  # by the file's one spelling (see `classify`)
        source = iter(paths)
        again: list[TranscriptFile] = []  # files with another chunk to read, before any new file
        carried: tuple[str, TranscriptFile, Any, _Prepared | None] | None = None
        while True:
            batch: list[tuple[str, TranscriptFile, Any, _Prepared | None]] = []
            budget = BATCH_BYTES
            if carried is not None:  # parsed already, but it did not fit the last batch
                batch.append(carried)
                budget -= carried[3].consumed if carried[3] else 0
                carried = None
            while len(batch) < BATCH_FILES:
                if again:
                    tf = again.pop()
                else:
                    path = next(source, None)
                    if path is None:
                        break
                    tf = classify(Path(path))
                    if str(tf.path) in totals:
                        continue  # the same file given twice: one pass brings it up to date (and one batch
                        # never holds a file twice, whose second copy a reset would not see)
                    totals[str(tf.path)] = [0, 0, 0, 0]
                path = str(tf.path)
                fh = open_regular(tf.path)
                if fh is None:
                    continue
                st = os.fstat(fh.fileno())
                early = self._prepare(fh, tf, self._read_checkpoint(self.db, tf), st)
                size = early.consumed if early else 0
                if batch and size > budget:
                    carried = (path, tf, fh, early)
                    break
                budget -= size
                batch.append((path, tf, fh, early))
            if not batch:
                return [tuple(t) for t in totals.values()]  # type: ignore[misc]
            try:
                with write_transaction(self.db) as conn:
                    rows = _BatchRows()
                    outcomes = [self._commit_chunk(conn, tf, fh, early, rows) for _, tf, fh, early in batch]
                    new_responses = rows.write(conn)
            except BaseException:
                if carried is not None:
                    carried[2].close()
                raise
            finally:
                for _, _, fh, _ in batch:
                    fh.close()
            for (path, tf, *_), (fid, lines, malformed, reset, more) in zip(batch, outcomes, strict=True):
                t = totals[path]
                t[0] += lines
                t[1] += new_responses.get(fid, 0)
                t[2] += malformed
                t[3] = max(t[3], reset)
                if more:  # a file larger than one chunk, or one that grew meanwhile: its next chunk
                    again.append(tf)

    def _commit_chunk(
        self, conn, tf: TranscriptFile, fh, early: _Prepared | None, rows: _BatchRows
    ) -> tuple[int, int, int, int, bool]:
        """Move one file's checkpoint under the lock, adding its chunk's rows to the batch's `rows`.

        Returns (file id, lines, malformed, reset, more to read).
        """
        reset = 0
        # The size now, under the lock: another ingest may have read the file further since `early` was
        # parsed, and an old size below its new offset would look like a shrunk file (and wipe it).
        st = os.fstat(fh.fileno())
        cp = self._checkpoint(conn, tf, st)
        if early is not None and early.base == _base(cp):
            prep: _Prepared | None = early  # parsed from this very checkpoint, already checked for a reset
        else:
            if self._needs_reset(cp, st, fh):
                self._reset(conn, cp["id"])
                cp = self._checkpoint(conn, tf, st)
                reset = 1
            prep = self._prepare(fh, tf, cp, st)
        if prep is None or prep.consumed == 0:
            # Nothing new, or only a partial line that the next pass will finish.
            conn.execute("UPDATE files SET size=?, mtime=? WHERE id=?", [st.st_size, st.st_mtime, cp["id"]])
            return cp["id"], 0, 0, reset, False
        work = prep.cp

        def move_checkpoint() -> None:
            conn.execute(
                """UPDATE files SET offset=?, size=?, mtime=?, dev=?, inode=?, head_hash=?,
                       lines=lines+?, malformed=malformed+?, user_messages=user_messages+?,
                       first_ts=?, last_ts=?, opened_ts=?, blocks=?, cwd=?, git_branch=?, client_version=?,
                       processor_version=?, updated_at=datetime('now')
                   WHERE id=?""",
                [
                    work["offset"] + prep.consumed,
                    st.st_size,
                    st.st_mtime,
                    st.st_dev,
                    st.st_ino,
                    prep.head,
                    prep.chunk.lines,
                    prep.chunk.malformed,
                    prep.chunk.user_messages,
                    work["first_ts"],
                    work["last_ts"],
                    work["opened_ts"],
                    orjson.dumps(work["blocks"]).decode(),
                    work["cwd"],
                    work["git_branch"],
                    work["client_version"],
                    PROCESSOR_VERSION,
                    cp["id"],
                ],
            )

        # The checkpoint first: ownership of the chunk's responses below reads this file's opened_ts. A file
        # whose first lines had no timestamp gets its opened_ts only now, which can change who owns the rows
        # it already has.
        if cp["opened_ts"] is None and work["opened_ts"] is not None and cp["offset"]:
            _reown(conn, cp["id"], move_checkpoint)
        else:
            move_checkpoint()
        rows.add(tf, cp["id"], prep.chunk)
        if work["cwd"] and work["cwd"] not in self._remotes_stored:
            self._remember_remote(conn, work["cwd"])
        more = work["offset"] + prep.consumed < st.st_size
        return cp["id"], prep.chunk.lines, prep.chunk.malformed, reset, more

    def _prepare(self, fh, tf: TranscriptFile, cp: dict | None, st: os.stat_result) -> _Prepared | None:
        """Parse the next chunk after checkpoint `cp` (a copy is advanced, `cp` is left as it was)."""
        if cp is None:
            cp = _fresh_checkpoint()
        elif cp["offset"] and self._needs_reset(cp, st, fh):
            return None
        if cp["offset"] >= st.st_size:
            return None
        work = {**cp, "blocks": [list(b) for b in cp["blocks"]]}
        fh.seek(work["offset"])
        # Only what the file holds: read(CHUNK_BYTES) would allocate 8 MB for every small file.
        buf = fh.read(max(0, min(CHUNK_BYTES, st.st_size - work["offset"])))
        at_eof = work["offset"] + len(buf) >= st.st_size
        consumed, chunk = self._parse_chunk(fh, tf, work, buf, at_eof)
        self._remote_of(work["cwd"])
        head = work["head_hash"]
        if consumed and (work["offset"] == 0 or (head and int(head.split(":")[0]) < HEAD_BYTES)):
            n = min(HEAD_BYTES, work["offset"] + consumed)
            # From the start of the file, buf already holds the head: no second read.
            head = _digest_head(buf[:n]) if work["offset"] == 0 else _head_hash(fh, n)
        return _Prepared(base=_base(cp), cp=work, consumed=consumed, chunk=chunk, head=head)

    # -- checkpoint -------------------------------------------------------------------------------------

    @staticmethod
    def _read_checkpoint(conn, tf: TranscriptFile) -> dict | None:
        row = conn.execute(f"SELECT {_CP_COLS} FROM files WHERE path = ?", [str(tf.path)]).fetchone()
        return _cp_dict(row) if row else None

    def _checkpoint(self, conn, tf: TranscriptFile, st: os.stat_result) -> dict:
        cp = self._read_checkpoint(conn, tf)
        if cp is None:
            cur = conn.execute(
                """INSERT INTO files (path, session_id, agent_id, project_dir, dev, inode, size, offset, mtime,
                                      processor_version, blocks)
                   VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, ?, '[]')""",
                [str(tf.path), tf.session_id, tf.agent_id, tf.project_dir, st.st_dev, st.st_ino, PROCESSOR_VERSION],
            )
            row = conn.execute(f"SELECT {_CP_COLS} FROM files WHERE id = ?", [cur.lastrowid]).fetchone()
            cp = _cp_dict(row)
        return cp

    @staticmethod
    def _needs_reset(cp: dict, st: os.stat_result, fh) -> bool:
        if cp["offset"] == 0:
            return False
        if (cp["dev"], cp["inode"]) != (st.st_dev, st.st_ino):
            return True
        if st.st_size < cp["offset"] or cp["processor_version"] != PROCESSOR_VERSION:
            return True
        head = cp["head_hash"]
        if head:
            n = int(head.split(":")[0])
            return _head_hash(fh, n) != head
        return False

    def _reset(self, conn, file_id: int) -> None:
        """Forget everything derived from one file, then re-own the responses other files also show."""

        def forget() -> None:
            conn.execute("DELETE FROM response_obs WHERE file_id=?", [file_id])
            conn.execute("DELETE FROM events WHERE file_id=?", [file_id])
            conn.execute(
                """UPDATE files SET offset=0, size=0, head_hash=NULL, lines=0, malformed=0, user_messages=0,
                       first_ts=NULL, last_ts=NULL, opened_ts=NULL, blocks='[]', cwd=NULL, git_branch=NULL,
                       client_version=NULL, processor_version=? WHERE id=?""",
                [PROCESSOR_VERSION, file_id],
            )

        _reown(conn, file_id, forget)

    # -- parsing ----------------------------------------------------------------------------------------

    def _parse_chunk(self, fh, tf: TranscriptFile, cp: dict, buf: bytes, at_eof: bool) -> tuple[int, _Chunk]:
        """Parse the complete lines of `buf`; returns (bytes consumed, rows)."""
        chunk = _Chunk()
        end = buf.rfind(b"\n") + 1
        if end == 0 and not at_eof and len(buf) >= CHUNK_BYTES:
            # One line longer than a chunk: read on up to the line cap; past it, skip the line without holding
            # it and count it as malformed.
            buf, end = _read_long_line(fh, buf)
            if end == 0:
                skipped = _skip_long_line(fh, cp["offset"] + len(buf))
                if skipped is None:
                    return 0, chunk
                chunk.lines = chunk.malformed = 1
                return skipped - cp["offset"], chunk
            at_eof = cp["offset"] + len(buf) >= os.fstat(fh.fileno()).st_size
        if cp["offset"] == 0 and tf.agent_id:
            self._link_from_meta(tf, chunk)
        # Lines are parsed in place (spans of buf), so the large ones that are never decoded are never copied.
        base = cp["offset"]
        find = buf.find
        start = 0
        while start < end:
            stop = find(b"\n", start, end)
            self._absorb(tf, cp, chunk, buf, start, stop, base + start)
            start = stop + 1
        consumed = end
        tail = buf[end:]
        # A last line without its newline is normally still being written. If it is already a whole JSON
        # object (a writer that never ends the file with a newline), take it; a later "\n" is a blank line.
        if at_eof and tail.strip() and len(tail) <= MAX_LINE_BYTES:
            try:
                complete = isinstance(orjson.loads(tail), dict)
            except orjson.JSONDecodeError:
                complete = False
            if complete:
                self._absorb(tf, cp, chunk, tail, 0, len(tail), base + end)
                consumed += len(tail)
        return consumed, chunk

    def _absorb(self, tf: TranscriptFile, cp: dict, chunk: _Chunk, buf: bytes, start: int, stop: int, pos: int) -> None:
        """Fold the line buf[start:stop], at byte `pos` of its file, into the chunk and the checkpoint `cp`."""
        try:
            line = parse_span(buf, start, stop)
        except MalformedLine:
            chunk.lines += 1
            chunk.malformed += 1
            return
        if line is None:
            return
        chunk.lines += 1
        ts = line.timestamp
        if ts is not None:
            if cp["opened_ts"] is None:
                cp["opened_ts"] = ts
            if cp["first_ts"] is None or ts < cp["first_ts"]:
                cp["first_ts"] = ts
            if cp["last_ts"] is None or ts > cp["last_ts"]:
                cp["last_ts"] = ts
            add_timestamp(cp["blocks"], ts)
        if not line.type:  # a large line read lazily: its timestamp is all it gives
            return
        if line.cwd and not cp["cwd"]:
            cp["cwd"] = line.cwd
        if line.git_branch and not cp["git_branch"]:
            cp["git_branch"] = line.git_branch
        if line.version and not cp["client_version"]:
            cp["client_version"] = line.version
        if line.is_prompt:
            chunk.user_messages += 1
        if not (line.response or line.tool_uses or line.tool_results or line.slash_command):
            return  # no response and no event (an agent link comes with a tool result): no date needed
        date = local_date(ts if ts is not None else (cp["last_ts"] or time.time()))
        self._collect(tf, chunk, line, ts, date, pos)

    def _collect(self, tf: TranscriptFile, chunk: _Chunk, line: ParsedLine, ts, date: str, pos: int) -> None:
        sid, aid = tf.session_id, tf.agent_id
        r = line.response
        if r is not None:
            u = r.usage
            key = (r.message_id, r.request_id)
            prev = chunk.obs.get(key)
            if prev is None or u.output_tokens > prev.output_tokens:
                cost = self.prices.cost(r.model, u)
                if cost is None:
                    self.unpriced.add(r.model)
                chunk.obs[key] = ObsRow(
                    r.message_id,
                    r.request_id,
                    sid,
                    aid,
                    r.model,
                    ts,
                    date,
                    u.input_tokens,
                    u.output_tokens,
                    u.cache_creation_input_tokens,
                    u.cache_creation_5m,
                    u.cache_creation_1h,
                    u.cache_read_input_tokens,
                    cost,
                    cost_units(cost),
                    1 if r.copied_from else 0,
                )
            chunk.dates.add(date)
        ev = chunk.events
        for t in line.tool_uses:
            ev.append(EventRow("tool", t.tool_use_id, sid, aid, ts, date, t.name, None))
            if t.skill:
                ev.append(EventRow("skill", t.tool_use_id, sid, aid, ts, date, t.skill, None))
            if t.subagent_type:
                ev.append(EventRow("subagent", t.tool_use_id, sid, aid, ts, date, t.subagent_type, None))
            if t.mcp_server:
                ev.append(EventRow("mcp", t.tool_use_id, sid, aid, ts, date, t.mcp_server, t.mcp_tool))
        for tid, is_error in line.tool_results:
            if is_error:
                ev.append(EventRow("tool_error", tid, sid, aid, ts, date, None, None))
        if line.agent_link:
            agent_id, agent_type, tool_use_id = line.agent_link
            ev.append(EventRow("agent_link", agent_id, sid, aid, ts, date, agent_type, tool_use_id))
        if line.slash_command:
            ev.append(EventRow("slash", line.uuid or f"@{pos}", sid, aid, ts, date, line.slash_command, None))
        if line.tool_uses or line.tool_results or line.slash_command:
            chunk.dates.add(date)

    def _link_from_meta(self, tf: TranscriptFile, chunk: _Chunk) -> None:
        """`agent-<id>.meta.json` beside a subagent transcript names its type and the parent's tool call."""
        meta = tf.path.with_name(tf.path.stem + ".meta.json")
        try:
            doc = orjson.loads(read_capped(meta, META_BYTES))
        except (OSError, ValueError):  # gone, a FIFO or folder, over the cap, or not JSON
            return
        if isinstance(doc, dict):
            atype = doc.get("agentType")
            tuid = doc.get("toolUseId")
            chunk.events.append(
                EventRow(
                    "agent_link",
                    tf.agent_id,
                    tf.session_id,
                    tf.agent_id,
                    None,
                    None,
                    atype if isinstance(atype, str) else None,
                    tuid if isinstance(tuid, str) else None,
                )
            )

    # -- writing ----------------------------------------------------------------------------------------

    def _remote_of(self, cwd: str | None) -> None:
        """Read the git remote of a session's folder, before the write lock (it reads files under .git)."""
        if cwd and cwd not in self._remotes:
            self._remotes[cwd] = git.remote_of(cwd)

    def _remember_remote(self, conn, cwd: str) -> None:
        remote = self._remotes[cwd]  # read by _prepare, which parsed every chunk committed (even under the lock)
        self._remotes_stored.add(cwd)
        conn.execute(
            """INSERT INTO repos (cwd, remote, checked_at) VALUES (?, ?, datetime('now'))
               ON CONFLICT(cwd) DO UPDATE SET remote=excluded.remote, checked_at=excluded.checked_at""",
            [cwd, remote],
        )


_CP_KEYS = (
    "id",
    "dev",
    "inode",
    "size",
    "offset",
    "head_hash",
    "first_ts",
    "last_ts",
    "opened_ts",
    "blocks",
    "cwd",
    "git_branch",
    "client_version",
    "processor_version",
)
_CP_COLS = ", ".join(_CP_KEYS)


def _cp_dict(row: tuple) -> dict:
    cp = dict(zip(_CP_KEYS, row, strict=True))
    cp["blocks"] = orjson.loads(cp["blocks"] or "[]")
    return cp


def _fresh_checkpoint() -> dict:
    return {**dict.fromkeys(_CP_KEYS), "offset": 0, "blocks": [], "processor_version": PROCESSOR_VERSION}


def _base(cp: dict) -> tuple:
    """What a parse started from: if the stored checkpoint still says this, the parse is still valid."""
    return (cp["offset"], cp["head_hash"], cp["processor_version"], cp["first_ts"], cp["last_ts"])


class _BatchRows:
    """The rows of every chunk one transaction commits, written together: a few statements per batch of
    files instead of a dozen per file."""

    def __init__(self) -> None:
        self.obs: list[tuple[ObsRow, int]] = []  # (observation, file id)
        self.keys: list[tuple[str, str, int]] = []
        self.events: list[tuple[EventRow, int]] = []
        self.dirty: set[tuple[str, str]] = set()

    def add(self, tf: TranscriptFile, fid: int, chunk: _Chunk) -> None:
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
            _recompute_canonical(conn)
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


@dataclass(slots=True)
class _Prepared:
    base: tuple
    cp: dict
    consumed: int
    chunk: _Chunk
    head: str | None


def _ingest_worker(db_path: str, prices: PriceTable, order: list[tuple[Path, int]], cursor):
    """Worker (in a `Forked` child): ingest the files of `order` it takes one by one at the shared `cursor`
    (so the workers end together), with a connection of its own (no rollups: the parent flushes once).
    Returns (counts, unpriced models, paths taken)."""
    from skill_insights.store import open_reader

    done: list[Path] = []

    def claim() -> Iterator[Path]:
        while True:
            with cursor.get_lock():
                i = cursor.value
                if i >= len(order):
                    return
                cursor.value = i + 1
            done.append(order[i][0])
            yield order[i][0]

    conn = open_reader(db_path)
    # A bulk writer: a larger page cache for the B-trees that random message ids spread over, and no automatic
    # checkpoint after each of its commits (the parent's flush commit checkpoints once, afterwards).
    conn.execute(f"PRAGMA cache_size = {-BULK_CACHE_KIB}")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    tailer = TranscriptTailer(conn, prices)
    counts = tailer.ingest_files(claim())
    tailer.db.close()
    return counts, tailer.unpriced, done


def _head_hash(fh, n: int) -> str:
    pos = fh.tell()
    fh.seek(0)
    data = fh.read(n)
    fh.seek(pos)
    return _digest_head(data)


def _digest_head(data: bytes) -> str:
    # A CRC tells a rewritten head from the one read before; no cryptographic hash is needed for that (and
    # hashlib's import alone costs a capture 2 ms). Changed with PROCESSOR_VERSION 2, which re-reads files.
    return f"{len(data)}:{zlib.crc32(data):08x}"


def _read_long_line(fh, buf: bytes) -> tuple[bytes, int]:
    """Extend `buf` until it holds a newline or MAX_LINE_BYTES; returns (buf, end just past the newline or 0)."""
    parts = [buf]
    size = len(buf)
    while size <= MAX_LINE_BYTES:
        block = fh.read(1024 * 1024)
        if not block:
            break
        parts.append(block)
        size += len(block)
        i = block.find(b"\n")
        if i >= 0:
            data = b"".join(parts)
            return data, size - len(block) + i + 1
    return b"".join(parts), 0


def _skip_long_line(fh, start: int) -> int | None:
    """Offset just past the newline that ends the line running through `start`, or None if unterminated."""
    fh.seek(start)
    pos = start
    while True:
        block = fh.read(1024 * 1024)
        if not block:
            return None
        i = block.find(b"\n")
        if i >= 0:
            return pos + i + 1
        pos += len(block)


def _reown(conn, file_id: int, change: Callable[[], None]) -> None:
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
    _recompute_canonical(conn)
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


def _recompute_canonical(conn) -> None:
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
