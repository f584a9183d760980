"""Incremental, crash-safe capture of transcript files into the store: the tailer.

A pass reads each file from its checkpoint, parses complete lines, and commits the derived rows together with
the new checkpoint in one `BEGIN IMMEDIATE` transaction per batch of chunks, re-reading the checkpoint inside
it: a SIGKILL loses at most the uncommitted batch, and two concurrent ingests never derive the same bytes twice.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from skill_insights import records
from skill_insights.collectors import git
from skill_insights.collectors.transcripts.batch import BatchRows, reown
from skill_insights.collectors.transcripts.checkpoint import (
    HEAD_BYTES,
    TranscriptFile,
    base_of,
    classify,
    digest_head,
    fresh_checkpoint,
    head_hash,
    is_current,
    known_checkpoints,
    needs_reset,
    open_checkpoint,
    read_checkpoint,
)
from skill_insights.collectors.transcripts.chunk import CHUNK_BYTES, Chunk, ChunkParser
from skill_insights.pricing import PriceTable
from skill_insights.safefile import open_regular
from skill_insights.store import write_transaction

if TYPE_CHECKING:
    import sqlite3

    import sqlite_utils

# Files committed together: one transaction for many files. A larger transaction writes each B-tree page it
# touches once, not once per small transaction (half the WAL, less CPU; bench/ingest.py shows it). A kill
# loses one uncommitted batch, re-read next run.
BATCH_FILES = 128  # each holds an open file until its commit: stay well under a 256-file limit
BATCH_BYTES = 32 * 1024 * 1024
# Below this much new data, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
BULK_CACHE_KIB = 64 * 1024


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
    # Models the price table lacks that Claude Code's own ledger prices: their side calls cost what it says.
    ledger_priced_models: set[str] = field(default_factory=set)

    def ledger_warnings(self) -> list[str]:
        return [
            f"warning: no price for model {m!r}; priced from Claude Code's own ledger where a session has one"
            for m in sorted(self.ledger_priced_models)
        ]

    def line(self) -> str:
        return (
            f"{_count(self.files, 'file')} ({self.changed_files} changed), {_count(self.new_lines, 'new line')}, "
            f"{_count(self.responses, 'new response')}, {self.malformed} malformed skipped in {self.seconds:.2f}s"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class TranscriptTailer:
    def __init__(self, db: sqlite_utils.Database | sqlite3.Connection, prices: PriceTable):
        self.db = db
        self.unpriced: set[str] = set()
        self.ledger_priced: set[str] = set()
        self.parser = ChunkParser(prices, self.unpriced, self.ledger_priced)
        self._remotes: dict[str, str | None] = {}  # cwd → its git remote, read once per tailer
        self._remotes_stored: set[str] = set()

    @property
    def prices(self) -> PriceTable:
        return self.parser.prices

    @prices.setter
    def prices(self, table: PriceTable) -> None:  # the daemon reloads a changed price table
        self.parser.prices = table

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
        # A model Claude Code's ledger prices gets its cost from there: one warning says so, not two.
        summary.unpriced_models = self.unpriced - self.ledger_priced
        summary.ledger_priced_models = set(self.ledger_priced)
        summary.seconds = time.perf_counter() - started
        return summary

    def _ingest_parallel(
        self, pending: list[tuple[Path, int]], workers: int, progress: Callable[[Path], None] | None
    ) -> list[tuple[int, int, int, int]]:
        """Parse on every core; writes still serialize on the store's write lock.

        Ownership of copied lines does not depend on ingest order (see `recompute_canonical`), so workers
        simply take files one by one from one shared list, largest first: they finish together however the
        work per byte varies between files.
        """
        import multiprocessing

        from skill_insights.processes import Forked

        order = sorted(pending, key=lambda t: -t[1])
        db_path = self.db.execute("PRAGMA database_list").fetchone()[2]
        # Workers never touch this process's connection, and a forked worker ends with os._exit, so it never
        # closes (and checkpoints) it. A process per worker, not a pool: a pool's queues and threads cost more to
        # start than a mid-sized ingest takes.
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        cursor = ctx.Value("q", 0)  # index of the next file not taken by any worker
        started = [Forked(_ingest_worker, db_path, self.prices, order, cursor) for _ in range(min(workers, len(order)))]
        results: list[tuple[int, int, int, int]] = []
        for child in started:
            counts, unpriced, ledger_priced, done = child.result()
            results.extend(counts)
            self.unpriced |= unpriced
            self.ledger_priced |= ledger_priced
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
                    given = next(source, None)
                    if given is None:
                        break
                    tf = classify(Path(given))
                    if str(tf.path) in totals:
                        continue  # the same file given twice: one pass brings it up to date (and one batch
                        # never holds a file twice, whose second copy a reset would not see)
                    totals[str(tf.path)] = [0, 0, 0, 0]
                key = str(tf.path)
                fh = open_regular(tf.path)
                if fh is None:
                    continue
                st = os.fstat(fh.fileno())
                early = self._prepare(fh, tf, read_checkpoint(self.db, tf), st)
                size = early.consumed if early else 0
                if batch and size > budget:
                    carried = (key, tf, fh, early)
                    break
                budget -= size
                batch.append((key, tf, fh, early))
            if not batch:
                return [tuple(t) for t in totals.values()]  # type: ignore[misc]
            try:
                with write_transaction(self.db) as conn:
                    rows = BatchRows()
                    outcomes = [self._commit_chunk(conn, tf, fh, early, rows) for _, tf, fh, early in batch]
                    new_responses = rows.write(conn)
            except BaseException:
                if carried is not None:
                    carried[2].close()
                raise
            finally:
                for _, _, fh, _ in batch:
                    fh.close()
            for (key, tf, *_), (fid, lines, malformed, reset, more) in zip(batch, outcomes, strict=True):
                t = totals[key]
                t[0] += lines
                t[1] += new_responses.get(fid, 0)
                t[2] += malformed
                t[3] = max(t[3], reset)
                if more:  # a file larger than one chunk, or one that grew meanwhile: its next chunk
                    again.append(tf)

    def _commit_chunk(
        self, conn, tf: TranscriptFile, fh, early: _Prepared | None, rows: BatchRows
    ) -> tuple[int, int, int, int, bool]:
        """Move one file's checkpoint under the lock, adding its chunk's rows to the batch's `rows`.

        Returns (file id, lines, malformed, reset, more to read).
        """
        reset = 0
        # The size now, under the lock: another ingest may have read the file further since `early` was
        # parsed, and an old size below its new offset would look like a shrunk file (and wipe it).
        st = os.fstat(fh.fileno())
        cp = open_checkpoint(conn, tf, st)
        if early is not None and early.base == base_of(cp):
            prep: _Prepared | None = early  # parsed from this very checkpoint, already checked for a reset
        else:
            if needs_reset(cp, st, fh):
                self._reset(conn, cp["id"])
                cp = open_checkpoint(conn, tf, st)
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
                       processor_version=?, ledger=?, updated_at=datetime('now')
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
                    records.PROCESSOR_VERSION,
                    work["ledger"],
                    cp["id"],
                ],
            )

        # The checkpoint first: ownership of the chunk's responses below reads this file's opened_ts. A file
        # whose first lines had no timestamp gets its opened_ts only now, which can change who owns the rows
        # it already has.
        if cp["opened_ts"] is None and work["opened_ts"] is not None and cp["offset"]:
            reown(conn, cp["id"], move_checkpoint)
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
            cp = fresh_checkpoint()
        elif cp["offset"] and needs_reset(cp, st, fh):
            return None
        if cp["offset"] >= st.st_size:
            return None
        work = {**cp, "blocks": [list(b) for b in cp["blocks"]]}
        fh.seek(work["offset"])
        # Only what the file holds: read(CHUNK_BYTES) would allocate 8 MB for every small file.
        buf = fh.read(max(0, min(CHUNK_BYTES, st.st_size - work["offset"])))
        at_eof = work["offset"] + len(buf) >= st.st_size
        consumed, chunk = self.parser.parse(fh, tf, work, buf, at_eof)
        self._remote_of(work["cwd"])
        head = work["head_hash"]
        if consumed and (work["offset"] == 0 or (head and int(head.split(":")[0]) < HEAD_BYTES)):
            n = min(HEAD_BYTES, work["offset"] + consumed)
            # From the start of the file, buf already holds the head: no second read.
            head = digest_head(buf[:n]) if work["offset"] == 0 else head_hash(fh, n)
        return _Prepared(base=base_of(cp), cp=work, consumed=consumed, chunk=chunk, head=head)

    def _reset(self, conn, file_id: int) -> None:
        """Forget everything derived from one file, then re-own the responses other files also show."""

        def forget() -> None:
            conn.execute("DELETE FROM response_obs WHERE file_id=?", [file_id])
            conn.execute("DELETE FROM events WHERE file_id=?", [file_id])
            conn.execute(
                """UPDATE files SET offset=0, size=0, head_hash=NULL, lines=0, malformed=0, user_messages=0,
                       first_ts=NULL, last_ts=NULL, opened_ts=NULL, blocks='[]', cwd=NULL, git_branch=NULL,
                       client_version=NULL, processor_version=?, ledger=NULL WHERE id=?""",
                [records.PROCESSOR_VERSION, file_id],
            )

        reown(conn, file_id, forget)

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


@dataclass(slots=True)
class _Prepared:
    base: tuple
    cp: dict
    consumed: int
    chunk: Chunk
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
    # A bulk writer: a larger page cache for the B-trees that random message ids spread over.
    conn.execute(f"PRAGMA cache_size = {-BULK_CACHE_KIB}")
    tailer = TranscriptTailer(conn, prices)
    counts = tailer.ingest_files(claim())
    tailer.db.close()
    return counts, tailer.unpriced, tailer.ledger_priced, done
