"""The daemon's ingest queue: what the watcher, the socket and the spool noted, ingested on the loop's thread.

Files written are debounced (a burst of lines is one ingest, a file written continuously still goes in every
`max_delay_s`), new folders are scanned for files that predate their watch, the reconcile backlog is worked in
slices so fresh writes never wait behind it, and while another writer holds the store's lock the files wait
here and are retried with a growing delay instead of blocking the loop.

Every path goes through the projects-folder rule (`skill_insights.projects`): a payload, an event or a folder
that leads out of the projects folders is never ingested or walked.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skill_insights.collectors import capture
from skill_insights.daemon import spool
from skill_insights.hooks import locations, payload
from skill_insights.projects import ProjectRoots

if TYPE_CHECKING:
    from skill_insights.daemon.service import Daemon

log = logging.getLogger("skill_insights.daemon")

# The daemon's own wait for the store's write lock before it queues the files and retries: short, so a long
# transaction elsewhere (a CLI ingest, a scan) never stalls the loop, its socket or `daemon status`.
STORE_BUSY_TIMEOUT_MS = 250
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 15.0


def store_locked(e: BaseException) -> bool:
    """Another connection holds the store's lock (SQLITE_BUSY / SQLITE_LOCKED): worth retrying later."""
    return isinstance(e, sqlite3.OperationalError) and ("locked" in str(e) or "busy" in str(e))


class StoreWait:
    """Files waiting for the store's write lock, and when to try again (backoff doubling up to RETRY_MAX_S)."""

    def __init__(self) -> None:
        self.files: dict[str, None] = {}  # insertion-ordered set
        self.since: float | None = None  # wall clock, for status
        self.attempts = 0
        self.due: float | None = None  # monotonic
        self.spool = False  # a spool drain is waiting too

    @property
    def waiting(self) -> bool:
        return self.since is not None

    def failed(self, files: list[str]) -> float:
        """Record a failed attempt; returns the delay until the next."""
        if self.since is None:
            self.since = time.time()
        self.attempts += 1
        for f in files:
            self.files[f] = None
        delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (self.attempts - 1))
        self.due = time.monotonic() + delay
        return delay

    def take(self) -> list[str]:
        files = list(self.files)
        self.files.clear()
        return files

    def clear(self) -> float:
        waited = time.time() - self.since if self.since is not None else 0.0
        self.since, self.attempts, self.due, self.spool = None, 0, None, False
        return waited

    def describe(self) -> dict[str, Any] | None:
        if self.since is None:
            return None
        return {
            "since": self.since,
            "seconds": round(time.time() - self.since, 1),
            "attempts": self.attempts,
            "files": len(self.files),
            "next_retry_in_s": round(max(0.0, (self.due or 0.0) - time.monotonic()), 2),
        }


