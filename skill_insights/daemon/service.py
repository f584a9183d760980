"""The capture daemon: watches transcript roots, takes hook nudges, ingests within a second.

One event loop on the main thread (`selectors` over a wake-up pipe, the listening socket and its client
connections: `server.SocketServer`) owns the SQLite connection and does every ingest (`ingest_queue`); the
watchdog observer thread (`watcher.Watcher`) only records which paths changed and writes a byte to the
wake-up pipe. Signals reach the loop the same way
(`signal.set_wakeup_fd`). Idle, the loop sleeps until the next debounce deadline or scheduled job: no polling
tick of its own.

Why it is safe under kill -9: the tailer commits rows and checkpoint together per chunk, so a restart resumes
from the last committed checkpoint, and the reconcile job at start catches every file written meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import selectors
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from skill_insights import __version__
from skill_insights.daemon import control, env_float
from skill_insights.daemon.ingest_queue import STORE_BUSY_TIMEOUT_MS, IngestQueue
from skill_insights.daemon.jobs import register_background_jobs
from skill_insights.daemon.scheduler import Scheduler
from skill_insights.daemon.server import SocketServer
from skill_insights.daemon.watcher import Watcher
from skill_insights.hooks import locations, payload
from skill_insights.outputs import write_atomic
from skill_insights.projects import ProjectRoots
from skill_insights.settings import Paths, default_projects_dirs, get_paths

log = logging.getLogger("skill_insights.daemon")

# Later features register their periodic jobs here (skills scan, analysis in a process pool, report
# regeneration, telemetry): each provider is called once at start with the scheduler and the daemon.
JOB_PROVIDERS: list[Callable[[Scheduler, Daemon], None]] = [register_background_jobs]


@dataclass
class DaemonConfig:
    roots: list[Path] = field(default_factory=default_projects_dirs)
    debounce_s: float = 0.15  # trailing delay after a write, so a burst of lines is one ingest
    max_delay_s: float = 0.6  # a file written continuously is still ingested this often
    reconcile_s: float = 300.0  # full stat pass over the roots: what events missed
    spool_s: float = 60.0
    status_s: float = 30.0
    rollups_s: float = 3600.0
    polling: bool = False
    poll_interval_s: float = 1.0
    verbose: bool = False

    @classmethod
    def from_env(cls, **overrides: Any) -> DaemonConfig:
        polling = os.environ.get("SKILL_INSIGHTS_DAEMON_POLLING", "").lower() in ("1", "true", "yes")
        cfg = cls(
            debounce_s=env_float("SKILL_INSIGHTS_DEBOUNCE_MS", cls.debounce_s * 1000) / 1000,
            reconcile_s=env_float("SKILL_INSIGHTS_RECONCILE_S", cls.reconcile_s),
            spool_s=env_float("SKILL_INSIGHTS_SPOOL_S", cls.spool_s),
            polling=polling,
            poll_interval_s=env_float("SKILL_INSIGHTS_POLL_S", cls.poll_interval_s),
        )
        for k, v in overrides.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg


def rss_bytes() -> int | None:
    rss = control.proc_rss_bytes(os.getpid())
    if rss is not None:
        return rss
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except (ImportError, OSError):
        return None


def setup_logging(paths: Paths, verbose: bool) -> None:
    # Everything the daemon and its jobs create (logs, rotated logs, status, reports) is private to the user:
    # it names projects, branches and commands.
    os.umask(0o077)
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        paths.log_dir / "daemon.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    fmt = logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(message)s")
    handler.setFormatter(fmt)
    log.handlers[:] = [handler]
    if verbose or sys.stderr.isatty():
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(fmt)
        log.addHandler(err)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


class Daemon:
    def __init__(self, config: DaemonConfig | None = None, paths: Paths | None = None):
        self.config = config or DaemonConfig.from_env()
        self.paths = paths or get_paths()
        # Absolute, not resolved: the same spelling `discover()` gives, so a file has one row in the store.
        self.roots = [Path(os.path.abspath(os.path.expanduser(r))) for r in self.config.roots]
        # Resolved again at start, once the roots exist; later passes keep those folders (ProjectRoots.fresh).
        self.projects = ProjectRoots(self.roots)
        self.scheduler = Scheduler()
        self.started_at = time.time()
        self._stop = False
        self._wake_r = self._wake_w = -1
        self._sel: selectors.BaseSelector | None = None
        self.server: SocketServer | None = None
        self.queue = IngestQueue(self, self.config.debounce_s, self.config.max_delay_s)
        self.watcher: Watcher | None = None
        self.db: Any = None
        self.tailer: Any = None
        self._prices_mtime: float | None = None
        self.lock = control.InstanceLock()
        self.stats: dict[str, Any] = {
            "last_ingest_at": None,
            "last_ingest": None,
            "ingests": 0,
            "changes": 0,  # ingests that added lines or re-derived a file: what a new report can show
            "files_ingested": 0,
            "lines_ingested": 0,
            "responses_ingested": 0,
            "payloads": 0,
            "bad_payloads": 0,
            "spooled": 0,
            "errors": 0,
            "reconciles": 0,
        }
        self._status_written = 0.0

    @property
    def stopping(self) -> bool:
        return self._stop

    # -- lifecycle --------------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT. Raises control.AlreadyRunning if another daemon holds the lock."""
        control.ensure_runtime_dir()
        self.lock.acquire()
        try:
            setup_logging(self.paths, self.config.verbose)
            log.info("daemon %s starting (pid %d), roots %s", __version__, os.getpid(), [str(r) for r in self.roots])
            self._open_store()
            self._setup_wakeup()
            self._install_signals()
            assert self._sel is not None
            self.server = SocketServer(self._sel, self.on_payload, self._on_oversized)
            self.server.listen()
            os.makedirs(locations.spool_dir(), mode=0o700, exist_ok=True)
            self._start_watcher()
            self._register_jobs()
            self.write_status()
            self._loop()
            return 0
        except Exception:
            log.exception("daemon failed")
            raise
        finally:
            self._shutdown()

    def request_stop(self) -> None:
        self._stop = True
        self.wake()

    def _open_store(self) -> None:
        from skill_insights.collectors.transcripts import TranscriptTailer
        from skill_insights.store import open_db

        self.paths.ensure()
        self.db = open_db(self.paths.database)
        # Not the store's long default: a writer elsewhere must not stall the loop; the queue retries instead.
        self.db.execute(f"PRAGMA busy_timeout = {STORE_BUSY_TIMEOUT_MS}")
        self.tailer = TranscriptTailer(self.db, self._load_prices())

    def _load_prices(self) -> Any:
        from skill_insights.pricing import PriceTable

        f = self.paths.prices_file
        try:
            self._prices_mtime = f.stat().st_mtime
        except OSError:
            self._prices_mtime = None
        try:
            return PriceTable.load(f)
        except (OSError, ValueError, KeyError):
            log.exception("cannot read the user price table %s; using the bundled one", f)
            return PriceTable.load(None)

    def reload_prices(self) -> None:
        f = self.paths.prices_file
        if f.exists() and f.stat().st_mtime != self._prices_mtime:
            self.tailer.prices = self._load_prices()
            log.info("price table reloaded")

    def _setup_wakeup(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
            os.set_inheritable(fd, False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")

    def _install_signals(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            self._stop = True  # the loop sees it: set_wakeup_fd makes select() return

        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)

    def _start_watcher(self) -> None:
        for root in self.roots:
            with contextlib.suppress(OSError):  # the watcher says so
                root.mkdir(parents=True, exist_ok=True)
        self.projects = ProjectRoots(self.roots)
        self.watcher = Watcher(
            self.queue,
            self.projects,
            [str(r) for r in self.roots],
            self.config.polling,
            self.config.poll_interval_s,
            lambda: self.scheduler.trigger("ingest.reconcile"),
        )
        self.watcher.start()
        if self.watcher.kind == "polling":
            # A poll already batches a second of writes: a debounce on top would only add latency.
            self.queue.debounce_s = min(self.queue.debounce_s, 0.02)

    def ensure_watches(self) -> None:
        if self.watcher is not None:
            self.watcher.ensure_watches()

    def _register_jobs(self) -> None:
        from skill_insights.store.rollups import flush

        self.scheduler.register("ingest.reconcile", self.config.reconcile_s, self.queue.reconcile, run_at_start=True)
        self.scheduler.register("spool.drain", self.config.spool_s, self.queue.drain_spool, run_at_start=True)
        # The statusline's rate-limit readings (it never writes the store itself): into quota_snapshots.
        self.scheduler.register("quota.drain", self.config.spool_s, self._drain_quota, run_at_start=True)
        # Rollups are flushed after every ingest; this catches dirt left by other writers (a detached hook
        # ingest, a kill -9 between a chunk and its flush) and crosses midnight for the daily view.
        self.scheduler.register("rollups.flush", self.config.rollups_s, lambda: flush(self.db))
        self.scheduler.register("status.write", self.config.status_s, self.write_status)
        for provider in JOB_PROVIDERS:
            try:
                provider(self.scheduler, self)
            except Exception:
                log.exception("job provider %r failed", provider)

    def _shutdown(self) -> None:
        log.info("daemon stopping")
        jobs = getattr(self, "background_jobs", None)
        if jobs is not None:
            jobs.stop()
        if self.watcher is not None:
            self.watcher.stop()
        if self.server is not None:
            self.server.close()
        with contextlib.suppress(OSError):
            os.unlink(control.status_path())
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)
        if self._sel is not None:
            self._sel.close()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self.db is not None:
            with contextlib.suppress(Exception):
                self.db.conn.close()
        self.lock.release()
        log.info("daemon stopped")

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe already guarantees a wake-up
            os.write(self._wake_w, b"\0")

    # -- the loop ---------------------------------------------------------------------------------------

    def _timeout(self) -> float | None:
        now = time.monotonic()
        deadlines = self.queue.deadlines()
        if self.server is not None and (conn := self.server.next_deadline()) is not None:
            deadlines.append(conn)
        nxt = self.scheduler.seconds_until_next()
        if nxt is not None:
            deadlines.append(now + nxt)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - now)

    def _loop(self) -> None:
        assert self._sel is not None
        while not self._stop:
            try:
                for key, _mask in self._sel.select(self._timeout()):
                    tag = key.data
                    if tag == "wake":
                        with contextlib.suppress(OSError):
                            while os.read(self._wake_r, 4096):
                                pass
                    elif self.server is not None and tag == "listen":
                        self.server.accept()
                    elif self.server is not None:
                        self.server.read(key.fd)
                if self._stop:
                    break
                if self.server is not None:
                    self.server.expire()
                self.queue.process_due()
                self.scheduler.run_due()
                if self.queue.bulk and not self._stop:
                    self.queue.work_bulk()
            except Exception:
                # A bug in one turn must not end capture; the next reconcile repairs what was missed.
                self.stats["errors"] += 1
                log.exception("error in the daemon loop")
                time.sleep(0.5)

    # -- ingest -----------------------------------------------------------------------------------------

    def ingest(self, files: list[str], reason: str) -> None:
        """Capture `files` now (those inside the projects folders), or queue them while the store is locked."""
        self.queue.ingest(files, reason)

    def reconcile(self) -> None:
        self.queue.reconcile()

    def drain_spool(self) -> None:
        self.queue.drain_spool()

    def _drain_quota(self) -> None:
        from skill_insights import quota

        if quota.drain(self.db):
            log.debug("stored rate-limit readings from the statusline")

    def record_ingest(self, reason: str, files: int, summary: Any) -> None:
        """Count one ingest of `files` (its capture summary, None when every file failed)."""
        st = self.stats
        st["ingests"] += 1
        if summary is None:
            return
        st["files_ingested"] += summary.changed_files
        st["lines_ingested"] += summary.new_lines
        st["responses_ingested"] += summary.responses
        if summary.changed_files:
            st["changes"] += 1
            st["last_ingest_at"] = time.time()
            st["last_ingest"] = {
                "reason": reason,
                "files": files,
                "changed_files": summary.changed_files,
                "new_lines": summary.new_lines,
                "new_responses": summary.responses,
                "seconds": round(summary.seconds, 4),
            }
            log.debug("ingest (%s): %d files, %d new lines in %.3fs", reason, files, summary.new_lines, summary.seconds)
            if time.monotonic() - self._status_written > 1.0:
                self.write_status()

    # -- socket -----------------------------------------------------------------------------------------

    def on_payload(self, raw: bytes) -> bytes | None:
        """A complete payload from the socket: a status request is answered, a hook's nudges its files."""
        self.stats["payloads"] += 1
        p = payload.parse(raw)
        if p is not None and p.request == "status":
            return orjson.dumps(self.status())
        files = self.queue.files_of(p, len(raw))
        log.debug("payload %s for %d files", p.event if p else None, len(files))
        posts = getattr(self, "session_end_posts", None)
        if posts is not None and p is not None and p.event == "SessionEnd" and p.session_id and files:
            posts.note(p.session_id)
        for f in files:
            self.queue.note_file(f, 0.0)
        return None

    def _on_oversized(self) -> None:
        self.stats["bad_payloads"] += 1

    # -- status -----------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "version": __version__,
            "started_at": self.started_at,
            "uptime_s": round(time.time() - self.started_at, 1),
            "last_ingest_at": self.stats["last_ingest_at"],
            "files_watched": len(self.queue.known),
            "backlog": self.queue.pending_count(),
            # Set while another writer holds the store's lock: the files wait here, retried with backoff.
            "store_wait": self.queue.store_wait.describe(),
            "rss_bytes": rss_bytes(),
            "observer": self.watcher.kind if self.watcher else "none",
            "debounce_ms": round(self.queue.debounce_s * 1000, 1),
            "roots": [str(r) for r in self.roots],
            "socket": self.server.path if self.server else None,
            "spool_dir": locations.spool_dir(),
            "database": str(self.paths.database),
            "log_file": str(self.paths.log_dir / "daemon.log"),
            "stats": dict(self.stats),
            "jobs": self.scheduler.describe(),
            "written_at": time.time(),
        }

    def write_status(self) -> None:
        self._status_written = time.monotonic()
        path = control.status_path()
        try:
            write_atomic(Path(path), orjson.dumps(self.status(), option=orjson.OPT_INDENT_2), 0o600)
        except OSError:
            log.exception("cannot write %s", path)