class IngestQueue:
    BULK_SLICE_S = 0.25  # reconcile backlog work per loop turn, so nudges and events are not starved
    BULK_FILES = 8  # backlog files per capture (and rollup flush) within a slice

    def __init__(self, daemon: Daemon, debounce_s: float, max_delay_s: float):
        self.d = daemon
        self.debounce_s = debounce_s
        self.max_delay_s = max_delay_s
        self._lock = threading.Lock()  # guards _pending, _dirs, _spool_due, _rearm_due (the observer thread)
        self._pending: dict[str, tuple[float, float]] = {}  # path -> (due, first noted), monotonic
        self._dirs: dict[str, float] = {}  # new directories to scan -> due
        self._spool_due: float | None = None
        self._rearm_due: float | None = None
        self.bulk: deque[str] = deque()  # reconcile backlog, worked in slices
        self._bulk_set: set[str] = set()
        self.known: set[str] = set()  # transcript files seen under the roots ("files watched")
        self.store_wait = StoreWait()

    # -- notes from the observer thread, the socket and the spool -------------------------------------

    def note_file(self, path: str, delay: float) -> None:
        now = time.monotonic()
        with self._lock:
            prev = self._pending.get(path)
            first = prev[1] if prev else now
            self._pending[path] = (min(now + delay, first + self.max_delay_s), first)
        self.d.wake()

    def note_dir(self, path: str) -> None:
        with self._lock:
            self._dirs[path] = time.monotonic() + self.debounce_s
        self.d.wake()

    def note_spool(self) -> None:
        with self._lock:
            self._spool_due = time.monotonic() + 0.02
        self.d.wake()

    def note_root_gone(self) -> None:
        """A watched dir was deleted: check again shortly, in case it is being re-created."""
        with self._lock:
            self._rearm_due = time.monotonic() + 1.0
        self.d.wake()

    def forget(self, path: str) -> None:
        self.known.discard(path)

    # -- the loop's side --------------------------------------------------------------------------------

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending) + len(self._dirs) + len(self.bulk) + len(self.store_wait.files)

    def deadlines(self) -> list[float]:
        out: list[float] = []
        with self._lock:
            if self._pending:
                out.append(min(d for d, _ in self._pending.values()))
            if self._dirs:
                out.append(min(self._dirs.values()))
            if self._spool_due is not None:
                out.append(self._spool_due)
            if self._rearm_due is not None:
                out.append(self._rearm_due)
        if self.store_wait.due is not None:
            out.append(self.store_wait.due)
        elif self.bulk:
            out.append(0.0)  # a backlog to work: no sleep (but none while the store is locked)
        return out

    def process_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            files = [p for p, (due, _) in self._pending.items() if due <= now]
            for p in files:
                del self._pending[p]
            dirs = [d for d, due in self._dirs.items() if due <= now]
            for d in dirs:
                del self._dirs[d]
            spool_due = self._spool_due is not None and self._spool_due <= now
            if spool_due:
                self._spool_due = None
            rearm = self._rearm_due is not None and self._rearm_due <= now
            if rearm:
                self._rearm_due = None
        retry = self.store_wait.due is not None and self.store_wait.due <= now
        spool_waits = False
        if rearm:
            self.d.ensure_watches()
        inside = self.d.projects.fresh()
        for d in dirs:
            # Files created with their directory may predate the new watch: pick them up by a scan, of a folder
            # inside the projects folders only. An error in one folder costs neither the others nor the files.
            try:
                folder = inside.folder(d)
                if folder is None:
                    log.info("not scanning %s: it leads out of the projects folders", d)
                    continue
                for found in capture.transcripts([folder], inside):
                    if str(found) not in files:
                        files.append(str(found))
            except Exception:
                self.d.stats["errors"] += 1
                log.exception("scan of the new folder %s failed", d)
        if retry:
            waiting = self.store_wait.take()
            files = waiting + [f for f in files if f not in set(waiting)]
            spool_waits, self.store_wait.spool = self.store_wait.spool, False
        if files or (retry and not spool_waits):
            self.ingest(files, "retry" if retry else "events", inside=inside, retry=retry)
        if spool_due or spool_waits:
            self.drain_spool(retry=spool_waits and not files)

    def work_bulk(self) -> None:
        started = time.monotonic()
        while self.bulk and not self.d.stopping and not self.store_wait.waiting:
            if time.monotonic() - started >= self.BULK_SLICE_S:
                break
            batch = [self.bulk.popleft() for _ in range(min(self.BULK_FILES, len(self.bulk)))]
            self._bulk_set.difference_update(batch)
            self.ingest(batch, "reconcile")
            with self._lock:
                if any(d <= time.monotonic() for d, _ in self._pending.values()):
                    break  # fresh writes first

    # -- ingest -----------------------------------------------------------------------------------------

    def inside(self, files: list[str], inside: ProjectRoots | None = None) -> list[str]:
        """The files inside the projects folders, each spelled under its folder, once."""
        inside = inside or self.d.projects.fresh()
        out: dict[str, None] = {}
        for f in files:
            spelled = inside.transcript(f)
            if spelled is None:
                log.debug("not ingesting %s: not a transcript inside the projects folders", f)
            else:
                out[spelled] = None
        return list(out)

    def ingest(self, files: list[str], reason: str, inside: ProjectRoots | None = None, retry: bool = False) -> None:
        files = self.inside(files, inside)
        if not files:
            if retry and not self.store_wait.spool:
                self.store_wait.clear()  # nothing left to wait for (the files are gone): the next write tries
            return
        if self.store_wait.waiting and not retry:
            self.store_wait.files.update(dict.fromkeys(files))  # the next retry takes them, in order
            return
        if self.d.stopping:
            return  # files left over are caught by the next start's reconcile
        self.known.update(files)
        try:
            summary = self._tail(files)
        except Exception as e:
            if not store_locked(e):
                raise
            delay = self.store_wait.failed(files)
            if self.store_wait.attempts == 1:
                log.warning("the store is locked by another writer; %d files wait, retrying", len(files))
            else:
                log.debug("store still locked (attempt %d); next retry in %.1fs", self.store_wait.attempts, delay)
            self.d.write_status()
            return
        if self.store_wait.waiting:
            log.info("the store is free again after %.1fs; the waiting files are ingested", self.store_wait.clear())
        self.d.record_ingest(reason, len(files), summary)

    def _tail(self, files: list[str]) -> Any:
        """One capture of `files`; if it fails for another reason than a locked store, each file alone, so one
        bad file costs only itself."""
        try:
            return capture.tail(self.d.tailer, files, workers=1)
        except Exception as e:
            if store_locked(e) or len(files) == 1:
                if not store_locked(e):
                    self.d.stats["errors"] += 1
                    log.exception("ingest of %s failed", files[0])
                    return None
                raise
        total = None
        for f in files:
            summary = self._tail([f])
            if summary is None:
                continue
            if total is None:
                total = summary
            else:
                total.files += summary.files
                total.changed_files += summary.changed_files
                total.new_lines += summary.new_lines
                total.responses += summary.responses
                total.reset_files += summary.reset_files
        return total

    # -- reconcile and spool --------------------------------------------------------------------------

    def reconcile(self) -> None:
        """Stat every transcript under the roots; queue those whose checkpoint is behind."""
        from skill_insights.collectors.transcripts import is_current, known_checkpoints

        started = time.perf_counter()
        self.d.ensure_watches()
        self.d.reload_prices()
        known = known_checkpoints(self.d.db)
        found = capture.transcripts(self.d.roots, self.d.projects.fresh())
        self.known = {str(p) for p in found}
        queued = 0
        for p in found:
            key = str(p)
            try:
                st = os.stat(key)
            except OSError:
                continue
            if is_current(known.get(key), st):
                continue
            if key not in self._bulk_set:
                self.bulk.append(key)
                self._bulk_set.add(key)
                queued += 1
        stats = self.d.stats
        stats["reconciles"] += 1
        stats["last_reconcile"] = {
            "at": time.time(),
            "files": len(found),
            "queued": queued,
            "seconds": round(time.perf_counter() - started, 4),
        }
        if queued:
            log.info("reconcile: %d of %d files behind their checkpoint", queued, len(found))

    def drain_spool(self, retry: bool = False) -> None:
        """Ingest what hooks spooled while no daemon listened, then remove each payload file (an unusable one
        too, logged once). While the store is locked the payloads stay and wait for the next retry."""
        if self.store_wait.waiting and not retry:
            self.store_wait.spool = True
            return
        try:
            result = spool.drain(self.d.tailer, self.d.roots, Path(locations.spool_dir()), workers=1)
        except Exception as e:
            if not store_locked(e):
                raise
            if self.store_wait.failed([]) and self.store_wait.attempts == 1:
                log.warning("the store is locked by another writer; the spool waits, retrying")
            self.store_wait.spool = True
            self.d.write_status()
            return
        if self.store_wait.waiting and not self.store_wait.files:
            log.info("the store is free again after %.1fs", self.store_wait.clear())
        for why in result.unusable:
            log.info("removed an unusable spooled payload %s", why)
        stats = self.d.stats
        stats["spooled"] += result.payloads
        stats["bad_payloads"] += result.garbage
        self.known.update(str(f) for f in result.transcripts)
        for summary in result.summaries:
            self.d.record_ingest("spool", summary.files, summary)
        if result.payloads:
            log.info("drained %d spooled payloads", result.payloads)

    def files_of(self, p: payload.HookPayload | None, size: int) -> list[str]:
        """The transcripts a parsed hook payload (None: not hook JSON, of `size` bytes) names."""
        if p is None:
            self.d.stats["bad_payloads"] += 1
            log.info("ignored a payload that is not hook JSON (%d bytes)", size)
            return []
        try:
            return payload.transcript_files(p, self.d.projects.fresh())
        except Exception:  # transcript_files is built not to raise: this only keeps the socket alive
            self.d.stats["bad_payloads"] += 1
            log.exception("ignored a payload that could not be read")
            return []
